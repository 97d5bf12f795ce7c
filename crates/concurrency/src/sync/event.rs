//! A level-triggered event flag, like Python's `asyncio.Event`.
//!
//! Invariants (all under the `state` mutex):
//! * `set` is the flag. [`Event::set`] raises it and [`Event::clear`]
//!   lowers it; nothing else changes it.
//! * `waiters` is empty while `set` is true: `set` hands a token to every
//!   queued waiter and empties the queue, and a wait that finds the flag
//!   raised returns at once without queueing.
//! * A waiter that was handed a token returns `true` even if the flag was
//!   cleared before it ran (as in asyncio, the `set` happened while it
//!   waited). One that leaves early (cancelled, timed out, unwinding)
//!   removes its node in a `Drop` guard; there is nothing to pass on,
//!   since `set` wakes everyone.

use std::time::{Duration, Instant};

use super::error::WaitError;
use crate::wait::{lock, wait_for_signal, Left, WaitQueue, WaitState};

/// A snapshot of an event's state and counters, from
/// [`Event::statistics`].
///
/// # Examples
///
/// ```
/// let event = fibrio_concurrency::sync::Event::new();
/// event.set();
/// let stats = event.statistics();
/// assert!(stats.is_set);
/// assert_eq!((stats.waiters, stats.sets), (0, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EventStatistics {
    /// Whether the flag is raised.
    pub is_set: bool,
    /// Tasks or threads waiting for the flag.
    pub waiters: usize,
    /// Calls to [`Event::set`] that raised a lowered flag.
    pub sets: u64,
    /// Waiters woken by [`Event::set`].
    pub woken: u64,
    /// Waits that ended without the flag (timed out, cancelled,
    /// unwinding).
    pub abandoned: u64,
}

#[derive(Debug, Default)]
struct State {
    set: bool,
    waiters: WaitQueue<()>,
    sets: u64,
    woken: u64,
    abandoned: u64,
}

/// A flag that tasks can wait for: [`wait`](Event::wait) returns as soon
/// as (and for as long as) the flag is [`set`](Event::set), so the event
/// is level-triggered, like `asyncio.Event` and unlike
/// [`Notify`](super::Notify).
///
/// `Send + Sync`; share it through an [`Arc`](std::sync::Arc). Outside
/// any task, [`wait`](Event::wait) blocks the thread.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use fibrio_concurrency::sync::Event;
///
/// fibrio::run(|| {
///     let ready = Arc::new(Event::new());
///     let workers: Vec<_> = (0..3)
///         .map(|_| {
///             let ready = ready.clone();
///             fibrio::spawn(move || ready.wait().unwrap())
///         })
///         .collect();
///     fibrio::yield_now(); // the workers wait
///     ready.set(); // ... and all go
///     for w in workers {
///         w.join().unwrap();
///     }
///     assert!(ready.is_set()); // still set: later waits return at once
/// });
/// ```
#[derive(Debug, Default)]
pub struct Event {
    state: std::sync::Mutex<State>,
}

impl Event {
    /// A new event, not set.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!fibrio_concurrency::sync::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// Raises the flag and wakes every waiter. Waits begun while it stays
    /// set return at once. Setting a set event does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = fibrio_concurrency::sync::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// event.wait().unwrap(); // returns at once
    /// ```
    pub fn set(&self) {
        let mut st = lock(&self.state);
        if st.set {
            return;
        }
        st.set = true;
        st.sets += 1;
        st.woken += st.waiters.serve_all(());
    }

    /// Lowers the flag: later waits block until the next
    /// [`set`](Event::set). Waiters already woken by a `set` still return.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = fibrio_concurrency::sync::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    pub fn clear(&self) {
        lock(&self.state).set = false;
    }

    /// Whether the flag is raised.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = fibrio_concurrency::sync::Event::new();
    /// assert!(!event.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        lock(&self.state).set
    }

    /// Waits until the flag is set; returns at once if it already is.
    ///
    /// # Errors
    ///
    /// [`WaitError::Unwinding`] if it would have to wait while the task
    /// unwinds (do not wait in `Drop`).
    ///
    /// # Cancellation
    ///
    /// A checkpoint, on entry (even if the flag is set) and while waiting.
    /// A cancelled waiter leaves the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fibrio_concurrency::sync::Event;
    ///
    /// fibrio::run(|| {
    ///     let done = Arc::new(Event::new());
    ///     let d2 = done.clone();
    ///     fibrio::spawn(move || d2.set());
    ///     done.wait().unwrap();
    /// });
    /// ```
    pub fn wait(&self) -> Result<(), WaitError> {
        self.wait_until(None).map(drop)
    }

    /// Like [`wait`](Event::wait), but gives up after `timeout`: returns
    /// `Ok(true)` if the flag was set, `Ok(false)` if the time ran out.
    ///
    /// # Errors
    ///
    /// As [`wait`](Event::wait). A timeout is not an error.
    ///
    /// # Cancellation
    ///
    /// As [`wait`](Event::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_concurrency::sync::Event;
    ///
    /// fibrio::run(|| {
    ///     let event = Event::new();
    ///     assert!(!event.wait_timeout(Duration::from_millis(5)).unwrap());
    ///     event.set();
    ///     assert!(event.wait_timeout(Duration::from_millis(5)).unwrap());
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
    /// use std::time::Duration;
    ///
    /// let event = fibrio_concurrency::sync::Event::new();
    /// assert!(!event.wait_timeout(Duration::ZERO).unwrap());
    /// let stats = event.statistics();
    /// assert_eq!((stats.is_set, stats.abandoned), (false, 1));
    /// ```
    pub fn statistics(&self) -> EventStatistics {
        let st = lock(&self.state);
        EventStatistics {
            is_set: st.set,
            waiters: st.waiters.len(),
            sets: st.sets,
            woken: st.woken,
            abandoned: st.abandoned,
        }
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, WaitError> {
        wait_for_signal(&self.state, deadline, |st| st.set)
    }
}

impl WaitState<()> for State {
    fn waiters(&mut self) -> &mut WaitQueue<()> {
        &mut self.waiters
    }

    fn wait_kind(_: ()) -> fibrio_core::task::WaitKind {
        fibrio_core::task::WaitKind::Event
    }

    /// Nothing to pass on: the `set` wakes everyone.
    fn abandon(&mut self, _: (), _: Left<()>) {
        self.abandoned += 1;
    }
}
