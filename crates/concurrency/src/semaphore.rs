//! A counting semaphore whose waiters are fibrio tasks (or threads).
//!
//! Invariants (all under the state mutex):
//! * A released permit goes straight to the front waiter (it is put into
//!   the waiter's node and never counted as available), so waiters are
//!   served strictly FIFO. `handed` counts those permits whose waiters have
//!   not yet run to take them.
//! * A fresh acquire takes a free permit only when no waiter is queued and
//!   no handed permit is in flight (`handed == 0`): it never overtakes a
//!   waiter, not even one already woken (asyncio's rule, stricter than
//!   tokio's). So `available > 0` with a waiter queued happens only while
//!   `handed > 0`; when the last handed waiter takes its permit (or leaves),
//!   `settle` hands the free permits to the queue, FIFO.
//! * A waiter owns a permit only once it returns from `acquire` with a
//!   [`SemaphorePermit`]. A waiter that leaves early (cancelled, timed out,
//!   unwinding) removes its node in a `Drop` guard; if a permit had already
//!   been handed to it, the guard passes that permit to the next waiter (or
//!   back to the count). So a cancelled waiter never takes a permit, and
//!   `available + permits held + permits in flight == total` always.
//! * After [`Semaphore::close`], no acquire succeeds; permits already held
//!   stay valid and are returned as usual.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::wait::{expired, lock, Left, Stop, WaitQueue, WaitState, Waiter};

/// Why [`Semaphore::acquire`] or [`Semaphore::acquire_timeout`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AcquireError {
    /// The semaphore was closed with [`Semaphore::close`].
    #[error("the semaphore is closed; no more permits will be handed out")]
    Closed,
    /// The timeout passed before a permit became available (only from
    /// [`Semaphore::acquire_timeout`]).
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

/// Why [`Semaphore::try_acquire`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryAcquireError {
    /// Every permit is taken (or other tasks are already waiting for one).
    #[error("no semaphore permit is available now; use acquire() to wait for one")]
    NoPermits,
    /// The semaphore was closed with [`Semaphore::close`].
    #[error("the semaphore is closed; no more permits will be handed out")]
    Closed,
}

/// A snapshot of a semaphore's counters, from [`Semaphore::statistics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SemaphoreStatistics {
    /// Permits free to take now.
    pub available: usize,
    /// Tasks or threads waiting for a permit.
    pub waiters: usize,
    /// Permits handed out since creation.
    pub acquired: u64,
    /// Waits that ended without a permit (timed out, cancelled, closed).
    pub abandoned: u64,
    /// Whether [`Semaphore::close`] has been called.
    pub closed: bool,
}

#[derive(Debug)]
struct State {
    available: usize,
    /// Permits handed to waiters that have not yet run to take them.
    handed: usize,
    closed: bool,
    waiters: WaitQueue<()>,
    acquired: u64,
    abandoned: u64,
}

impl State {
    /// Returns one permit: to the front waiter if there is one, else to
    /// the count.
    fn release(&mut self) {
        if self.waiters.serve_front(()).is_ok() {
            self.handed += 1;
        } else {
            self.available += 1;
        }
    }

    /// Whether a fresh acquire may take a free permit now.
    fn free_for_newcomer(&self) -> bool {
        self.available > 0 && self.handed == 0 && self.waiters.is_empty()
    }

    /// Once no handed permit is in flight, hands the free permits to the
    /// waiters that queued behind the handed ones.
    fn settle(&mut self) {
        while self.handed == 0 && self.available > 0 {
            if self.waiters.serve_front(()).is_err() {
                return;
            }
            self.available -= 1;
            self.handed += 1;
        }
    }
}

impl WaitState<()> for State {
    fn waiters(&mut self) -> &mut WaitQueue<()> {
        &mut self.waiters
    }

    fn closed(&self) -> bool {
        self.closed
    }

    /// A permit handed to a waiter that gives up goes to the next one.
    fn abandon(&mut self, _: (), left: Left<()>) {
        self.abandoned += 1;
        if let Left::Handed(()) = left {
            self.handed -= 1;
            self.release();
            self.settle();
        }
    }
}

/// A counting semaphore with FIFO waiters. Cloning gives another handle to
/// the same semaphore (it is reference-counted), so tasks can share it.
/// `Send + Sync`: usable from any thread.
///
/// Fairness (no barging): a permit released (dropped, or added with
/// [`add_permits`](Semaphore::add_permits)) while tasks wait is handed
/// straight to the longest-waiting one, before it even runs, and is never
/// counted as available. So a newcomer, the releasing task acquiring again
/// at once included, queues behind the waiters, and
/// [`try_acquire`](Semaphore::try_acquire) fails while anyone waits. A
/// permit handed to a waiter that then leaves (cancelled, timed out) goes
/// on to the next waiter, or back to the count. A permit released while
/// waiters handed a permit earlier have not yet run is not free for a
/// newcomer either: it queues behind them, as in asyncio (tokio would let
/// it take the permit). An uncontended acquire is a cancellation checkpoint
/// but does not yield to other tasks.
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
    /// A semaphore with `permits` permits.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = fibrio_concurrency::Semaphore::new(3);
    /// assert_eq!(sem.available_permits(), 3);
    /// ```
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: Arc::new(Mutex::new(State {
                available: permits,
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
        self.acquire_until(None)
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
        self.acquire_until(crate::wait::deadline_after(timeout))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<SemaphorePermit, AcquireError> {
        fibrio_core::task::checkpoint_if_cancelled();
        let mut waiter = {
            let mut st = lock(&self.state);
            if st.closed {
                return Err(AcquireError::Closed);
            }
            if st.free_for_newcomer() {
                st.available -= 1;
                st.acquired += 1;
                return Ok(self.permit());
            }
            if expired(deadline) {
                st.abandoned += 1;
                return Err(AcquireError::Timeout);
            }
            Waiter::enqueue(&*self.state, &mut st, (), None)
        };
        match waiter.wait(deadline) {
            Ok(mut st) => {
                st.acquired += 1;
                st.handed -= 1;
                waiter.take();
                st.settle();
                Ok(self.permit())
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
        let mut st = lock(&self.state);
        if st.closed {
            return Err(TryAcquireError::Closed);
        }
        if !st.free_for_newcomer() {
            return Err(TryAcquireError::NoPermits);
        }
        st.available -= 1;
        st.acquired += 1;
        Ok(self.permit())
    }

    /// Permits free to take now.
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

    /// Adds `n` permits, handing them to waiters first (FIFO).
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
        for _ in 0..n {
            st.release();
        }
    }

    /// Closes the semaphore: every waiter wakes with
    /// [`AcquireError::Closed`], and later acquires fail. Permits already
    /// held stay valid.
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
            waiters: st.waiters.len(),
            acquired: st.acquired,
            abandoned: st.abandoned,
            closed: st.closed,
        }
    }

    fn permit(&self) -> SemaphorePermit {
        SemaphorePermit {
            sem: Some(self.clone()),
        }
    }
}

/// One permit of a [`Semaphore`]; returns it when dropped (to the longest
/// waiting task, if any).
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
    sem: Option<Semaphore>,
}

impl SemaphorePermit {
    /// Consumes the permit without returning it: the semaphore has one
    /// permit fewer from now on.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = fibrio_concurrency::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        self.sem = None;
    }
}

impl Drop for SemaphorePermit {
    fn drop(&mut self) {
        if let Some(sem) = self.sem.take() {
            lock(&sem.state).release();
        }
    }
}
