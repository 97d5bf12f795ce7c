//! [`ToSocketAddrs`]: the address argument of the TCP and UDP types, a sealed
//! look-alike of [`std::net::ToSocketAddrs`] implemented for the same
//! types. Outside a simulation it resolves exactly as std's does; inside
//! one (`fibrio::sim`), host names resolve through the simulated network
//! and never reach DNS.

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
/// Outside a simulation a host name is looked up as std does (the thread
/// blocks in `getaddrinfo`). Inside one, `"name:port"` names a simulated
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
            None => std_resolve(self),
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
            None => std_resolve(*self),
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
