//! [`UnixListener`] and [`UnixStream`]: `std::os::unix::net`'s stream
//! sockets, with blocking calls parking the task.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::accept_backoff;
use super::evented::Evented;
use super::socket_traits::{fd_traits, stream_io};
use crate::reactor::Direction;
use fibrio_core::task::WaitKind;

/// A Unix domain socket server. Mirrors
/// [`std::os::unix::net::UnixListener`].
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use fibrio_reactor::net::{UnixListener, UnixStream};
/// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// # use fibrio_reactor::{BackendKind, Reactor};
/// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// # let _enter = reactor.enter();
/// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
///
/// let path = std::env::temp_dir().join(format!("fibrio-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let server = fibrio_core::task::spawn(move || -> std::io::Result<String> {
///     let (mut stream, _) = listener.accept()?;
///     let mut text = String::new();
///     stream.read_to_string(&mut text)?;
///     Ok(text)
/// });
/// let mut client = UnixStream::connect(&path)?;
/// client.write_all(b"over a unix socket")?;
/// drop(client);
/// assert_eq!(server.join().unwrap()?, "over a unix socket");
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
pub struct UnixListener {
    inner: Evented<std::os::unix::net::UnixListener>,
}

impl UnixListener {
    /// Binds to `path` and listens.
    ///
    /// # Errors
    ///
    /// The system error (`AddrInUse` if the path exists).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UnixListener;
    ///
    /// let path = std::env::temp_dir().join(format!("fibrio-doc-bind-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// assert_eq!(UnixListener::bind(&path).unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
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
    /// use fibrio_reactor::net::UnixListener;
    ///
    /// let path = std::env::temp_dir().join(format!("fibrio-doc-from-std-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::from_std(std::os::unix::net::UnixListener::bind(&path)?)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: Evented::new(listener, |l| l.set_nonblocking(true))?,
        })
    }

    /// Unwraps the std listener, back in blocking mode. Its registration
    /// with the reactor, if any, is dropped.
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
    /// use fibrio_reactor::net::UnixListener;
    ///
    /// let path = std::env::temp_dir().join(format!("fibrio-doc-into-std-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let std_listener = UnixListener::bind(&path)?.into_std()?;
    /// let acceptor = std::thread::spawn(move || std_listener.accept().map(|_| ()));
    /// let _client = std::os::unix::net::UnixStream::connect(&path)?;
    /// acceptor.join().unwrap()?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        let listener = self.inner.into_inner();
        listener.set_nonblocking(false)?;
        Ok(listener)
    }

    /// Waits for a connection.
    ///
    /// # Errors
    ///
    /// The system error, including `EMFILE`/`ENFILE`.
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
    /// use std::io::{Read, Write};
    /// use fibrio_reactor::net::{UnixListener, UnixStream};
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let path = std::env::temp_dir().join(format!("fibrio-doc-accept-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let connect_to = path.clone();
    /// let client = fibrio_core::task::spawn(move || UnixStream::connect(connect_to)?.write_all(b"hi"));
    /// let (mut stream, _peer) = listener.accept()?; // parks until the client connects
    /// let mut buf = [0; 2];
    /// stream.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"hi");
    /// client.join().unwrap()?;
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self
            .inner
            .blocking_as(Direction::Read, WaitKind::Accept, |l| l.accept())?;
        Ok((UnixStream::from_std(stream)?, addr))
    }

    /// An endless iterator of connections that backs off (and logs, rate
    /// limited) instead of spinning when out of file descriptors, as
    /// [`TcpListener::incoming`](super::TcpListener::incoming).
    ///
    /// # Cancellation
    ///
    /// Each `next` is a checkpoint, like [`accept`](UnixListener::accept), and
    /// so is its back-off sleep.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{UnixListener, UnixStream};
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let path = std::env::temp_dir().join(format!("fibrio-doc-incoming-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let connect_to = path.clone();
    /// let clients = fibrio_core::task::spawn(move || -> std::io::Result<()> {
    ///     for _ in 0..3 {
    ///         UnixStream::connect(&connect_to)?;
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
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming {
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
    /// use fibrio_reactor::net::UnixListener;
    ///
    /// let path = std::env::temp_dir().join(format!("fibrio-doc-local-addr-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// A second handle to the same socket; either one accepts.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UnixListener;
    ///
    /// let path = std::env::temp_dir().join(format!("fibrio-doc-try-clone-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let clone = listener.try_clone()?;
    /// assert_eq!(clone.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        UnixListener::from_std(self.inner.get_ref().try_clone()?)
    }

    /// Takes the pending socket error.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UnixListener;
    ///
    /// let path = std::env::temp_dir().join(format!("fibrio-doc-take-error-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// assert!(listener.take_error()?.is_none());
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }
}

/// The iterator of [`UnixListener::incoming`]: it never ends, and backs
/// off instead of spinning when out of file descriptors.
///
/// # Examples
///
/// A server loop that answers each connection, here stopped after one:
///
/// ```
/// use std::io::{Read, Write};
/// use fibrio_reactor::net::{UnixIncoming, UnixListener, UnixStream};
/// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// # use fibrio_reactor::{BackendKind, Reactor};
/// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// # let _enter = reactor.enter();
/// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
///
/// let path = std::env::temp_dir().join(format!("fibrio-doc-unix-incoming-{}.sock", std::process::id()));
/// # let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let connect_to = path.clone();
/// let client = fibrio_core::task::spawn(move || -> std::io::Result<String> {
///     let mut reply = String::new();
///     UnixStream::connect(connect_to)?.read_to_string(&mut reply)?;
///     Ok(reply)
/// });
/// let incoming: UnixIncoming<'_> = listener.incoming();
/// for stream in incoming.take(1) {
///     stream?.write_all(b"hello")?; // then dropped: the client sees the end
/// }
/// assert_eq!(client.join().unwrap()?, "hello");
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
    backoff: accept_backoff::Backoff,
}

impl Iterator for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        let listener = self.listener;
        accept_backoff::next_accepted(&mut self.backoff, || {
            listener.accept().map(|(stream, _)| stream)
        })
    }
}

impl fmt::Debug for UnixIncoming<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixIncoming")
            .field("listener", self.listener)
            .finish()
    }
}

/// A Unix domain stream. Mirrors [`std::os::unix::net::UnixStream`], with
/// `Read`/`Write` for both `UnixStream` and `&UnixStream`.
///
/// # Cancellation
///
/// As for [`TcpStream`](super::TcpStream#cancellation): `read` and `write`
/// are checkpoints, and a cancelled call unwinds having moved no data.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// # use fibrio_reactor::{BackendKind, Reactor};
/// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// # let _enter = reactor.enter();
/// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
/// let (mut a, mut b) = fibrio_reactor::net::UnixStream::pair()?;
/// let echo = fibrio_core::task::spawn(move || -> std::io::Result<()> {
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf)?;
///     b.write_all(&buf)
/// });
/// a.write_all(b"ping")?;
/// let mut reply = [0; 4];
/// a.read_exact(&mut reply)?;
/// assert_eq!(&reply, b"ping");
/// echo.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
pub struct UnixStream {
    inner: Evented<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// The system error (`NotFound`, `ConnectionRefused`, ...).
    ///
    /// # Cancellation
    ///
    /// A checkpoint, before it connects. It never waits: a Unix stream connects,
    /// or fails, at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{UnixListener, UnixStream};
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let path = std::env::temp_dir().join(format!("fibrio-doc-connect-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let stream = UnixStream::connect(&path)?;
    /// assert_eq!(stream.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// drop(listener);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        fibrio_core::coop::proceed();
        // Connecting a Unix stream socket completes at once (or fails);
        // it never needs to wait for the peer.
        UnixStream::from_std(std::os::unix::net::UnixStream::connect(path)?)
    }

    /// A connected pair of streams.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use fibrio_reactor::net::UnixStream;
    ///
    /// let (mut a, mut b) = UnixStream::pair()?;
    /// a.write_all(b"hi")?;
    /// let mut buf = [0; 2];
    /// b.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"hi");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a std stream, switching it to non-blocking mode.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UnixStream;
    ///
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let stream = UnixStream::from_std(a)?;
    /// assert!(stream.peer_addr()?.as_pathname().is_none()); // a pair is unnamed
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: Evented::new(stream, |s| s.set_nonblocking(true))?,
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
    /// use fibrio_reactor::net::UnixStream;
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// let mut std_stream = a.into_std()?;
    /// std::thread::spawn(move || std_stream.write_all(b"moved")).join().unwrap()?;
    /// let mut buf = [0; 5];
    /// b.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"moved");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        let stream = self.inner.into_inner();
        stream.set_nonblocking(false)?;
        Ok(stream)
    }

    /// Shuts down one or both halves. A task blocked reading this stream
    /// wakes and sees end-of-file.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    /// use std::net::Shutdown;
    /// use fibrio_reactor::net::UnixStream;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// a.shutdown(Shutdown::Write)?;
    /// let mut rest = Vec::new();
    /// b.read_to_end(&mut rest)?; // end of stream: `a` sends no more
    /// assert!(rest.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Sets the read timeout (`None`: wait forever): a read that waits longer
    /// fails with `ErrorKind::TimedOut`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{ErrorKind, Read};
    /// use std::time::Duration;
    /// use fibrio_reactor::net::UnixStream;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// a.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// let err = (&a).read(&mut [0; 8]).unwrap_err(); // `_b` sends nothing
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// assert!(a.set_read_timeout(Some(Duration::ZERO)).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.timeouts().set_read(timeout)
    }

    /// Sets the write timeout (`None`: wait forever).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_reactor::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// a.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(a.write_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.timeouts().set_write(timeout)
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
    /// use fibrio_reactor::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// assert_eq!(a.read_timeout()?, None);
    /// a.set_read_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(a.read_timeout()?, Some(Duration::from_secs(1)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.timeouts().read())
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
    /// use fibrio_reactor::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// assert_eq!(a.write_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.timeouts().write())
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
    /// use fibrio_reactor::net::{UnixListener, UnixStream};
    ///
    /// let path = std::env::temp_dir().join(format!("fibrio-doc-stream-local-addr-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let _client = UnixStream::connect(&path)?;
    /// let (server, _) = listener.accept()?;
    /// assert_eq!(server.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::{UnixListener, UnixStream};
    ///
    /// let path = std::env::temp_dir().join(format!("fibrio-doc-peer-addr-{}.sock", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let _listener = UnixListener::bind(&path)?;
    /// let client = UnixStream::connect(&path)?;
    /// assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// A second handle to the same stream (a duplicated fd). It has its own
    /// timeouts, which start unset.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use fibrio_reactor::net::UnixStream;
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// let mut clone = a.try_clone()?;
    /// clone.write_all(b"via the clone")?;
    /// let mut buf = [0; 13];
    /// b.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"via the clone");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        UnixStream::from_std(self.inner.get_ref().try_clone()?)
    }

    /// Takes the pending socket error.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UnixStream;
    ///
    /// let (a, _b) = UnixStream::pair()?;
    /// assert!(a.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }
}

fd_traits!(UnixListener, std::os::unix::net::UnixListener, from_std);
fd_traits!(UnixStream, std::os::unix::net::UnixStream, from_std);
stream_io!(UnixStream);
