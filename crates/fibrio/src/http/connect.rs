//! Opening a connection: resolving the host off the runtime's thread,
//! TCP to each of its addresses in turn, then TLS for https.
//!
//! Invariants: the runtime's thread never waits on DNS (names resolve on
//! the blocking pool through [`lookup_host`]; literal addresses are not
//! looked up); a failed attempt leaves no socket open; a TLS handshake
//! checks the certificate against the host name of the URL.

use tokio_rustls::rustls;

use super::host_pool::HostKey;
use super::io::Stream;
use super::state::ClientInner;
use super::Error;
use crate::compat::block_on;
use crate::net::{lookup_host, TcpStream};

impl ClientInner {
    /// A new connection to `key`: TCP, and TLS for https.
    pub(super) fn connect(&self, key: &HostKey) -> Result<Stream, Error> {
        let target = format!("{}:{}", key.host, key.port);
        let connect_error = |source| Error::Connect {
            host: target.clone(),
            source,
        };
        // On the blocking pool for a name; a literal address is not looked up.
        let addrs = lookup_host((key.host.as_str(), key.port)).map_err(connect_error)?;
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr) {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(err) => last = Some(err),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            connect_error(last.unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address for the host")
            }))
        })?;
        let _ = tcp.set_nodelay(true);
        if !key.https {
            return Ok(Stream::Plain(tcp));
        }
        let name =
            rustls::pki_types::ServerName::try_from(key.host.clone()).map_err(|e| Error::Tls {
                host: key.host.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
            })?;
        let tls = block_on(self.tls.connect(name, tcp)).map_err(|source| Error::Tls {
            host: key.host.clone(),
            source,
        })?;
        Ok(Stream::Tls(Box::new(tls)))
    }
}
