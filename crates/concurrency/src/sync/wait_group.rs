//! A Go-style wait group: wait until a count of outstanding jobs is zero.
//!
//! Invariants (all under the `state` mutex):
//! * `count` is the number of jobs [`WaitGroup::add`]ed and not yet
//!   [`done`](WaitGroup::done). It never goes below zero: a `done` at zero
//!   is a bug in the caller and panics, leaving the state unchanged.
//! * `waiters` is empty while `count` is zero: the `done` that brings the
//!   count to zero hands a token to every queued waiter and empties the
//!   queue, and a wait that finds the count at zero returns at once.
//! * A waiter handed a token returns even if jobs were added again before
//!   it ran (the count did reach zero while it waited). One that leaves
//!   early (cancelled, timed out, unwinding) removes its node in a `Drop`
//!   guard; there is nothing to pass on, since reaching zero wakes
//!   everyone.
//! * [`WaitGroupGuard`] is one `add(1)` whose `done` runs in `Drop`, so a
//!   job counted by a guard is finished even when its task is cancelled.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::WaitError;
use crate::wait::{lock, wait_for_signal, Left, WaitQueue, WaitState};

/// A snapshot of a wait group's state and counters, from
/// [`WaitGroup::statistics`].
///
/// # Examples
///
/// ```
/// let wg = fibrio_concurrency::sync::WaitGroup::new();
/// wg.add(2);
/// let stats = wg.statistics();
/// assert_eq!((stats.count, stats.waiters, stats.added), (2, 0, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WaitGroupStatistics {
    /// Jobs added and not yet done.
    pub count: usize,
    /// Tasks or threads waiting for the count to reach zero.
    pub waiters: usize,
    /// Jobs added since creation.
    pub added: u64,
    /// Waiters woken by the count reaching zero.
    pub woken: u64,
    /// Waits that ended before the count reached zero (timed out,
    /// cancelled, unwinding).
    pub abandoned: u64,
}

#[derive(Debug, Default)]
struct State {
    count: usize,
    waiters: WaitQueue<()>,
    added: u64,
    woken: u64,
    abandoned: u64,
}

/// Waits for a collection of jobs to finish, like Go's `sync.WaitGroup`:
/// [`add`](WaitGroup::add) counts jobs in, [`done`](WaitGroup::done)
/// counts one out, and [`wait`](WaitGroup::wait) returns once the count is
/// zero.
///
/// A `WaitGroup` is a handle: cloning it gives another handle to the same
/// count (it is reference-counted), so each task can own one. Prefer
/// [`guard`](WaitGroup::guard) to a bare `add(1)`/`done()` pair: the guard
/// calls `done` when dropped, so a cancelled or panicking job still counts
/// out. `Send + Sync`; outside any task, `wait` blocks the thread.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::sync::WaitGroup;
///
/// fibrio::run(|| {
///     let wg = WaitGroup::new();
///     for _ in 0..3 {
///         wg.add(1);
///         let wg = wg.clone();
///         fibrio::spawn(move || {
///             fibrio::yield_now(); // some work
///             wg.done();
///         });
///     }
///     wg.wait().unwrap();
///     assert_eq!(wg.count(), 0);
/// });
/// ```
#[derive(Debug, Clone, Default)]
pub struct WaitGroup {
    state: Arc<std::sync::Mutex<State>>,
}

impl WaitGroup {
    /// A wait group with a count of zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = fibrio_concurrency::sync::WaitGroup::new();
    /// wg.wait().unwrap(); // zero: returns at once
    /// ```
    pub fn new() -> WaitGroup {
        WaitGroup::default()
    }

    /// Adds `n` jobs to the count.
    ///
    /// # Panics
    ///
    /// If the count would overflow `usize`.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = fibrio_concurrency::sync::WaitGroup::new();
    /// wg.add(3);
    /// assert_eq!(wg.count(), 3);
    /// ```
    pub fn add(&self, n: usize) {
        let overflow = {
            let mut st = lock(&self.state);
            match st.count.checked_add(n) {
                Some(count) => {
                    st.count = count;
                    st.added += n as u64;
                    false
                }
                None => true,
            }
        };
        assert!(!overflow, "WaitGroup::add overflowed the job count");
    }

    /// Counts one job out; when the count reaches zero, wakes every
    /// waiter.
    ///
    /// # Panics
    ///
    /// If the count is already zero (more `done` calls than jobs added),
    /// as in Go. The count is left at zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = fibrio_concurrency::sync::WaitGroup::new();
    /// wg.add(1);
    /// wg.done();
    /// assert_eq!(wg.count(), 0);
    /// ```
    pub fn done(&self) {
        let underflow = {
            let mut st = lock(&self.state);
            match st.count {
                0 => true,
                1 => {
                    st.count = 0;
                    st.woken += st.waiters.serve_all(());
                    false
                }
                _ => {
                    st.count -= 1;
                    false
                }
            }
        };
        assert!(
            !underflow,
            "WaitGroup::done called with a count of zero; call add (or use guard) once per job"
        );
    }

    /// Adds one job and returns a guard that counts it out (calls
    /// [`done`](WaitGroup::done)) when dropped, including when the task
    /// holding it is cancelled or panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::sync::WaitGroup;
    ///
    /// fibrio::run(|| {
    ///     let wg = WaitGroup::new();
    ///     let job = wg.guard();
    ///     let t = fibrio::spawn(move || {
    ///         let _job = job;
    ///         loop {
    ///             fibrio::task::park().unwrap(); // until cancelled
    ///         }
    ///     });
    ///     fibrio::yield_now();
    ///     t.cancel(); // the guard still counts the job out
    ///     wg.wait().unwrap();
    ///     assert!(t.join().unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn guard(&self) -> WaitGroupGuard {
        self.add(1);
        WaitGroupGuard { wg: self.clone() }
    }

    /// The number of jobs added and not yet done.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = fibrio_concurrency::sync::WaitGroup::new();
    /// let _job = wg.guard();
    /// assert_eq!(wg.count(), 1);
    /// ```
    pub fn count(&self) -> usize {
        lock(&self.state).count
    }

    /// Waits until the count is zero; returns at once if it is.
    ///
    /// # Errors
    ///
    /// [`WaitError::Unwinding`] if it would have to wait while the task
    /// unwinds (do not wait in `Drop`).
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry (even at zero) and while waiting. A cancelled
    /// waiter leaves the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::sync::WaitGroup;
    ///
    /// fibrio::run(|| {
    ///     let wg = WaitGroup::new();
    ///     let job = wg.guard();
    ///     fibrio::spawn(move || drop(job));
    ///     wg.wait().unwrap();
    /// });
    /// ```
    pub fn wait(&self) -> Result<(), WaitError> {
        self.wait_until(None).map(drop)
    }

    /// Like [`wait`](WaitGroup::wait), but gives up after `timeout`:
    /// returns `Ok(true)` if the count reached zero, `Ok(false)` if the
    /// time ran out.
    ///
    /// # Errors
    ///
    /// As [`wait`](WaitGroup::wait). A timeout is not an error.
    ///
    /// # Cancellation
    ///
    /// As [`wait`](WaitGroup::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::sync::WaitGroup;
    ///
    /// fibrio::run(|| {
    ///     let wg = WaitGroup::new();
    ///     let job = wg.guard();
    ///     assert!(!wg.wait_timeout(Duration::from_millis(5)).unwrap());
    ///     drop(job);
    ///     assert!(wg.wait_timeout(Duration::from_millis(5)).unwrap());
    /// });
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, WaitError> {
        self.wait_until(crate::wait::deadline_after(timeout))
    }

    /// A snapshot of the state and counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = fibrio_concurrency::sync::WaitGroup::new();
    /// drop(wg.guard());
    /// let stats = wg.statistics();
    /// assert_eq!((stats.count, stats.added), (0, 1));
    /// ```
    pub fn statistics(&self) -> WaitGroupStatistics {
        let st = lock(&self.state);
        WaitGroupStatistics {
            count: st.count,
            waiters: st.waiters.len(),
            added: st.added,
            woken: st.woken,
            abandoned: st.abandoned,
        }
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, WaitError> {
        wait_for_signal(&*self.state, deadline, |st| st.count == 0)
    }
}

/// One job of a [`WaitGroup`], from [`WaitGroup::guard`]: counts the job
/// out when dropped.
///
/// # Examples
///
/// ```
/// let wg = fibrio_concurrency::sync::WaitGroup::new();
/// let job = wg.guard();
/// assert_eq!(wg.count(), 1);
/// drop(job);
/// assert_eq!(wg.count(), 0);
/// ```
#[derive(Debug)]
#[must_use = "the job is counted out at once if the guard is not kept"]
pub struct WaitGroupGuard {
    wg: WaitGroup,
}

impl Drop for WaitGroupGuard {
    fn drop(&mut self) {
        self.wg.done();
    }
}

impl WaitState<()> for State {
    fn waiters(&mut self) -> &mut WaitQueue<()> {
        &mut self.waiters
    }

    fn wait_kind(_: ()) -> fibrio_core::task::WaitKind {
        fibrio_core::task::WaitKind::WaitGroup
    }

    /// Nothing to pass on: the `done` that reaches zero wakes everyone.
    fn abandon(&mut self, _: (), _: Left<()>) {
        self.abandoned += 1;
    }
}
