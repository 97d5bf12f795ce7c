//! [`UdpSocket`]: `std::net::UdpSocket`, with blocking calls parking the
//! task; inside a simulation, a simulated socket (`crate::sim`).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::evented::Evented;
use super::socket_traits::tcp_fd_traits;
use super::{each_resolved, ToSocketAddrs};
use crate::reactor::Direction;
use crate::sim::{self, SimUdp};

/// A UDP socket. Mirrors [`std::net::UdpSocket`].
///
/// # Examples
///
/// ```
/// use fibrio_reactor::net::UdpSocket;
/// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// # use fibrio_reactor::{BackendKind, Reactor};
/// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// # let _enter = reactor.enter();
/// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
///
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// let b_addr = b.local_addr()?;
/// let reader = fibrio_core::task::spawn(move || -> std::io::Result<Vec<u8>> {
///     let mut buf = [0; 16];
///     let (n, _from) = b.recv_from(&mut buf)?;
///     Ok(buf[..n].to_vec())
/// });
/// fibrio_core::task::yield_now(); // the reader parks first
/// a.send_to(b"datagram", b_addr)?;
/// assert_eq!(reader.join().unwrap()?, b"datagram");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
pub struct UdpSocket {
    inner: UdpInner,
}

enum UdpInner {
    Os(Evented<std::net::UdpSocket>),
    Sim(SimUdp),
}

/// A simulated socket has no std socket to give.
fn not_simulated() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "fibrio::sim: a simulated UDP socket has no std socket",
    )
}

impl UdpSocket {
    /// Binds to `addr`.
    ///
    /// # Errors
    ///
    /// The error of the last address tried.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?; // port 0: any free port
    /// assert_ne!(socket.local_addr()?.port(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        if let Some(net) = sim::current() {
            let socket = each_resolved(addr, |addr| SimUdp::bind(&net, addr))?;
            return Ok(UdpSocket {
                inner: UdpInner::Sim(socket),
            });
        }
        each_resolved(addr, std::net::UdpSocket::bind).and_then(UdpSocket::from_std)
    }

    /// Wraps a std socket, switching it to non-blocking mode.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let addr = std_socket.local_addr()?;
    /// let socket = UdpSocket::from_std(std_socket)?;
    /// assert_eq!(socket.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: UdpInner::Os(Evented::new(socket, |s| s.set_nonblocking(true))?),
        })
    }

    /// Unwraps the std socket, back in blocking mode. Its registration with
    /// the reactor, if any, is dropped.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
    ///
    /// # Examples
    ///
    /// A std socket is `Send`, so it can go to another thread:
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// let target = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let to = target.local_addr()?;
    /// let std_socket = socket.into_std()?;
    /// std::thread::spawn(move || std_socket.send_to(b"hi", to)).join().unwrap()?;
    /// assert_eq!(target.recv(&mut [0; 8])?, 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        let socket = match self.inner {
            UdpInner::Os(inner) => inner.into_inner(),
            UdpInner::Sim(_) => return Err(not_simulated()),
        };
        socket.set_nonblocking(false)?;
        Ok(socket)
    }

    /// Sends `buf` to `addr`.
    ///
    /// # Errors
    ///
    /// The system error, or `TimedOut` past the write timeout.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, before the first try and while it waits for buffer space;
    /// a cancelled call unwinds having sent nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0")?;
    /// let b = UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(a.send_to(b"hi", b.local_addr()?)?, 2);
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv_from(&mut buf)?, (2, a.local_addr()?));
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        each_resolved(addr, |addr| match &self.inner {
            UdpInner::Os(inner) => inner.blocking(Direction::Write, |s| s.send_to(buf, addr)),
            UdpInner::Sim(socket) => socket.send_to(buf, Some(addr)),
        })
    }

    /// Receives one datagram and its sender's address.
    ///
    /// # Errors
    ///
    /// The system error, or `TimedOut` past the read timeout.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, before the first try and while it waits; a cancelled call
    /// unwinds having taken no datagram.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// let addr = socket.local_addr()?;
    /// let sender = fibrio_core::task::spawn(move || -> std::io::Result<_> {
    ///     let sender = UdpSocket::bind("127.0.0.1:0")?;
    ///     sender.send_to(b"ping", addr)?;
    ///     sender.local_addr()
    /// });
    /// let mut buf = [0; 16];
    /// let (n, from) = socket.recv_from(&mut buf)?; // parks until the datagram comes
    /// assert_eq!(&buf[..n], b"ping");
    /// assert_eq!(from, sender.join().unwrap()?);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match &self.inner {
            UdpInner::Os(inner) => inner.blocking(Direction::Read, |s| s.recv_from(buf)),
            UdpInner::Sim(socket) => socket.recv_from(buf, true),
        }
    }

    /// Receives one datagram without removing it from the queue.
    ///
    /// # Errors
    ///
    /// As for [`recv_from`](UdpSocket::recv_from).
    ///
    /// # Cancellation
    ///
    /// As for [`recv_from`](UdpSocket::recv_from).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0")?;
    /// let b = UdpSocket::bind("127.0.0.1:0")?;
    /// a.send_to(b"again", b.local_addr()?)?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.peek_from(&mut buf)?, (5, a.local_addr()?));
    /// assert_eq!(b.recv_from(&mut buf)?, (5, a.local_addr()?)); // still queued
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match &self.inner {
            UdpInner::Os(inner) => inner.blocking(Direction::Read, |s| s.peek_from(buf)),
            UdpInner::Sim(socket) => socket.recv_from(buf, false),
        }
    }

    /// Sets the default peer for `send` and `recv`, and filters out
    /// datagrams from anyone else.
    ///
    /// # Errors
    ///
    /// The error of the last address tried.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0")?;
    /// let b = UdpSocket::bind("127.0.0.1:0")?;
    /// a.connect(b.local_addr()?)?;
    /// assert_eq!(a.peer_addr()?, b.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_resolved(addr, |addr| match &self.inner {
            UdpInner::Os(inner) => inner.get_ref().connect(addr),
            UdpInner::Sim(socket) => socket.connect(addr),
        })
    }

    /// Sends to the connected peer.
    ///
    /// # Errors
    ///
    /// The system error (`NotConnected` without `connect`).
    ///
    /// # Cancellation
    ///
    /// A checkpoint, before the first try and while it waits for buffer space;
    /// a cancelled call unwinds having sent nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0")?;
    /// let b = UdpSocket::bind("127.0.0.1:0")?;
    /// a.connect(b.local_addr()?)?;
    /// assert_eq!(a.send(b"hi")?, 2);
    /// assert_eq!(b.recv_from(&mut [0; 8])?, (2, a.local_addr()?));
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.inner {
            UdpInner::Os(inner) => inner.blocking(Direction::Write, |s| s.send(buf)),
            UdpInner::Sim(socket) => socket.send_to(buf, None),
        }
    }

    /// Receives from the connected peer.
    ///
    /// # Errors
    ///
    /// The system error, or `TimedOut` past the read timeout.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, before the first try and while it waits; a cancelled call
    /// unwinds having taken no datagram.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0")?;
    /// let b = UdpSocket::bind("127.0.0.1:0")?;
    /// b.connect(a.local_addr()?)?;
    /// let b_addr = b.local_addr()?;
    /// let sender = fibrio_core::task::spawn(move || a.send_to(b"pong", b_addr));
    /// let mut buf = [0; 8];
    /// let n = b.recv(&mut buf)?; // parks until the datagram comes
    /// assert_eq!(&buf[..n], b"pong");
    /// sender.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.inner {
            UdpInner::Os(inner) => inner.blocking(Direction::Read, |s| s.recv(buf)),
            UdpInner::Sim(socket) => socket.recv_from(buf, true).map(|(n, _)| n),
        }
    }

    /// Receives from the connected peer without consuming the datagram.
    ///
    /// # Errors
    ///
    /// As for [`recv`](UdpSocket::recv).
    ///
    /// # Cancellation
    ///
    /// As for [`recv`](UdpSocket::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let a = UdpSocket::bind("127.0.0.1:0")?;
    /// let b = UdpSocket::bind("127.0.0.1:0")?;
    /// b.connect(a.local_addr()?)?;
    /// a.send_to(b"once", b.local_addr()?)?;
    /// let mut buf = [0; 8];
    /// assert_eq!(b.peek(&mut buf)?, 4);
    /// assert_eq!(b.recv(&mut buf)?, 4); // the same datagram
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.inner {
            UdpInner::Os(inner) => inner.blocking(Direction::Read, |s| s.peek(buf)),
            UdpInner::Sim(socket) => socket.recv_from(buf, false).map(|(n, _)| n),
        }
    }

    /// Sets the read timeout (`None`: wait forever): a receive that waits
    /// longer fails with `ErrorKind::TimedOut`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `Some(Duration::ZERO)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    /// use fibrio_reactor::net::UdpSocket;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_read_timeout(Some(Duration::from_millis(10)))?;
    /// let err = socket.recv_from(&mut [0; 8]).unwrap_err(); // nobody sends
    /// assert_eq!(err.kind(), ErrorKind::TimedOut);
    /// assert!(socket.set_read_timeout(Some(Duration::ZERO)).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.timeouts().set_read(timeout)
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
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_write_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(socket.write_timeout()?, Some(Duration::from_secs(1)));
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
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(socket.read_timeout()?, None);
    /// socket.set_read_timeout(Some(Duration::from_secs(1)))?;
    /// assert_eq!(socket.read_timeout()?, Some(Duration::from_secs(1)));
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
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(socket.write_timeout()?, None);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.timeouts().write())
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
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(socket.local_addr()?.ip().is_loopback());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            UdpInner::Os(inner) => inner.get_ref().local_addr(),
            UdpInner::Sim(socket) => socket.local_addr(),
        }
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` without `connect`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// assert_eq!(socket.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
    /// socket.connect("127.0.0.1:9")?;
    /// assert_eq!(socket.peer_addr()?, "127.0.0.1:9".parse().unwrap());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            UdpInner::Os(inner) => inner.get_ref().peer_addr(),
            UdpInner::Sim(socket) => socket.peer_addr(),
        }
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_broadcast(true)?;
    /// assert!(socket.into_std()?.broadcast()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        match &self.inner {
            UdpInner::Os(inner) => inner.get_ref().set_broadcast(broadcast),
            UdpInner::Sim(socket) => {
                socket.set_broadcast(broadcast);
                Ok(())
            }
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
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_ttl(42)?;
    /// assert_eq!(socket.ttl()?, 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        match &self.inner {
            UdpInner::Os(inner) => inner.get_ref().set_ttl(ttl),
            UdpInner::Sim(socket) => {
                socket.set_ttl(ttl);
                Ok(())
            }
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
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(socket.ttl()? > 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        match &self.inner {
            UdpInner::Os(inner) => inner.get_ref().ttl(),
            UdpInner::Sim(socket) => Ok(socket.ttl()),
        }
    }

    /// A second handle to the same socket (a duplicated fd). It has its own
    /// timeouts, which start unset.
    ///
    /// # Errors
    ///
    /// The system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// let clone = socket.try_clone()?;
    /// assert_eq!(clone.local_addr()?, socket.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        match &self.inner {
            UdpInner::Os(inner) => UdpSocket::from_std(inner.get_ref().try_clone()?),
            UdpInner::Sim(socket) => Ok(UdpSocket {
                inner: UdpInner::Sim(socket.try_clone()),
            }),
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
    /// use fibrio_reactor::net::UdpSocket;
    ///
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// assert!(socket.take_error()?.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match &self.inner {
            UdpInner::Os(inner) => inner.get_ref().take_error(),
            UdpInner::Sim(_) => Ok(None),
        }
    }

    fn timeouts(&self) -> &crate::timeouts::SocketTimeouts {
        match &self.inner {
            UdpInner::Os(inner) => inner.timeouts(),
            UdpInner::Sim(socket) => socket.timeouts(),
        }
    }
}

tcp_fd_traits!(UdpSocket, std::net::UdpSocket, UdpInner);

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            UdpInner::Os(inner) => fmt::Debug::fmt(inner.get_ref(), f),
            UdpInner::Sim(socket) => f
                .debug_struct("UdpSocket")
                .field("addr", &socket.local_addr().ok())
                .field("simulated", &true)
                .finish(),
        }
    }
}
