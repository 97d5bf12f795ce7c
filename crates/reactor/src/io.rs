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
//!
//! # Runtimes
//!
//! A registration belongs to the reactor of the runtime where it was made.
//! Waited on in a later runtime on the same thread (`fibrio::run` called
//! again, the registration kept), it first moves there: it registers the
//! fd with the current reactor and deregisters it from the old one, whose
//! runtime has ended and whose reactor nothing turns any more.
//!
//! ```
//! use std::io::ErrorKind;
//! use std::time::{Duration, Instant};
//! use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
//! use fibrio_reactor::{io::Registration, BackendKind, Direction, Reactor};
//!
//! fn runtime<T: 'static>(main: impl FnOnce() -> T + 'static) -> T {
//!     let reactor = Reactor::new(BackendKind::Auto).unwrap();
//!     let _enter = reactor.enter();
//!     Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(main).unwrap()
//! }
//!
//! let (a, _b) = std::os::unix::net::UnixStream::pair()?;
//! a.set_nonblocking(true)?;
//! let (registration, a) = runtime(move || Registration::new(&a).map(|r| (r, a)))?;
//! // The first runtime has ended; the wait moves the registration here.
//! runtime(move || {
//!     let deadline = Instant::now() + Duration::from_millis(10);
//!     let err = registration.wait_until(Direction::Read, Some(deadline)).unwrap_err();
//!     assert_eq!(err.kind(), ErrorKind::TimedOut);
//!     assert_eq!(fibrio_reactor::registered_fds(), Some(1));
//!     drop((registration, a));
//! });
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Invariants
//!
//! * `slot` names the one reactor the fd is registered with, and the key
//!   and token of its entry there. Only a wait (`current_slot`) changes it,
//!   and only when the current reactor is another one. A wait can never
//!   be pending in the old reactor then: runtimes on one thread cannot
//!   nest (`block_on` refuses), a finished runtime has unwound its tasks,
//!   whose waits remove themselves, and a registration is `!Send`. So the
//!   old entry has no waiters, and deregistering it wakes nobody: no key
//!   of a finished scheduler reaches `unpark_local`.
//! * The move registers with the new reactor before it deregisters from
//!   the old one, so a failed registration leaves the old one intact. It
//!   neither parks nor yields, so the contract above still holds for the
//!   wait that follows: the caller's `WouldBlock` came just before, and a
//!   fresh registration starts with no readiness recorded, while a
//!   persistent backend reports once at registration time a direction
//!   that is ready then (backend contract), as for a first registration.
//! * `slot` is never borrowed across a park: a wait clones the reactor's
//!   `Rc` and lets the borrow go before it parks.
//! * Holding the old reactor's `Rc` until the move keeps it alive, so a
//!   pointer comparison cannot mistake a new reactor for it.
//! * `closed` is sticky: a closed registration never registers again.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;

use crate::reactor::{with_reactor, Direction, ReactorInner};

/// An fd registered with the reactor. Dropping it deregisters the fd (do so
/// before closing the fd) and wakes any task still waiting on it with an
/// error.
///
/// A registration kept after its runtime ends moves to the reactor of the
/// runtime it is next waited on in (see the [module docs](self#runtimes)).
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
    fd: RawFd,
    slot: RefCell<Slot>,
    closed: Cell<bool>,
}

/// Where a registration's fd is registered: a reactor, and the key and
/// token of its entry there.
struct Slot {
    reactor: Rc<ReactorInner>,
    key: usize,
    token: u64,
}

impl Slot {
    /// True if `reactor` is the current runtime's.
    fn is_current(&self) -> bool {
        with_reactor(|current| Rc::ptr_eq(current, &self.reactor)).unwrap_or(false)
    }
}

fn outside_runtime() -> io::Error {
    if fibrio_core::task::det::active() {
        // A deterministic simulation has no reactor: real sockets cannot
        // wait there (their readiness would come from the real world, at
        // real times, and break replay). TCP sockets made there are
        // simulated instead (`crate::sim`) and never get here.
        return io::Error::new(
            io::ErrorKind::Unsupported,
            "fibrio::net: a real socket cannot wait inside a simulation (fibrio::sim); \
             only TCP sockets made there with bind/connect are simulated (not UDP, Unix \
             sockets, or sockets made with from_std), so test this code with fibrio::run",
        );
    }
    io::Error::other("fibrio: registering an fd outside a fibrio runtime; do it inside fibrio::run")
}

fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "fibrio: the I/O registration was closed",
    )
}

impl Registration {
    /// Registers `fd` with the current runtime's reactor.
    ///
    /// # Errors
    ///
    /// Outside a runtime (`ErrorKind::Other`), if the fd is already
    /// registered (`AlreadyExists`), or the system error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::io::Registration;
    ///
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// assert!(Registration::new(&a).is_err()); // no runtime, no reactor
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(move || {
    /// let registration = Registration::new(&a)?;
    /// assert_eq!(fibrio_reactor::registered_fds(), Some(1));
    /// drop(registration);
    /// assert_eq!(fibrio_reactor::registered_fds(), Some(0));
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(fd: &impl AsRawFd) -> io::Result<Registration> {
        let fd = fd.as_raw_fd();
        let reactor = with_reactor(Rc::clone).ok_or_else(outside_runtime)?;
        let (key, token) = reactor.register(fd)?;
        Ok(Registration {
            fd,
            slot: RefCell::new(Slot {
                reactor,
                key,
                token,
            }),
            closed: Cell::new(false),
        })
    }

    /// The reactor to wait in, with the key and token of the fd's entry
    /// there: the current runtime's, moving the registration to it first
    /// if it belongs to another (see the module invariants).
    fn current_slot(&self) -> io::Result<(Rc<ReactorInner>, usize, u64)> {
        if self.closed.get() {
            return Err(closed_error());
        }
        let mut slot = self.slot.borrow_mut();
        if !slot.is_current() {
            let current = with_reactor(Rc::clone).ok_or_else(|| {
                io::Error::other("fibrio: waiting for I/O outside a fibrio runtime")
            })?;
            let (key, token) = current.register(self.fd)?;
            let old = std::mem::replace(
                &mut *slot,
                Slot {
                    reactor: current,
                    key,
                    token,
                },
            );
            old.reactor.deregister(old.key, old.token);
        }
        Ok((Rc::clone(&slot.reactor), slot.key, slot.token))
    }

    /// Parks the current task until the fd is readable (or has hung up or
    /// failed).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the registration is closed, before or while
    /// waiting; `ErrorKind::Other` outside a task or a runtime;
    /// `Interrupted` during unwinding; the system error if moving the
    /// registration to the current runtime's reactor fails.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, before it parks and while it waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{ErrorKind, Read, Write};
    /// use fibrio_reactor::io::Registration;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    /// let (mut a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let registration = Registration::new(&a)?;
    /// let writer = fibrio_core::task::spawn(move || b.write_all(b"x"));
    /// let mut buf = [0; 1];
    /// let n = loop {
    ///     match a.read(&mut buf) {
    ///         Err(e) if e.kind() == ErrorKind::WouldBlock => registration.wait_readable()?,
    ///         other => break other?,
    ///     }
    /// };
    /// assert_eq!(&buf[..n], b"x");
    /// writer.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn wait_readable(&self) -> io::Result<()> {
        self.wait_until(Direction::Read, None)
    }

    /// Parks the current task until the fd is writable (or has failed).
    ///
    /// # Errors
    ///
    /// As for [`wait_readable`](Registration::wait_readable).
    ///
    /// # Cancellation
    ///
    /// A checkpoint, before it parks and while it waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{ErrorKind, Read, Write};
    /// use fibrio_reactor::io::Registration;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    /// let (mut a, mut b) = std::os::unix::net::UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let registration = Registration::new(&a)?;
    /// // Fill the socket buffer until a write would block.
    /// while a.write(&[0; 4096]).is_ok() {}
    /// let reader = fibrio_core::task::spawn(move || {
    ///     b.read(&mut vec![0; 1 << 20]).map(|_| b) // makes room
    /// });
    /// let n = loop {
    ///     match a.write(b"more") {
    ///         Err(e) if e.kind() == ErrorKind::WouldBlock => registration.wait_writable()?,
    ///         other => break other?,
    ///     }
    /// };
    /// assert!(n > 0);
    /// let _b = reader.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn wait_writable(&self) -> io::Result<()> {
        self.wait_until(Direction::Write, None)
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
        self.wait_as(direction, direction.wait_kind(), deadline)
    }

    /// [`wait_until`](Registration::wait_until), with the task's wait
    /// reason `kind` while it is parked (`Accept` for a listener's accept,
    /// `Connect` for a connect in progress) instead of the direction's.
    pub(crate) fn wait_as(
        &self,
        direction: Direction,
        kind: fibrio_core::task::WaitKind,
        deadline: Option<std::time::Instant>,
    ) -> io::Result<()> {
        let (reactor, key, token) = self.current_slot()?;
        reactor.wait_ready(key, token, direction, kind, deadline)
    }

    /// True if `direction` is known to be drained, on an edge-triggered
    /// backend: the next operation would fail with `WouldBlock`, so a caller
    /// may wait first and save the system call. Always false on the
    /// one-shot `poll(2)` backend.
    ///
    /// False while the registration belongs to another runtime's reactor:
    /// that reactor no longer collects edges, so its record says nothing.
    pub(crate) fn known_unready(&self, direction: Direction) -> bool {
        let slot = self.slot.borrow();
        slot.reactor.known_unready(slot.key, slot.token, direction) && slot.is_current()
    }

    /// Records that `direction` was just drained (see
    /// [`Registration::known_unready`]). Call it only right after the
    /// operation that drained it, with no task switch in between.
    ///
    /// On another runtime's reactor this is harmless: that reactor turns no
    /// more, so no edge newer than the drain can be in its record yet.
    pub(crate) fn mark_drained(&self, direction: Direction) {
        let slot = self.slot.borrow();
        slot.reactor.clear_ready(slot.key, slot.token, direction);
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
        self.closed.set(true);
        let slot = self.slot.borrow();
        slot.reactor.deregister(slot.key, slot.token);
    }

    /// The registered fd.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::fd::AsRawFd;
    /// use fibrio_reactor::io::Registration;
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// a.set_nonblocking(true)?;
    /// let registration = Registration::new(&a)?;
    /// assert_eq!(registration.fd(), a.as_raw_fd());
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .field("key", &self.slot.borrow().key)
            .field("closed", &self.closed.get())
            .finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.close();
    }
}
