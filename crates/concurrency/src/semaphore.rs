//! A counting semaphore whose waiters are fibrio tasks (or threads).
//!
//! Invariants (all under the state mutex):
//! * Every waiter is tagged with how many permits it needs (at least 1; a
//!   request for 0 permits never queues). Released permits go to the front
//!   waiter: they are pooled with the permits already `reserved` for it,
//!   and once the pool covers its whole request they are put into its node
//!   (counted in `handed` until it runs to take them) and the rest go on to
//!   the next waiter. Permits that do not cover the front waiter's request
//!   stay `reserved` for it: never counted as available, and never given
//!   to a later, smaller request. So waiters are served strictly FIFO, and
//!   `reserved > 0` implies a waiter is queued and `reserved` is less than
//!   the front waiter's request.
//! * A fresh request for `n` permits takes free permits only when no
//!   waiter is queued and no handed permit is in flight (`handed == 0`):
//!   it never overtakes a waiter, not even one already woken (asyncio's
//!   rule, stricter than tokio's). So `available > 0` with a waiter queued
//!   happens only while `handed > 0`; when the last handed waiter takes its
//!   permits (or leaves), or a waiter queues while `handed == 0`, `settle`
//!   hands the free permits to the queue, FIFO (or reserves them for the
//!   front waiter).
//! * A waiter owns permits only once it returns from an acquire with a
//!   [`SemaphorePermit`]. A waiter that leaves early (cancelled, timed out,
//!   unwinding) removes its node in a `Drop` guard; if permits had already
//!   been handed to it, the guard passes them to the next waiters (or back
//!   to the count), and the permits reserved for the front waiter go to
//!   whoever is the front waiter once it has left. So a cancelled waiter
//!   never takes a permit, and `available + reserved + handed + permits
//!   held == total` always, where `total` is the initial count plus
//!   [`Semaphore::add_permits`], minus [`Semaphore::forget_permits`] and
//!   [`SemaphorePermit::forget`].
//! * After [`Semaphore::close`], no acquire succeeds (except one whose
//!   permits were handed to it before the close); permits already held stay
//!   valid and are returned to the count, and nobody is served any more.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::wait::{expired, lock, Left, Stop, WaitQueue, WaitState, Waiter};

/// Why [`Semaphore::acquire`], [`Semaphore::acquire_many`] or their
/// `_timeout` forms failed.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::{AcquireError, Semaphore};
///
/// let sem = Semaphore::new(1);
/// sem.close();
/// assert_eq!(sem.acquire().unwrap_err(), AcquireError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    /// The semaphore was closed with [`Semaphore::close`].
    #[error("the semaphore is closed; no more permits will be handed out")]
    Closed,
    /// The timeout passed before the permits became available (only from
    /// [`Semaphore::acquire_timeout`] and
    /// [`Semaphore::acquire_many_timeout`]).
    #[error(
        "timed out waiting for a semaphore permit; retry, or raise the timeout or the permit count"
    )]
    Timeout,
    /// The calling task is unwinding and must not suspend; do not acquire
    /// permits in `Drop`.
    #[error(
        "cannot wait for a semaphore permit while the task is unwinding; do not block in Drop"
    )]
    Unwinding,
}

/// Why [`Semaphore::try_acquire`] or [`Semaphore::try_acquire_many`]
/// failed.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::{Semaphore, TryAcquireError};
///
/// let sem = Semaphore::new(1);
/// let _permit = sem.try_acquire().unwrap();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
/// sem.close();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryAcquireError {
    /// Too few permits are free (or other tasks are already waiting for
    /// some).
    #[error(
        "not enough semaphore permits are available now; use acquire() or acquire_many() to wait"
    )]
    NoPermits,
    /// The semaphore was closed with [`Semaphore::close`].
    #[error("the semaphore is closed; no more permits will be handed out")]
    Closed,
}

/// A snapshot of a semaphore's counters, from [`Semaphore::statistics`].
///
/// # Examples
///
/// ```
/// let sem = fibrio_concurrency::Semaphore::new(3);
/// let _two = sem.try_acquire_many(2).unwrap();
/// sem.close();
/// let stats = sem.statistics();
/// assert_eq!((stats.available, stats.acquired, stats.closed), (1, 2, true));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SemaphoreStatistics {
    /// Permits free to take now.
    pub available: usize,
    /// Permits set aside for the longest-waiting task, which asked for more
    /// (with [`Semaphore::acquire_many`]) than have been released so far.
    /// Not free to take, and not counted in `available`.
    pub reserved: usize,
    /// Tasks or threads waiting for permits.
    pub waiters: usize,
    /// Permits handed out since creation (`n` for an `acquire_many(n)`).
    pub acquired: u64,
    /// Waits that ended without permits (timed out, cancelled, closed).
    pub abandoned: u64,
    /// Whether [`Semaphore::close`] has been called.
    pub closed: bool,
}

#[derive(Debug)]
struct State {
    /// Free permits: no waiter is queued for them (or handed permits are
    /// still in flight, see `settle`).
    available: usize,
    /// Permits set aside for the front waiter, which needs more than that.
    reserved: usize,
    /// Permits handed to waiters that have not yet run to take them.
    handed: usize,
    closed: bool,
    /// Each waiter is tagged with how many permits it needs (at least 1).
    waiters: WaitQueue<(), usize>,
    acquired: u64,
    abandoned: u64,
}

impl State {
    /// Returns `k` permits: pooled with the ones reserved for the front
    /// waiter, they serve the queue from the front, each waiter as soon as
    /// the pool covers its whole request; what is left is reserved for the
    /// new front waiter or, once nobody waits, counted as available. After
    /// [`Semaphore::close`] nobody is served any more: they all go to the
    /// count.
    fn release(&mut self, k: usize) {
        if self.closed {
            self.available += k;
            return;
        }
        let mut pool = self.reserved + k;
        self.reserved = 0;
        while let Some(need) = self.waiters.front_tag() {
            if need > pool {
                self.reserved = pool;
                return;
            }
            if self.waiters.serve_front(()).is_err() {
                break;
            }
            pool -= need;
            self.handed += need;
        }
        self.available += pool;
    }

    /// Whether a fresh request for `n` permits may take free permits now.
    fn free_for_newcomer(&self, n: usize) -> bool {
        self.available >= n && self.handed == 0 && self.waiters.is_empty()
    }

    /// Once no handed permit is in flight, hands the free permits to the
    /// waiters that queued while some were (or reserves them for the front
    /// one).
    fn settle(&mut self) {
        if self.handed == 0 && self.available > 0 && !self.waiters.is_empty() {
            let free = std::mem::take(&mut self.available);
            self.release(free);
        }
    }
}

impl WaitState<(), usize> for State {
    fn waiters(&mut self) -> &mut WaitQueue<(), usize> {
        &mut self.waiters
    }

    fn wait_kind(_: usize) -> fibrio_core::task::WaitKind {
        fibrio_core::task::WaitKind::Semaphore
    }

    fn closed(&self) -> bool {
        self.closed
    }

    /// Permits handed to a waiter that gives up go to the next ones; the
    /// permits reserved for the front waiter go to whoever is the front
    /// waiter now (this one may have been it).
    fn abandon(&mut self, need: usize, left: Left<()>) {
        self.abandoned += 1;
        match left {
            Left::Handed(()) => {
                self.handed -= need;
                self.release(need);
            }
            Left::Waiting => {
                let reserved = std::mem::take(&mut self.reserved);
                self.release(reserved);
            }
        }
        self.settle();
    }
}

/// A counting semaphore with FIFO waiters. Cloning gives another handle to
/// the same semaphore (it is reference-counted), so tasks can share it.
/// `Send + Sync`: usable from any thread.
///
/// Fairness (no barging): permits released (dropped, or added with
/// [`add_permits`](Semaphore::add_permits)) while tasks wait are handed
/// straight to the longest-waiting one, before it even runs, and are never
/// counted as available. So a newcomer, the releasing task acquiring again
/// at once included, queues behind the waiters, and
/// [`try_acquire`](Semaphore::try_acquire) fails while anyone waits. A
/// task waiting for several permits ([`acquire_many`](Semaphore::acquire_many))
/// is served only once it can have them all; until then the permits
/// released are set aside for it, and it holds up every later request,
/// small ones included, as tokio's semaphore does. Permits handed to a
/// waiter that then leaves (cancelled, timed out) go on to the next
/// waiters, or back to the count, as do the permits set aside for it.
/// Permits released while waiters handed permits earlier have not yet run
/// are not free for a newcomer either: it queues behind them, as in
/// asyncio (tokio would let it take them). An uncontended acquire is a
/// cancellation checkpoint, and yields to other tasks only when the task's
/// cooperative budget is spent (once every
/// [`BUDGET`](fibrio_core::coop::BUDGET) operations that did not wait).
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::Semaphore;
///
/// fibrio::run(|| {
///     let sem = Semaphore::new(2);
///     let a = sem.acquire().unwrap();
///     let _b = sem.acquire().unwrap();
///     assert!(sem.try_acquire().is_err());
///     drop(a); // the permit goes back
///     assert_eq!(sem.available_permits(), 1);
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Semaphore {
    state: Arc<Mutex<State>>,
}

impl Semaphore {
    /// The most permits [`Semaphore::new`] and [`Semaphore::add_permits`]
    /// accept at once: `usize::MAX >> 3`, as in tokio. The bound keeps the
    /// internal counts (free, set aside, in flight) from overflowing
    /// however permits are added and given back.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::Semaphore;
    ///
    /// let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    /// assert_eq!(sem.available_permits(), usize::MAX >> 3);
    /// ```
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    ///
    /// If `permits` is more than [`Semaphore::MAX_PERMITS`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = fibrio_concurrency::Semaphore::new(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        assert!(
            permits <= Semaphore::MAX_PERMITS,
            "Semaphore::new: {permits} permits is more than Semaphore::MAX_PERMITS ({}); \
             use a smaller count",
            Semaphore::MAX_PERMITS
        );
        Semaphore {
            state: Arc::new(Mutex::new(State {
                available: permits,
                reserved: 0,
                handed: 0,
                closed: false,
                waiters: WaitQueue::default(),
                acquired: 0,
                abandoned: 0,
            })),
        }
    }

    /// Takes a permit, waiting (FIFO, behind earlier waiters) until one is
    /// free. The permit returns to the semaphore when dropped.
    ///
    /// Inside a task this parks the task; outside any task it blocks the
    /// thread.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`] if the semaphore is or gets closed,
    /// [`AcquireError::Unwinding`] if it would have to wait while the task
    /// unwinds.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry and while waiting. A cancelled waiter never
    /// takes a permit: if one had been handed to it, it goes to the next
    /// waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::Semaphore;
    ///
    /// fibrio::run(|| {
    ///     let sem = Semaphore::new(1);
    ///     let held = sem.acquire().unwrap();
    ///     let sem2 = sem.clone();
    ///     let waiter = fibrio::spawn(move || sem2.acquire().map(drop));
    ///     fibrio::yield_now(); // the waiter parks
    ///     drop(held); // ... and is handed the permit
    ///     waiter.join().unwrap().unwrap();
    /// });
    /// ```
    pub fn acquire(&self) -> Result<SemaphorePermit, AcquireError> {
        self.acquire_until(1, None)
    }

    /// Like [`acquire`](Semaphore::acquire), but gives up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Timeout`] when the time is up (the waiter leaves the
    /// queue and takes nothing), and as [`acquire`](Semaphore::acquire).
    ///
    /// # Cancellation
    ///
    /// As [`acquire`](Semaphore::acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::{AcquireError, Semaphore};
    ///
    /// fibrio::run(|| {
    ///     let sem = Semaphore::new(1);
    ///     let _held = sem.acquire().unwrap();
    ///     let err = sem.acquire_timeout(Duration::from_millis(5)).unwrap_err();
    ///     assert_eq!(err, AcquireError::Timeout);
    /// });
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphorePermit, AcquireError> {
        self.acquire_until(1, crate::wait::deadline_after(timeout))
    }

    /// Takes `n` permits at once, waiting (FIFO, behind earlier waiters)
    /// until all `n` are free; the permit returned releases all `n` when
    /// dropped ([`SemaphorePermit::num_permits`] says how many it holds).
    /// `n == 0` succeeds at once, without waiting or queueing (unless the
    /// semaphore is closed).
    ///
    /// Fairness: while this call waits at the front of the queue, permits
    /// released are set aside for it (see
    /// [`SemaphoreStatistics::reserved`]) until it has all `n`, and every
    /// later request, even for one permit, waits behind it, as with tokio's
    /// `acquire_many`. So a request for more permits than the semaphore
    /// has in all, which fibrio cannot tell from one that
    /// [`add_permits`](Semaphore::add_permits) will satisfy later, waits
    /// until that many have been added, and holds up the queue meanwhile;
    /// use [`acquire_many_timeout`](Semaphore::acquire_many_timeout) or
    /// [`try_acquire_many`](Semaphore::try_acquire_many) when `n` may be
    /// too large.
    ///
    /// Inside a task this parks the task; outside any task it blocks the
    /// thread.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`] if the semaphore is or gets closed,
    /// [`AcquireError::Unwinding`] if it would have to wait while the task
    /// unwinds.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry and while waiting. A cancelled waiter never
    /// takes a permit: the permits handed to it, or set aside for it, go to
    /// the next waiters (or back to the count).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::Semaphore;
    ///
    /// fibrio::run(|| {
    ///     let sem = Semaphore::new(3);
    ///     let one = sem.acquire().unwrap();
    ///     let sem2 = sem.clone();
    ///     // Needs all three: waits until `one` is back.
    ///     let batch = fibrio::spawn(move || sem2.acquire_many(3).map(|p| p.num_permits()));
    ///     fibrio::yield_now();
    ///     assert_eq!(sem.statistics().reserved, 2); // set aside for `batch`
    ///     assert!(sem.try_acquire().is_err()); // no overtaking `batch`
    ///     drop(one);
    ///     assert_eq!(batch.join().unwrap(), Ok(3));
    ///     assert_eq!(sem.available_permits(), 3);
    /// });
    /// ```
    pub fn acquire_many(&self, n: usize) -> Result<SemaphorePermit, AcquireError> {
        self.acquire_until(n, None)
    }

    /// Like [`acquire_many`](Semaphore::acquire_many), but gives up after
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Timeout`] when the time is up (the waiter leaves the
    /// queue and takes nothing: permits set aside for it go to the next
    /// waiters), and as [`acquire_many`](Semaphore::acquire_many).
    ///
    /// # Cancellation
    ///
    /// As [`acquire_many`](Semaphore::acquire_many).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::{AcquireError, Semaphore};
    ///
    /// fibrio::run(|| {
    ///     let sem = Semaphore::new(2);
    ///     // More than the semaphore has: gives up instead of waiting forever.
    ///     let err = sem.acquire_many_timeout(5, Duration::from_millis(5)).unwrap_err();
    ///     assert_eq!(err, AcquireError::Timeout);
    ///     assert_eq!(sem.available_permits(), 2); // nothing was kept
    /// });
    /// ```
    pub fn acquire_many_timeout(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<SemaphorePermit, AcquireError> {
        self.acquire_until(n, crate::wait::deadline_after(timeout))
    }

    fn acquire_until(
        &self,
        n: usize,
        deadline: Option<Instant>,
    ) -> Result<SemaphorePermit, AcquireError> {
        crate::wait::begin();
        let mut waiter = {
            let mut st = lock(&self.state);
            if st.closed {
                return Err(AcquireError::Closed);
            }
            if n == 0 {
                return Ok(self.permit(0));
            }
            if st.free_for_newcomer(n) {
                st.available -= n;
                st.acquired += n as u64;
                return Ok(self.permit(n));
            }
            if expired(deadline) {
                st.abandoned += 1;
                return Err(AcquireError::Timeout);
            }
            let waiter = Waiter::enqueue(&*self.state, &mut st, n, None);
            // Free permits (too few for us, or waiting for handed ones to
            // be taken) go to the queue, as far as they reach.
            st.settle();
            waiter
        };
        match waiter.wait(deadline) {
            Ok(mut st) => {
                st.acquired += n as u64;
                st.handed -= n;
                waiter.take();
                st.settle();
                Ok(self.permit(n))
            }
            Err(Stop::Closed) => Err(AcquireError::Closed),
            Err(Stop::Unwinding) => Err(AcquireError::Unwinding),
            Err(Stop::Timeout) => Err(AcquireError::Timeout),
        }
    }

    /// Takes a permit if one is free now, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] if none is free (or other waiters are
    /// ahead), [`TryAcquireError::Closed`] if the semaphore is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::{Semaphore, TryAcquireError};
    ///
    /// let sem = Semaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    /// drop(permit);
    /// assert!(sem.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are all free now, without waiting; takes
    /// none otherwise. `n == 0` succeeds unless the semaphore is closed.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] if fewer than `n` are free, or other
    /// waiters are ahead (even if they want fewer: no overtaking);
    /// [`TryAcquireError::Closed`] if the semaphore is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::{Semaphore, TryAcquireError};
    ///
    /// let sem = Semaphore::new(3);
    /// let two = sem.try_acquire_many(2).unwrap();
    /// assert_eq!(two.num_permits(), 2);
    /// assert_eq!(sem.try_acquire_many(2).unwrap_err(), TryAcquireError::NoPermits);
    /// assert_eq!(sem.available_permits(), 1); // a failed try takes nothing
    /// drop(two);
    /// assert!(sem.try_acquire_many(3).is_ok());
    /// ```
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit, TryAcquireError> {
        let mut st = lock(&self.state);
        if st.closed {
            return Err(TryAcquireError::Closed);
        }
        if n == 0 {
            return Ok(self.permit(0));
        }
        if !st.free_for_newcomer(n) {
            return Err(TryAcquireError::NoPermits);
        }
        st.available -= n;
        st.acquired += n as u64;
        Ok(self.permit(n))
    }

    /// Permits free to take now. Permits set aside for a waiter that needs
    /// more of them ([`SemaphoreStatistics::reserved`]) are not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = fibrio_concurrency::Semaphore::new(2);
    /// let _p = sem.try_acquire().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        lock(&self.state).available
    }

    /// Adds `n` permits, handing them to waiters first (FIFO: the front
    /// waiter gets its whole request before the next one is served).
    ///
    /// # Panics
    ///
    /// If the permits not held by anyone (free, set aside for a waiter, or
    /// handed to one that has not run yet) would then number more than
    /// [`Semaphore::MAX_PERMITS`]. The semaphore is left unchanged and
    /// usable.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = fibrio_concurrency::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        let mut st = lock(&self.state);
        let unheld = st
            .available
            .checked_add(st.reserved)
            .and_then(|c| c.checked_add(st.handed))
            .and_then(|c| c.checked_add(n));
        match unheld {
            Some(total) if total <= Semaphore::MAX_PERMITS => st.release(n),
            _ => {
                let have = st
                    .available
                    .saturating_add(st.reserved)
                    .saturating_add(st.handed);
                drop(st); // panic without poisoning the semaphore's lock
                panic!(
                    "Semaphore::add_permits: adding {n} permits to the {have} not held would \
                     exceed Semaphore::MAX_PERMITS ({}); add fewer",
                    Semaphore::MAX_PERMITS
                );
            }
        }
    }

    /// Removes up to `n` of the permits free now, for good, and returns how
    /// many it removed (fewer than `n` if fewer are free), like tokio's
    /// `forget_permits`. Permits held, handed to waiters, or set aside for
    /// one are not touched: to shrink the semaphore by those too, call
    /// [`SemaphorePermit::forget`] once they are acquired.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = fibrio_concurrency::Semaphore::new(3);
    /// let held = sem.try_acquire().unwrap();
    /// assert_eq!(sem.forget_permits(5), 2); // only two were free
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(held);
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        let mut st = lock(&self.state);
        let removed = n.min(st.available);
        st.available -= removed;
        removed
    }

    /// Closes the semaphore: every waiter wakes with
    /// [`AcquireError::Closed`], and later acquires fail. Permits already
    /// held stay valid, and return to the count when dropped, as do the
    /// permits set aside for a waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::{AcquireError, Semaphore};
    ///
    /// let sem = Semaphore::new(1);
    /// sem.close();
    /// assert!(sem.is_closed());
    /// assert_eq!(sem.acquire().unwrap_err(), AcquireError::Closed);
    /// ```
    pub fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        let reserved = std::mem::take(&mut st.reserved);
        st.available += reserved;
        st.waiters.wake_all();
    }

    /// Whether [`close`](Semaphore::close) has been called.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!fibrio_concurrency::Semaphore::new(1).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// A snapshot of the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = fibrio_concurrency::Semaphore::new(2);
    /// let _p = sem.try_acquire().unwrap();
    /// let stats = sem.statistics();
    /// assert_eq!((stats.available, stats.waiters, stats.acquired), (1, 0, 1));
    /// ```
    pub fn statistics(&self) -> SemaphoreStatistics {
        let st = lock(&self.state);
        SemaphoreStatistics {
            available: st.available,
            reserved: st.reserved,
            waiters: st.waiters.len(),
            acquired: st.acquired,
            abandoned: st.abandoned,
            closed: st.closed,
        }
    }

    fn permit(&self, permits: usize) -> SemaphorePermit {
        SemaphorePermit {
            sem: self.clone(),
            permits,
        }
    }
}

/// Permits of a [`Semaphore`] (one from [`Semaphore::acquire`], `n` from
/// [`Semaphore::acquire_many`]); returns them all when dropped (to the
/// longest-waiting tasks, if any).
///
/// # Examples
///
/// ```
/// let sem = fibrio_concurrency::Semaphore::new(1);
/// {
///     let _permit = sem.try_acquire().unwrap();
///     assert_eq!(sem.available_permits(), 0);
/// }
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[derive(Debug)]
#[must_use = "the permit is released at once if not kept"]
pub struct SemaphorePermit {
    sem: Semaphore,
    /// Permits still to return on drop.
    permits: usize,
}

impl SemaphorePermit {
    /// How many permits this holds (and will return when dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = fibrio_concurrency::Semaphore::new(4);
    /// assert_eq!(sem.try_acquire_many(3).unwrap().num_permits(), 3);
    /// assert_eq!(sem.try_acquire().unwrap().num_permits(), 1);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Consumes the permit without returning its permits: the semaphore
    /// has [`num_permits`](SemaphorePermit::num_permits) permits fewer from
    /// now on.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = fibrio_concurrency::Semaphore::new(3);
    /// sem.try_acquire_many(2).unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for SemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            let permits = std::mem::take(&mut self.permits);
            lock(&self.sem.state).release(permits);
        }
    }
}
