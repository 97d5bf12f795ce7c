//! [`TcpStream::connect`] and [`TcpStream::connect_timeout`]: opening a
//! connection, real or (inside a simulation) simulated.
//!
//! Invariants:
//! * Each resolved address is tried in turn; host names resolve through
//!   [`lookup_host`](crate::net::lookup_host), never blocking the thread
//!   inside a task.
//! * A connect that does not complete inside the system call parks the
//!   task until the reactor reports the socket writable (shown as
//!   `WaitKind::Connect` in a task dump), so a loop of connects lets the
//!   accepting task run between them.
//! * A checkpoint before it starts and while it waits; a cancelled call
//!   closes its half-open socket.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fibrio_core::task::WaitKind;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::stream::{StreamInner, TcpStream};
use crate::net::evented::Evented;
use crate::net::{each_resolved, ToSocketAddrs};
use crate::reactor::Direction;
use crate::sim::{self, SimStream};

impl TcpStream {
    /// Connects to `addr`, trying each resolved address in turn. Host names
    /// resolve through [`lookup_host`](crate::net::lookup_host): on the blocking
    /// pool inside a task, so only this task waits on DNS; literal addresses
    /// are not looked up.
    /// Inside a simulation the connection is simulated, and names resolve
    /// through the simulated network (see [`ToSocketAddrs`]).
    ///
    /// A connect that does not complete inside the system call (most do
    /// not, even on loopback) parks the task until the reactor reports the
    /// socket writable, as tokio's does, showing
    /// [`WaitKind::Connect`](fibrio_core::task::WaitKind::Connect) in a
    /// task dump meanwhile. So a loop of connects lets the accepting task
    /// (and everyone else) run between them.
    ///
    /// # Errors
    ///
    /// The error of the last address tried (`ConnectionRefused`, ...).
    ///
    /// # Cancellation
    ///
    /// A checkpoint, before it starts and while it waits for the handshake. A
    /// cancelled call unwinds and closes its half-open socket.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_resolved(addr, |addr| TcpStream::connect_addr(addr, None))
    }

    /// Connects to `addr`, giving up with `TimedOut` after `timeout`.
    ///
    /// # Errors
    ///
    /// `TimedOut`, `InvalidInput` for a zero timeout, or the connect error.
    ///
    /// # Cancellation
    ///
    /// As for [`connect`](TcpStream::connect).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    /// assert_eq!(stream.peer_addr()?, addr);
    /// let zero = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
    /// assert_eq!(zero.kind(), std::io::ErrorKind::InvalidInput);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot connect with a 0 duration timeout",
            ));
        }
        TcpStream::connect_addr(*addr, Some(fibrio_core::time::now_std() + timeout))
    }

    fn connect_addr(addr: SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
        if let Some(net) = sim::current() {
            return SimStream::connect(&net, addr, deadline).map(TcpStream::sim);
        }
        // A checkpoint and a unit of the budget, before anything is made.
        fibrio_core::coop::proceed();
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        let pending = match socket.connect(&SockAddr::from(addr)) {
            Ok(()) => false,
            Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => true,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => true,
            Err(err) => return Err(err),
        };
        let stream = Evented::new(std::net::TcpStream::from(socket), |s| {
            s.set_nonblocking(true)
        })?;
        if pending {
            // In progress: park until the reactor reports the socket
            // writable, even when the handshake is already done (on
            // loopback it often is), as tokio does. The task shows
            // `Connect` meanwhile. Without this park a loop of connects
            // never waits, and many such loops fill the listener's accept
            // queue faster than one accepting task drains it, whatever the
            // budget: the kernel then drops SYNs, and each dropped one
            // costs a second. The park paces every connecting task to one
            // connect per reactor turn, and the accepting task is woken on
            // that same turn.
            stream.wait(Direction::Write, WaitKind::Connect, deadline)?;
            let connected = |s: &std::net::TcpStream| match s.take_error()? {
                Some(err) => Err(err),
                None => match s.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(err) if err.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(err) => Err(err),
                },
            };
            stream.retry_until(Direction::Write, WaitKind::Connect, deadline, connected)?;
        }
        Ok(TcpStream {
            inner: StreamInner::Os(stream),
        })
    }
}
