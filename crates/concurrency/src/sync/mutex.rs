//! A mutual-exclusion lock whose waiters are fibrio tasks (or threads).
//!
//! A [`Mutex`] is two locks in one: the *logical* lock, which decides who
//! owns the mutex and queues the waiters, and a `std::sync::Mutex<T>`
//! holding the data, which gives the owner a `&mut T` without `unsafe`.
//!
//! Invariants:
//! * `state` (an atomic word) holds `LOCKED` (someone owns the logical
//!   lock, or it has been handed to a waiter that has not run yet),
//!   `QUEUED` (the waiter queue is non-empty) and, above them, a wrapping
//!   count of acquisitions (for [`MutexStatistics`] only).
//! * `QUEUED` is set and cleared only while holding the `queue` mutex, and
//!   is set exactly when `queue.waiters` is non-empty. It is only ever set
//!   together with, or while, `LOCKED` is set, so `QUEUED` implies
//!   `LOCKED`: a free mutex has no waiters.
//! * `LOCKED` is set by a compare-and-swap from a word with neither flag
//!   (the fast path, or the slow path under `queue`), and cleared only by
//!   its owner: by a compare-and-swap when `QUEUED` is clear, or under
//!   `queue` when the queue is empty. When the queue is not empty the
//!   owner never clears `LOCKED`: it pops the front waiter and puts the
//!   ownership into its node (FIFO hand-off), so nobody can barge past the
//!   queue.
//! * A waiter owns the lock from the moment the token is in its node. If it
//!   leaves early (cancelled, timed out, unwinding), its `Drop` guard
//!   removes its node or, if the token is already there, passes the
//!   ownership on as an unlock would. So a cancelled waiter never ends up
//!   owning the lock.
//! * `owner` is the id of the task that owns the logical lock (0 for a
//!   thread outside any task), for wait reasons only; it orders nothing
//!   (relaxed). A hand-off stores the id of the waiter it serves (its
//!   node's tag), under `queue`, before that waiter even runs; every
//!   acquisition stores the taker's id once it has locked `data` (the id
//!   read before its compare-and-swap: see `Mutex::owned_guard` for why
//!   there). So while `LOCKED` is set, `owner` names the owner, except
//!   for the few instructions between a fast-path taker's compare-and-swap
//!   and its store, during which the taker runs: a waiter on another
//!   thread may park naming the previous owner then, but no simulation
//!   (one thread) can be deadlocked on it.
//! * A waiter already parked when the lock is handed on keeps the holder
//!   it read when it parked. In a simulation (where deadlock reports are
//!   built) a hand-off also wakes the waiters left in the queue, which
//!   re-park at once naming the new owner. Production does not pay for
//!   that wake-up, so there a long-parked waiter's `TaskRef::wait_reason`
//!   may name an earlier holder.
//! * `data` is locked only by the logical owner, after it has taken the
//!   logical lock, and its guard is dropped before the logical lock is
//!   released (field order in [`MutexGuard`]). So `data` is never
//!   contended, and its poisoning is ignored.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::error::{LockError, TryLockError};
use crate::wait::{expired, lock, Left, Stop, WaitQueue, Waitable, Waiter};

/// Someone owns the logical lock (or it was handed to a queued waiter).
const LOCKED: usize = 1;
/// The waiter queue is non-empty.
const QUEUED: usize = 2;
/// One acquisition in the counter above the two flags.
const ACQUIRED: usize = 4;

/// A snapshot of a mutex's state and counters, from [`Mutex::statistics`].
///
/// # Examples
///
/// ```
/// let m = fibrio_concurrency::sync::Mutex::new(0);
/// let _g = m.lock().unwrap();
/// let stats = m.statistics();
/// assert!(stats.locked);
/// assert_eq!((stats.waiters, stats.acquisitions), (0, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MutexStatistics {
    /// Whether the mutex is held (or handed to a waiter that has not yet
    /// run).
    pub locked: bool,
    /// Tasks or threads queued for the lock.
    pub waiters: usize,
    /// Successful `lock`, `lock_timeout` and `try_lock` calls since
    /// creation (wrapping at 2^62 on 64-bit targets, 2^30 on 32-bit ones).
    pub acquisitions: u64,
    /// Calls that found the mutex held and had to queue.
    pub contended: u64,
    /// Waits that ended without the lock (timed out, cancelled, unwinding).
    pub abandoned: u64,
}

#[derive(Debug, Default)]
struct Queue {
    /// Tagged with the waiter's task id (0 outside a task), which a
    /// hand-off records as the new owner.
    waiters: WaitQueue<(), u64>,
    contended: u64,
    abandoned: u64,
}

/// The logical lock: everything but the data, so none of it is generic.
#[derive(Debug, Default)]
struct RawMutex {
    state: AtomicUsize,
    /// The task that owns the lock, for wait reasons (see the module
    /// invariants).
    owner: AtomicU64,
    queue: std::sync::Mutex<Queue>,
}

/// The caller's task id, 0 outside a task: what `owner` records.
#[inline]
fn current_task() -> u64 {
    fibrio_core::task::current_id().unwrap_or(0)
}

impl RawMutex {
    /// Takes the lock if it is free and nobody is queued. Does not record
    /// the owner: the caller does, once it has locked `data` (see
    /// `Mutex::owned_guard`).
    #[inline]
    fn try_lock(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & (LOCKED | QUEUED) == 0 {
            match self.state.compare_exchange_weak(
                s,
                s.wrapping_add(ACQUIRED | LOCKED),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => s = actual,
            }
        }
        false
    }

    /// Releases the lock: clears `LOCKED` if nobody waits, else hands it
    /// to the front waiter.
    #[inline]
    fn unlock(&self) {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & QUEUED == 0 {
            match self.state.compare_exchange_weak(
                s,
                s & !LOCKED,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => s = actual,
            }
        }
        self.hand_off(&mut lock(&self.queue));
    }

    /// With `queue` held, by the owner: gives the lock to the front waiter
    /// (FIFO), recording it as the owner, or frees the lock when nobody
    /// waits.
    fn hand_off(&self, q: &mut Queue) {
        let Some(next) = q.waiters.front_tag() else {
            self.state.fetch_and(!LOCKED, Ordering::Release);
            return;
        };
        self.owner.store(next, Ordering::Relaxed);
        let _ = q.waiters.serve_front(()); // the front waiter, seen above
        self.unqueue_if_empty(q);
        if fibrio_core::task::det::active() {
            // The waiters still queued parked naming the previous owner:
            // let them re-park naming this one, so that a deadlock report
            // names the task that holds the lock now.
            q.waiters.wake_all();
        }
    }

    /// With `queue` held: clears `QUEUED` once the last waiter is gone.
    fn unqueue_if_empty(&self, q: &Queue) {
        if q.waiters.is_empty() {
            self.state.fetch_and(!QUEUED, Ordering::Relaxed);
        }
    }

    /// Takes the lock, queueing behind earlier waiters and parking until it
    /// is handed over, `deadline` passes or the task unwinds.
    #[cold]
    fn lock_slow(&self, deadline: Option<Instant>, me: u64) -> Result<(), LockError> {
        let mut waiter = {
            let mut q = lock(&self.queue);
            let mut s = self.state.load(Ordering::Relaxed);
            loop {
                if s & LOCKED == 0 {
                    // Free, hence (QUEUED implies LOCKED) nobody waits.
                    match self.state.compare_exchange_weak(
                        s,
                        s.wrapping_add(ACQUIRED | LOCKED),
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Ok(()),
                        Err(actual) => s = actual,
                    }
                    continue;
                }
                if expired(deadline) {
                    q.abandoned += 1;
                    return Err(LockError::Timeout);
                }
                if s & QUEUED != 0 {
                    // Set under `queue`, which we hold: it stays set, and
                    // with it LOCKED, until we have queued.
                    break;
                }
                // Once QUEUED is set the owner cannot free the lock without
                // taking `queue`, so it will find our node and hand over.
                match self.state.compare_exchange_weak(
                    s,
                    s | QUEUED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(actual) => s = actual,
                }
            }
            q.contended += 1;
            Waiter::enqueue(self, &mut q, me, None)
        };
        match waiter.wait(deadline) {
            Ok(_) => {
                // `hand_off` recorded us as the owner already.
                self.state.fetch_add(ACQUIRED, Ordering::Relaxed);
                waiter.take();
                Ok(())
            }
            Err(Stop::Timeout) => Err(LockError::Timeout),
            Err(_) => Err(LockError::Unwinding),
        }
    }
}

impl Waitable<(), u64> for RawMutex {
    type State = Queue;

    fn state(&self) -> &std::sync::Mutex<Queue> {
        &self.queue
    }

    fn queue(q: &mut Queue) -> &mut WaitQueue<(), u64> {
        &mut q.waiters
    }

    fn wait_kind(_: u64) -> fibrio_core::task::WaitKind {
        fibrio_core::task::WaitKind::Mutex
    }

    fn holder(&self, _: u64) -> u64 {
        self.owner.load(Ordering::Relaxed)
    }

    /// A lock handed to a waiter that gives up goes on as an unlock would.
    fn abandon(&self, q: &mut Queue, _: u64, left: Left<()>) {
        q.abandoned += 1;
        match left {
            Left::Waiting => self.unqueue_if_empty(q),
            Left::Handed(()) => self.hand_off(q),
        }
    }
}

/// A mutual-exclusion lock for tasks: [`lock`](Mutex::lock) parks the
/// calling task (not the thread) until the lock is free.
///
/// Fairness (no barging): waiters are served in FIFO order. An unlock with
/// waiters queued hands the lock straight to the longest-waiting task
/// (which owns it before it even runs), so a newcomer, the unlocking task
/// locking again at once included, queues behind the waiters, and
/// [`try_lock`](Mutex::try_lock) fails while anyone is queued or the lock
/// is handed to a waiter that has not run yet. A waiter handed the lock
/// that then leaves (cancelled, timed out) passes it on to the next waiter,
/// or frees it. Uncontended, locking and unlocking cost a few atomic
/// operations and touch no queue; an uncontended `lock` is a cancellation
/// checkpoint, and yields to other tasks only when the task's cooperative
/// budget is spent (once every [`BUDGET`](fibrio_core::coop::BUDGET)
/// operations that did not wait).
///
/// Unlike `std::sync::Mutex` there is no poisoning: cancelling a task
/// unwinds through whatever guards it holds, routinely, so a guard dropped
/// during unwinding is an ordinary unlock. Code that must not leave the
/// data half-updated should not reach a checkpoint (a blocking call, a
/// `yield_now`) in the middle of the update.
///
/// Like `std::sync::Mutex`, it is `Send + Sync` when `T: Send`, and is
/// shared through an [`Arc`](std::sync::Arc) or a reference. Outside any
/// task, `lock` blocks the thread, so tasks and plain threads can share
/// one mutex.
/// Locking it twice from the same task deadlocks that task.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use fibrio_concurrency::sync::Mutex;
///
/// fibrio::run(|| {
///     let counter = Arc::new(Mutex::new(0));
///     let tasks: Vec<_> = (0..10)
///         .map(|_| {
///             let counter = counter.clone();
///             fibrio::spawn(move || {
///                 let mut n = counter.lock().unwrap();
///                 fibrio::yield_now(); // others queue meanwhile
///                 *n += 1;
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.join().unwrap();
///     }
///     assert_eq!(*counter.lock().unwrap(), 10);
/// });
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: std::sync::Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new, unlocked mutex holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = fibrio_concurrency::sync::Mutex::new(5);
    /// assert_eq!(*m.try_lock().unwrap(), 5);
    /// ```
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            raw: RawMutex::default(),
            data: std::sync::Mutex::new(value),
        }
    }

    /// Consumes the mutex, returning the data.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = fibrio_concurrency::sync::Mutex::new(vec![1]);
    /// m.try_lock().unwrap().push(2);
    /// assert_eq!(m.into_inner(), [1, 2]);
    /// ```
    pub fn into_inner(self) -> T {
        self.data
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, waiting (FIFO, behind earlier waiters) until it is
    /// free. The lock is released when the guard is dropped.
    ///
    /// Inside a task this parks the task; outside any task it blocks the
    /// thread.
    ///
    /// # Errors
    ///
    /// [`LockError::Unwinding`] if the mutex is held and the task is
    /// unwinding (it must not suspend; do not lock in `Drop`).
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry (even if the mutex is free) and while
    /// waiting. A cancelled waiter never owns the lock: if the lock had
    /// already been handed to it, it goes to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::Mutex;
    ///
    /// fibrio::run(|| {
    ///     let m = Arc::new(Mutex::new(Vec::new()));
    ///     let held = m.lock().unwrap();
    ///     let m2 = m.clone();
    ///     let waiter = fibrio::spawn(move || m2.lock().unwrap().push("waiter"));
    ///     fibrio::yield_now(); // the waiter parks
    ///     drop(held); // ... and is handed the lock
    ///     waiter.join().unwrap();
    ///     assert_eq!(*m.lock().unwrap(), ["waiter"]);
    /// });
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<MutexGuard<'_, T>, LockError> {
        crate::wait::begin();
        let me = current_task();
        if !self.raw.try_lock() {
            self.raw.lock_slow(None, me)?;
        }
        Ok(self.owned_guard(me))
    }

    /// Like [`lock`](Mutex::lock), but gives up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`LockError::Timeout`] when the time is up (the waiter leaves the
    /// queue and holds nothing), and as [`lock`](Mutex::lock).
    ///
    /// # Cancellation
    ///
    /// As [`lock`](Mutex::lock).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::sync::{LockError, Mutex};
    ///
    /// fibrio::run(|| {
    ///     let m = Mutex::new(0);
    ///     let held = m.lock().unwrap();
    ///     let err = m.lock_timeout(Duration::from_millis(5)).unwrap_err();
    ///     assert_eq!(err, LockError::Timeout);
    ///     drop(held);
    ///     assert!(m.lock_timeout(Duration::ZERO).is_ok()); // free: at once
    /// });
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Result<MutexGuard<'_, T>, LockError> {
        crate::wait::begin();
        let me = current_task();
        if !self.raw.try_lock() {
            self.raw
                .lock_slow(crate::wait::deadline_after(timeout), me)?;
        }
        Ok(self.owned_guard(me))
    }

    /// Locks the mutex if it is free and nobody is queued, without
    /// waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if it is held, or other tasks are
    /// queued for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::sync::{Mutex, TryLockError};
    ///
    /// let m = Mutex::new(1);
    /// let g = m.try_lock().unwrap();
    /// assert_eq!(m.try_lock().unwrap_err(), TryLockError::WouldBlock);
    /// drop(g);
    /// assert!(m.try_lock().is_ok());
    /// ```
    #[inline]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        let me = current_task();
        if self.raw.try_lock() {
            Ok(self.owned_guard(me))
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Whether the mutex is locked now: held, or handed to a queued waiter
    /// that has not run yet (it owns the lock already). Only a snapshot:
    /// another task or thread may lock or unlock it right after. While it
    /// returns true, [`try_lock`](Mutex::try_lock) fails; while it returns
    /// false nobody is queued, so `try_lock` succeeds unless someone takes
    /// the lock first.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = fibrio_concurrency::sync::Mutex::new(0);
    /// assert!(!m.is_locked());
    /// let guard = m.try_lock().unwrap();
    /// assert!(m.is_locked());
    /// drop(guard);
    /// assert!(!m.is_locked());
    /// ```
    pub fn is_locked(&self) -> bool {
        self.raw.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// A mutable reference to the data, without locking: the `&mut self`
    /// borrow proves nobody else holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = fibrio_concurrency::sync::Mutex::new(1);
    /// *m.get_mut() += 1;
    /// assert_eq!(m.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot of the state and counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = fibrio_concurrency::sync::Mutex::new(());
    /// drop(m.try_lock().unwrap());
    /// let stats = m.statistics();
    /// assert!(!stats.locked);
    /// assert_eq!((stats.acquisitions, stats.contended, stats.waiters), (1, 0, 0));
    /// ```
    pub fn statistics(&self) -> MutexStatistics {
        let q = lock(&self.raw.queue);
        let s = self.raw.state.load(Ordering::Relaxed);
        MutexStatistics {
            locked: s & LOCKED != 0,
            waiters: q.waiters.len(),
            acquisitions: (s / ACQUIRED) as u64,
            contended: q.contended,
            abandoned: q.abandoned,
        }
    }

    /// The guard for task `me` (its id, read *before* it took the logical
    /// lock), which has just taken the logical lock: locks `data`, then
    /// records `me` as the owner.
    ///
    /// Where the id is read and stored is the whole cost of recording the
    /// owner. Reading it is three dependent loads (the thread's scheduler,
    /// its running task, the id); read before the compare-and-swap they
    /// complete in its shadow. Storing it between the two locked
    /// instructions (the logical lock's and `data`'s) made the second wait
    /// for the store, and for the loads behind it; stored after both, it
    /// drains with the critical section's own stores.
    #[inline]
    fn owned_guard(&self, me: u64) -> MutexGuard<'_, T> {
        // Built first, so the logical lock is released even if locking
        // `data` were to panic.
        let owner = Owner { raw: &self.raw };
        let guard = MutexGuard {
            data: self.data.lock().unwrap_or_else(PoisonError::into_inner),
            owner,
            mutex: self,
        };
        self.raw.owner.store(me, Ordering::Relaxed);
        guard
    }
}

impl<T: Default> Default for Mutex<T> {
    /// A mutex holding `T::default()`.
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    /// A mutex holding `value`, like [`Mutex::new`].
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Releases the logical lock when dropped.
struct Owner<'a> {
    raw: &'a RawMutex,
}

impl Drop for Owner<'_> {
    #[inline]
    fn drop(&mut self) {
        self.raw.unlock();
    }
}

/// Proof of holding a [`Mutex`]; derefs to the data and unlocks when
/// dropped, handing the lock to the longest-waiting task if there is one.
///
/// Like std's guard it is not `Send`: drop it on the thread (and, in
/// practice, in the task) that locked.
///
/// # Examples
///
/// ```
/// let m = fibrio_concurrency::sync::Mutex::new(String::from("a"));
/// {
///     let mut guard = m.try_lock().unwrap();
///     guard.push('b');
///     assert_eq!(&*guard, "ab");
/// } // unlocked here
/// assert!(!m.statistics().locked);
/// ```
#[must_use = "the mutex is unlocked at once if the guard is not kept"]
pub struct MutexGuard<'a, T: ?Sized> {
    // Field order matters: `data` is dropped before `owner` releases the
    // logical lock, so the next owner never finds `data` locked.
    data: std::sync::MutexGuard<'a, T>,
    owner: Owner<'a>,
    mutex: &'a Mutex<T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Unlocks, returning the mutex (for [`Condvar`](super::Condvar),
    /// which must re-lock it).
    pub(super) fn unlock(self) -> &'a Mutex<T> {
        let MutexGuard { data, owner, mutex } = self;
        drop(data);
        drop(owner);
        mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
