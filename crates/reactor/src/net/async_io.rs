//! The async I/O traits for [`TcpStream`] and [`UnixStream`]:
//! `tokio::io::{AsyncRead, AsyncWrite}` (cargo feature `tokio-io`) and
//! `futures_io::{AsyncRead, AsyncWrite}` (cargo feature `futures-io`), so
//! that futures-based protocol clients (tokio-postgres, hyper,
//! tokio-rustls) can run over fibrio sockets, polled by
//! `fibrio::compat::block_on` or `spawn_future`.
//!
//! # Invariants
//!
//! * A poll never parks or yields: it tries the non-blocking system call,
//!   and on `WouldBlock` registers the context's waker with the reactor of
//!   the runtime running on this thread, in the same run of the task (the
//!   reactor's edge-triggered contract), then returns `Pending`.
//! * Wakers wait in the socket's reactor entry beside parked tasks and are
//!   woken by the same events: no second event loop, no extra thread. See
//!   the reactor's `register_waker` for how an entry made by a poll and the
//!   socket's own registration share one fd.
//! * Polls do not touch the socket's read and write timeouts (futures get
//!   their timeouts from their caller), and are not cancellation
//!   checkpoints (the `block_on` that polls them is).
//! * A simulated socket (inside `fibrio::sim`) has no fd and no waker
//!   support: its polls fail with `ErrorKind::Unsupported`. Outside a
//!   fibrio runtime a poll that would block fails with `ErrorKind::Other`.
//!
//! # Examples
//!
//! ```
//! # #[cfg(feature = "futures-io")]
//! # {
//! use std::future::poll_fn;
//! use std::io::Write;
//! use std::pin::Pin;
//! use std::task::{Context, Poll, Waker};
//! use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
//! use fibrio_reactor::{net::UnixStream, BackendKind, Reactor};
//!
//! let reactor = Reactor::new(BackendKind::Auto).unwrap();
//! let _enter = reactor.enter();
//! Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
//!     let (mut a, mut b) = UnixStream::pair().unwrap();
//!     let mut buf = [0; 4];
//!     let mut cx = Context::from_waker(Waker::noop());
//!     // Nothing to read yet: the waker now waits in the reactor.
//!     let poll = futures_io::AsyncRead::poll_read(Pin::new(&mut a), &mut cx, &mut buf);
//!     assert!(poll.is_pending());
//!     b.write_all(b"ping").unwrap();
//!     let poll = futures_io::AsyncRead::poll_read(Pin::new(&mut a), &mut cx, &mut buf);
//!     assert!(matches!(poll, Poll::Ready(Ok(4))));
//! }).unwrap();
//! # }
//! ```

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use socket2::SockRef;

use super::{TcpStream, UnixStream};
use crate::reactor::{with_reactor, Direction};

fn unsupported_in_sim() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "fibrio::net: a simulated socket (fibrio::sim) cannot be polled as a future; \
         its blocking Read/Write calls work, or test async code with fibrio::run",
    )
}

/// Waits for `fd` in `direction` through `cx`'s waker: `Pending`, or
/// `Ready(Ok)` to try again at once.
fn poll_ready(fd: RawFd, direction: Direction, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    let registered = with_reactor(|reactor| reactor.register_waker(fd, direction, cx.waker()));
    match registered {
        Some(Ok(true)) => Poll::Ready(Ok(())),
        Some(Ok(false)) => Poll::Pending,
        Some(Err(err)) => Poll::Ready(Err(err)),
        None if fibrio_core::task::det::active() => Poll::Ready(Err(unsupported_in_sim())),
        None => Poll::Ready(Err(io::Error::other(
            "fibrio::net: a socket can only be polled as a future inside a fibrio runtime \
             (fibrio::run with fibrio::compat::block_on or spawn_future)",
        ))),
    }
}

/// Runs the non-blocking `op` on the socket `fd` until it does not fail
/// with `WouldBlock`, or registers the waker and returns `Pending`.
fn poll_io<R>(
    fd: RawFd,
    direction: Direction,
    cx: &mut Context<'_>,
    mut op: impl FnMut() -> io::Result<R>,
) -> Poll<io::Result<R>> {
    if fd < 0 {
        return Poll::Ready(Err(unsupported_in_sim()));
    }
    loop {
        match op() {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                match poll_ready(fd, direction, cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            result => return Poll::Ready(result),
        }
    }
}

/// The socket operations the trait impls share, for both stream types.
trait PollSocket: AsRawFd + AsFd + Sized {
    fn poll_read_into(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let fd = self.as_raw_fd();
        poll_io(fd, Direction::Read, cx, || {
            (&*SockRef::from(self)).read(buf)
        })
    }

    fn poll_write_from(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let fd = self.as_raw_fd();
        poll_io(fd, Direction::Write, cx, || {
            (&*SockRef::from(self)).write(buf)
        })
    }

    fn poll_write_vectored_from(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let fd = self.as_raw_fd();
        poll_io(fd, Direction::Write, cx, || {
            (&*SockRef::from(self)).write_vectored(bufs)
        })
    }

    fn shutdown_write(&self) -> io::Result<()>;
}

impl PollSocket for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        match self.shutdown(Shutdown::Write) {
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}

impl PollSocket for UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        match self.shutdown(Shutdown::Write) {
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}

/// Implements the traits of the enabled features for `$ty`.
macro_rules! async_traits {
    ($ty:ty) => {
        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $ty {
            /// Reads what the socket has, or registers the waker with
            /// fibrio's reactor and returns `Pending`.
            ///
            /// # Errors
            ///
            /// The system error; `Unsupported` for a simulated socket;
            /// `Other` outside a fibrio runtime.
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let unfilled = buf.initialize_unfilled();
                match self.poll_read_into(cx, unfilled) {
                    Poll::Ready(Ok(n)) => {
                        buf.advance(n);
                        Poll::Ready(Ok(()))
                    }
                    Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
                    Poll::Pending => Poll::Pending,
                }
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_from(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_vectored_from(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown_write())
            }
        }

        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_read_into(cx, buf)
            }
        }

        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_from(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.poll_write_vectored_from(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown_write())
            }
        }
    };
}

async_traits!(TcpStream);
async_traits!(UnixStream);
