//! Network faults inside a [`Sim`](super::Sim): cut and heal links
//! between hosts, crash and bounce hosts. Call them from any task of the
//! simulation (a client's script, usually); each takes effect at once, at
//! the current virtual instant, and enters the run's trace, so a replay
//! injects the same faults at the same points.
//!
//! ```
//! use std::io::{ErrorKind, Read};
//! use std::time::Duration;
//! use fibrio::net::{TcpListener, TcpStream};
//! use fibrio::sim::{net, Sim};
//!
//! let mut sim = Sim::builder().seed(2).build();
//! sim.host("server", || {
//!     let listener = TcpListener::bind("0.0.0.0:80").unwrap();
//!     let (_stream, _) = listener.accept().unwrap();
//!     fibrio::task::park().ok(); // holds the connection, sends nothing
//! });
//! sim.client("client", || {
//!     let mut stream = TcpStream::connect("server:80").unwrap();
//!     net::crash("server");
//!     let mut buf = [0; 1];
//!     assert_eq!(stream.read(&mut buf).unwrap_err().kind(), ErrorKind::ConnectionReset);
//!     net::bounce("server"); // runs the server's main again
//!     fibrio::sleep(Duration::from_millis(10));
//!     assert!(TcpStream::connect("server:80").is_ok());
//! });
//! sim.run().unwrap();
//! ```
//!
//! # Invariants
//!
//! * A fault changes the network before it returns; packets already
//!   delivered stay delivered.
//! * Every fault is traced with its kind and the hosts' registration
//!   indices, never with names or addresses.

use fibrio_core::task::det;

use super::world::{with_world, World};

/// Trace tags of the faults (in the range `task::det::trace` reserves for
/// higher crates).
mod tag {
    pub(super) const PARTITION: u64 = 0x51_0001;
    pub(super) const REPAIR: u64 = 0x51_0002;
    pub(super) const HOLD: u64 = 0x51_0003;
    pub(super) const RELEASE: u64 = 0x51_0004;
    pub(super) const CRASH: u64 = 0x51_0005;
    pub(super) const BOUNCE: u64 = 0x51_0006;
}

/// The running simulation, or a panic naming `what`.
#[track_caller]
fn world(what: &str) -> std::rc::Rc<World> {
    match with_world(|world| world.clone()) {
        Some(world) => world,
        None => panic!(
            "fibrio::sim::net::{what} called outside a Sim: network faults need the hosts of a \
             fibrio::sim::Sim; call it from a task of a host or client while Sim::run runs"
        ),
    }
}

/// The host called `name`: (index, group, is a server), or a panic.
#[track_caller]
fn host(world: &World, what: &str, name: &str) -> (usize, u32, bool) {
    match world.host(name) {
        Some(host) => host,
        None => panic!(
            "fibrio::sim::net::{what}: unknown host '{name}' (no host of this Sim has that name)"
        ),
    }
}

#[track_caller]
fn link(
    what: &str,
    tag: u64,
    a: &str,
    b: &str,
    apply: fn(&fibrio_reactor::sim::SimNet, &str, &str) -> std::io::Result<()>,
) {
    let world = world(what);
    let (ia, _, _) = host(&world, what, a);
    let (ib, _, _) = host(&world, what, b);
    if let Err(err) = apply(&world.net, a, b) {
        panic!("fibrio::sim::net::{what}: {err}");
    }
    det::trace(tag, ia as u64, ib as u64);
}

/// Cuts the link between hosts `a` and `b`, both ways, for TCP: packets
/// on it wait (connects and reads across it wait, and their timeouts
/// fire; writers stop once the peer's receive window is full), until
/// [`repair`]. UDP datagrams across it are lost.
///
/// # Panics
///
/// Outside a [`Sim`](super::Sim), or for an unknown host name.
///
/// # Examples
///
/// ```
/// use std::io::{ErrorKind, Read, Write};
/// use std::time::Duration;
/// use fibrio::net::{TcpListener, TcpStream};
/// use fibrio::sim::{net, Sim};
///
/// let mut sim = Sim::builder().build();
/// sim.host("server", || {
///     let listener = TcpListener::bind("0.0.0.0:80").unwrap();
///     let (mut stream, _) = listener.accept().unwrap();
///     let mut byte = [0; 1];
///     while stream.read(&mut byte).unwrap() == 1 {
///         stream.write_all(&byte).unwrap();
///     }
/// });
/// sim.client("client", || {
///     let mut stream = TcpStream::connect("server:80").unwrap();
///     stream.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
///     net::partition("client", "server");
///     stream.write_all(b"x").unwrap();
///     let mut byte = [0; 1];
///     assert_eq!(stream.read(&mut byte).unwrap_err().kind(), ErrorKind::TimedOut);
///     net::repair("client", "server"); // the byte goes through, and its echo comes back
///     stream.read_exact(&mut byte).unwrap();
///     assert_eq!(&byte, b"x");
/// });
/// sim.run().unwrap();
/// ```
#[track_caller]
pub fn partition(a: &str, b: &str) {
    link("partition", tag::PARTITION, a, b, |net, a, b| {
        net.partition(a, b)
    });
}

/// Heals a [`partition`] between `a` and `b`: what waited is sent on, in
/// order, after one fresh latency.
///
/// # Panics
///
/// Outside a [`Sim`](super::Sim), or for an unknown host name.
///
/// # Examples
///
/// See [`partition`].
#[track_caller]
pub fn repair(a: &str, b: &str) {
    link("repair", tag::REPAIR, a, b, |net, a, b| net.repair(a, b));
}

/// Holds every packet between `a` and `b`, both ways, TCP and UDP alike,
/// until [`release`]: delivery is delayed, nothing is lost.
///
/// # Panics
///
/// Outside a [`Sim`](super::Sim), or for an unknown host name.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::time::Duration;
/// use fibrio::net::{TcpListener, TcpStream};
/// use fibrio::sim::{net, Sim};
/// use fibrio::time::Instant;
///
/// let mut sim = Sim::builder().build();
/// sim.host("server", || {
///     let listener = TcpListener::bind("0.0.0.0:80").unwrap();
///     let (mut stream, _) = listener.accept().unwrap();
///     stream.write_all(b"hi").unwrap();
/// });
/// sim.client("client", || {
///     let mut stream = TcpStream::connect("server:80").unwrap();
///     net::hold("server", "client");
///     let released = fibrio::spawn(|| {
///         fibrio::sleep(Duration::from_secs(30));
///         net::release("server", "client");
///     });
///     let start = Instant::now();
///     let mut reply = [0; 2];
///     stream.read_exact(&mut reply).unwrap(); // arrives after the release
///     assert!(start.elapsed() >= Duration::from_secs(30));
///     released.join().unwrap();
/// });
/// sim.run().unwrap();
/// ```
#[track_caller]
pub fn hold(a: &str, b: &str) {
    link("hold", tag::HOLD, a, b, |net, a, b| net.hold(a, b));
}

/// Sends on, in order, what [`hold`] kept back between `a` and `b`.
///
/// # Panics
///
/// Outside a [`Sim`](super::Sim), or for an unknown host name.
///
/// # Examples
///
/// See [`hold`].
#[track_caller]
pub fn release(a: &str, b: &str) {
    link("release", tag::RELEASE, a, b, |net, a, b| net.release(a, b));
}

/// Crashes `host`: every task on it is cancelled (the caller too, if it
/// runs there: it unwinds at its next checkpoint), its sockets die (their
/// calls fail with `ConnectionAborted`), every peer connection gets a
/// reset (`ConnectionReset`), its listeners vanish, and connects to it
/// wait until it comes back. It stays down until [`bounce`]. Crashing a
/// client counts as its main's end.
///
/// # Panics
///
/// Outside a [`Sim`](super::Sim), or for an unknown host name.
///
/// # Examples
///
/// See the [module](self).
#[track_caller]
pub fn crash(host_name: &str) {
    let world = world("crash");
    let (index, group, _) = host(&world, "crash", host_name);
    crash_host(&world, group, host_name);
    det::trace(tag::CRASH, index as u64, 0);
}

/// Cancels the host's tasks, then kills its network. In that order: a
/// task parked on one of its sockets wakes up cancelled and unwinds,
/// instead of seeing its socket fail first.
fn crash_host(world: &World, group: u32, name: &str) {
    det::cancel_group(group);
    if let Err(err) = world.net.crash(name) {
        panic!("fibrio::sim::net::crash: {err}");
    }
}

/// Restarts server `host`: crashes it (as [`crash`]) if it is up, waits
/// for its tasks to end, brings its network back with no sockets, and runs
/// its main again. Returns at once; the restart happens while the caller
/// goes on.
///
/// # Panics
///
/// Outside a [`Sim`](super::Sim), for an unknown host name, or for a
/// client (its main runs once).
///
/// # Examples
///
/// See the [module](self).
#[track_caller]
pub fn bounce(host_name: &str) {
    let world = world("bounce");
    let (index, group, server) = host(&world, "bounce", host_name);
    if !server {
        panic!(
            "fibrio::sim::net::bounce: '{host_name}' is a client, whose main runs once; only a \
             host added with Sim::host can be bounced (crash works on both)"
        );
    }
    crash_host(&world, group, host_name);
    world.request_restart(index);
    det::trace(tag::BOUNCE, index as u64, 0);
}
