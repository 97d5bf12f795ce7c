//! [`TcpStream`]: a TCP connection, real or simulated (chosen at
//! `connect`): the type, its std conversions, addresses, `peek`,
//! `shutdown`, and `Read`/`Write` for both `TcpStream` and `&TcpStream`.
//! Connecting is in `connect`, the socket options in `options`.
//!
//! Invariants:
//! * Blocking calls park the task; read and write timeouts park it with a
//!   deadline and fail with `ErrorKind::TimedOut`.
//! * `read` and `write` are checkpoints, before the first try and while
//!   they wait; a cancelled call unwinds having moved no data.
//! * A simulated stream has no file descriptor (see the [`tcp`](super)
//!   module docs); its vectored I/O uses the first non-empty buffer, as
//!   std's default does.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use super::not_simulated;
use crate::net::evented::Evented;
use crate::net::socket_traits::tcp_fd_traits;
use crate::reactor::Direction;
use crate::sim::SimStream;

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
    pub(super) inner: StreamInner,
}

/// A real socket, or a simulated one (chosen at `connect`).
pub(super) enum StreamInner {
    Os(Evented<std::net::TcpStream>),
    Sim(SimStream),
}

impl TcpStream {
    pub(super) fn sim(stream: SimStream) -> TcpStream {
        TcpStream {
            inner: StreamInner::Sim(stream),
        }
    }

    pub(super) fn os(&self) -> Option<&Evented<std::net::TcpStream>> {
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
}

tcp_fd_traits!(TcpStream, std::net::TcpStream, StreamInner);

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
