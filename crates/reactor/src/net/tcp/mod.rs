//! [`TcpListener`] and [`TcpStream`]: `std::net`'s TCP types, with every
//! blocking call parking the task instead of the thread.
//!
//! One concept per file:
//! * `listener`: [`TcpListener`] (bind, accept, its options) and the
//!   [`Incoming`] iterator of accepted connections;
//! * `stream`: [`TcpStream`], its std conversions, addresses, `peek`,
//!   `shutdown` and its `Read`/`Write` impls;
//! * `connect`: [`TcpStream::connect`] and
//!   [`TcpStream::connect_timeout`];
//! * `options`: the stream's timeouts, `TCP_NODELAY`, TTL and `SO_ERROR`.
//!
//! std's fd, conversion, `Debug` and `Read`/`Write` traits come from the
//! macros of `net::socket_traits`, shared with UDP and Unix sockets.
//!
//! Invariants (see the [`net`](crate::net) module docs):
//! * Each type holds a real socket or a simulated one, chosen at `bind`
//!   or `connect`: inside a simulation the socket is simulated, with the
//!   same API and error kinds.
//! * A simulated socket has no file descriptor: `as_raw_fd`/`into_raw_fd`
//!   give -1, `as_fd` panics, and `into_std` fails with
//!   `ErrorKind::Unsupported`; it reports a TTL of 64 and setting it
//!   changes nothing.
//! * The types are `!Send`: a socket belongs to the thread that uses it;
//!   `into_std`/`from_std` move one between threads.

mod connect;
mod listener;
mod options;
mod stream;

pub use listener::{Incoming, TcpListener};
pub use stream::TcpStream;

use std::io;

/// The error of a call that a simulated socket cannot honour.
fn not_simulated(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("fibrio::sim: {what} is not available on a simulated socket"),
    )
}

/// The TTL a simulated socket reports; setting it changes nothing.
const SIM_TTL: u32 = 64;
