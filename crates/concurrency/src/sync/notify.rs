//! Task notification, like `tokio::sync::Notify`.
//!
//! Invariants (all under the `state` mutex):
//! * `permit` is the one stored notification. [`Notify::notify_one`] and
//!   [`Notify::notify_last`] set it only when nobody waits; a wait that finds it set clears it and
//!   returns at once. So `permit` implies `waiters` is empty, and at most
//!   one notification is ever stored.
//! * `notify_one` with waiters hands `Wakeup::One` to the front waiter
//!   (FIFO); `notify_last` hands `Wakeup::Last` to the back waiter, the
//!   most recent (LIFO); [`Notify::notify_waiters`] hands `Wakeup::All` to
//!   every queued waiter and stores nothing.
//! * A waiter that leaves early (cancelled, timed out, unwinding) removes
//!   its node in a `Drop` guard. If it had been handed a `One` (a `Last`),
//!   the guard passes it on as a fresh `notify_one` (`notify_last`): to
//!   the front (back) waiter, or into `permit`, so neither is ever lost. An `All` is not passed
//!   on: it was meant for the waiters of that moment only.

use std::time::{Duration, Instant};

use super::error::WaitError;
use super::Wakeup;
use crate::wait::{expired, lock, Left, Stop, WaitQueue, WaitState, Waiter};

/// A snapshot of a [`Notify`]'s state and counters, from
/// [`Notify::statistics`].
///
/// # Examples
///
/// ```
/// let notify = fibrio_concurrency::sync::Notify::new();
/// notify.notify_one(); // nobody waits: stored
/// let stats = notify.statistics();
/// assert!(stats.permit);
/// assert_eq!(stats.waiters, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NotifyStatistics {
    /// Whether a `notify_one` is stored for the next waiter.
    pub permit: bool,
    /// Tasks or threads waiting.
    pub waiters: usize,
    /// Waits that ended with a notification (woken, or a stored permit
    /// taken).
    pub notified: u64,
    /// Waits that ended without one (timed out, cancelled, unwinding).
    pub abandoned: u64,
}

#[derive(Debug, Default)]
struct State {
    permit: bool,
    waiters: WaitQueue<Wakeup>,
    notified: u64,
    abandoned: u64,
}

impl State {
    fn notify_one(&mut self) {
        if self.waiters.serve_front(Wakeup::One).is_err() {
            self.permit = true;
        }
    }

    fn notify_last(&mut self) {
        if self.waiters.serve_back(Wakeup::Last).is_err() {
            self.permit = true;
        }
    }
}

impl WaitState<Wakeup> for State {
    fn waiters(&mut self) -> &mut WaitQueue<Wakeup> {
        &mut self.waiters
    }

    fn wait_kind(_: ()) -> fibrio_core::task::WaitKind {
        fibrio_core::task::WaitKind::Notify
    }

    /// A `notify_one` (`notify_last`) handed to a waiter that leaves is
    /// sent again, the same way.
    fn abandon(&mut self, _: (), left: Left<Wakeup>) {
        self.abandoned += 1;
        match left {
            Left::Handed(Wakeup::One) => self.notify_one(),
            Left::Handed(Wakeup::Last) => self.notify_last(),
            Left::Handed(Wakeup::All) | Left::Waiting => {}
        }
    }
}

/// Wakes waiting tasks without carrying data, like `tokio::sync::Notify`.
///
/// * [`notify_one`](Notify::notify_one) wakes the longest-waiting task; if
///   nobody waits, it stores one permit, and the next
///   [`wait`](Notify::wait) consumes it and returns at once (several calls
///   still store one permit).
/// * [`notify_last`](Notify::notify_last) is the same, but wakes the task
///   that began waiting most recently (LIFO), as tokio's does.
/// * [`notify_waiters`](Notify::notify_waiters) wakes every task waiting at
///   that moment and stores nothing.
///
/// Unlike [`Event`](super::Event) there is no flag that stays raised: each
/// wake-up is consumed. `Send + Sync`; share it through an
/// [`Arc`](std::sync::Arc). Outside any task, [`wait`](Notify::wait)
/// blocks the thread.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use fibrio_concurrency::sync::Notify;
///
/// fibrio::run(|| {
///     let notify = Arc::new(Notify::new());
///     let n2 = notify.clone();
///     let waiter = fibrio::spawn(move || n2.wait().unwrap());
///     notify.notify_one(); // stored if the waiter has not parked yet
///     waiter.join().unwrap();
/// });
/// ```
#[derive(Debug, Default)]
pub struct Notify {
    state: std::sync::Mutex<State>,
}

impl Notify {
    /// A new `Notify` with no stored permit.
    ///
    /// # Examples
    ///
    /// ```
    /// let notify = fibrio_concurrency::sync::Notify::new();
    /// assert!(!notify.statistics().permit);
    /// ```
    pub fn new() -> Notify {
        Notify::default()
    }

    /// Wakes the longest-waiting task, or, if nobody waits, stores a
    /// permit for the next [`wait`](Notify::wait) (at most one is stored).
    ///
    /// # Examples
    ///
    /// ```
    /// let notify = fibrio_concurrency::sync::Notify::new();
    /// notify.notify_one();
    /// notify.notify_one(); // still one permit
    /// notify.wait().unwrap(); // takes it at once
    /// assert!(!notify.statistics().permit);
    /// ```
    pub fn notify_one(&self) {
        lock(&self.state).notify_one();
    }

    /// Wakes the task that began waiting most recently (LIFO), or, if
    /// nobody waits, stores a permit for the next [`wait`](Notify::wait),
    /// exactly as [`notify_one`](Notify::notify_one) does (at most one is
    /// stored, shared by both). If the task woken leaves without taking the
    /// notification (cancelled, timed out first), it goes to the task that
    /// is then the most recent waiter, or into the permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::Notify;
    ///
    /// fibrio::run(|| {
    ///     let notify = Arc::new(Notify::new());
    ///     let woken = Rc::new(RefCell::new(Vec::new()));
    ///     let waiters: Vec<_> = (0..2)
    ///         .map(|i| {
    ///             let (notify, woken) = (notify.clone(), woken.clone());
    ///             let waiter = fibrio::spawn(move || {
    ///                 notify.wait().unwrap();
    ///                 woken.borrow_mut().push(i);
    ///             });
    ///             fibrio::yield_now(); // it parks, in spawn order
    ///             waiter
    ///         })
    ///         .collect();
    ///     notify.notify_last(); // the most recent waiter, 1
    ///     notify.notify_last(); // then 0
    ///     for w in waiters {
    ///         w.join().unwrap();
    ///     }
    ///     assert_eq!(*woken.borrow(), [1, 0]);
    /// });
    /// ```
    pub fn notify_last(&self) {
        lock(&self.state).notify_last();
    }

    /// Wakes every task waiting now. Stores nothing: a later
    /// [`wait`](Notify::wait) blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::Notify;
    ///
    /// fibrio::run(|| {
    ///     let notify = Arc::new(Notify::new());
    ///     let waiters: Vec<_> = (0..3)
    ///         .map(|_| {
    ///             let n = notify.clone();
    ///             fibrio::spawn(move || n.wait().unwrap())
    ///         })
    ///         .collect();
    ///     fibrio::yield_now(); // they all park
    ///     notify.notify_waiters();
    ///     for w in waiters {
    ///         w.join().unwrap();
    ///     }
    ///     assert!(!notify.statistics().permit);
    /// });
    /// ```
    pub fn notify_waiters(&self) {
        lock(&self.state).waiters.serve_all(Wakeup::All);
    }

    /// Waits for a notification: takes the stored permit and returns at
    /// once if there is one, else parks until `notify_one`, `notify_last`
    /// or `notify_waiters`.
    ///
    /// # Errors
    ///
    /// [`WaitError::Unwinding`] if it would have to wait while the task
    /// unwinds (do not wait in `Drop`).
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry (even with a permit stored) and while
    /// waiting. A cancelled waiter leaves the queue; a `notify_one` it had
    /// been handed goes to the next waiter (a `notify_last`, to the now most
    /// recent one) or back into the permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::Notify;
    ///
    /// fibrio::run(|| {
    ///     let notify = Arc::new(Notify::new());
    ///     let n2 = notify.clone();
    ///     fibrio::spawn(move || n2.notify_one());
    ///     notify.wait().unwrap();
    /// });
    /// ```
    pub fn wait(&self) -> Result<(), WaitError> {
        self.wait_until(None).map(drop)
    }

    /// Like [`wait`](Notify::wait), but gives up after `timeout`: returns
    /// `Ok(true)` if notified, `Ok(false)` if the time ran out.
    ///
    /// # Errors
    ///
    /// As [`wait`](Notify::wait). A timeout is not an error.
    ///
    /// # Cancellation
    ///
    /// As [`wait`](Notify::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::sync::Notify;
    ///
    /// fibrio::run(|| {
    ///     let notify = Notify::new();
    ///     assert!(!notify.wait_timeout(Duration::from_millis(5)).unwrap());
    ///     notify.notify_one();
    ///     assert!(notify.wait_timeout(Duration::from_millis(5)).unwrap());
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
    /// let notify = fibrio_concurrency::sync::Notify::new();
    /// notify.notify_one();
    /// notify.wait().unwrap();
    /// let stats = notify.statistics();
    /// assert_eq!((stats.permit, stats.notified), (false, 1));
    /// ```
    pub fn statistics(&self) -> NotifyStatistics {
        let st = lock(&self.state);
        NotifyStatistics {
            permit: st.permit,
            waiters: st.waiters.len(),
            notified: st.notified,
            abandoned: st.abandoned,
        }
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, WaitError> {
        crate::wait::begin();
        let mut waiter = {
            let mut st = lock(&self.state);
            if st.permit {
                st.permit = false;
                st.notified += 1;
                return Ok(true);
            }
            if expired(deadline) {
                st.abandoned += 1;
                return Ok(false);
            }
            Waiter::enqueue(&self.state, &mut st, (), None)
        };
        match waiter.wait(deadline) {
            Ok(mut st) => {
                st.notified += 1;
                waiter.take();
                Ok(true)
            }
            Err(Stop::Timeout) => Ok(false),
            Err(_) => Err(WaitError::Unwinding),
        }
    }
}
