//! [`Evented`]: a non-blocking socket plus the machinery that makes its
//! calls block the *task*: try the call; on `WouldBlock`, wait for
//! readiness (with the socket's timeout, if any), then try again.
//!
//! # Invariants
//!
//! * The socket is in non-blocking mode for as long as it is wrapped.
//! * `registration` is created lazily, the first time a call would block
//!   inside a fibrio task, and lives until the socket is dropped. The fd is
//!   registered with one reactor at a time: used in a later runtime on the
//!   same thread, the registration moves to that runtime's reactor on the
//!   first wait there (`Registration::wait_until` does it), so no call
//!   waits on the reactor of a runtime that has ended.
//! * Outside any fibrio task (a plain thread), a call that would block
//!   waits in `poll(2)` on this one fd, so the types also work there.
//! * Every call starts with `coop::proceed` before its first try: a
//!   cancellation checkpoint, and one unit of the task's cooperative
//!   budget, which yields first when it is empty (`fibrio_core::coop`). So
//!   a task whose socket always has data (or room, or a connection to
//!   accept) still lets the others run, and the yield, which may unwind
//!   the task, comes before the operation, never after a read that got
//!   bytes. The one exception is `retry_until`, which continues an
//!   operation its caller already started (a connect in progress) and
//!   spent for.
//! * A task parked in a wait shows what for in a dump: `Read` or `Write`,
//!   or `Accept` or `Connect` for the calls that pass that kind.
//! * Between a call that fails with `WouldBlock` and the wait for readiness
//!   that follows it (`wait`, then `Registration::wait_until`), nothing
//!   parks, yields or checks for cancellation: the edge-triggered reactor
//!   relies on it to forget the readiness the failed call used up without
//!   losing a newer one (see the reactor's module documentation).
//! * The same holds between a stream read that came back short (it emptied
//!   the receive buffer) and `Registration::mark_drained`: they happen in
//!   one run of the task, so an edge for newer data is still to come, and
//!   the next read may wait for it without first failing with
//!   `WouldBlock` (`read_stream`).

use std::cell::OnceCell;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use fibrio_core::coop;
use fibrio_core::task::{self, WaitKind};

use crate::io::Registration;
use crate::reactor::Direction;
use crate::timeouts::SocketTimeouts;

pub(crate) struct Evented<S: AsRawFd> {
    // Declared first so it is dropped first: the fd is deregistered before
    // the socket closes it.
    registration: OnceCell<Registration>,
    socket: S,
    timeouts: SocketTimeouts,
}

impl<S: AsRawFd> Evented<S> {
    /// Wraps `socket`, switching it to non-blocking mode with `set_nonblocking`.
    pub(crate) fn new(
        socket: S,
        set_nonblocking: impl FnOnce(&S) -> io::Result<()>,
    ) -> io::Result<Self> {
        set_nonblocking(&socket)?;
        Ok(Evented {
            socket,
            registration: OnceCell::new(),
            timeouts: SocketTimeouts::default(),
        })
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.socket
    }

    pub(crate) fn into_inner(self) -> S {
        drop(self.registration);
        self.socket
    }

    pub(crate) fn timeouts(&self) -> &SocketTimeouts {
        &self.timeouts
    }

    /// Runs `op` until it does not return `WouldBlock`, waiting for
    /// `direction` in between, within the direction's timeout.
    pub(crate) fn blocking<R>(
        &self,
        direction: Direction,
        op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        self.blocking_as(direction, direction.wait_kind(), op)
    }

    /// Like [`blocking`](Self::blocking), showing `kind` (`Accept`) as the
    /// task's wait reason while it waits.
    pub(crate) fn blocking_as<R>(
        &self,
        direction: Direction,
        kind: WaitKind,
        op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        coop::proceed();
        self.retry_until(direction, kind, self.timeouts.deadline(direction), op)
    }

    /// Reads from a *stream* socket, like `blocking(Direction::Read, op)`,
    /// with one saving (tokio's): a read that returns fewer bytes than
    /// `capacity`, and more than zero, emptied the receive buffer, so the
    /// registration records it; the next read then waits for new data first
    /// instead of making a system call that would fail with `WouldBlock`.
    /// Only edge-triggered backends keep that record (see
    /// [`Registration::known_unready`]). Not for datagrams, where a short
    /// read says nothing about the queue; and a zero-byte read (end of
    /// stream) is never recorded, since no edge would follow it.
    pub(crate) fn read_stream(
        &self,
        capacity: usize,
        mut op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        coop::proceed();
        let deadline = self.timeouts.deadline(Direction::Read);
        if capacity > 0 {
            if let Some(registration) = self.registration.get() {
                if registration.known_unready(Direction::Read) && task::current_key().is_some() {
                    self.wait(Direction::Read, WaitKind::Read, deadline)?;
                }
            }
        }
        loop {
            match op(&self.socket) {
                Ok(n) if n > 0 && n < capacity => {
                    // Drained just now, and nothing has switched tasks since.
                    if let Some(registration) = self.registration.get() {
                        registration.mark_drained(Direction::Read);
                    }
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(Direction::Read, WaitKind::Read, deadline)?;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }

    /// Runs `op` until it does not return `WouldBlock`, waiting for
    /// `direction` in between (showing `kind` as the task's wait reason),
    /// until `deadline`. Neither a checkpoint nor a spend before the first
    /// try: the caller has started the operation already (a non-blocking
    /// connect), after its own `coop::proceed`.
    pub(crate) fn retry_until<R>(
        &self,
        direction: Direction,
        kind: WaitKind,
        deadline: Option<Instant>,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match op(&self.socket) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(direction, kind, deadline)?;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }

    /// Waits until the socket is ready in `direction`, or `deadline`,
    /// showing `kind` as the task's wait reason meanwhile.
    pub(crate) fn wait(
        &self,
        direction: Direction,
        kind: WaitKind,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        if task::current_key().is_none() {
            return poll_fd(self.socket.as_raw_fd(), direction, deadline);
        }
        let registration = match self.registration.get() {
            Some(registration) => registration,
            None => {
                let registration = Registration::new(&self.socket)?;
                self.registration.get_or_init(|| registration)
            }
        };
        registration.wait_as(direction, kind, deadline)
    }
}

/// Blocks the thread in `poll(2)` until `fd` is ready or `deadline` passes.
fn poll_fd(fd: RawFd, direction: Direction, deadline: Option<Instant>) -> io::Result<()> {
    let events = match direction {
        Direction::Read => libc::POLLIN,
        Direction::Write => libc::POLLOUT,
    };
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "fibrio: the I/O operation timed out",
                    ));
                }
                // Round up so the wait never ends before the deadline.
                left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
            }
        };
        let mut pollfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: `pollfd` is a valid array of one initialised entry, alive
        // for the whole call.
        let n = unsafe { libc::poll(&mut pollfd, 1, timeout_ms) };
        if n > 0 {
            return Ok(());
        }
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}
