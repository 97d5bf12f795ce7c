//! [`Reactor`]: the poller backend and the fd registrations of
//! one runtime, and its [`Driver`] implementation.
//!
//! The scheduler parks in the reactor when no task is runnable. The reactor
//! waits in its backend until the scheduler's timeout (its next timer), an
//! I/O event, or a notification from another thread, then hands the keys
//! of the tasks it woke back to the scheduler.
//!
//! # Invariants
//!
//! * While a runtime runs, the thread-local `REACTOR` points at its
//!   reactor (set by [`Reactor::enter`], cleared when the guard drops), so
//!   `sleep` and sockets on that thread find it.
//! * A `RefCell` of the reactor is never borrowed across a call that can
//!   switch tasks (`park`). While the scheduler parks in it, the reactor
//!   wakes tasks only through the `woken` list it hands back; only calls
//!   made by a task (closing a fd) wake tasks directly (`unpark_local`).
//! * Timers are the scheduler's; a wait with a deadline (`wait_ready`)
//!   parks with `task::park_until`.
//! * Before every blocking wait the driver runs the stack pool's idle
//!   check (`stack::trim_pool_if_due`) and blocks no longer than the time
//!   to its next one, so an idle runtime gives its unused stacks back; a
//!   look without waiting never does.
//! * Each fd is registered with the backend once, under the key of its
//!   [`IoEntry`]; `armed` is the interest currently armed in the backend.
//! * A key in `io_free` names a free slot of `io`; when fewer than a
//!   quarter of the slots are in use, the free slots at the end are
//!   dropped with their keys (`shrink_after_peak`), so the table's memory
//!   follows the load down.
//! * `ReactorInner::persistent` is the backend's
//!   [`Backend::persistent`], read once; it picks one of the two readiness
//!   models below for every registration.
//!
//! ## One-shot backends (`poll(2)`)
//!
//! * A fd is registered with no interest. `wait_ready` arms the direction it
//!   waits for; an event disarms the whole fd, and `dispatch` re-arms only
//!   the directions that still have waiters.
//! * `ready.<direction>` is set by an event and *consumed* by the first
//!   waiter that sees it (`mem::take`); the others re-arm and park, and the
//!   re-arm makes the kernel look at the fd's current state again.
//!
//! ## Edge-triggered backends (epoll, kqueue)
//!
//! * A fd is registered once for both directions and never re-armed:
//!   `armed` stays [`Interest`]`{ readable: true, writable: true }` and
//!   `dispatch` never calls [`Backend::modify`].
//! * `ready.<direction>` is set only by `dispatch`, when an edge for that
//!   direction arrives, and cleared only when `wait_ready` starts. The caller
//!   of `wait_ready` has just seen its operation fail with `WouldBlock`, and
//!   nothing between that failure and the clear switches tasks (the caller
//!   parks nowhere in between: `Evented::blocking_until` goes straight from
//!   the failed call to `wait_ready`). A reactor turn only runs while the
//!   task is switched out, so any edge `ready` holds at the clear was
//!   delivered by a backend wait that finished before the failed operation
//!   began: the failure shows that edge is used up, and dropping it loses
//!   nothing. Without the clear, the stale flag would send the task straight
//!   back to the system call for a second `EAGAIN`.
//! * No wake-up is lost: the clear and the task's entry in the waiter list
//!   happen in the same uninterrupted run, before the task parks. A
//!   readiness change after the failed operation is an edge the backend
//!   reports in a later wait (backend contract), even one that happened
//!   before the clear (it is still in the kernel, not in `ready`); its
//!   `dispatch` sets `ready` and wakes every waiter of that direction.
//! * A stream read that returns fewer bytes than asked (more than zero) has
//!   emptied the receive buffer; `clear_ready` then forgets `ready.readable`
//!   (nothing switched tasks since the read, so newer data is an edge still
//!   to come), and `known_unready` lets the next read wait first instead of
//!   failing with `EAGAIN`. An end of stream left behind the data brings no
//!   new edge, so this is done only on backends that report hang-ups
//!   (`drain_hints`), and never once `read_closed` (sticky) is set.
//! * Waiters do not consume `ready`: each waiter woken by an edge returns
//!   and retries its operation, and one that fails clears the flag again
//!   and parks. So with several tasks on one direction (acceptors on a
//!   listener), none stays parked while the fd may be ready, which a
//!   consumed flag without a re-arm would allow.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use fibrio_core::scheduler::{Driver, DriverNotifier, DriverStats, TaskKey};
use fibrio_core::task;

use crate::backend::{Backend, Interest, Notifier, ReadyEvent};
use crate::select::{open_backend, BackendError, BackendKind};

thread_local! {
    static REACTOR: RefCell<Option<Rc<ReactorInner>>> = const { RefCell::new(None) };
}

/// Calls `f` with the reactor of the runtime running on this thread.
///
/// `f` runs under a shared borrow of the thread-local, so it must not call
/// [`Reactor::enter`]; none of the crate's callers do.
pub(crate) fn with_reactor<R>(f: impl FnOnce(&Rc<ReactorInner>) -> R) -> Option<R> {
    REACTOR
        .try_with(|c| c.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// One registered fd and the tasks waiting on it.
pub(crate) struct IoEntry {
    pub(crate) fd: RawFd,
    /// Unique per registration, so a waiter woken by a close never mistakes
    /// a later registration that reused the slot for its own.
    pub(crate) token: u64,
    pub(crate) armed: Interest,
    /// Readiness seen but not yet consumed by a waiter, per direction.
    pub(crate) ready: Interest,
    pub(crate) readers: Vec<TaskKey>,
    pub(crate) writers: Vec<TaskKey>,
    pub(crate) closed: bool,
    /// Futures waiting on the fd (`net::async_io`), per direction: woken
    /// beside the tasks, by the same events.
    pub(crate) read_wakers: Vec<Waker>,
    pub(crate) write_wakers: Vec<Waker>,
    /// Made by a future's poll (`register_waker`) rather than by a
    /// [`Registration`](crate::io::Registration); the next `register` of
    /// the same fd adopts it (see `register_waker`).
    pub(crate) adoptable: Option<(u64, u64)>,
    /// Sticky: the backend reported a hang-up or failure, so reads will
    /// never block again and a short read does not mean "drained".
    pub(crate) read_closed: bool,
}

pub(crate) struct ReactorInner {
    backend: RefCell<Box<dyn Backend>>,
    name: &'static str,
    pub(crate) io: RefCell<Vec<Option<IoEntry>>>,
    io_free: RefCell<Vec<usize>>,
    events: RefCell<Vec<ReadyEvent>>,
    notifier: Arc<dyn Notifier>,
    io_count: Cell<usize>,
    next_token: Cell<u64>,
    /// The backend's [`Backend::persistent`]; see the module invariants.
    persistent: bool,
    /// `persistent` and the backend's [`Backend::reports_hangup`]: whether
    /// `known_unready` may say "drained" (see the module invariants).
    drain_hints: bool,
    /// The slot key of each registered fd, for futures' polls, which know
    /// only the fd (`register_waker`).
    by_fd: RefCell<HashMap<RawFd, usize>>,
    /// The keys of the entries made by futures' polls, swept for closed
    /// sockets (`sweep_adoptable`).
    adoptable: RefCell<AdoptableKeys>,
}

/// Bridges the backend's notifier to the scheduler's.
struct NotifyBridge(Arc<dyn Notifier>);

impl DriverNotifier for NotifyBridge {
    fn notify(&self) {
        if let Err(err) = self.0.notify() {
            log::error!("fibrio: cannot wake the reactor: {err}");
        }
    }
}

/// The reactor of one runtime.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// use fibrio_reactor::{BackendKind, Reactor};
///
/// let reactor = Reactor::new(BackendKind::Poll).unwrap();
/// assert_eq!(reactor.backend_name(), "poll");
/// let _enter = reactor.enter();
/// let scheduler = Scheduler::new(SchedulerConfig::default(), reactor.driver());
/// let slept = scheduler.block_on(|| {
///     let start = std::time::Instant::now();
///     fibrio_reactor::sleep(std::time::Duration::from_millis(5));
///     start.elapsed()
/// });
/// assert!(slept.unwrap() >= std::time::Duration::from_millis(5));
/// ```
pub struct Reactor {
    inner: Rc<ReactorInner>,
}

impl Reactor {
    /// Opens a reactor on the backend `kind` resolves to (see
    /// [`open_backend`]).
    ///
    /// # Errors
    ///
    /// The [`BackendError`] from [`open_backend`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::{BackendKind, Reactor};
    ///
    /// let reactor = Reactor::new(BackendKind::Poll)?;
    /// assert_eq!(reactor.backend_name(), "poll");
    /// # Ok::<(), fibrio_reactor::BackendError>(())
    /// ```
    pub fn new(kind: BackendKind) -> Result<Reactor, BackendError> {
        let backend = open_backend(kind)?;
        Ok(Reactor::with_backend(backend))
    }

    /// A reactor on a backend you opened yourself.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::{open_backend, BackendKind, Reactor};
    ///
    /// let backend = open_backend(BackendKind::Poll)?;
    /// let reactor = Reactor::with_backend(backend);
    /// assert_eq!(reactor.backend_name(), "poll");
    /// # Ok::<(), fibrio_reactor::BackendError>(())
    /// ```
    pub fn with_backend(backend: Box<dyn Backend>) -> Reactor {
        Reactor {
            inner: Rc::new(ReactorInner {
                name: backend.name(),
                persistent: backend.persistent(),
                drain_hints: backend.persistent() && backend.reports_hangup(),
                notifier: backend.notifier(),
                backend: RefCell::new(backend),
                io: RefCell::new(Vec::new()),
                io_free: RefCell::new(Vec::new()),
                events: RefCell::new(Vec::with_capacity(256)),
                io_count: Cell::new(0),
                next_token: Cell::new(1),
                by_fd: RefCell::new(HashMap::new()),
                adoptable: RefCell::new(AdoptableKeys::default()),
            }),
        }
    }

    /// The backend's name: "epoll", "kqueue", "poll", ...
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::{BackendKind, Reactor};
    ///
    /// let reactor = Reactor::new(BackendKind::Auto)?;
    /// assert!(["epoll", "kqueue", "poll"].contains(&reactor.backend_name()));
    /// # Ok::<(), fibrio_reactor::BackendError>(())
    /// ```
    pub fn backend_name(&self) -> &'static str {
        self.inner.name
    }

    /// Makes this the reactor that `sleep` and sockets on this thread use,
    /// until the guard is dropped.
    ///
    /// On Linux it also sets this thread's timer slack to 1 ns (the default
    /// is 50 µs, which the kernel may add to every timed wait), so sleeps
    /// end close to their deadlines.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::{registered_fds, BackendKind, Reactor};
    ///
    /// let reactor = Reactor::new(BackendKind::Poll)?;
    /// assert_eq!(registered_fds(), None); // no current reactor
    /// let guard = reactor.enter();
    /// assert_eq!(registered_fds(), Some(0));
    /// drop(guard);
    /// assert_eq!(registered_fds(), None);
    /// # Ok::<(), fibrio_reactor::BackendError>(())
    /// ```
    pub fn enter(&self) -> EnterGuard {
        let previous = REACTOR.with(|c| c.borrow_mut().replace(self.inner.clone()));
        tighten_timer_slack();
        EnterGuard { previous }
    }

    /// The [`Driver`] to give the scheduler.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// use fibrio_reactor::{BackendKind, Reactor};
    ///
    /// let reactor = Reactor::new(BackendKind::Poll)?;
    /// let _enter = reactor.enter();
    /// let scheduler = Scheduler::new(SchedulerConfig::default(), reactor.driver());
    /// assert_eq!(scheduler.driver_name(), "poll");
    /// assert_eq!(scheduler.block_on(|| 1).unwrap(), 1);
    /// # Ok::<(), fibrio_reactor::BackendError>(())
    /// ```
    pub fn driver(&self) -> Box<dyn Driver> {
        Box::new(ReactorDriver {
            inner: self.inner.clone(),
        })
    }
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("backend", &self.inner.name)
            .field("fds", &self.inner.io_count.get())
            .finish()
    }
}

/// Asks the kernel not to delay this thread's timed waits for batching.
fn tighten_timer_slack() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: PR_SET_TIMERSLACK takes one integer argument and only
        // changes a per-thread scheduling attribute; the unused arguments
        // are zero as the man page asks.
        let done = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
        if done != 0 {
            log::debug!(
                "fibrio: cannot set the timer slack: {}",
                io::Error::last_os_error()
            );
        }
    }
}

/// Restores the previous current reactor when dropped.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::{registered_fds, BackendKind, Reactor};
///
/// let (outer, inner) = (Reactor::new(BackendKind::Poll)?, Reactor::new(BackendKind::Poll)?);
/// let _outer = outer.enter();
/// {
///     let _inner = inner.enter(); // `inner` is current here
/// }
/// assert_eq!(registered_fds(), Some(0)); // `outer` is current again
/// # Ok::<(), fibrio_reactor::BackendError>(())
/// ```
#[derive(Debug)]
#[must_use = "the reactor is only current while the guard lives"]
pub struct EnterGuard {
    previous: Option<Rc<ReactorInner>>,
}

impl std::fmt::Debug for ReactorInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReactorInner")
            .field("backend", &self.name)
            .finish()
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = REACTOR.try_with(|c| *c.borrow_mut() = previous);
    }
}

struct ReactorDriver {
    inner: Rc<ReactorInner>,
}

impl Driver for ReactorDriver {
    fn name(&self) -> &'static str {
        self.inner.name
    }

    fn park(&mut self, timeout: Option<Duration>, woken: &mut Vec<TaskKey>) {
        // About to block: give back the stacks that stayed unused for the
        // pool's quiet period, and wake in time for the next such check,
        // so that an idle server returns its memory too (the pool checks
        // itself only as stacks are taken and returned). One clock read per
        // blocking wait; never on a look without waiting.
        let timeout = match timeout {
            Some(Duration::ZERO) => timeout,
            _ => match fibrio_core::stack::trim_pool_if_due() {
                Some(next) => Some(timeout.map_or(next, |t| t.min(next))),
                None => timeout,
            },
        };
        self.inner.turn(timeout, woken);
    }

    fn notifier(&self) -> Arc<dyn DriverNotifier> {
        Arc::new(NotifyBridge(self.inner.notifier.clone()))
    }

    fn stats(&self) -> DriverStats {
        let (blocking_threads, blocking_idle, blocking_queued) = crate::blocking::pool_stats();
        DriverStats {
            fds_registered: self.inner.io_count.get(),
            blocking_threads,
            blocking_idle,
            blocking_queued,
        }
    }
}

impl ReactorInner {
    /// Waits for events for at most `timeout`, then pushes the keys of the
    /// tasks whose fds are ready onto `woken`.
    fn turn(&self, timeout: Option<Duration>, woken: &mut Vec<TaskKey>) {
        // A look without waiting, and no fd to look at: skip the system
        // calls. Cross-thread messages reach the scheduler through its inbox,
        // and a pending notification is consumed by the next real wait.
        if timeout == Some(Duration::ZERO) && self.io_count.get() == 0 {
            return;
        }
        let mut events = std::mem::take(&mut *self.events.borrow_mut());
        events.clear();
        let waited = self.backend.borrow_mut().wait(&mut events, timeout);
        if let Err(err) = waited {
            log::error!("fibrio: the {} poller failed: {err}", self.name);
        }
        for event in &events {
            self.dispatch(*event, woken);
        }
        *self.events.borrow_mut() = events;
    }

    fn dispatch(&self, event: ReadyEvent, woken: &mut Vec<TaskKey>) {
        let mut wakers = Vec::new();
        {
            let mut io = self.io.borrow_mut();
            let Some(Some(entry)) = io.get_mut(event.key) else {
                return;
            };
            if !self.persistent {
                entry.armed = Interest::NONE;
            }
            if event.hangup {
                entry.read_closed = true;
            }
            if event.ready.readable {
                entry.ready.readable = true;
                woken.append(&mut entry.readers);
                wakers.append(&mut entry.read_wakers);
            }
            if event.ready.writable {
                entry.ready.writable = true;
                woken.append(&mut entry.writers);
                wakers.append(&mut entry.write_wakers);
            }
            if !self.persistent {
                self.rearm(event.key, entry);
            }
        }
        // Outside the borrow: a waker may run any code.
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Arms the directions that still have waiters (one-shot backends only).
    fn rearm(&self, key: usize, entry: &mut IoEntry) {
        let wanted = Interest {
            readable: !entry.readers.is_empty() || !entry.read_wakers.is_empty(),
            writable: !entry.writers.is_empty() || !entry.write_wakers.is_empty(),
        };
        if wanted == entry.armed || entry.closed {
            return;
        }
        match self.backend.borrow_mut().modify(entry.fd, key, wanted) {
            Ok(()) => entry.armed = wanted,
            Err(err) => {
                log::error!("fibrio: cannot re-arm fd {}: {err}", entry.fd);
            }
        }
    }

    /// Registers `fd`; returns its slot key and unique token.
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<(usize, u64)> {
        if let Some(adopted) = self.adopt(fd) {
            return adopted;
        }
        let key = self.io_free.borrow_mut().pop().unwrap_or_else(|| {
            let mut io = self.io.borrow_mut();
            io.push(None);
            io.len() - 1
        });
        let interest = if self.persistent {
            BOTH
        } else {
            Interest::NONE
        };
        if let Err(err) = self.backend.borrow_mut().register(fd, key, interest) {
            self.io_free.borrow_mut().push(key);
            return Err(err);
        }
        let token = self.next_token.get();
        self.next_token.set(token + 1);
        self.io.borrow_mut()[key] = Some(IoEntry {
            fd,
            token,
            armed: interest,
            ready: Interest::NONE,
            read_closed: false,
            readers: Vec::new(),
            writers: Vec::new(),
            closed: false,
            read_wakers: Vec::new(),
            write_wakers: Vec::new(),
            adoptable: None,
        });
        self.by_fd.borrow_mut().insert(fd, key);
        self.io_count.set(self.io_count.get() + 1);
        Ok((key, token))
    }

    /// Forgets the registration `(key, token)`, deregisters its fd, and
    /// wakes its waiters (they see the registration closed). Does nothing
    /// if it is already gone.
    pub(crate) fn deregister(&self, key: usize, token: u64) {
        let entry = {
            let mut io = self.io.borrow_mut();
            match io.get_mut(key) {
                Some(slot) if slot.as_ref().is_some_and(|e| e.token == token) => slot.take(),
                _ => None,
            }
        };
        let Some(mut entry) = entry else {
            return;
        };
        entry.closed = true;
        self.forget_fd(entry.fd, key);
        if let Err(err) = self.backend.borrow_mut().deregister(entry.fd) {
            log::debug!("fibrio: deregistering fd {}: {err}", entry.fd);
        }
        self.io_free.borrow_mut().push(key);
        self.io_count.set(self.io_count.get() - 1);
        self.shrink_after_peak();
        for waiter in entry.readers.drain(..).chain(entry.writers.drain(..)) {
            task::unpark_local(waiter);
        }
        for waker in entry
            .read_wakers
            .drain(..)
            .chain(entry.write_wakers.drain(..))
        {
            waker.wake();
        }
    }

    /// Parks the current task until registration `(key, token)` is ready in
    /// `direction`, or until `deadline` (then `TimedOut`). While parked the
    /// task's wait reason is `kind` on the registration's fd: `Read` or
    /// `Write` for plain I/O ([`Direction::wait_kind`]), `Accept` for a
    /// listener's accept, `Connect` for a connect in progress, so a task
    /// dump says which operation a task is stuck in.
    ///
    /// The caller has just seen an operation in `direction` fail with
    /// `WouldBlock`, and has not switched tasks since; with an edge-triggered
    /// backend this call forgets the readiness seen before that failure (see
    /// the module invariants).
    pub(crate) fn wait_ready(
        &self,
        key: usize,
        token: u64,
        direction: Direction,
        kind: task::WaitKind,
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        let me = task::current_key()
            .ok_or_else(|| io::Error::other("fibrio: waiting for I/O outside a fibrio task"))?;
        if self.persistent {
            // The failed operation used up every edge delivered so far.
            let mut io = self.io.borrow_mut();
            if let Some(Some(entry)) = io.get_mut(key) {
                if entry.token == token {
                    match direction {
                        Direction::Read => entry.ready.readable = false,
                        Direction::Write => entry.ready.writable = false,
                    }
                }
            }
        }
        loop {
            // Registered for `direction` or returned; `reason` is what the
            // task waits for while parked: `kind`, on the fd.
            let reason = {
                let mut io = self.io.borrow_mut();
                let Some(Some(entry)) = io.get_mut(key) else {
                    return Err(closed());
                };
                if entry.token != token {
                    return Err(closed());
                }
                let ready = match direction {
                    Direction::Read => &mut entry.ready.readable,
                    Direction::Write => &mut entry.ready.writable,
                };
                // Edge-triggered: leave the flag for the other waiters;
                // one-shot: consume it (module invariants).
                let ready = if self.persistent {
                    *ready
                } else {
                    std::mem::take(ready)
                };
                if ready {
                    return Ok(());
                }
                if deadline.is_some_and(|d| fibrio_core::time::now_std() >= d) {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "fibrio: the I/O operation timed out",
                    ));
                }
                let waiters = match direction {
                    Direction::Read => &mut entry.readers,
                    Direction::Write => &mut entry.writers,
                };
                if !waiters.contains(&me) {
                    waiters.push(me);
                }
                if !self.persistent {
                    self.rearm(key, entry);
                }
                // A registered fd is never negative.
                task::WaitReason::new(kind, entry.fd as u64)
            };
            let _unregister = Unregister {
                reactor: self,
                key,
                token,
                direction,
                me,
            };
            match task::park_for(reason, deadline) {
                Ok(()) => {}
                Err(task::ParkError::Unwinding) => {
                    return Err(io::Error::new(
                        io::ErrorKind::Interrupted,
                        "fibrio: cannot wait for I/O while unwinding",
                    ))
                }
                Err(task::ParkError::OutsideTask) => {
                    return Err(io::Error::other(
                        "fibrio: waiting for I/O outside a fibrio task",
                    ))
                }
            }
        }
    }
}

impl ReactorInner {
    /// On an edge-triggered backend: true if `direction` of registration
    /// `(key, token)` is known to have nothing (its readiness was cleared
    /// and no edge came since), so an operation would fail with
    /// `WouldBlock`. Always false on one-shot backends, which cannot know.
    pub(crate) fn known_unready(&self, key: usize, token: u64, direction: Direction) -> bool {
        if !self.drain_hints {
            return false;
        }
        match self.io.borrow().get(key) {
            Some(Some(entry)) if entry.token == token => match direction {
                Direction::Read => !entry.ready.readable && !entry.read_closed,
                Direction::Write => !entry.ready.writable,
            },
            _ => false,
        }
    }

    /// On an edge-triggered backend, forgets the readiness of `direction`:
    /// the caller has just drained it (a stream read that returned less than
    /// asked for) and has not switched tasks since, so, as after a
    /// `WouldBlock`, any newer data is an edge still to be reported. Does
    /// nothing on one-shot backends.
    pub(crate) fn clear_ready(&self, key: usize, token: u64, direction: Direction) {
        if !self.drain_hints {
            return;
        }
        if let Some(Some(entry)) = self.io.borrow_mut().get_mut(key) {
            if entry.token == token {
                match direction {
                    Direction::Read => entry.ready.readable = false,
                    Direction::Write => entry.ready.writable = false,
                }
            }
        }
    }
}

/// Both directions: the interest of every fd on an edge-triggered backend.
const BOTH: Interest = Interest {
    readable: true,
    writable: true,
};

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "fibrio: the I/O registration was closed while waiting",
    )
}

/// A direction of readiness.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::Direction;
///
/// let read = Direction::Read;
/// let copy = read; // `Copy`
/// assert_eq!(copy, Direction::Read);
/// assert_ne!(read, Direction::Write);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Readable (or acceptable, or hung up).
    Read,
    /// Writable (or connected).
    Write,
}

impl Direction {
    /// What a task waiting for plain I/O in this direction shows in a dump
    /// or a deadlock report: [`WaitKind::Read`](task::WaitKind::Read) or
    /// [`WaitKind::Write`](task::WaitKind::Write). (An accept waits for
    /// `Read` and shows `Accept`; a connect waits for `Write` and shows
    /// `Connect`.)
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::WaitKind;
    /// use fibrio_reactor::Direction;
    ///
    /// assert_eq!(Direction::Read.wait_kind(), WaitKind::Read);
    /// assert_eq!(Direction::Write.wait_kind(), WaitKind::Write);
    /// ```
    pub fn wait_kind(self) -> task::WaitKind {
        match self {
            Direction::Read => task::WaitKind::Read,
            Direction::Write => task::WaitKind::Write,
        }
    }
}

/// Removes a waiter that leaves `wait_ready` (woken, or unwinding).
struct Unregister<'a> {
    reactor: &'a ReactorInner,
    key: usize,
    token: u64,
    direction: Direction,
    me: TaskKey,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        let mut io = self.reactor.io.borrow_mut();
        if let Some(Some(entry)) = io.get_mut(self.key) {
            if entry.token != self.token {
                return;
            }
            let waiters = match self.direction {
                Direction::Read => &mut entry.readers,
                Direction::Write => &mut entry.writers,
            };
            waiters.retain(|k| *k != self.me);
        }
    }
}

/// How many fds the current thread's reactor has registered, or `None`
/// outside a runtime.
///
/// # Examples
///
/// ```
/// assert_eq!(fibrio_reactor::registered_fds(), None);
/// ```
pub fn registered_fds() -> Option<usize> {
    with_reactor(|reactor| {
        reactor.sweep_adoptable();
        reactor.io_count.get()
    })
}

/// Futures waiting on fds (`net::async_io`): a future's poll knows only
/// the socket's fd, so these find the fd's entry through `by_fd`.
///
/// * A waker waits in the entry of the socket's own
///   [`Registration`](crate::io::Registration) when it has one, beside
///   the parked tasks, and the same events wake both.
/// * A socket polled before any blocking call of it registered its fd
///   gets an entry made here, marked `adoptable` with the socket's
///   identity (device and inode). The socket's later `Registration::new`
///   adopts that entry (same key and token) instead of failing with
///   `AlreadyExists`, so the two never fight over the fd.
/// * An adoptable entry has no owner to deregister it: when its socket is
///   closed the kernel drops the fd from the backend, and the entry stays
///   until the fd number is reused. Its next user is detected (a
///   `register` adopts it; a poll finds another identity) and the fd is
///   registered with the backend afresh, with no readiness recorded.
#[cfg_attr(
    not(any(feature = "tokio-io", feature = "futures-io")),
    allow(dead_code)
)]
impl ReactorInner {
    /// Registers `waker` to be woken when `fd` is ready in `direction`.
    /// The caller has just seen an operation in `direction` fail with
    /// `WouldBlock` and has not switched tasks since (as for
    /// [`wait_ready`](Self::wait_ready)). Returns true when the fd is
    /// known ready already (one-shot backends only): try again at once.
    pub(crate) fn register_waker(
        &self,
        fd: RawFd,
        direction: Direction,
        waker: &Waker,
    ) -> io::Result<bool> {
        let known = self.by_fd.borrow().get(&fd).copied();
        let key = match known {
            Some(key) => {
                self.refresh_if_reused(key, fd)?;
                key
            }
            None => {
                let identity = fd_identity(fd)?;
                let (key, _token) = self.register(fd)?;
                if let Some(Some(entry)) = self.io.borrow_mut().get_mut(key) {
                    entry.adoptable = Some(identity);
                }
                let sweep = {
                    let mut adoptable = self.adoptable.borrow_mut();
                    adoptable.keys.push(key);
                    adoptable.keys.len() >= adoptable.sweep_at.max(64)
                };
                if sweep {
                    self.sweep_adoptable();
                }
                key
            }
        };
        let mut io = self.io.borrow_mut();
        let Some(Some(entry)) = io.get_mut(key) else {
            return Err(closed());
        };
        let ready = match direction {
            Direction::Read => &mut entry.ready.readable,
            Direction::Write => &mut entry.ready.writable,
        };
        if self.persistent {
            // The failed operation used up every edge delivered so far.
            *ready = false;
        } else if std::mem::take(ready) {
            return Ok(true);
        }
        let wakers = match direction {
            Direction::Read => &mut entry.read_wakers,
            Direction::Write => &mut entry.write_wakers,
        };
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
        if !self.persistent {
            self.rearm(key, entry);
        }
        Ok(false)
    }

    /// Hands an adoptable entry of `fd` to the `register` being made.
    fn adopt(&self, fd: RawFd) -> Option<io::Result<(usize, u64)>> {
        let key = *self.by_fd.borrow().get(&fd)?;
        let mut io = self.io.borrow_mut();
        let entry = io.get_mut(key)?.as_mut()?;
        entry.adoptable?;
        let result = self.register_afresh(key, entry);
        if result.is_ok() {
            entry.adoptable = None;
        }
        Some(result.map(|()| (key, entry.token)))
    }

    /// If the adoptable entry `key` of `fd` belonged to a socket that was
    /// closed (the fd number now names another one), registers the fd
    /// with the backend afresh.
    fn refresh_if_reused(&self, key: usize, fd: RawFd) -> io::Result<()> {
        let mut io = self.io.borrow_mut();
        let Some(Some(entry)) = io.get_mut(key) else {
            return Ok(());
        };
        let Some(identity) = entry.adoptable else {
            return Ok(());
        };
        let now = fd_identity(fd)?;
        if now != identity {
            entry.adoptable = Some(now);
            self.register_afresh(key, entry)?;
        }
        Ok(())
    }

    /// Registers `entry`'s fd with the backend again, forgetting what was
    /// recorded of its readiness.
    fn register_afresh(&self, key: usize, entry: &mut IoEntry) -> io::Result<()> {
        let mut backend = self.backend.borrow_mut();
        // Fails harmlessly when the kernel already dropped a closed fd.
        let _ = backend.deregister(entry.fd);
        entry.ready = Interest::NONE;
        entry.read_closed = false;
        backend.register(entry.fd, key, entry.armed)
    }

    /// Removes the entries made by futures' polls whose sockets have been
    /// closed (their fd is gone, or names another file now). Runs when
    /// their number has doubled since the last sweep, so its cost is
    /// amortised over the entries made, and before `registered_fds`
    /// counts.
    fn sweep_adoptable(&self) {
        let keys = std::mem::take(&mut self.adoptable.borrow_mut().keys);
        let mut kept = Vec::with_capacity(keys.len());
        for key in keys {
            let stale = match self.io.borrow().get(key) {
                Some(Some(entry)) => entry.adoptable.map(|identity| {
                    (
                        entry.token,
                        fd_identity(entry.fd).map_or(true, |now| now != identity),
                    )
                }),
                _ => None,
            };
            match stale {
                Some((token, true)) => self.deregister(key, token),
                Some((_, false)) => kept.push(key),
                None => {}
            }
        }
        let mut adoptable = self.adoptable.borrow_mut();
        adoptable.sweep_at = kept.len() * 2;
        kept.append(&mut adoptable.keys);
        adoptable.keys = kept;
    }

    /// Forgets that `fd` is registered under `key`.
    /// Gives back the memory of the I/O table after a peak: once fewer
    /// than a quarter of its slots are in use, the free slots at its end
    /// are dropped (and their keys from the free list) and the table's and
    /// `by_fd`'s capacity shrink to twice what is left. Without it, 10,000
    /// connections that came and went keep ~2.3 MB of empty slots for the
    /// life of the reactor (issue 18). A check of two numbers per
    /// deregistration; the shrink itself is linear in the table, and runs
    /// only when a quarter or less of it is in use, so its cost is paid
    /// for by the deregistrations since the peak.
    fn shrink_after_peak(&self) {
        const MIN_SLOTS: usize = 64;
        let live = self.io_count.get();
        let mut io = self.io.borrow_mut();
        if io.len() <= MIN_SLOTS || live * 4 > io.len() {
            return;
        }
        let before = io.len();
        while io.len() > MIN_SLOTS && matches!(io.last(), Some(None)) {
            io.pop();
        }
        if io.len() < before {
            let len = io.len();
            self.io_free.borrow_mut().retain(|&key| key < len);
        }
        let keep = (io.len() * 2).max(MIN_SLOTS);
        if io.capacity() > keep * 2 {
            io.shrink_to(keep);
            self.io_free.borrow_mut().shrink_to(keep);
        }
        let mut by_fd = self.by_fd.borrow_mut();
        let keep = (by_fd.len() * 2).max(MIN_SLOTS);
        if by_fd.capacity() > keep * 2 {
            by_fd.shrink_to(keep);
        }
    }

    fn forget_fd(&self, fd: RawFd, key: usize) {
        let mut by_fd = self.by_fd.borrow_mut();
        if by_fd.get(&fd) == Some(&key) {
            by_fd.remove(&fd);
        }
    }
}

/// The keys of the entries made by futures' polls.
#[derive(Default)]
struct AdoptableKeys {
    keys: Vec<usize>,
    /// Sweep when `keys` grows to this many (at least 64).
    sweep_at: usize,
}

/// The device and inode of the file `fd` refers to: a socket's identity.
fn fd_identity(fd: RawFd) -> io::Result<(u64, u64)> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is valid for writes of one `libc::stat`; fstat only
    // writes it, and only reads the fd number.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat returned 0, so it initialised `stat`.
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::unnecessary_cast)] // the field types differ by platform
    Ok((stat.st_dev as u64, stat.st_ino as u64))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn the_io_table_shrinks_after_a_peak_and_keeps_what_is_live() {
        let reactor = Reactor::new(BackendKind::Auto).unwrap();
        let inner = &reactor.inner;
        let (keep_a, _keep_b) = UnixStream::pair().unwrap();
        let (kept_key, kept_token) = inner.register(keep_a.as_raw_fd()).unwrap();
        let pairs: Vec<_> = (0..2_000).map(|_| UnixStream::pair().unwrap()).collect();
        let keys: Vec<_> = pairs
            .iter()
            .map(|(a, _)| inner.register(a.as_raw_fd()).unwrap())
            .collect();
        assert!(inner.io.borrow().len() > 2_000);
        for (key, token) in keys {
            inner.deregister(key, token);
        }
        assert_eq!(inner.io_count.get(), 1);
        let (len, capacity) = (inner.io.borrow().len(), inner.io.borrow().capacity());
        assert!(len <= 64, "{len} slots left after the peak");
        assert!(capacity <= 256, "capacity {capacity} kept after the peak");
        assert!(inner.by_fd.borrow().capacity() <= 256);
        assert!(inner.io_free.borrow().iter().all(|&key| key < len));
        // The live registration is untouched.
        let io = inner.io.borrow();
        let entry = io[kept_key].as_ref().expect("the live entry survives");
        assert_eq!((entry.fd, entry.token), (keep_a.as_raw_fd(), kept_token));
        drop(io);
        // New registrations get valid keys again.
        let (c, _d) = UnixStream::pair().unwrap();
        let (key, token) = inner.register(c.as_raw_fd()).unwrap();
        assert!(inner.io.borrow()[key]
            .as_ref()
            .is_some_and(|e| e.token == token));
        inner.deregister(key, token);
        inner.deregister(kept_key, kept_token);
        assert_eq!(inner.io_count.get(), 0);
    }
}
