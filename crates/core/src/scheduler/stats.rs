//! [`TaskStats`]: a snapshot of one task's timing and switch counts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::state::TaskState;

/// A snapshot of a task's statistics, from
/// [`JoinHandle::stats`](crate::task::JoinHandle::stats).
///
/// # Precision
///
/// The timestamps come from the scheduler's clock reading of the turn in
/// which the event happened, not from a clock read of their own (a clock
/// read per spawn, start and end cost a quarter of a spawn's time). The
/// scheduler reads the clock every time it looks at I/O: at least every
/// `driver_interval` task runs (61 by default) and whenever it runs out of
/// work. So each timestamp is at or before the event, by at most one
/// turn: usually microseconds, but a task that runs long without parking
/// delays the next reading by as long (the watchdog reports such tasks).
/// Tasks that start and end in the same turn show a zero duration.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// use fibrio_core::task::{TaskState, TaskStats};
///
/// let t0 = Instant::now();
/// let stats = TaskStats {
///     id: 1,
///     name: None,
///     state: TaskState::Completed,
///     created_at: t0,
///     started_at: Some(t0),
///     completed_at: Some(t0),
///     switches: 1,
/// };
/// assert_eq!(stats.wait_time(), Some(std::time::Duration::ZERO));
/// assert_eq!(stats.duration(), Some(std::time::Duration::ZERO));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStats {
    /// The task's process-unique id.
    pub id: u64,
    /// The name given by [`Builder::name`](crate::task::Builder::name).
    pub name: Option<Arc<str>>,
    /// The state when the snapshot was taken.
    pub state: TaskState,
    /// When the task was spawned.
    pub created_at: Instant,
    /// When it first ran; `None` if it never did.
    pub started_at: Option<Instant>,
    /// When it ended; `None` while it has not.
    pub completed_at: Option<Instant>,
    /// How many times the scheduler switched into it.
    pub switches: u64,
}

impl TaskStats {
    /// How long the task waited in the run queue before it first ran.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| ());
    /// assert_eq!(handle.stats().wait_time(), None); // not started yet
    /// fibrio_core::task::yield_now();
    /// assert!(handle.stats().wait_time().is_some());
    /// # });
    /// ```
    pub fn wait_time(&self) -> Option<Duration> {
        self.started_at
            .map(|start| start.saturating_duration_since(self.created_at))
    }

    /// How long the task lived from its first run to its end (parked time
    /// included).
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use std::time::Duration;
    ///
    /// let handle = fibrio_core::task::spawn(|| fibrio_core::task::sleep(Duration::from_millis(2)));
    /// handle.task_ref().wait().unwrap();
    /// assert!(handle.stats().duration().unwrap() >= Duration::from_millis(1));
    /// # });
    /// ```
    pub fn duration(&self) -> Option<Duration> {
        match (self.started_at, self.completed_at) {
            (Some(start), Some(end)) => Some(end.saturating_duration_since(start)),
            _ => None,
        }
    }
}
