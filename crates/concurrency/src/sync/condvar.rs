//! A condition variable for this module's [`Mutex`].
//!
//! Invariants (all under the `state` mutex):
//! * `waiters` holds, in FIFO order, the tasks (or threads) blocked in a
//!   wait that have not been notified. A waiter queues *before* it unlocks
//!   the mutex, so a notification sent by anyone who takes the mutex after
//!   it reaches it: no wake-up is missed between the unlock and the park.
//! * A notification removes waiters from the front of the queue and puts
//!   a `Wakeup` into their nodes (`One` for [`Condvar::notify_one`] and for
//!   each waiter woken by [`Condvar::notify`], `All` for
//!   [`Condvar::notify_all`]); nothing is stored when nobody waits.
//! * A waiter that leaves early (cancelled or unwinding, while parked or
//!   while re-locking the mutex) removes its node in a `Drop` guard. If it
//!   had been handed a `notify_one`, the guard passes it to the next
//!   waiter, so a `notify_one` is never swallowed by a task that will not
//!   look at the condition. A timed-out waiter leaves the queue under the
//!   state lock; if a notification beat it there, it counts as notified.

use std::time::{Duration, Instant};

use super::error::WaitError;
use super::mutex::MutexGuard;
use super::Wakeup;
use crate::wait::{expired, lock, Left, Stop, WaitQueue, WaitState, Waiter};

/// A snapshot of a condition variable's counters, from
/// [`Condvar::statistics`].
///
/// # Examples
///
/// ```
/// let cv = fibrio_concurrency::sync::Condvar::new();
/// cv.notify_one(); // nobody waits: nothing happens
/// let stats = cv.statistics();
/// assert_eq!((stats.waiters, stats.woken), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CondvarStatistics {
    /// Tasks or threads waiting for a notification.
    pub waiters: usize,
    /// Waits begun since creation.
    pub waits: u64,
    /// Waiters woken by `notify_one` or `notify_all`.
    pub woken: u64,
    /// Waits that ended without a notification (timed out, cancelled).
    pub abandoned: u64,
}

/// Whether a [`Condvar::wait_timeout`] returned because its time was up.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::sync::{Condvar, Mutex};
///
/// fibrio::run(|| {
///     let (m, cv) = (Mutex::new(()), Condvar::new());
///     let guard = m.lock().unwrap();
///     let (_guard, result) = cv.wait_timeout(guard, Duration::from_millis(1)).unwrap();
///     assert!(result.timed_out());
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because the timeout passed (rather than a
    /// notification, or the condition becoming false).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::sync::{Condvar, Mutex};
    ///
    /// let (m, cv) = (Mutex::new(true), Condvar::new());
    /// let guard = m.try_lock().unwrap();
    /// // The condition is already false: no wait at all.
    /// let (_g, r) = cv.wait_timeout_while(guard, Duration::ZERO, |ready| !*ready).unwrap();
    /// assert!(!r.timed_out());
    /// ```
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

#[derive(Debug, Default)]
struct State {
    waiters: WaitQueue<Wakeup>,
    waits: u64,
    woken: u64,
    abandoned: u64,
}

impl State {
    /// Wakes the front waiter, if any; returns whether there was one.
    fn notify_one(&mut self) -> bool {
        let woke = self.waiters.serve_front(Wakeup::One).is_ok();
        if woke {
            self.woken += 1;
        }
        woke
    }
}

impl WaitState<Wakeup> for State {
    fn waiters(&mut self) -> &mut WaitQueue<Wakeup> {
        &mut self.waiters
    }

    fn wait_kind(_: ()) -> fibrio_core::task::WaitKind {
        fibrio_core::task::WaitKind::Condvar
    }

    /// A `notify_one` handed to a waiter that leaves goes to the next one.
    fn abandon(&mut self, _: (), left: Left<Wakeup>) {
        match left {
            Left::Waiting => self.abandoned += 1,
            // A condition variable hands out no `Last`; were it to, it
            // would be passed on as one notification all the same.
            Left::Handed(Wakeup::One | Wakeup::Last) => {
                self.notify_one();
            }
            Left::Handed(Wakeup::All) => {}
        }
    }
}

/// A condition variable: lets tasks wait, with a [`Mutex`](super::Mutex)
/// unlocked, until another task changes the guarded data and notifies.
///
/// Waiters are woken in FIFO order by [`notify_one`](Condvar::notify_one)
/// and [`notify`](Condvar::notify).
/// As with `std::sync::Condvar`, always re-check the condition after a
/// wait (or use [`wait_while`](Condvar::wait_while)): a notification says
/// "look again", not "the condition holds". Any of this module's mutexes
/// can be used; it is usual to pair one condition variable with one
/// mutex. `Send + Sync`; outside any task the waits block the thread.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use fibrio_concurrency::sync::{Condvar, Mutex};
///
/// fibrio::run(|| {
///     let pair = Arc::new((Mutex::new(false), Condvar::new()));
///     let pair2 = pair.clone();
///     fibrio::spawn(move || {
///         let (ready, cv) = &*pair2;
///         *ready.lock().unwrap() = true;
///         cv.notify_one();
///     });
///     let (ready, cv) = &*pair;
///     let guard = cv.wait_while(ready.lock().unwrap(), |ready| !*ready).unwrap();
///     assert!(*guard);
/// });
/// ```
#[derive(Debug, Default)]
pub struct Condvar {
    state: std::sync::Mutex<State>,
}

impl Condvar {
    /// A condition variable with no waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// let cv = fibrio_concurrency::sync::Condvar::new();
    /// assert_eq!(cv.statistics().waiters, 0);
    /// ```
    pub fn new() -> Condvar {
        Condvar::default()
    }

    /// Unlocks the mutex behind `guard`, waits for a notification, and
    /// locks the mutex again (FIFO, behind its other waiters) before
    /// returning. May also return without a notification; re-check the
    /// condition.
    ///
    /// # Errors
    ///
    /// [`WaitError::Unwinding`] if the task is unwinding: it must not
    /// suspend, so it returns at once, dropping `guard` (which unlocks the
    /// mutex). Do not wait in `Drop`.
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry and while waiting (and while re-locking). A
    /// cancelled task unwinds without the lock, and a `notify_one` it had
    /// been handed goes to the next waiter.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::{Condvar, Mutex};
    ///
    /// fibrio::run(|| {
    ///     let pair = Arc::new((Mutex::new(0), Condvar::new()));
    ///     let pair2 = pair.clone();
    ///     let producer = fibrio::spawn(move || {
    ///         let (n, cv) = &*pair2;
    ///         *n.lock().unwrap() = 42;
    ///         cv.notify_all();
    ///     });
    ///     let (n, cv) = &*pair;
    ///     let mut guard = n.lock().unwrap();
    ///     while *guard == 0 {
    ///         guard = cv.wait(guard).unwrap();
    ///     }
    ///     assert_eq!(*guard, 42);
    ///     drop(guard);
    ///     producer.join().unwrap();
    /// });
    /// ```
    pub fn wait<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
    ) -> Result<MutexGuard<'a, T>, WaitError> {
        self.wait_until(guard, None).map(|(guard, _)| guard)
    }

    /// Waits (as [`wait`](Condvar::wait)) for as long as `condition`
    /// returns true, checking it first and after every wake-up with the
    /// mutex locked. Returns with the mutex locked and the condition false.
    ///
    /// # Errors
    ///
    /// As [`wait`](Condvar::wait).
    ///
    /// # Cancellation
    ///
    /// As [`wait`](Condvar::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::{Condvar, Mutex};
    ///
    /// fibrio::run(|| {
    ///     let pair = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    ///     let pair2 = pair.clone();
    ///     fibrio::spawn(move || {
    ///         let (queue, cv) = &*pair2;
    ///         for i in 0..3 {
    ///             queue.lock().unwrap().push(i);
    ///             cv.notify_one();
    ///             fibrio::yield_now();
    ///         }
    ///     });
    ///     let (queue, cv) = &*pair;
    ///     let guard = cv.wait_while(queue.lock().unwrap(), |q| q.len() < 3).unwrap();
    ///     assert_eq!(*guard, [0, 1, 2]);
    /// });
    /// ```
    pub fn wait_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> Result<MutexGuard<'a, T>, WaitError> {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Like [`wait`](Condvar::wait), but stops waiting for a notification
    /// after `timeout` (re-locking the mutex may take longer). The result
    /// says whether the time ran out.
    ///
    /// # Errors
    ///
    /// As [`wait`](Condvar::wait). A timeout is not an error.
    ///
    /// # Cancellation
    ///
    /// As [`wait`](Condvar::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::sync::{Condvar, Mutex};
    ///
    /// fibrio::run(|| {
    ///     let (m, cv) = (Mutex::new(()), Condvar::new());
    ///     let guard = m.lock().unwrap();
    ///     let (guard, result) = cv.wait_timeout(guard, Duration::from_millis(5)).unwrap();
    ///     assert!(result.timed_out());
    ///     drop(guard);
    ///     assert_eq!(cv.statistics().abandoned, 1);
    /// });
    /// ```
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> Result<(MutexGuard<'a, T>, WaitTimeoutResult), WaitError> {
        let (guard, notified) = self.wait_until(guard, crate::wait::deadline_after(timeout))?;
        Ok((guard, WaitTimeoutResult(!notified)))
    }

    /// Like [`wait_while`](Condvar::wait_while), but gives up once
    /// `timeout` has passed. Returns with the mutex locked; the result
    /// says whether the condition was still true when the time ran out.
    ///
    /// # Errors
    ///
    /// As [`wait`](Condvar::wait). A timeout is not an error.
    ///
    /// # Cancellation
    ///
    /// As [`wait`](Condvar::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::sync::{Condvar, Mutex};
    ///
    /// fibrio::run(|| {
    ///     let (m, cv) = (Mutex::new(false), Condvar::new());
    ///     let guard = m.lock().unwrap();
    ///     let (guard, result) = cv
    ///         .wait_timeout_while(guard, Duration::from_millis(5), |ready| !*ready)
    ///         .unwrap();
    ///     assert!(result.timed_out());
    ///     assert!(!*guard);
    /// });
    /// ```
    pub fn wait_timeout_while<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> Result<(MutexGuard<'a, T>, WaitTimeoutResult), WaitError> {
        let deadline = crate::wait::deadline_after(timeout);
        while condition(&mut *guard) {
            if expired(deadline) {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            guard = self.wait_until(guard, deadline)?.0;
        }
        Ok((guard, WaitTimeoutResult(false)))
    }

    /// Wakes the longest-waiting task, if any. Nothing is remembered when
    /// nobody waits.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::{Condvar, Mutex};
    ///
    /// fibrio::run(|| {
    ///     let pair = Arc::new((Mutex::new(()), Condvar::new()));
    ///     let pair2 = pair.clone();
    ///     let waiter = fibrio::spawn(move || {
    ///         let (m, cv) = &*pair2;
    ///         drop(cv.wait(m.lock().unwrap()).unwrap());
    ///     });
    ///     fibrio::yield_now(); // the waiter parks
    ///     pair.1.notify_one();
    ///     waiter.join().unwrap();
    /// });
    /// ```
    pub fn notify_one(&self) {
        lock(&self.state).notify_one();
    }

    /// Wakes up to `n` of the tasks waiting now, longest-waiting first
    /// (FIFO), and returns how many it woke: `n`, or fewer if fewer wait.
    /// Each is woken as by [`notify_one`](Condvar::notify_one), all in one
    /// step (no waiter can queue in between), so one that leaves without
    /// using its notification (cancelled) passes it on to the next waiter.
    /// Nothing is remembered for later waiters. `notify(1)` is
    /// `notify_one`; `notify(usize::MAX)` wakes every waiter, like
    /// [`notify_all`](Condvar::notify_all) (whose wake-ups, unlike these,
    /// are not passed on).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::{Condvar, Mutex};
    ///
    /// fibrio::run(|| {
    ///     let pair = Arc::new((Mutex::new(()), Condvar::new()));
    ///     let waiters: Vec<_> = (0..3)
    ///         .map(|_| {
    ///             let pair = pair.clone();
    ///             fibrio::spawn(move || drop(pair.1.wait(pair.0.lock().unwrap()).unwrap()))
    ///         })
    ///         .collect();
    ///     fibrio::yield_now(); // they all park
    ///     assert_eq!(pair.1.notify(2), 2); // the first two
    ///     assert_eq!(pair.1.statistics().waiters, 1);
    ///     assert_eq!(pair.1.notify(5), 1); // only one was left
    ///     for w in waiters {
    ///         w.join().unwrap();
    ///     }
    /// });
    /// ```
    pub fn notify(&self, n: usize) -> usize {
        let mut st = lock(&self.state);
        let mut woken = 0;
        while woken < n && st.notify_one() {
            woken += 1;
        }
        woken
    }

    /// Wakes every task waiting now. Nothing is remembered for later
    /// waiters.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::{Condvar, Mutex};
    ///
    /// fibrio::run(|| {
    ///     let pair = Arc::new((Mutex::new(()), Condvar::new()));
    ///     let waiters: Vec<_> = (0..3)
    ///         .map(|_| {
    ///             let pair = pair.clone();
    ///             fibrio::spawn(move || drop(pair.1.wait(pair.0.lock().unwrap()).unwrap()))
    ///         })
    ///         .collect();
    ///     fibrio::yield_now(); // they all park
    ///     pair.1.notify_all();
    ///     for w in waiters {
    ///         w.join().unwrap();
    ///     }
    ///     assert_eq!(pair.1.statistics().woken, 3);
    /// });
    /// ```
    pub fn notify_all(&self) {
        let mut st = lock(&self.state);
        st.woken += st.waiters.serve_all(Wakeup::All);
    }

    /// A snapshot of the counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::sync::{Condvar, Mutex};
    ///
    /// let (m, cv) = (Mutex::new(()), Condvar::new());
    /// let guard = m.try_lock().unwrap();
    /// drop(cv.wait_timeout(guard, Duration::ZERO).unwrap());
    /// let stats = cv.statistics();
    /// assert_eq!((stats.waits, stats.abandoned, stats.waiters), (1, 1, 0));
    /// ```
    pub fn statistics(&self) -> CondvarStatistics {
        let st = lock(&self.state);
        CondvarStatistics {
            waiters: st.waiters.len(),
            waits: st.waits,
            woken: st.woken,
            abandoned: st.abandoned,
        }
    }

    /// The wait behind every form: returns the re-locked guard and whether
    /// a notification (rather than the deadline) ended the wait.
    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> Result<(MutexGuard<'a, T>, bool), WaitError> {
        fibrio_core::task::checkpoint_if_cancelled();
        if std::thread::panicking() && fibrio_core::task::current_key().is_some() {
            // Waiting needs a park; never suspend an unwinding task.
            return Err(WaitError::Unwinding);
        }
        let mut waiter = {
            let mut st = lock(&self.state);
            st.waits += 1;
            Waiter::enqueue(&self.state, &mut st, (), None)
        };
        // Queued first, so a notification sent after this unlock finds us.
        let mutex = guard.unlock();
        let notified = match waiter.wait(deadline) {
            Ok(_) => true,
            Err(Stop::Timeout) => false,
            Err(_) => return Err(WaitError::Unwinding),
        };
        // Until the mutex is re-locked, a waiter that leaves (cancelled or
        // unwinding while re-locking) passes on a `notify_one` it was
        // handed: `waiter` is dropped without `take`.
        let guard = mutex.lock().map_err(|_| WaitError::Unwinding)?;
        waiter.take();
        Ok((guard, notified))
    }
}
