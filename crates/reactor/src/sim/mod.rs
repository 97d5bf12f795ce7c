//! The simulated network of a deterministic simulation (`fibrio::sim`):
//! [`SimNet`], its [`SimDriver`], and the simulated TCP sockets that
//! [`net::TcpListener`](crate::net::TcpListener) and
//! [`net::TcpStream`](crate::net::TcpStream) become while a `SimNet` is
//! entered on the thread.
//!
//! A `SimNet` carries bytes between simulated sockets with a latency drawn
//! from the run's `Net` random stream, in order, with a receive window for
//! back-pressure; its driver hands the deterministic scheduler the tasks
//! that a delivery woke and the virtual time of the next delivery. No
//! real socket, file descriptor or DNS lookup is involved.
//!
//! Hosts: for now one implicit host, `main`, at `10.0.0.1`; `localhost`,
//! `127.0.0.1` and `::1` name the caller's host. The tables are indexed by
//! host id so that several hosts can be added. A connect to an address no
//! host has fails at once with `HostUnreachable`; an unknown host name
//! with `NotFound`.
//!
//! Semantics, as a real socket's: no listener -> `ConnectionRefused` (a
//! listener bound to `10.0.0.1` does not take connections to
//! `127.0.0.1`; bind `0.0.0.0` for both); a taken port -> `AddrInUse`;
//! another host's address -> `AddrNotAvailable`; port 0 -> an ephemeral
//! port from 49152; a read, write or connect timeout -> `TimedOut` at
//! that exact virtual instant; the peer's `shutdown(Write)` or close ->
//! `Ok(0)` once what it sent is read; a close with received data left
//! unread sends a reset -> `ConnectionReset` for the peer's reads; writes
//! after the peer's close or reset arrived -> `BrokenPipe`. A cancelled
//! call unwinds having moved no data.
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use fibrio_core::scheduler::{DetConfig, Scheduler, SchedulerConfig};
//! use fibrio_reactor::net::{TcpListener, TcpStream};
//! use fibrio_reactor::sim::{SimNet, SimNetConfig};
//!
//! let net = SimNet::new(SimNetConfig::default());
//! let _enter = net.enter();
//! let scheduler =
//!     Scheduler::deterministic(SchedulerConfig::default(), Box::new(net.driver()), DetConfig::new(7));
//! let (reply, _stats) = scheduler.block_on_deterministic(|| {
//!     let listener = TcpListener::bind("main:80").unwrap();
//!     let server = fibrio_core::task::spawn(move || {
//!         let (mut stream, _) = listener.accept().unwrap();
//!         let mut buf = [0; 4];
//!         stream.read_exact(&mut buf).unwrap();
//!         stream.write_all(&buf).unwrap();
//!     });
//!     let mut client = TcpStream::connect("10.0.0.1:80").unwrap();
//!     client.write_all(b"ping").unwrap();
//!     let mut reply = [0; 4];
//!     client.read_exact(&mut reply).unwrap();
//!     server.join().unwrap();
//!     reply
//! });
//! assert_eq!(&reply.unwrap(), b"ping");
//! ```
//!
//! # Invariants
//!
//! * Everything here runs on one thread; the state is one `RefCell`, never
//!   borrowed across a park, an unpark or a user callback.
//! * Every random draw happens in task code (connect, write, close), never
//!   in the driver, so the run's random streams depend only on the
//!   schedule.
//! * Each direction of a connection delivers its marks (data, FIN, close,
//!   reset) in the order they were sent, each at or after the previous
//!   one's time; the event heap holds at most one entry per direction with
//!   marks in flight, plus one per handshake packet.

mod addr;
mod driver;
mod state;
mod tcp;

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

pub use driver::SimDriver;
pub(crate) use tcp::{SimListener, SimStream};

use state::NetState;

/// The settings of a [`SimNet`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_reactor::sim::SimNetConfig;
///
/// let config = SimNetConfig::default()
///     .latency(Duration::from_millis(1), Duration::from_millis(5))
///     .window(64 * 1024);
/// assert_eq!(config.latency_range(), (Duration::from_millis(1), Duration::from_millis(5)));
/// ```
#[derive(Debug, Clone)]
pub struct SimNetConfig {
    latency_min: Duration,
    latency_max: Duration,
    window: usize,
}

impl Default for SimNetConfig {
    /// Latency uniform in 0..=1 ms, a 256 KiB receive window.
    fn default() -> SimNetConfig {
        SimNetConfig {
            latency_min: Duration::ZERO,
            latency_max: Duration::from_millis(1),
            window: 256 * 1024,
        }
    }
}

impl SimNetConfig {
    /// Each packet takes a latency drawn uniformly from `min..=max` (from
    /// the run's `Net` random stream). `max` below `min` counts as `min`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_reactor::sim::SimNetConfig;
    ///
    /// let fixed = SimNetConfig::default().latency(Duration::from_millis(2), Duration::ZERO);
    /// assert_eq!(fixed.latency_range(), (Duration::from_millis(2), Duration::from_millis(2)));
    /// ```
    pub fn latency(mut self, min: Duration, max: Duration) -> SimNetConfig {
        self.latency_min = min;
        self.latency_max = max.max(min);
        self
    }

    /// The latency range, `(min, max)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_reactor::sim::SimNetConfig;
    ///
    /// assert_eq!(SimNetConfig::default().latency_range(), (Duration::ZERO, Duration::from_millis(1)));
    /// ```
    pub fn latency_range(&self) -> (Duration, Duration) {
        (self.latency_min, self.latency_max)
    }

    /// The receive window in bytes: a writer waits while this many bytes
    /// it sent are unread by the peer. At least 1.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::sim::SimNetConfig;
    ///
    /// assert_eq!(SimNetConfig::default().window(0).window_size(), 1);
    /// ```
    pub fn window(mut self, bytes: usize) -> SimNetConfig {
        self.window = bytes.max(1);
        self
    }

    /// The receive window in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::sim::SimNetConfig;
    ///
    /// assert_eq!(SimNetConfig::default().window_size(), 256 * 1024);
    /// ```
    pub fn window_size(&self) -> usize {
        self.window
    }
}

/// One simulation's network: its hosts, listeners, connections and the
/// packets in flight. A cheap handle (cloning shares it).
///
/// Sockets made while it is [entered](SimNet::enter) on the thread are
/// simulated; its [`driver`](SimNet::driver) must be the driver of the
/// deterministic scheduler that runs them.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::sim::{self, SimNet, SimNetConfig};
///
/// let net = SimNet::new(SimNetConfig::default());
/// assert!(!sim::active());
/// let enter = net.enter();
/// assert!(sim::active());
/// drop(enter);
/// assert!(!sim::active());
/// ```
#[derive(Clone)]
pub struct SimNet {
    state: Rc<RefCell<NetState>>,
}

impl SimNet {
    /// A network with the implicit host `main` (`10.0.0.1`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_reactor::sim::{SimNet, SimNetConfig};
    ///
    /// let net = SimNet::new(SimNetConfig::default().latency(Duration::ZERO, Duration::ZERO));
    /// assert_eq!(net.open_sockets(), (0, 0));
    /// ```
    pub fn new(config: SimNetConfig) -> SimNet {
        SimNet {
            state: Rc::new(RefCell::new(NetState::new(config))),
        }
    }

    /// The driver to give `Scheduler::deterministic`: it delivers this
    /// network's packets on virtual time.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{DetConfig, Driver, Scheduler, SchedulerConfig};
    /// use fibrio_reactor::sim::{SimNet, SimNetConfig};
    ///
    /// let net = SimNet::new(SimNetConfig::default());
    /// assert_eq!(net.driver().name(), "sim");
    /// let _enter = net.enter();
    /// let scheduler =
    ///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(net.driver()), DetConfig::new(1));
    /// assert!(scheduler.block_on_deterministic(|| 1).0.is_ok());
    /// ```
    pub fn driver(&self) -> SimDriver {
        SimDriver::new(self.clone())
    }

    /// Makes sockets created on this thread simulated, on this network,
    /// until the guard drops (which restores the previous one, if any).
    /// Sockets made meanwhile stay simulated after it drops.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::TcpListener;
    /// use fibrio_reactor::sim::{SimNet, SimNetConfig};
    ///
    /// let net = SimNet::new(SimNetConfig::default());
    /// let enter = net.enter();
    /// let listener = TcpListener::bind("main:80")?; // no real socket
    /// assert_eq!(net.open_sockets(), (1, 0));
    /// drop((listener, enter));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn enter(&self) -> SimEnterGuard {
        let previous = CURRENT.with(|c| c.replace(Some(self.clone())));
        SimEnterGuard { previous }
    }

    /// Connections not yet fully closed, and listeners, for tests.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::sim::{SimNet, SimNetConfig};
    ///
    /// assert_eq!(SimNet::new(SimNetConfig::default()).open_sockets(), (0, 0));
    /// ```
    pub fn open_sockets(&self) -> (usize, usize) {
        let state = self.state.borrow();
        (state.listener_count(), state.connection_count())
    }

    /// True if both handles are the same network.
    pub(crate) fn same(&self, other: &SimNet) -> bool {
        Rc::ptr_eq(&self.state, &other.state)
    }

    pub(crate) fn state(&self) -> &RefCell<NetState> {
        &self.state
    }
}

impl fmt::Debug for SimNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (listeners, connections) = self.open_sockets();
        f.debug_struct("SimNet")
            .field("listeners", &listeners)
            .field("connections", &connections)
            .finish()
    }
}

/// Returned by [`SimNet::enter`]; dropping it leaves the network.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::sim::{self, SimEnterGuard, SimNet, SimNetConfig};
///
/// let guard: SimEnterGuard = SimNet::new(SimNetConfig::default()).enter();
/// assert!(sim::active());
/// drop(guard);
/// assert!(!sim::active());
/// ```
#[must_use = "the network is left when the guard drops"]
pub struct SimEnterGuard {
    previous: Option<SimNet>,
}

impl Drop for SimEnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|c| c.replace(previous));
    }
}

impl fmt::Debug for SimEnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimEnterGuard").finish_non_exhaustive()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<SimNet>> = const { RefCell::new(None) };
}

/// True while a [`SimNet`] is entered on this thread: new TCP sockets are
/// simulated.
///
/// # Examples
///
/// ```
/// assert!(!fibrio_reactor::sim::active());
/// ```
pub fn active() -> bool {
    CURRENT.try_with(|c| c.borrow().is_some()).unwrap_or(false)
}

/// The network entered on this thread, if any.
pub(crate) fn current() -> Option<SimNet> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

pub(crate) use addr::{resolve_host, resolve_str};
