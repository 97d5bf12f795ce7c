//! [`UdpSocket`]: `std::net::UdpSocket`, with blocking calls parking the
//! task.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::each_addr;
use super::evented::Evented;
use super::tcp::fd_traits;
use crate::reactor::Direction;

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
    inner: Evented<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr`.
    ///
    /// # Errors
    ///
    /// The error of the last address tried.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr, std::net::UdpSocket::bind).and_then(UdpSocket::from_std)
    }

    /// Wraps a std socket, switching it to non-blocking mode.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            inner: Evented::new(socket, |s| s.set_nonblocking(true))?,
        })
    }

    /// Unwraps the std socket, back in blocking mode.
    ///
    /// # Errors
    ///
    /// If the mode cannot be changed.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        let socket = self.inner.into_inner();
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
    /// A checkpoint.
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        each_addr(addr, |addr| {
            self.inner
                .blocking(Direction::Write, |s| s.send_to(buf, addr))
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
    /// A checkpoint.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.blocking(Direction::Read, |s| s.recv_from(buf))
    }

    /// Receives one datagram without removing it from the queue.
    ///
    /// # Errors
    ///
    /// As for [`recv_from`](UdpSocket::recv_from).
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.blocking(Direction::Read, |s| s.peek_from(buf))
    }

    /// Sets the default peer for `send` and `recv`, and filters out
    /// datagrams from anyone else.
    ///
    /// # Errors
    ///
    /// The error of the last address tried.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |addr| self.inner.get_ref().connect(addr))
    }

    /// Sends to the connected peer.
    ///
    /// # Errors
    ///
    /// The system error (`NotConnected` without `connect`).
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.blocking(Direction::Write, |s| s.send(buf))
    }

    /// Receives from the connected peer.
    ///
    /// # Errors
    ///
    /// The system error, or `TimedOut` past the read timeout.
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.blocking(Direction::Read, |s| s.recv(buf))
    }

    /// Receives from the connected peer without consuming the datagram.
    ///
    /// # Errors
    ///
    /// As for [`recv`](UdpSocket::recv).
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.blocking(Direction::Read, |s| s.peek(buf))
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

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` without `connect`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.inner.get_ref().set_broadcast(broadcast)
    }

    /// Sets the IP time-to-live.
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live.
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// A second handle to the same socket (a duplicated fd).
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        UdpSocket::from_std(self.inner.get_ref().try_clone()?)
    }

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Errors
    ///
    /// The system error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }
}

fd_traits!(UdpSocket, std::net::UdpSocket, from_std);
