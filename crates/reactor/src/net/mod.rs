//! Sockets whose blocking calls park the task: [`TcpListener`],
//! [`TcpStream`], [`UdpSocket`], [`UnixListener`] and [`UnixStream`].
//!
//! The API mirrors `std::net` and `std::os::unix::net` (same names, same
//! signatures, `Read`/`Write` for both `T` and `&T`), so porting a
//! blocking program is a change of type. Every blocking call is a
//! cancellation checkpoint, read and write timeouts park the task with a
//! deadline and fail with `ErrorKind::TimedOut`, and outside a fibrio task
//! the same calls block the thread, as std's do.
//!
//! Each fd is registered with the reactor lazily, the first time a call
//! would block; readers and writers wait separately. A socket kept after
//! its runtime ends keeps working: in a later runtime on the same thread
//! (`fibrio::run` called again) its registration moves to that runtime's
//! reactor, and on a plain thread its calls wait in `poll(2)`.
//!
//! The types are `!Send`: a socket belongs to the thread that uses it.
//! `into_std`/`from_std` move one between threads.
//!
//! Inside a simulation (a [`SimNet`](crate::sim::SimNet) entered on the
//! thread, as `fibrio::sim` does), `TcpListener::bind`,
//! `TcpStream::connect` and `UdpSocket::bind` make simulated sockets
//! instead, with the same API and error kinds, and host names resolve
//! through the simulated network ([`ToSocketAddrs`]), never through DNS. A
//! simulated socket has no file descriptor: `as_raw_fd`/`into_raw_fd` give
//! -1, `as_fd` panics, and `into_std` fails with `ErrorKind::Unsupported`.
//! Unix sockets are not simulated.
//!
//! ```compile_fail
//! fn assert_send<T: Send>() {}
//! assert_send::<fibrio_reactor::net::TcpStream>();
//! ```

mod accept_backoff;
mod addr;
#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
mod async_io;
mod evented;
mod socket_traits;
mod tcp;
mod udp;
mod unix;

pub use addr::{lookup_host, ToSocketAddrs};
#[doc(hidden)]
pub use addr::{set_resolver_for_tests, Resolver};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};

use std::io;
use std::net::SocketAddr;

/// Runs `f` on each address `addr` resolves to ([`lookup_host`]: on the
/// blocking pool for a host name inside a task, through the simulated
/// network inside a simulation), returning the first success or the last
/// error.
pub(crate) fn each_resolved<T>(
    addr: impl ToSocketAddrs,
    f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    each_of(lookup_host(addr)?, f)
}

fn each_of<T>(
    addrs: impl IntoIterator<Item = SocketAddr>,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addrs {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}
