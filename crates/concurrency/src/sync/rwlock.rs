//! A fair reader-writer lock whose waiters are fibrio tasks (or threads).
//!
//! Like [`Mutex`](super::Mutex), an [`RwLock`] is a *logical* lock (who
//! may read or write, and the FIFO queue of waiters, in `state`) in front
//! of a `std::sync::RwLock<T>` holding the data.
//!
//! Invariants (all under the `state` mutex):
//! * `readers` counts read locks granted and not yet released, `writer`
//!   whether a write lock is; never both (`writer` implies `readers == 0`).
//!   A lock handed to a waiter that has not run yet already counts.
//! * Fairness: a newcomer gets the lock at once only when the queue is
//!   empty (and the lock is compatible). So a queued writer blocks new
//!   readers, and nobody barges past the queue.
//! * `State::grant` runs after every release and every removal of a
//!   waiter: it hands the lock to the front of the queue for as long as it
//!   can (a run of readers together, or one writer), so a non-empty queue
//!   always starts with a waiter that truly has to wait (a writer behind
//!   readers or a writer, or a reader behind a writer).
//! * A waiter owns its lock from the moment the token is in its node. If
//!   it leaves early (cancelled, timed out, unwinding), its `Drop` guard
//!   removes its node (and re-runs `grant`: readers queued behind a
//!   departing writer may now proceed) or, if the lock was already handed
//!   to it, releases it as a guard would. So a cancelled waiter never ends
//!   up holding the lock.
//! * `writer_id` is the id of the task holding the write lock (0 for a
//!   thread outside any task), valid while `writer` is set, for the wait
//!   reasons of waiting writers only (`WaitState::holder`). A newcomer
//!   stores its own id (read before it takes the state lock, so the lock's
//!   hold is not lengthened by the loads behind it); `grant` stores the id
//!   of the writer it serves (its node's tag), before that writer runs. In
//!   a simulation a grant that leaves waiters queued wakes them, so they
//!   re-park naming the new holder (a deadlock report is built from what
//!   each waiter recorded when it parked).
//! * `data` is read-locked only by logical readers and write-locked only by
//!   the logical writer, after taking the logical lock, and their guards
//!   are dropped before the logical lock is released. So `data` never
//!   makes anyone wait, and its poisoning is ignored.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::error::{LockError, TryLockError};
use crate::wait::{expired, lock, Left, Stop, WaitQueue, WaitState, Waiter};

/// A waiter's tag: what it wants, and who it is (its task id, 0 outside a
/// task), so that a grant can record a writer it serves as the holder.
#[derive(Debug, Clone, Copy)]
struct Want {
    write: bool,
    task: u64,
}

/// A snapshot of a reader-writer lock's state and counters, from
/// [`RwLock::statistics`].
///
/// # Examples
///
/// ```
/// let lock = fibrio_concurrency::sync::RwLock::new(0);
/// let _a = lock.try_read().unwrap();
/// let _b = lock.try_read().unwrap();
/// let stats = lock.statistics();
/// assert_eq!((stats.readers, stats.writer, stats.reads), (2, false, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RwLockStatistics {
    /// Read locks held now (including ones handed to waiters that have not
    /// run yet).
    pub readers: usize,
    /// Whether the write lock is held (or handed to a waiter).
    pub writer: bool,
    /// Tasks or threads queued for a read lock.
    pub waiting_readers: usize,
    /// Tasks or threads queued for the write lock.
    pub waiting_writers: usize,
    /// Read locks taken since creation.
    pub reads: u64,
    /// Write locks taken since creation.
    pub writes: u64,
    /// Calls that had to queue.
    pub contended: u64,
    /// Waits that ended without the lock (timed out, cancelled, unwinding).
    pub abandoned: u64,
}

#[derive(Debug, Default)]
struct State {
    readers: usize,
    writer: bool,
    /// The task holding the write lock, while `writer` is set.
    writer_id: u64,
    waiters: WaitQueue<(), Want>,
    reads: u64,
    writes: u64,
    contended: u64,
    abandoned: u64,
}

impl State {
    /// Whether a newcomer may take the lock now, without queueing.
    fn can_take(&self, write: bool) -> bool {
        self.waiters.is_empty() && !self.writer && (!write || self.readers == 0)
    }

    /// Takes the lock for `who`.
    fn take(&mut self, who: Want) {
        if who.write {
            self.writer = true;
            self.writer_id = who.task;
        } else {
            self.readers += 1;
        }
    }

    /// Hands the lock to the front waiters for as long as they can have
    /// it: a run of readers, or one writer.
    fn grant(&mut self) {
        let mut served = false;
        while let Some(who) = self.waiters.front_tag() {
            if self.writer || (who.write && self.readers > 0) {
                break;
            }
            self.take(who);
            let _ = self.waiters.serve_front(()); // the front waiter, seen above
            served = true;
            if who.write {
                break;
            }
        }
        if served && !self.waiters.is_empty() && fibrio_core::task::det::active() {
            // The waiters left parked naming the previous holder: let them
            // re-park naming this one (see the module invariants).
            self.waiters.wake_all();
        }
    }

    fn release(&mut self, write: bool) {
        if write {
            self.writer = false;
        } else {
            self.readers -= 1;
        }
        self.grant();
    }
}

impl WaitState<(), Want> for State {
    fn waiters(&mut self) -> &mut WaitQueue<(), Want> {
        &mut self.waiters
    }

    /// A writer waits for the write lock, a reader for a read lock.
    fn wait_kind(who: Want) -> fibrio_core::task::WaitKind {
        if who.write {
            fibrio_core::task::WaitKind::RwLockWrite
        } else {
            fibrio_core::task::WaitKind::RwLockRead
        }
    }

    /// A departing writer may have held back readers; a lock handed to a
    /// waiter that gives up is released as a guard would.
    fn abandon(&mut self, who: Want, left: Left<()>) {
        self.abandoned += 1;
        match left {
            Left::Waiting => self.grant(),
            Left::Handed(()) => self.release(who.write),
        }
    }

    /// A waiting writer names the writer holding the lock (readers are
    /// not named: there may be many). A waiting reader names nobody.
    fn holder(&self, who: Want) -> u64 {
        if who.write && self.writer {
            self.writer_id
        } else {
            0
        }
    }
}

/// A reader-writer lock for tasks: many readers or one writer at a time,
/// and waiting parks the calling task (not the thread).
///
/// It is fair (no barging): waiters are served in FIFO order, and a queued
/// writer blocks readers that come after it (so a stream of readers cannot
/// starve a writer). A release hands the lock to the front of the queue,
/// before those waiters run: every reader up to the next writer together,
/// or the writer alone. A newcomer, the releasing task locking again at
/// once included, takes the lock at once only when nobody is queued, and
/// otherwise queues behind; [`try_read`](RwLock::try_read) and
/// [`try_write`](RwLock::try_write) fail while anyone is queued or a
/// handed-over write lock is held. A waiter handed the lock that then
/// leaves (cancelled, timed out) releases it, passing it on. As a
/// consequence, a task that takes a read lock while already holding one
/// deadlocks if a writer queued in between. An uncontended acquire is a
/// cancellation checkpoint, and yields to other tasks only when the task's
/// cooperative budget is spent (once every
/// [`BUDGET`](fibrio_core::coop::BUDGET) operations that did not wait).
///
/// There is no poisoning, for the reason given on
/// [`Mutex`](super::Mutex). `Send + Sync` under the same bounds as
/// `std::sync::RwLock`; outside any task a blocking call blocks the thread.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use fibrio_concurrency::sync::RwLock;
///
/// fibrio::run(|| {
///     let config = Arc::new(RwLock::new(String::from("v1")));
///     let c2 = config.clone();
///     let reader = fibrio::spawn(move || c2.read().unwrap().clone());
///     config.write().unwrap().push_str("-patched");
///     assert_eq!(reader.join().unwrap(), "v1-patched");
///     assert_eq!(*config.read().unwrap(), "v1-patched");
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    state: std::sync::Mutex<State>,
    data: std::sync::RwLock<T>,
}

impl<T> RwLock<T> {
    /// A new, unlocked lock holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = fibrio_concurrency::sync::RwLock::new(5);
    /// assert_eq!(*lock.try_read().unwrap(), 5);
    /// ```
    pub fn new(value: T) -> RwLock<T> {
        RwLock {
            state: std::sync::Mutex::new(State::default()),
            data: std::sync::RwLock::new(value),
        }
    }

    /// Consumes the lock, returning the data.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = fibrio_concurrency::sync::RwLock::new(1);
    /// *lock.try_write().unwrap() += 1;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    pub fn into_inner(self) -> T {
        self.data
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Takes a shared read lock, waiting (FIFO) while a writer holds the
    /// lock or anyone is queued.
    ///
    /// # Errors
    ///
    /// [`LockError::Unwinding`] if it would have to wait while the task
    /// unwinds (do not lock in `Drop`).
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry and while waiting. A cancelled waiter never
    /// holds the lock: if it had been handed a read lock, the lock is
    /// released again (and passed on if that frees it).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::sync::RwLock;
    ///
    /// fibrio::run(|| {
    ///     let lock = RwLock::new(3);
    ///     let a = lock.read().unwrap();
    ///     let b = lock.read().unwrap(); // readers share
    ///     assert_eq!(*a + *b, 6);
    /// });
    /// ```
    pub fn read(&self) -> Result<RwLockReadGuard<'_, T>, LockError> {
        self.acquire(false, None)?;
        Ok(self.read_guard())
    }

    /// Like [`read`](RwLock::read), but gives up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`LockError::Timeout`] when the time is up (the waiter leaves the
    /// queue and holds nothing), and as [`read`](RwLock::read).
    ///
    /// # Cancellation
    ///
    /// As [`read`](RwLock::read).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::sync::{LockError, RwLock};
    ///
    /// fibrio::run(|| {
    ///     let lock = RwLock::new(0);
    ///     let _w = lock.write().unwrap();
    ///     let err = lock.read_timeout(Duration::from_millis(5)).unwrap_err();
    ///     assert_eq!(err, LockError::Timeout);
    /// });
    /// ```
    pub fn read_timeout(&self, timeout: Duration) -> Result<RwLockReadGuard<'_, T>, LockError> {
        self.acquire(false, crate::wait::deadline_after(timeout))?;
        Ok(self.read_guard())
    }

    /// Takes the exclusive write lock, waiting (FIFO) until every earlier
    /// reader and writer is done.
    ///
    /// # Errors
    ///
    /// [`LockError::Unwinding`] if it would have to wait while the task
    /// unwinds (do not lock in `Drop`).
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry and while waiting. A cancelled waiter never
    /// holds the lock: if it had been handed the write lock, it goes to the
    /// next waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::sync::RwLock;
    ///
    /// fibrio::run(|| {
    ///     let lock = RwLock::new(vec![1]);
    ///     lock.write().unwrap().push(2);
    ///     assert_eq!(*lock.read().unwrap(), [1, 2]);
    /// });
    /// ```
    pub fn write(&self) -> Result<RwLockWriteGuard<'_, T>, LockError> {
        self.acquire(true, None)?;
        Ok(self.write_guard())
    }

    /// Like [`write`](RwLock::write), but gives up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`LockError::Timeout`] when the time is up (the waiter leaves the
    /// queue and holds nothing; readers queued behind it may then go), and
    /// as [`write`](RwLock::write).
    ///
    /// # Cancellation
    ///
    /// As [`write`](RwLock::write).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::sync::{LockError, RwLock};
    ///
    /// fibrio::run(|| {
    ///     let lock = RwLock::new(0);
    ///     let _r = lock.read().unwrap();
    ///     let err = lock.write_timeout(Duration::from_millis(5)).unwrap_err();
    ///     assert_eq!(err, LockError::Timeout);
    /// });
    /// ```
    pub fn write_timeout(&self, timeout: Duration) -> Result<RwLockWriteGuard<'_, T>, LockError> {
        self.acquire(true, crate::wait::deadline_after(timeout))?;
        Ok(self.write_guard())
    }

    /// Takes a read lock if no writer holds the lock and nobody is queued,
    /// without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::sync::{RwLock, TryLockError};
    ///
    /// let lock = RwLock::new(1);
    /// let w = lock.try_write().unwrap();
    /// assert_eq!(lock.try_read().unwrap_err(), TryLockError::WouldBlock);
    /// drop(w);
    /// assert!(lock.try_read().is_ok());
    /// ```
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        self.try_acquire(false)?;
        Ok(self.read_guard())
    }

    /// Takes the write lock if nobody holds the lock or is queued for it,
    /// without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::sync::{RwLock, TryLockError};
    ///
    /// let lock = RwLock::new(1);
    /// let r = lock.try_read().unwrap();
    /// assert_eq!(lock.try_write().unwrap_err(), TryLockError::WouldBlock);
    /// drop(r);
    /// assert!(lock.try_write().is_ok());
    /// ```
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        self.try_acquire(true)?;
        Ok(self.write_guard())
    }

    /// A mutable reference to the data, without locking: the `&mut self`
    /// borrow proves nobody else holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = fibrio_concurrency::sync::RwLock::new(1);
    /// *lock.get_mut() = 7;
    /// assert_eq!(*lock.try_read().unwrap(), 7);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot of the state and counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = fibrio_concurrency::sync::RwLock::new(());
    /// let _w = lock.try_write().unwrap();
    /// let stats = lock.statistics();
    /// assert!(stats.writer);
    /// assert_eq!((stats.readers, stats.writes), (0, 1));
    /// ```
    pub fn statistics(&self) -> RwLockStatistics {
        let st = lock(&self.state);
        let waiting_writers = st.waiters.count(|who| who.write);
        RwLockStatistics {
            readers: st.readers,
            writer: st.writer,
            waiting_readers: st.waiters.len() - waiting_writers,
            waiting_writers,
            reads: st.reads,
            writes: st.writes,
            contended: st.contended,
            abandoned: st.abandoned,
        }
    }

    fn try_acquire(&self, write: bool) -> Result<(), TryLockError> {
        let who = Want::current(write);
        let mut st = lock(&self.state);
        if !st.can_take(write) {
            return Err(TryLockError::WouldBlock);
        }
        st.take(who);
        count(&mut st, write);
        Ok(())
    }

    /// Takes the logical lock (a read lock, or the write lock), queueing
    /// behind earlier waiters.
    fn acquire(&self, write: bool, deadline: Option<Instant>) -> Result<(), LockError> {
        crate::wait::begin();
        let who = Want::current(write);
        let mut waiter = {
            let mut st = lock(&self.state);
            if st.can_take(write) {
                st.take(who);
                count(&mut st, write);
                return Ok(());
            }
            if expired(deadline) {
                st.abandoned += 1;
                return Err(LockError::Timeout);
            }
            st.contended += 1;
            Waiter::enqueue(&self.state, &mut st, who, None)
        };
        match waiter.wait(deadline) {
            Ok(mut st) => {
                count(&mut st, write);
                waiter.take();
                Ok(())
            }
            Err(Stop::Timeout) => Err(LockError::Timeout),
            Err(_) => Err(LockError::Unwinding),
        }
    }

    fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        let owner = Owner {
            state: &self.state,
            write: false,
        };
        RwLockReadGuard {
            data: self.data.read().unwrap_or_else(PoisonError::into_inner),
            _owner: owner,
        }
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        let owner = Owner {
            state: &self.state,
            write: true,
        };
        RwLockWriteGuard {
            data: self.data.write().unwrap_or_else(PoisonError::into_inner),
            _owner: owner,
        }
    }
}

impl Want {
    /// The caller, wanting the write lock or a read lock. Only a writer's
    /// id is ever used, so a reader does not read it.
    #[inline]
    fn current(write: bool) -> Want {
        let task = if write {
            fibrio_core::task::current_id().unwrap_or(0)
        } else {
            0
        };
        Want { write, task }
    }
}

/// Counts a granted lock in the statistics.
fn count(st: &mut State, write: bool) {
    if write {
        st.writes += 1;
    } else {
        st.reads += 1;
    }
}

impl<T: Default> Default for RwLock<T> {
    /// A lock holding `T::default()`.
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    /// A lock holding `value`, like [`RwLock::new`].
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Releases one logical read lock, or the write lock, when dropped.
struct Owner<'a> {
    state: &'a std::sync::Mutex<State>,
    write: bool,
}

impl Drop for Owner<'_> {
    fn drop(&mut self) {
        lock(self.state).release(self.write);
    }
}

/// Proof of a shared read lock on an [`RwLock`]; derefs to the data and
/// releases the lock when dropped.
///
/// # Examples
///
/// ```
/// let lock = fibrio_concurrency::sync::RwLock::new(1);
/// let guard = lock.try_read().unwrap();
/// assert_eq!(*guard, 1);
/// assert!(lock.try_write().is_err());
/// drop(guard);
/// assert!(lock.try_write().is_ok());
/// ```
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    // Field order matters: `data` is dropped before the logical release.
    data: std::sync::RwLockReadGuard<'a, T>,
    _owner: Owner<'a>,
}

/// Proof of the exclusive write lock on an [`RwLock`]; derefs (mutably) to
/// the data and releases the lock when dropped, handing it to the front of
/// the queue.
///
/// # Examples
///
/// ```
/// let lock = fibrio_concurrency::sync::RwLock::new(1);
/// {
///     let mut guard = lock.try_write().unwrap();
///     *guard += 1;
/// }
/// assert_eq!(*lock.try_read().unwrap(), 2);
/// ```
#[must_use = "the lock is released at once if the guard is not kept"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    // Field order matters: `data` is dropped before the logical release.
    data: std::sync::RwLockWriteGuard<'a, T>,
    _owner: Owner<'a>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
