//! [`ToSocketAddrs`]: the address argument of the TCP and UDP types, a sealed
//! look-alike of [`std::net::ToSocketAddrs`] implemented for the same
//! types, and [`lookup_host`], which resolves one to its addresses.
//!
//! Invariants:
//!
//! * Every name lookup of `fibrio::net` (`connect`, `bind`, UDP's
//!   `send_to`, [`lookup_host`]) goes through [`lookup_host`]'s resolver,
//!   so they all share its rules: a literal address is parsed in place and
//!   never reaches `getaddrinfo` nor the blocking pool; a host name is
//!   looked up on the blocking pool when the caller is a fibrio task (the
//!   runtime's thread never waits on DNS), and on the calling thread
//!   otherwise (outside a task, or while the thread unwinds), as std does.
//! * The results, their order and the errors are std's.
//! * Inside a simulation (`fibrio::sim`), host names resolve through the
//!   simulated network and never reach DNS.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::RwLock;

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

/// Resolves `host` to its socket addresses, as
/// [`std::net::ToSocketAddrs`] does (`"host:port"`, `("host", port)`, a
/// literal address, ...), without blocking the runtime: inside a fibrio
/// task a host name is looked up on the blocking pool, so a slow DNS
/// server parks only the calling task while the others run (tokio's
/// `lookup_host`). Outside a task it blocks the thread, as std does.
/// Literal addresses are parsed in place: they never reach the pool or
/// `getaddrinfo`. [`TcpStream::connect`](super::TcpStream::connect),
/// [`TcpListener::bind`](super::TcpListener::bind) and the
/// [`UdpSocket`](super::UdpSocket) calls resolve their names through it.
///
/// Inside a simulation (`fibrio::sim`) names resolve through the
/// simulated network (see [`ToSocketAddrs`]).
///
/// # Errors
///
/// std's: `InvalidInput` for a missing or malformed port (no lookup is
/// made), the resolver's error for an unknown name (its kind and message
/// are `getaddrinfo`'s, as with std), and `Other` if the blocking pool
/// could not run the lookup.
///
/// # Cancellation
///
/// A checkpoint while it waits for the blocking pool. The lookup itself
/// cannot be interrupted: a cancelled task stops waiting for it and
/// unwinds; the pool thread finishes it and discards the result.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use fibrio_reactor::net::lookup_host;
/// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// # use fibrio_reactor::{BackendKind, Reactor};
/// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// # let _enter = reactor.enter();
/// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
///
/// // A literal address: parsed here, never looked up.
/// let addrs: Vec<SocketAddr> = lookup_host("127.0.0.1:8080")?.collect();
/// assert_eq!(addrs, ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
/// // A name: looked up on the blocking pool while other tasks run.
/// assert!(lookup_host(("localhost", 80))?.all(|a| a.ip().is_loopback()));
/// // No port: std's InvalidInput, with no lookup.
/// let no_port = lookup_host("localhost").err().unwrap();
/// assert_eq!(no_port.kind(), std::io::ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
pub fn lookup_host(host: impl ToSocketAddrs) -> io::Result<impl Iterator<Item = SocketAddr>> {
    Ok(host.resolve()?.into_iter())
}

/// A replacement for `getaddrinfo` (host, port) installed by
/// [`set_resolver_for_tests`].
#[doc(hidden)]
pub type Resolver = fn(&str, u16) -> io::Result<Vec<SocketAddr>>;

/// The resolver tests installed, if any.
static TEST_RESOLVER: RwLock<Option<Resolver>> = RwLock::new(None);

/// Not part of the API: for fibrio's own tests. Makes every host-name
/// lookup of the process call `resolver` instead of `getaddrinfo`, where
/// `getaddrinfo` would have run (on the blocking pool inside a task), so a
/// test can make DNS slow or count lookups; `None` puts `getaddrinfo`
/// back. Returns the previous resolver. Literal addresses never reach it.
#[doc(hidden)]
pub fn set_resolver_for_tests(resolver: Option<Resolver>) -> Option<Resolver> {
    let mut slot = TEST_RESOLVER.write().unwrap_or_else(|e| e.into_inner());
    std::mem::replace(&mut slot, resolver)
}

/// `getaddrinfo` for `(host, port)`, or the tests' resolver.
fn name_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let resolver = *TEST_RESOLVER.read().unwrap_or_else(|e| e.into_inner());
    match resolver {
        Some(resolve) => resolve(host, port),
        None => std_resolve((host, port)),
    }
}

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
        return name_lookup(host, port);
    }
    let owned = host.to_owned();
    match crate::blocking::spawn_blocking(move || name_lookup(&owned, port)) {
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
