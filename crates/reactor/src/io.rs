//! [`Registration`]: an fd registered with the current runtime's reactor,
//! which tasks wait on for readiness. The sockets of `fibrio::net` are
//! built on it; it is public for types of your own (pipes, devices,
//! foreign sockets).
//!
//! The fd must be in non-blocking mode. The pattern is: try the operation;
//! on `WouldBlock`, wait for readiness, then try again.
//!
//! # Contract
//!
//! Call a `wait_*` method only right after an operation in that direction
//! failed with `WouldBlock`, without parking, yielding or otherwise letting
//! other tasks run in between. On the edge-triggered backends (epoll,
//! kqueue) the wait takes that failure as proof that every readiness
//! reported so far is used up, and sleeps until the next one; a wait
//! started while the fd is still readable (say, after a partial read) may
//! not end until more data arrives. (On the one-shot `poll` backend a wait
//! also ends when the fd is ready already.) A wait that returns means "try
//! again", not "the next call succeeds": another task may have taken the
//! data, or the report was spurious.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

use crate::reactor::{with_current, Direction, ReactorInner};

/// An fd registered with the reactor. Dropping it deregisters the fd (do so
/// before closing the fd) and wakes any task still waiting on it with an
/// error.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
/// use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// use fibrio_reactor::{io::Registration, BackendKind, Reactor};
///
/// let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// let _enter = reactor.enter();
/// Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
///     let (mut a, mut b) = UnixStream::pair().unwrap();
///     a.set_nonblocking(true).unwrap();
///     let registration = Registration::new(&a).unwrap();
///     let writer = fibrio_core::task::spawn(move || b.write_all(b"ping").unwrap());
///     let mut buf = [0; 4];
///     loop {
///         match a.read(&mut buf) {
///             Ok(n) => { assert_eq!(&buf[..n], b"ping"); break; }
///             Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
///                 registration.wait_readable().unwrap();
///             }
///             Err(e) => panic!("{e}"),
///         }
///     }
///     writer.join().unwrap();
/// }).unwrap();
/// ```
pub struct Registration {
    key: usize,
    token: u64,
    fd: RawFd,
    reactor: Rc<ReactorInner>,
}

impl Registration {
    /// Registers `fd` with the current runtime's reactor.
    ///
    /// # Errors
    ///
    /// Outside a runtime (`ErrorKind::Other`), if the fd is already
    /// registered (`AlreadyExists`), or the system error.
    pub fn new(fd: &impl AsRawFd) -> io::Result<Registration> {
        let fd = fd.as_raw_fd();
        let reactor = with_current(Rc::clone).ok_or_else(|| {
            io::Error::other(
                "fibrio: registering an fd outside a fibrio runtime; do it inside fibrio::run",
            )
        })?;
        let (key, token) = reactor.register(fd)?;
        Ok(Registration {
            key,
            token,
            fd,
            reactor,
        })
    }

    /// Parks the current task until the fd is readable (or has hung up or
    /// failed).
    ///
    /// # Errors
    ///
    /// If the registration is closed while waiting (`NotConnected`), if
    /// called outside a task, or during unwinding (`Interrupted`).
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    pub fn wait_readable(&self) -> io::Result<()> {
        self.reactor
            .wait_ready(self.key, self.token, Direction::Read, None)
    }

    /// Parks the current task until the fd is writable (or has failed).
    ///
    /// # Errors
    ///
    /// As for [`wait_readable`](Registration::wait_readable).
    ///
    /// # Cancellation
    ///
    /// A checkpoint.
    pub fn wait_writable(&self) -> io::Result<()> {
        self.reactor
            .wait_ready(self.key, self.token, Direction::Write, None)
    }

    /// Parks the current task until the fd is ready in `direction`, or until
    /// `deadline` passes.
    ///
    /// # Errors
    ///
    /// `TimedOut` when the deadline passes first; otherwise as for
    /// [`wait_readable`](Registration::wait_readable).
    ///
    /// # Cancellation
    ///
    /// A checkpoint; the deadline's timer is removed however it ends.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{io::Registration, BackendKind, Direction, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// a.set_nonblocking(true).unwrap();
    /// let registration = Registration::new(&a).unwrap();
    /// let deadline = Instant::now() + Duration::from_millis(20);
    /// let err = registration.wait_until(Direction::Read, Some(deadline)).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// assert!(Instant::now() >= deadline);
    /// # }).unwrap();
    /// ```
    pub fn wait_until(
        &self,
        direction: Direction,
        deadline: Option<std::time::Instant>,
    ) -> io::Result<()> {
        self.reactor
            .wait_ready(self.key, self.token, direction, deadline)
    }

    /// True if `direction` is known to be drained, on an edge-triggered
    /// backend: the next operation would fail with `WouldBlock`, so a caller
    /// may wait first and save the system call. Always false on the
    /// one-shot `poll(2)` backend.
    pub(crate) fn known_unready(&self, direction: Direction) -> bool {
        self.reactor.known_unready(self.key, self.token, direction)
    }

    /// Records that `direction` was just drained (see
    /// [`Registration::known_unready`]). Call it only right after the
    /// operation that drained it, with no task switch in between.
    pub(crate) fn mark_drained(&self, direction: Direction) {
        self.reactor.clear_ready(self.key, self.token, direction);
    }

    /// Deregisters the fd now and wakes every task waiting on it with a
    /// `NotConnected` error; later waits fail the same way. Call it before
    /// closing the fd when other tasks may be waiting on it. Idempotent;
    /// `Drop` calls it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{io::Registration, BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// a.set_nonblocking(true).unwrap();
    /// let registration = Registration::new(&a).unwrap();
    /// registration.close();
    /// let err = registration.wait_readable().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotConnected);
    /// # }).unwrap();
    /// ```
    pub fn close(&self) {
        self.reactor.deregister(self.key, self.token);
    }

    /// The registered fd.
    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .field("key", &self.key)
            .finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.close();
    }
}
