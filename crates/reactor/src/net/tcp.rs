//! [`TcpListener`] and [`TcpStream`]: `std::net`'s TCP types, with every
//! blocking call parking the task instead of the thread.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use fibrio_core::task::WaitKind;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::evented::Evented;
use super::{accept_backoff, each_resolved, ToSocketAddrs};
use crate::reactor::Direction;
use crate::sim::{self, SimListener, SimStream};
use crate::timeouts::SocketTimeouts;

/// The error of a call that a simulated socket cannot honour.
fn not_simulated(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("fibrio::sim: {what} is not available on a simulated socket"),
    )
}

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
    /// simulation the listener is simulated (see the [module docs](super)).
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

/// The TTL a simulated socket reports; setting it changes nothing.
const SIM_TTL: u32 = 64;

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

/// A TCP connection. Mirrors [`std::net::TcpStream`]: `Read` and `Write`
/// are implemented for both `TcpStream` and `&TcpStream`, so one task can
/// read while another writes. Blocking calls park the task; read and write
/// timeouts park it with a deadline and fail with `ErrorKind::TimedOut`.
///
/// # Cancellation
///
/// `read` and `write` (and the `Read`/`Write` methods built on them) are
/// checkpoints, before the first try and while they wait. A cancelled call
/// unwinds having moved no data; a `write_all` made of several writes may
/// have sent a prefix.
///
/// # Examples
///
/// Two tasks share one stream through `&TcpStream`:
///
/// ```
/// use std::io::{Read, Write};
/// use std::rc::Rc;
/// use fibrio_reactor::net::{TcpListener, TcpStream};
/// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// # use fibrio_reactor::{BackendKind, Reactor};
/// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// # let _enter = reactor.enter();
/// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let client = Rc::new(TcpStream::connect(listener.local_addr()?)?);
/// let (mut server, _) = listener.accept()?;
/// let writer = {
///     let client = Rc::clone(&client);
///     fibrio_core::task::spawn(move || (&*client).write_all(b"ping"))
/// };
/// let mut buf = [0; 4];
/// server.read_exact(&mut buf)?; // parks until the writer task has run
/// server.write_all(&buf)?;
/// (&*client).read_exact(&mut buf)?;
/// assert_eq!(&buf, b"ping");
/// writer.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
pub struct TcpStream {
    inner: StreamInner,
}

/// A real socket, or a simulated one (chosen at `connect`).
enum StreamInner {
    Os(Evented<std::net::TcpStream>),
    Sim(SimStream),
}

impl TcpStream {
    /// Connects to `addr`, trying each resolved address in turn. Host names
    /// resolve through [`lookup_host`](super::lookup_host): on the blocking
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

    fn sim(stream: SimStream) -> TcpStream {
        TcpStream {
            inner: StreamInner::Sim(stream),
        }
    }

    fn os(&self) -> Option<&Evented<std::net::TcpStream>> {
        match &self.inner {
            StreamInner::Os(inner) => Some(inner),
            StreamInner::Sim(_) => None,
        }
    }

    /// Wraps a connected std stream, switching it to non-blocking mode.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::TcpStream;
    ///
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let std_stream = std::net::TcpStream::connect(listener.local_addr()?)?;
    /// let stream = TcpStream::from_std(std_stream)?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: StreamInner::Os(Evented::new(stream, |s| s.set_nonblocking(true))?),
        })
    }

    /// Unwraps the std stream, back in blocking mode. Its registration with
    /// the reactor, if any, is dropped.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
    ///
    /// # Examples
    ///
    /// A std stream is `Send`, so it can go to another thread:
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// let (mut server, _) = listener.accept()?;
    /// let mut std_stream = stream.into_std()?;
    /// std::thread::spawn(move || std_stream.write_all(b"moved")).join().unwrap()?;
    /// let mut buf = [0; 5];
    /// server.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"moved");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        let stream = match self.inner {
            StreamInner::Os(inner) => inner.into_inner(),
            StreamInner::Sim(_) => return Err(not_simulated("into_std")),
        };
        stream.set_nonblocking(false)?;
        Ok(stream)
    }

    /// Reads without consuming: the next `read` sees the same bytes.
    ///
    /// # Errors
    ///
    /// The system error, or `TimedOut` past the read timeout.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, before the first try and while it waits; a cancelled call
    /// unwinds having seen nothing.
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
    /// let mut client = TcpStream::connect(listener.local_addr()?)?;
    /// let (mut server, _) = listener.accept()?;
    /// client.write_all(b"hello")?;
    /// let mut peeked = [0; 5];
    /// assert_eq!(server.peek(&mut peeked)?, 5);
    /// let mut read = [0; 5];
    /// server.read_exact(&mut read)?;
    /// assert_eq!(peeked, read);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.inner {
            StreamInner::Os(inner) => inner.blocking(Direction::Read, |s| s.peek(buf)),
            StreamInner::Sim(stream) => stream.peek(buf),
        }
    }

    /// Shuts down the read half, the write half, or both. A task blocked
    /// reading this stream (through a shared reference) wakes up and sees
    /// end-of-file.
    ///
    /// # Errors
    ///
    /// The system error (`NotConnected`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::net::Shutdown;
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let client = TcpStream::connect(listener.local_addr()?)?;
    /// let (mut server, _) = listener.accept()?;
    /// client.shutdown(Shutdown::Write)?;
    /// let mut rest = Vec::new();
    /// server.read_to_end(&mut rest)?; // end of stream: the client sends no more
    /// assert!(rest.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match &self.inner {
            StreamInner::Os(inner) => inner.get_ref().shutdown(how),
            StreamInner::Sim(stream) => stream.shutdown(how),
        }
    }

    /// Sets the read timeout: a read that waits longer fails with
    /// `ErrorKind::TimedOut`. `None` waits forever.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`, as std.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{ErrorKind, Read};
    /// use std::time::Duration;
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let client = TcpStream::connect(listener.local_addr()?)?;
    /// let _server = listener.accept()?; // connected, but sends nothing
    /// client.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// let err = (&client).read(&mut [0; 16]).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// assert!(client.set_read_timeout(Some(Duration::ZERO)).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.timeouts().set_read(timeout)
    }

    /// Sets the write timeout. See [`set_read_timeout`](TcpStream::set_read_timeout).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(stream.write_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.timeouts().set_write(timeout)
    }

    /// The read timeout.
    ///
    /// # Errors
    ///
    /// Never; `io::Result` mirrors std.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert_eq!(stream.read_timeout()?, None);
    /// stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(stream.read_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.timeouts().read())
    }

    /// The write timeout.
    ///
    /// # Errors
    ///
    /// Never; `io::Result` mirrors std.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert_eq!(stream.write_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.timeouts().write())
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_nodelay(true)?;
    /// assert!(stream.nodelay()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        match &self.inner {
            StreamInner::Os(inner) => inner.get_ref().set_nodelay(nodelay),
            StreamInner::Sim(stream) => {
                stream.set_nodelay(nodelay);
                Ok(())
            }
        }
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert!(!stream.nodelay()?); // off by default
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        match &self.inner {
            StreamInner::Os(inner) => inner.get_ref().nodelay(),
            StreamInner::Sim(stream) => Ok(stream.nodelay()),
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
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// let (_, peer) = listener.accept()?;
    /// assert_eq!(stream.local_addr()?, peer);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            StreamInner::Os(inner) => inner.get_ref().local_addr(),
            StreamInner::Sim(stream) => Ok(stream.local_addr()),
        }
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The system error (`NotConnected`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert_eq!(stream.peer_addr()?, listener.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            StreamInner::Os(inner) => inner.get_ref().peer_addr(),
            StreamInner::Sim(stream) => Ok(stream.peer_addr()),
        }
    }

    /// A second handle to the same connection (a duplicated fd), for
    /// example to hand the write half to another task. It has its own
    /// timeouts, which start unset.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    /// let clone = stream.try_clone()?;
    /// assert_eq!(clone.peer_addr()?, stream.peer_addr()?);
    /// assert_eq!(clone.read_timeout()?, None); // its own timeouts
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        match &self.inner {
            StreamInner::Os(inner) => TcpStream::from_std(inner.get_ref().try_clone()?),
            StreamInner::Sim(stream) => Ok(TcpStream::sim(stream.try_clone())),
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
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert!(stream.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self.os() {
            Some(inner) => inner.get_ref().take_error(),
            None => Ok(None),
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
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_ttl(42)?;
    /// assert_eq!(stream.ttl()?, 42);
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
    /// use fibrio_reactor::net::{TcpListener, TcpStream};
    ///
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// assert!(stream.ttl()? > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        match self.os() {
            Some(inner) => inner.get_ref().ttl(),
            None => Ok(SIM_TTL),
        }
    }
}

/// `Read` and `Write` for both `$ty` and `&$ty`, each call parking the task
/// while the socket is not ready.
macro_rules! stream_io {
    ($ty:ident) => {
        impl Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let capacity = buf.len();
                self.inner.read_stream(capacity, |mut s| s.read(buf))
            }

            fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
                let capacity = bufs.iter().map(|b| b.len()).sum();
                self.inner
                    .read_stream(capacity, |mut s| s.read_vectored(bufs))
            }
        }

        impl Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.inner.blocking(Direction::Write, |mut s| s.write(buf))
            }

            fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                self.inner
                    .blocking(Direction::Write, |mut s| s.write_vectored(bufs))
            }

            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }

        impl Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                (&*self).read(buf)
            }

            fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl Write for $ty {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                (&*self).write(buf)
            }

            fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
    };
}

pub(crate) use stream_io;

macro_rules! fd_traits {
    ($ty:ident, $std:ty, $ctor:ident) => {
        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.get_ref().as_raw_fd()
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.get_ref().as_fd()
            }
        }

        impl TryFrom<$std> for $ty {
            type Error = io::Error;

            fn try_from(socket: $std) -> io::Result<$ty> {
                $ty::$ctor(socket)
            }
        }

        impl TryFrom<OwnedFd> for $ty {
            type Error = io::Error;

            fn try_from(fd: OwnedFd) -> io::Result<$ty> {
                $ty::$ctor(<$std>::from(fd))
            }
        }

        impl IntoRawFd for $ty {
            fn into_raw_fd(self) -> RawFd {
                self.inner.into_inner().into_raw_fd()
            }
        }

        impl FromRawFd for $ty {
            /// # Safety
            ///
            /// `fd` must be an open socket of the right kind that nothing
            /// else owns. If switching it to non-blocking mode fails, this
            /// panics.
            unsafe fn from_raw_fd(fd: RawFd) -> $ty {
                // SAFETY: the caller guarantees `fd` is an owned, open
                // socket of this kind (this function's contract).
                let socket = unsafe { <$std>::from_raw_fd(fd) };
                match $ty::$ctor(socket) {
                    Ok(wrapped) => wrapped,
                    Err(err) => panic!("fibrio: cannot make fd {fd} non-blocking: {err}"),
                }
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.inner.get_ref(), f)
            }
        }
    };
}

pub(crate) use fd_traits;

/// The fd traits of the TCP types: a real socket's fd, or none for a
/// simulated one (`as_raw_fd` and `into_raw_fd` give -1, `as_fd` panics:
/// a simulated socket has no file descriptor to lend).
macro_rules! tcp_fd_traits {
    ($ty:ident, $std:ty, $inner:ident) => {
        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                match &self.inner {
                    $inner::Os(inner) => inner.get_ref().as_raw_fd(),
                    $inner::Sim(_) => -1,
                }
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                match &self.inner {
                    $inner::Os(inner) => inner.get_ref().as_fd(),
                    $inner::Sim(_) => {
                        panic!("fibrio::sim: a simulated socket has no file descriptor")
                    }
                }
            }
        }

        impl TryFrom<$std> for $ty {
            type Error = io::Error;

            fn try_from(socket: $std) -> io::Result<$ty> {
                $ty::from_std(socket)
            }
        }

        impl TryFrom<OwnedFd> for $ty {
            type Error = io::Error;

            fn try_from(fd: OwnedFd) -> io::Result<$ty> {
                $ty::from_std(<$std>::from(fd))
            }
        }

        impl IntoRawFd for $ty {
            fn into_raw_fd(self) -> RawFd {
                match self.inner {
                    $inner::Os(inner) => inner.into_inner().into_raw_fd(),
                    $inner::Sim(_) => -1,
                }
            }
        }

        impl FromRawFd for $ty {
            /// # Safety
            ///
            /// `fd` must be an open socket of the right kind that nothing
            /// else owns. If switching it to non-blocking mode fails, this
            /// panics.
            unsafe fn from_raw_fd(fd: RawFd) -> $ty {
                // SAFETY: the caller guarantees `fd` is an owned, open
                // socket of this kind (this function's contract).
                let socket = unsafe { <$std>::from_raw_fd(fd) };
                match $ty::from_std(socket) {
                    Ok(wrapped) => wrapped,
                    Err(err) => panic!("fibrio: cannot make fd {fd} non-blocking: {err}"),
                }
            }
        }
    };
}

pub(crate) use tcp_fd_traits;

tcp_fd_traits!(TcpListener, std::net::TcpListener, ListenerInner);
tcp_fd_traits!(TcpStream, std::net::TcpStream, StreamInner);

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

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            StreamInner::Os(inner) => fmt::Debug::fmt(inner.get_ref(), f),
            StreamInner::Sim(stream) => f
                .debug_struct("TcpStream")
                .field("addr", &stream.local_addr())
                .field("peer", &stream.peer_addr())
                .field("simulated", &true)
                .finish(),
        }
    }
}

/// The first non-empty buffer of `bufs`, as std's default vectored I/O.
fn first_nonempty<'a, 'b>(bufs: &'a mut [IoSliceMut<'b>]) -> &'a mut [u8] {
    bufs.iter_mut()
        .find(|b| !b.is_empty())
        .map_or(&mut [][..], |b| &mut **b)
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.inner {
            StreamInner::Os(inner) => {
                let capacity = buf.len();
                inner.read_stream(capacity, |mut s| s.read(buf))
            }
            StreamInner::Sim(stream) => stream.read(buf),
        }
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        match &self.inner {
            StreamInner::Os(inner) => {
                let capacity = bufs.iter().map(|b| b.len()).sum();
                inner.read_stream(capacity, |mut s| s.read_vectored(bufs))
            }
            StreamInner::Sim(stream) => stream.read(first_nonempty(bufs)),
        }
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.inner {
            StreamInner::Os(inner) => inner.blocking(Direction::Write, |mut s| s.write(buf)),
            StreamInner::Sim(stream) => stream.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match &self.inner {
            StreamInner::Os(inner) => {
                inner.blocking(Direction::Write, |mut s| s.write_vectored(bufs))
            }
            StreamInner::Sim(stream) => {
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &**b);
                stream.write(first)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TcpStream {
    /// The read and write timeouts, real socket or simulated.
    fn timeouts(&self) -> &SocketTimeouts {
        match &self.inner {
            StreamInner::Os(inner) => inner.timeouts(),
            StreamInner::Sim(stream) => stream.timeouts(),
        }
    }
}
