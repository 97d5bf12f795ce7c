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
use super::tcp::{fd_traits, stream_io};
use crate::reactor::Direction;

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
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::from_std(std::os::unix::net::UnixListener::bind(path)?)
    }

    /// Wraps a std listener, switching it to non-blocking mode.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            inner: Evented::new(listener, |l| l.set_nonblocking(true))?,
        })
    }

    /// Unwraps the std listener, back in blocking mode.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
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
    /// A checkpoint.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.inner.blocking(Direction::Read, |l| l.accept())?;
        Ok((UnixStream::from_std(stream)?, addr))
    }

    /// An endless iterator of connections that backs off (and logs, rate
    /// limited) instead of spinning when out of file descriptors, as
    /// [`TcpListener::incoming`](super::TcpListener::incoming).
    ///
    /// # Cancellation
    ///
    /// Each `next` is a checkpoint.
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
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// A second handle to the same socket.
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn try_clone(&self) -> io::Result<UnixListener> {
        UnixListener::from_std(self.inner.get_ref().try_clone()?)
    }

    /// Takes the pending socket error.
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }
}

/// The iterator of [`UnixListener::incoming`].
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
    /// A checkpoint.
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        fibrio_core::task::checkpoint();
        // Connecting a Unix stream socket completes at once (or fails);
        // it never needs to wait for the peer.
        UnixStream::from_std(std::os::unix::net::UnixStream::connect(path)?)
    }

    /// A connected pair of streams.
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a std stream, switching it to non-blocking mode.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: Evented::new(stream, |s| s.set_nonblocking(true))?,
        })
    }

    /// Unwraps the std stream, back in blocking mode.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
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
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Sets the read timeout (`None`: wait forever).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    /// Sets the write timeout (`None`: wait forever).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }

    /// The read timeout.
    ///
    /// # Errors
    ///
    /// Never; `io::Result` mirrors std.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.read_timeout())
    }

    /// The write timeout.
    ///
    /// # Errors
    ///
    /// Never; `io::Result` mirrors std.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.write_timeout())
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// A second handle to the same stream (a duplicated fd).
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        UnixStream::from_std(self.inner.get_ref().try_clone()?)
    }

    /// Takes the pending socket error.
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }
}

fd_traits!(UnixListener, std::os::unix::net::UnixListener, from_std);
fd_traits!(UnixStream, std::os::unix::net::UnixStream, from_std);
stream_io!(UnixStream);
