//! Keep-alive connections, pooled per host (scheme, host, port): the pool's
//! data; `state.rs` checks connections out and makes the exchanges.
//!
//! Invariants: a host has at most `max_connections_per_host` connections,
//! in use or idle: one semaphore permit per connection in use, and a new
//! connection is made only when no idle one is left. Checkouts park FIFO
//! on the semaphore. Only a connection whose response was read to the end
//! goes back to the idle list; any other is dropped, which cancels its
//! hyper driver task and closes the socket. A request hyper did not send
//! at all on a reused connection is sent once more on a new one.

use std::cell::RefCell;

use bytes::Bytes;
use fibrio_concurrency::Semaphore;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;

use super::{Error, Uri};

/// Scheme, host and port: what a pooled connection can serve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct HostKey {
    pub(super) https: bool,
    pub(super) host: String,
    pub(super) port: u16,
}

/// One host's connections.
pub(super) struct HostPool {
    /// One permit per connection in use. A new connection is made only
    /// when no idle one is left, so in use plus idle never exceeds the
    /// permits.
    pub(super) permits: Semaphore,
    pub(super) idle: RefCell<Vec<Conn>>,
}

/// A pooled connection. Dropping it closes it: its driver task is
/// cancelled, which drops hyper's connection and the socket.
pub(super) struct Conn {
    pub(super) sender: SendRequest<Full<Bytes>>,
    pub(super) driver: crate::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.cancel();
    }
}

/// The pool key of `uri`.
pub(super) fn host_key(uri: &Uri) -> Result<HostKey, Error> {
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => return Err(Error::UnsupportedScheme(other.to_owned())),
        None => return Err(Error::InvalidUrl(format!("{uri}: no scheme"))),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::InvalidUrl(format!("{uri}: no host")))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(HostKey { https, host, port })
}

/// The request target of `uri`: its path and query.
pub(super) fn origin_form(uri: &Uri) -> Uri {
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    target.parse().unwrap_or_else(|_| Uri::from_static("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(url: &str) -> Result<HostKey, Error> {
        host_key(&url.parse().unwrap())
    }

    #[test]
    fn connections_are_pooled_by_scheme_host_and_port() {
        let plain = key("http://example.test/a").unwrap();
        assert_eq!(
            (plain.https, plain.host.as_str(), plain.port),
            (false, "example.test", 80)
        );
        let tls = key("https://example.test/a").unwrap();
        assert_eq!((tls.https, tls.port), (true, 443));
        let v6 = key("http://[::1]:8080/").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8080));
        assert!(matches!(
            key("ftp://example.test/"),
            Err(Error::UnsupportedScheme(_))
        ));
        assert!(matches!(key("/relative"), Err(Error::InvalidUrl(_))));
    }

    #[test]
    fn the_request_target_is_the_path_and_query() {
        let target = |url: &str| origin_form(&url.parse().unwrap()).to_string();
        assert_eq!(target("http://a.test/x/y?z=1"), "/x/y?z=1");
        assert_eq!(target("http://a.test"), "/");
    }
}
