//! [`TaskState`]: where a task is in its life.
//!
//! Legal transitions (checked by [`TaskState::can_become`], and only the
//! scheduler changes a task's state):
//!
//! ```text
//! Pending --> Running --> Completed | Failed | Cancelled
//!    |
//!    +--> Cancelled          (cancelled before it first ran)
//! ```
//!
//! A task that is parked (waiting for a timer, I/O, a join, ...) is
//! `Running`: it has started and has not ended.

use std::fmt;

/// The state of a task.
///
/// # Examples
///
/// ```
/// use fibrio_core::task::TaskState;
///
/// assert!(TaskState::Completed.is_terminal() && TaskState::Completed.is_success());
/// assert!(TaskState::Failed.is_failure());
/// assert!(TaskState::Cancelled.is_cancelled() && !TaskState::Cancelled.is_failure());
/// assert!(!TaskState::Running.is_terminal());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Spawned, not yet run.
    Pending,
    /// Started and not ended; includes being parked.
    Running,
    /// Returned a value.
    Completed,
    /// Panicked. The payload is kept for [`JoinHandle::join`](crate::task::JoinHandle::join).
    Failed,
    /// Cancelled: unwound at a checkpoint, or never started.
    Cancelled,
}

impl TaskState {
    /// True for `Completed`, `Failed` and `Cancelled`: the task will never
    /// run again.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::TaskState;
    ///
    /// assert!(TaskState::Cancelled.is_terminal());
    /// assert!(!TaskState::Pending.is_terminal());
    /// ```
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Failed | TaskState::Cancelled
        )
    }

    /// True for `Completed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::TaskState;
    ///
    /// assert!(TaskState::Completed.is_success());
    /// assert!(!TaskState::Cancelled.is_success());
    /// ```
    pub fn is_success(self) -> bool {
        self == TaskState::Completed
    }

    /// True for `Failed` (a panic). Cancellation is not a failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::TaskState;
    ///
    /// assert!(TaskState::Failed.is_failure());
    /// assert!(!TaskState::Cancelled.is_failure()); // cancellation is not a failure
    /// ```
    pub fn is_failure(self) -> bool {
        self == TaskState::Failed
    }

    /// True for `Cancelled`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| ());
    /// handle.cancel();
    /// handle.task_ref().wait().unwrap();
    /// assert!(handle.state().is_cancelled()); // it never ran
    /// # });
    /// ```
    pub fn is_cancelled(self) -> bool {
        self == TaskState::Cancelled
    }

    /// Whether the scheduler may move a task from `self` to `next`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::TaskState::*;
    ///
    /// assert!(Pending.can_become(Running));
    /// assert!(Pending.can_become(Cancelled));
    /// assert!(!Pending.can_become(Completed));
    /// assert!(!Completed.can_become(Running));
    /// ```
    pub fn can_become(self, next: TaskState) -> bool {
        use TaskState::*;
        matches!(
            (self, next),
            (Pending, Running) | (Pending, Cancelled) | (Running, Completed | Failed | Cancelled)
        )
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TaskState::{self, *};

    const ALL: [TaskState; 5] = [Pending, Running, Completed, Failed, Cancelled];

    #[test]
    fn terminal_states_have_no_way_out() {
        for from in ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn every_state_is_reachable_from_pending() {
        for to in [Running, Cancelled] {
            assert!(Pending.can_become(to));
        }
        for to in [Completed, Failed, Cancelled] {
            assert!(Running.can_become(to));
        }
    }
}
