//! Name resolution inside a simulation: `"host:port"` and `(host, port)`
//! resolve through the [`SimNet`]'s host table, never through DNS.

use std::io;
use std::net::{IpAddr, SocketAddr};

use super::SimNet;

/// Resolves `host` (a name or a literal address) and `port` on `net`.
///
/// # Errors
///
/// `NotFound` for a name no simulated host has.
pub(crate) fn resolve_host(net: &SimNet, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match net.state().borrow().lookup(host) {
        Some(ip) => Ok(vec![SocketAddr::new(ip, port)]),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("fibrio::sim: unknown host '{host}' (no simulated host has this name)"),
        )),
    }
}

/// Resolves `"host:port"` (or a literal socket address) on `net`.
///
/// # Errors
///
/// `InvalidInput` for a string without a valid port, as std; `NotFound`
/// for an unknown host name.
pub(crate) fn resolve_str(net: &SimNet, s: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let invalid = || io::Error::new(io::ErrorKind::InvalidInput, "invalid socket address");
    let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "invalid port value"))?;
    resolve_host(net, host, port)
}
