//! [`ToSocketAddrs`]: the address argument of the TCP and UDP types, a sealed
//! look-alike of [`std::net::ToSocketAddrs`] implemented for the same
//! types. Outside a simulation it resolves as std's does, a host name on
//! the blocking pool when inside a task; inside one (`fibrio::sim`), host
//! names resolve through the simulated network and never reach DNS.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::sim;

mod sealed {
    use std::io;
    use std::net::SocketAddr;

    pub trait Sealed {
        /// The addresses this value names, in order.
        fn resolve(&self) -> io::Result<Vec<SocketAddr>>;
    }
}

pub(crate) use sealed::Sealed;

/// What [`TcpListener::bind`](super::TcpListener::bind),
/// [`TcpStream::connect`](super::TcpStream::connect) and the
/// [`UdpSocket`](super::UdpSocket) calls accept: the types
/// that implement [`std::net::ToSocketAddrs`] (`SocketAddr`, its V4 and V6
/// forms, `(IpAddr, u16)` and its V4/V6 forms, `(&str, u16)`,
/// `(String, u16)`, `str`, `String`, `&[SocketAddr]`, and references to
/// them). Sealed: user types cannot implement it; resolve them to a
/// `SocketAddr` first.
///
/// Outside a simulation a host name is looked up as std does, with
/// `getaddrinfo`, but inside a fibrio task the lookup runs on the blocking
/// pool, so a slow DNS server parks only the calling task (as tokio's
/// `lookup_host`); outside a task it blocks the thread, as std's does.
/// Literal addresses are parsed in place and never reach `getaddrinfo`. Inside one, `"name:port"` names a simulated
/// host (`main`, or `localhost` for the caller's own), and an unknown name
/// fails with `ErrorKind::NotFound`.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::net::{TcpListener, ToSocketAddrs};
///
/// fn listen(addr: impl ToSocketAddrs) -> std::io::Result<TcpListener> {
///     TcpListener::bind(addr)
/// }
/// let a = listen("127.0.0.1:0")?;
/// let b = listen(("localhost", 0))?;
/// let c = listen(&[a.local_addr()?, b.local_addr()?][..]).unwrap_err(); // both taken
/// assert_eq!(c.kind(), std::io::ErrorKind::AddrInUse);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ToSocketAddrs: Sealed {}

impl<T: Sealed + ?Sized> ToSocketAddrs for T {}

fn std_resolve(addr: impl std::net::ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    Ok(addr.to_socket_addrs()?.collect())
}

/// Resolves a host name as std does, but inside a fibrio task on the
/// blocking pool (`getaddrinfo` blocks for as long as DNS takes, which
/// would stall every task of the runtime): the task parks, the others
/// run. Outside a task, or while the thread unwinds, it blocks the thread
/// as std does. A literal address never leaves the thread.
fn resolve_name(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    if fibrio_core::task::current_key().is_none() || std::thread::panicking() {
        return std_resolve((host, port));
    }
    let owned = host.to_owned();
    match crate::blocking::spawn_blocking(move || std_resolve((owned.as_str(), port))) {
        Ok(result) => result,
        Err(err) => Err(io::Error::other(format!(
            "fibrio: the name lookup of '{host}' failed on the blocking pool: {err}"
        ))),
    }
}

/// [`resolve_name`] for `"host:port"`; a literal socket address is parsed
/// in place.
fn resolve_host_port(s: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return std_resolve(s); // std's own error for a missing port
    };
    match port.parse::<u16>() {
        Ok(port) => resolve_name(host, port),
        Err(_) => std_resolve(s), // std's own error for a bad port
    }
}

macro_rules! literal {
    ($($ty:ty),*) => {$(
        impl Sealed for $ty {
            fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
                std_resolve(*self)
            }
        }
    )*};
}

literal!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl Sealed for str {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        match sim::current() {
            Some(net) => sim::resolve_str(&net, self),
            None => resolve_host_port(self),
        }
    }
}

impl Sealed for String {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        self.as_str().resolve()
    }
}

impl Sealed for (&str, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        match sim::current() {
            Some(net) => sim::resolve_host(&net, self.0, self.1),
            None => resolve_name(self.0, self.1),
        }
    }
}

impl Sealed for (String, u16) {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        (self.0.as_str(), self.1).resolve()
    }
}

impl Sealed for [SocketAddr] {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        Ok(self.to_vec())
    }
}

impl<T: Sealed + ?Sized> Sealed for &T {
    fn resolve(&self) -> io::Result<Vec<SocketAddr>> {
        (**self).resolve()
    }
}
