//! The macros that give the socket types of [`net`](crate::net) std's
//! traits: the fd traits (`AsRawFd`, `AsFd`, `IntoRawFd`, `FromRawFd`,
//! `TryFrom<OwnedFd>`, `TryFrom<std type>`), `Debug`, and `Read`/`Write`
//! for both `T` and `&T`.
//!
//! Invariants:
//! * The names a macro uses resolve where it is invoked: the invoking
//!   module needs the std traits it implements (`std::os::fd::*`,
//!   `std::fmt`, `std::io::*`, and `Direction` for `stream_io`) in scope,
//!   and the type's private `inner` field visible. So this module depends
//!   on no other.
//! * `FromRawFd::from_raw_fd` takes ownership of an open socket of the
//!   right kind (its contract) and panics if it cannot be made
//!   non-blocking.
//! * With [`tcp_fd_traits`], a simulated socket has no file descriptor:
//!   `as_raw_fd` and `into_raw_fd` give -1, `as_fd` panics.

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
