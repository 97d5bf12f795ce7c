//! [`TcpListener`]: a TCP server socket, real or simulated (chosen at
//! `bind`), whose `accept` parks the task; and [`Incoming`], its iterator
//! of accepted connections.
//!
//! Invariants:
//! * `accept` is refused once shutdown of the runtime is requested, and a
//!   call blocked when it comes is cut short having accepted nothing
//!   (pending connections stay queued); a simulated listener ignores
//!   shutdown.
//! * [`Incoming`] ends only at shutdown, and backs off (1 ms doubling up
//!   to 100 ms) instead of spinning when out of file descriptors.
//! * A simulated listener has no file descriptor (see the
//!   [`tcp`](super) module docs).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use fibrio_core::task::WaitKind;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::stream::TcpStream;
use super::{not_simulated, SIM_TTL};
use crate::net::evented::Evented;
use crate::net::socket_traits::tcp_fd_traits;
use crate::net::{accept_backoff, each_resolved, ToSocketAddrs};
use crate::reactor::Direction;
use crate::sim::{self, SimListener};

/// A TCP socket server, listening for connections. Mirrors
/// [`std::net::TcpListener`]; `accept` parks the task.
///
/// Like every fibrio socket it is `!Send`: it belongs to the runtime
/// thread that uses it. Use [`TcpListener::into_std`] and
/// [`TcpListener::from_std`] to move one between threads.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use fibrio_reactor::net::{TcpListener, TcpStream};
/// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// # use fibrio_reactor::{BackendKind, Reactor};
/// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// # let _enter = reactor.enter();
/// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = fibrio_core::task::spawn(move || -> std::io::Result<()> {
///     let (mut stream, _) = listener.accept()?;
///     let mut buf = [0; 5];
///     stream.read_exact(&mut buf)?;
///     stream.write_all(&buf)
/// });
/// let mut client = TcpStream::connect(addr)?;
/// client.write_all(b"hello")?;
/// let mut echo = [0; 5];
/// client.read_exact(&mut echo)?;
/// assert_eq!(&echo, b"hello");
/// server.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
pub struct TcpListener {
    inner: ListenerInner,
}

/// A real socket, or a simulated one (chosen at `bind`).
enum ListenerInner {
    Os(Evented<std::net::TcpListener>),
    Sim(SimListener),
}

impl TcpListener {
    /// Binds to `addr` (trying each resolved address in turn) and listens
    /// with a backlog of [`DEFAULT_BACKLOG`](TcpListener::DEFAULT_BACKLOG)
    /// (1024, tokio's; std's `bind` uses 128, which a burst of connects
    /// overflows while the accepting task waits its turn). Inside a
    /// simulation the listener is simulated (see the [module docs](crate::net)).
    ///
    /// # Errors
    ///
    /// The error of the last address tried, as `std::net::TcpListener::bind`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?; // port 0: any free port
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with_backlog(addr, TcpListener::DEFAULT_BACKLOG)
    }

    /// The listen backlog of [`bind`](TcpListener::bind) and
    /// [`bind_reuseport`](TcpListener::bind_reuseport).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(fibrio_reactor::net::TcpListener::DEFAULT_BACKLOG, 1024);
    /// ```
    pub const DEFAULT_BACKLOG: u32 = 1024;

    /// [`bind`](TcpListener::bind) with a listen backlog of `backlog`: how
    /// many connections the kernel completes and queues before the
    /// program accepts them (Linux caps it at `net.core.somaxconn`, 4096
    /// by default on current kernels; 0 counts as 1). Set with
    /// `SO_REUSEADDR`, as std's `bind` does. Inside a simulation the
    /// backlog is not used: a simulated listener queues every connection.
    ///
    /// # Errors
    ///
    /// The error of the last address tried.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::TcpListener;
    ///
    /// let listener = TcpListener::bind_with_backlog("127.0.0.1:0", 4096)?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_with_backlog(addr: impl ToSocketAddrs, backlog: u32) -> io::Result<TcpListener> {
        if let Some(net) = sim::current() {
            return TcpListener::bind_sim(&net, addr);
        }
        let backlog = i32::try_from(backlog.max(1)).unwrap_or(i32::MAX);
        each_resolved(addr, |addr| {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            socket.bind(&SockAddr::from(addr))?;
            socket.listen(backlog)?;
            Ok(std::net::TcpListener::from(socket))
        })
        .and_then(TcpListener::from_std)
    }

    fn bind_sim(net: &sim::SimNet, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let listener = each_resolved(addr, |addr| SimListener::bind(net, addr))?;
        Ok(TcpListener {
            inner: ListenerInner::Sim(listener),
        })
    }

    /// Binds with `SO_REUSEADDR` and `SO_REUSEPORT`, so several listeners
    /// (one per worker thread) can share `addr` and the kernel spreads
    /// incoming connections among them. The backlog is `DEFAULT_BACKLOG`. Inside a
    /// simulation it is [`bind`](TcpListener::bind): a port has one
    /// simulated listener.
    ///
    /// # Errors
    ///
    /// The system error of the last address tried.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::TcpListener;
    ///
    /// let a = TcpListener::bind_reuseport("127.0.0.1:0")?;
    /// let b = TcpListener::bind_reuseport(a.local_addr()?)?; // same port
    /// assert_eq!(a.local_addr()?, b.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_reuseport(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        if let Some(net) = sim::current() {
            return TcpListener::bind_sim(&net, addr);
        }
        each_resolved(addr, |addr| {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            #[cfg(not(any(target_os = "solaris", target_os = "illumos")))]
            socket.set_reuse_port(true)?;
            socket.bind(&SockAddr::from(addr))?;
            socket.listen(TcpListener::DEFAULT_BACKLOG as i32)?;
            Ok(std::net::TcpListener::from(socket))
        })
        .and_then(TcpListener::from_std)
    }

    /// Wraps a std listener, switching it to non-blocking mode.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::TcpListener;
    ///
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let addr = std_listener.local_addr()?;
    /// let listener = TcpListener::from_std(std_listener)?;
    /// assert_eq!(listener.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            inner: ListenerInner::Os(Evented::new(listener, |l| l.set_nonblocking(true))?),
        })
    }

    /// Unwraps the std listener, back in blocking mode. Its registration with
    /// the reactor, if any, is dropped.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
    ///
    /// # Examples
    ///
    /// A std listener is `Send`, so it can go to another thread:
    ///
    /// ```
    /// use fibrio_reactor::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let std_listener = listener.into_std()?;
    /// let acceptor = std::thread::spawn(move || std_listener.accept().map(|(_, peer)| peer));
    /// let client = std::net::TcpStream::connect(addr)?;
    /// assert_eq!(acceptor.join().unwrap()?, client.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        let listener = match self.inner {
            ListenerInner::Os(inner) => inner.into_inner(),
            ListenerInner::Sim(_) => return Err(not_simulated("into_std")),
        };
        listener.set_nonblocking(false)?;
        Ok(listener)
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// # Errors
    ///
    /// The system error, including `EMFILE`/`ENFILE` when out of file
    /// descriptors (see [`incoming`](TcpListener::incoming) for a loop that
    /// survives that).
    ///
    /// Once shutdown of the runtime is requested
    /// ([`shutdown`](crate::shutdown)), an error of kind
    /// [`io::ErrorKind::Other`] that
    /// [`shutdown::is_stopped_accepting`](crate::shutdown::is_stopped_accepting)
    /// recognises: returned at once by a call made after the request, and
    /// by a call blocked when it came (having accepted nothing; pending
    /// connections stay queued until the listener is dropped). A simulated
    /// listener ignores shutdown.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, before the first try and while it waits. A cancelled call
    /// unwinds having accepted nothing: pending connections stay queued for the
    /// next `accept`.
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
    /// let addr = listener.local_addr()?;
    /// let client = fibrio_core::task::spawn(move || TcpStream::connect(addr));
    /// let (stream, peer) = listener.accept()?; // parks until the client connects
    /// assert_eq!(stream.local_addr()?, addr);
    /// assert_eq!(peer, client.join().unwrap()?.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        match &self.inner {
            ListenerInner::Os(inner) => {
                // Refused once shutdown is requested, and cut short (having
                // accepted nothing) when it is requested while blocked.
                let (stream, addr) = crate::shutdown::accept(|| {
                    inner.blocking_as(Direction::Read, WaitKind::Accept, |l| l.accept())
                })?;
                Ok((TcpStream::from_std(stream)?, addr))
            }
            ListenerInner::Sim(listener) => {
                let (stream, addr) = listener.accept()?;
                Ok((TcpStream::sim(stream), addr))
            }
        }
    }

    /// An iterator of accepted connections, which ends only when shutdown
    /// of the runtime is requested ([`shutdown`](crate::shutdown)). When
    /// the process runs out of file descriptors (`EMFILE`, `ENFILE`) it
    /// logs a warning (at most once a second) and backs off, sleeping
    /// 1 ms, doubling up to 100 ms, instead of spinning; other errors are
    /// yielded.
    ///
    /// # Cancellation
    ///
    /// Each `next` is a checkpoint, like [`accept`](TcpListener::accept), and
    /// so is its back-off sleep.
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
    /// let addr = listener.local_addr()?;
    /// let clients = fibrio_core::task::spawn(move || -> std::io::Result<()> {
    ///     for _ in 0..3 {
    ///         TcpStream::connect(addr)?;
    ///     }
    ///     Ok(())
    /// });
    /// let mut served = 0;
    /// for stream in listener.incoming().take(3) {
    ///     let _stream = stream?;
    ///     served += 1;
    /// }
    /// assert_eq!(served, 3);
    /// clients.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            backoff: accept_backoff::Backoff::default(),
        }
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// assert!(addr.ip().is_loopback());
    /// assert_ne!(addr.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            ListenerInner::Os(inner) => inner.get_ref().local_addr(),
            ListenerInner::Sim(listener) => Ok(listener.local_addr()),
        }
    }

    /// A second handle to the same socket (a duplicated fd); either one
    /// accepts.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let clone = listener.try_clone()?;
    /// assert_eq!(clone.local_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        match &self.inner {
            ListenerInner::Os(inner) => TcpListener::from_std(inner.get_ref().try_clone()?),
            ListenerInner::Sim(listener) => Ok(TcpListener {
                inner: ListenerInner::Sim(listener.clone()),
            }),
        }
    }

    /// Sets the IP time-to-live.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// listener.set_ttl(42)?;
    /// assert_eq!(listener.ttl()?, 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        match self.os() {
            Some(inner) => inner.get_ref().set_ttl(ttl),
            None => Ok(()),
        }
    }

    /// The IP time-to-live.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// assert!(listener.ttl()? > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        match self.os() {
            Some(inner) => inner.get_ref().ttl(),
            None => Ok(SIM_TTL),
        }
    }

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::TcpListener;
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// assert!(listener.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self.os() {
            Some(inner) => inner.get_ref().take_error(),
            None => Ok(None),
        }
    }
}

impl TcpListener {
    fn os(&self) -> Option<&Evented<std::net::TcpListener>> {
        match &self.inner {
            ListenerInner::Os(inner) => Some(inner),
            ListenerInner::Sim(_) => None,
        }
    }
}

/// The iterator of [`TcpListener::incoming`]: it ends only at shutdown
/// ([`shutdown`](crate::shutdown)), and backs off instead of spinning when
/// out of file descriptors.
///
/// # Examples
///
/// A server loop that answers each connection, here stopped after one:
///
/// ```
/// use std::io::{Read, Write};
/// use fibrio_reactor::net::{Incoming, TcpListener, TcpStream};
/// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// # use fibrio_reactor::{BackendKind, Reactor};
/// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// # let _enter = reactor.enter();
/// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let client = fibrio_core::task::spawn(move || -> std::io::Result<String> {
///     let mut reply = String::new();
///     TcpStream::connect(addr)?.read_to_string(&mut reply)?;
///     Ok(reply)
/// });
/// let incoming: Incoming<'_> = listener.incoming();
/// for stream in incoming.take(1) {
///     stream?.write_all(b"hello")?; // then dropped: the client sees the end
/// }
/// assert_eq!(client.join().unwrap()?, "hello");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    backoff: accept_backoff::Backoff,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        let listener = self.listener;
        match accept_backoff::next_accepted(&mut self.backoff, || {
            listener.accept().map(|(stream, _)| stream)
        }) {
            // Shutdown was requested: the loop over `incoming` ends.
            Some(Err(err)) if crate::shutdown::is_stopped_accepting(&err) => None,
            next => next,
        }
    }
}

impl fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("listener", self.listener)
            .finish()
    }
}

tcp_fd_traits!(TcpListener, std::net::TcpListener, ListenerInner);

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            ListenerInner::Os(inner) => fmt::Debug::fmt(inner.get_ref(), f),
            ListenerInner::Sim(listener) => f
                .debug_struct("TcpListener")
                .field("addr", &listener.local_addr())
                .field("simulated", &true)
                .finish(),
        }
    }
}
