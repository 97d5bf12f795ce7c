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
//! Hosts: [`SimNet::new`] has one host, `main`, at `10.0.0.1`, run by the
//! root task group; [`SimNet::without_hosts`] and [`SimNet::add_host`]
//! build any others (`10.0.0.2`, ...), each run by one task group of the
//! deterministic run (`fibrio_core::task::det::add_group`): a task's
//! sockets belong to the host of its group. `localhost`, `127.0.0.1` and
//! `::1` name the caller's host. A connect to an address no host has
//! fails at once with `HostUnreachable`; an unknown host name with
//! `NotFound`; a socket made by a task of no host with `Unsupported`.
//!
//! Faults: [`partition`](SimNet::partition) cuts a link for TCP (its
//! packets wait, so connects and reads wait and their timeouts fire) and
//! [`repair`](SimNet::repair) heals it (what waited goes on, in order);
//! [`hold`](SimNet::hold) and [`release`](SimNet::release) do the same for
//! every packet; [`crash`](SimNet::crash) kills a host's sockets (its
//! peers get `ConnectionReset`, its own calls `ConnectionAborted`, its
//! listeners vanish) and [`restart`](SimNet::restart) brings it back with
//! no sockets. Cancelling the host's tasks is the caller's part.
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
mod udp;

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::time::Duration;

pub use driver::SimDriver;
pub(crate) use tcp::{SimListener, SimStream};
pub(crate) use udp::SimUdp;

use state::{HostId, LinkFault, NetState, Wake};

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
    udp_drop_rate: f64,
}

impl Default for SimNetConfig {
    /// Latency uniform in 0..=1 ms, a 256 KiB receive window, no UDP
    /// datagram dropped.
    fn default() -> SimNetConfig {
        SimNetConfig {
            latency_min: Duration::ZERO,
            latency_max: Duration::from_millis(1),
            window: 256 * 1024,
            udp_drop_rate: 0.0,
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

    /// Each UDP datagram sent is lost with probability `rate` (clamped to
    /// `0.0..=1.0`; NaN counts as 0), drawn from the run's `Net` random
    /// stream, so a seed loses the same datagrams in every replay. TCP is
    /// never lossy.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::sim::SimNetConfig;
    ///
    /// assert_eq!(SimNetConfig::default().udp_drop_rate(0.25).drop_rate(), 0.25);
    /// assert_eq!(SimNetConfig::default().udp_drop_rate(7.0).drop_rate(), 1.0);
    /// ```
    pub fn udp_drop_rate(mut self, rate: f64) -> SimNetConfig {
        self.udp_drop_rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        self
    }

    /// The probability that a UDP datagram is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::sim::SimNetConfig;
    ///
    /// assert_eq!(SimNetConfig::default().drop_rate(), 0.0);
    /// ```
    pub fn drop_rate(&self) -> f64 {
        self.udp_drop_rate
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
    /// A network with one host, `main` (`10.0.0.1`), run by the root task
    /// group (group 0): every task of a plain deterministic run is on it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_reactor::sim::{SimNet, SimNetConfig};
    ///
    /// let net = SimNet::new(SimNetConfig::default().latency(Duration::ZERO, Duration::ZERO));
    /// assert_eq!(net.open_sockets(), (0, 0));
    /// assert_eq!(net.host_ip("main").unwrap().to_string(), "10.0.0.1");
    /// ```
    pub fn new(config: SimNetConfig) -> SimNet {
        let net = SimNet::without_hosts(config);
        net.add_host("main", 0)
            .expect("a new network has no host called main");
        net
    }

    /// A network with no host yet: add them with [`add_host`](Self::add_host).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::sim::{SimNet, SimNetConfig};
    ///
    /// let net = SimNet::without_hosts(SimNetConfig::default());
    /// assert!(net.host_ip("main").is_none());
    /// ```
    pub fn without_hosts(config: SimNetConfig) -> SimNet {
        SimNet {
            state: Rc::new(RefCell::new(NetState::new(config))),
        }
    }

    /// Adds a host called `name`, run by the deterministic run's task group
    /// `group` (from `fibrio_core::task::det::add_group`; 0 is the root
    /// group). Hosts get `10.0.0.1`, `10.0.0.2`, ... in the order they are
    /// added; the name resolves to that address (case-insensitively).
    ///
    /// # Errors
    ///
    /// `AlreadyExists` if another host has the name or the group;
    /// `InvalidInput` for an empty name, `localhost`, an IP address or a
    /// name with `:`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use fibrio_reactor::sim::{SimNet, SimNetConfig};
    ///
    /// let net = SimNet::without_hosts(SimNetConfig::default());
    /// assert_eq!(net.add_host("db", 1)?.to_string(), "10.0.0.1");
    /// assert_eq!(net.add_host("web", 2)?.to_string(), "10.0.0.2");
    /// assert_eq!(net.add_host("DB", 3).unwrap_err().kind(), ErrorKind::AlreadyExists);
    /// assert_eq!(net.add_host("localhost", 4).unwrap_err().kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add_host(&self, name: &str, group: u32) -> io::Result<Ipv4Addr> {
        self.state.borrow_mut().add_host(name, group)
    }

    /// The address of the host called `name`, if there is one.
    ///
    /// # Examples
    ///
    /// See [`add_host`](Self::add_host).
    pub fn host_ip(&self, name: &str) -> Option<Ipv4Addr> {
        let state = self.state.borrow();
        match state.lookup(name)? {
            IpAddr::V4(ip) if !ip.is_loopback() => Some(ip),
            _ => None,
        }
    }

    fn host(&self, name: &str) -> io::Result<HostId> {
        self.state.borrow().host_named(name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("fibrio::sim: unknown host '{name}' (no simulated host has this name)"),
            )
        })
    }

    fn set_link(&self, a: &str, b: &str, fault: LinkFault, on: bool) -> io::Result<()> {
        let (a, b) = (self.host(a)?, self.host(b)?);
        let now = fibrio_core::time::now_std();
        self.state.borrow_mut().set_link(a, b, fault, on, now);
        Ok(())
    }

    /// Cuts the link between hosts `a` and `b` for TCP, both ways: its
    /// packets (SYNs, data, closes, resets) wait, so connects and reads
    /// across it wait and their timeouts fire, and writers stop once the
    /// receive window is full. UDP datagrams across it are lost.
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown host name.
    ///
    /// # Examples
    ///
    /// See [`repair`](Self::repair).
    pub fn partition(&self, a: &str, b: &str) -> io::Result<()> {
        self.set_link(a, b, LinkFault::Partition, true)
    }

    /// Heals a [`partition`](Self::partition): what waited is sent on, in
    /// order, after one fresh latency.
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown host name.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use fibrio_reactor::sim::{SimNet, SimNetConfig};
    ///
    /// let net = SimNet::without_hosts(SimNetConfig::default());
    /// net.add_host("a", 1)?;
    /// net.add_host("b", 2)?;
    /// net.partition("a", "b")?;
    /// net.repair("a", "b")?;
    /// assert_eq!(net.partition("a", "c").unwrap_err().kind(), ErrorKind::NotFound);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn repair(&self, a: &str, b: &str) -> io::Result<()> {
        self.set_link(a, b, LinkFault::Partition, false)
    }

    /// Holds every packet between hosts `a` and `b`, both ways, TCP and
    /// UDP alike, until [`release`](Self::release).
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown host name.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::sim::{SimNet, SimNetConfig};
    ///
    /// let net = SimNet::without_hosts(SimNetConfig::default());
    /// net.add_host("a", 1)?;
    /// net.add_host("b", 2)?;
    /// net.hold("a", "b")?;
    /// net.release("b", "a")?; // the order of the names does not matter
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn hold(&self, a: &str, b: &str) -> io::Result<()> {
        self.set_link(a, b, LinkFault::Hold, true)
    }

    /// Sends on, in order, what [`hold`](Self::hold) kept back.
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown host name.
    ///
    /// # Examples
    ///
    /// See [`hold`](Self::hold).
    pub fn release(&self, a: &str, b: &str) -> io::Result<()> {
        self.set_link(a, b, LinkFault::Hold, false)
    }

    /// Crashes host `name`'s network: its listeners vanish, its sockets die
    /// (their calls fail with `ConnectionAborted`), each of its peers gets
    /// a reset (`ConnectionReset`) after what the host sent before the
    /// crash (a reset discards what its receiver has not read, so data a
    /// partition held back is lost), its ports are freed, and SYNs sent to
    /// it wait until [`restart`](Self::restart). Its tasks are not touched:
    /// cancelling them is the caller's part. Crashing a host that is down
    /// does nothing.
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown host name.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::sim::{SimNet, SimNetConfig};
    ///
    /// let net = SimNet::new(SimNetConfig::default());
    /// assert!(net.is_up("main")?);
    /// net.crash("main")?;
    /// assert!(!net.is_up("main")?);
    /// net.restart("main")?;
    /// assert!(net.is_up("main")?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn crash(&self, name: &str) -> io::Result<()> {
        let host = self.host(name)?;
        let mut wake = Wake::new();
        {
            let mut state = self.state.borrow_mut();
            if state.is_up(host) {
                state.crash(host, fibrio_core::time::now_std(), &mut wake);
            }
        }
        tcp::wake_all(wake);
        Ok(())
    }

    /// Brings host `name` back up after a [`crash`](Self::crash), with no
    /// sockets; SYNs that waited for it are delivered. Restarting a host
    /// that is up does nothing.
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown host name.
    ///
    /// # Examples
    ///
    /// See [`crash`](Self::crash).
    pub fn restart(&self, name: &str) -> io::Result<()> {
        let host = self.host(name)?;
        let mut state = self.state.borrow_mut();
        if !state.is_up(host) {
            state.restart(host, fibrio_core::time::now_std());
        }
        Ok(())
    }

    /// True if host `name` is up (not crashed).
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown host name.
    ///
    /// # Examples
    ///
    /// See [`crash`](Self::crash).
    pub fn is_up(&self, name: &str) -> io::Result<bool> {
        let host = self.host(name)?;
        Ok(self.state.borrow().is_up(host))
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

impl SimNet {
    /// The network [entered](SimNet::enter) on this thread, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::sim::{SimNet, SimNetConfig};
    ///
    /// assert!(SimNet::current().is_none());
    /// let net = SimNet::new(SimNetConfig::default());
    /// let _enter = net.enter();
    /// assert!(SimNet::current().is_some());
    /// ```
    pub fn current() -> Option<SimNet> {
        current()
    }
}

pub(crate) use addr::{resolve_host, resolve_str};
