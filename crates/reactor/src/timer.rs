//! [`TimerQueue`]: the reactor's timers, ordered by deadline.
//!
//! A `BTreeMap` keyed by `(deadline, sequence)`: inserting, cancelling and
//! popping the earliest are O(log n), a cancelled timer is removed at once
//! (nothing is left behind for the poller to trip over), and timers with
//! equal deadlines fire in the order they were set. The `timers` benchmark
//! (`cargo bench -p fibrio-benches --bench timers`) measures it at a
//! million timers beside a binary heap with lazy deletion; see
//! `docs/performance.md` for why it won.
//!
//! # Invariants
//!
//! * Every entry is a timer that has neither fired nor been cancelled.
//! * `sequence` increases with every insert, so keys are unique.

use std::collections::BTreeMap;
use std::time::Instant;

use fibrio_core::scheduler::TaskKey;

/// Identifies one timer, to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId {
    deadline: Instant,
    sequence: u64,
}

impl TimerId {
    /// When the timer fires.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Timers waiting to wake tasks.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use fibrio_core::scheduler::TaskKey;
/// use fibrio_reactor::timer::TimerQueue;
///
/// let mut timers = TimerQueue::new();
/// let now = Instant::now();
/// let late = timers.insert(now + Duration::from_secs(2), TaskKey::new(0, 0));
/// timers.insert(now + Duration::from_secs(1), TaskKey::new(1, 0));
/// assert_eq!(timers.next_deadline(), Some(now + Duration::from_secs(1)));
/// assert!(timers.cancel(late));
/// let mut woken = Vec::new();
/// timers.fire_due(now + Duration::from_secs(5), |key| woken.push(key));
/// assert_eq!(woken, [TaskKey::new(1, 0)]);
/// assert!(timers.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct TimerQueue {
    timers: BTreeMap<TimerId, TaskKey>,
    sequence: u64,
}

impl TimerQueue {
    /// An empty queue.
    pub fn new() -> TimerQueue {
        TimerQueue::default()
    }

    /// Adds a timer that wakes `task` at `deadline`. O(log n).
    pub fn insert(&mut self, deadline: Instant, task: TaskKey) -> TimerId {
        self.sequence += 1;
        let id = TimerId {
            deadline,
            sequence: self.sequence,
        };
        self.timers.insert(id, task);
        id
    }

    /// Removes a timer. Returns false if it already fired or was cancelled.
    pub fn cancel(&mut self, id: TimerId) -> bool {
        self.timers.remove(&id).is_some()
    }

    /// The earliest deadline, if any timer is set.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.keys().next().map(|id| id.deadline)
    }

    /// Removes every timer whose deadline is at or before `now`, in deadline
    /// order, passing each task to `wake`.
    pub fn fire_due(&mut self, now: Instant, mut wake: impl FnMut(TaskKey)) -> usize {
        let mut fired = 0;
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().deadline > now {
                break;
            }
            wake(entry.remove());
            fired += 1;
        }
        fired
    }

    /// How many timers are set.
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    /// True when no timer is set.
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }
}
