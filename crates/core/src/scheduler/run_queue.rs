//! [`RunQueue`]: the runnable tasks, and the one seam through which the
//! scheduler picks the next: FIFO by default, or a [`SchedulePolicy`].
//!
//! # Invariants
//!
//! * A key is in the queue iff its task's `queued` flag is set (the
//!   scheduler pushes a key exactly when `TaskHeader::unpark`,
//!   `mark_queued` or a spawn set it, and clears it on pop), so a task is
//!   never queued twice.
//! * Without a policy, keys leave in the order they arrived. With one, the
//!   policy chooses among all queued keys, in arrival order, by index; the
//!   keys it does not choose keep their order.

use std::collections::VecDeque;

use super::table::TaskKey;

/// Chooses which runnable task runs next. The default, FIFO, needs none;
/// a deterministic simulation plugs a seeded one in.
pub(crate) trait SchedulePolicy {
    /// The index, in `runnable` (oldest first, never empty), of the task
    /// to run next.
    fn choose(&mut self, runnable: &VecDeque<TaskKey>) -> usize;
}

/// The queue of runnable tasks.
#[derive(Default)]
pub(crate) struct RunQueue {
    keys: VecDeque<TaskKey>,
    policy: Option<Box<dyn SchedulePolicy>>,
}

impl RunQueue {
    /// A FIFO queue.
    pub(crate) fn new() -> RunQueue {
        RunQueue::default()
    }

    /// A queue that lets `policy` pick the next task.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn with_policy(policy: Box<dyn SchedulePolicy>) -> RunQueue {
        RunQueue {
            keys: VecDeque::new(),
            policy: Some(policy),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, key: TaskKey) {
        self.keys.push_back(key);
    }

    /// The next task to run.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<TaskKey> {
        match &mut self.policy {
            None => self.keys.pop_front(),
            Some(policy) => {
                if self.keys.is_empty() {
                    return None;
                }
                let index = policy.choose(&self.keys).min(self.keys.len() - 1);
                self.keys.remove(index)
            }
        }
    }

    /// The oldest queued task: the next to run under FIFO. Only a hint for
    /// prefetching (a policy may choose another), never a promise.
    #[inline]
    pub(crate) fn peek(&self) -> Option<TaskKey> {
        self.keys.front().copied()
    }

    pub(crate) fn clear(&mut self) {
        self.keys.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Newest;

    impl SchedulePolicy for Newest {
        fn choose(&mut self, runnable: &VecDeque<TaskKey>) -> usize {
            runnable.len() - 1
        }
    }

    fn keys(n: u32) -> Vec<TaskKey> {
        (0..n).map(|i| TaskKey::new(i, 0)).collect()
    }

    #[test]
    fn fifo_by_default() {
        let mut queue = RunQueue::new();
        for key in keys(4) {
            queue.push(key);
        }
        assert_eq!(queue.peek(), Some(TaskKey::new(0, 0)));
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(order, keys(4));
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn a_policy_chooses_and_the_rest_keep_their_order() {
        let mut queue = RunQueue::with_policy(Box::new(Newest));
        for key in keys(4) {
            queue.push(key);
        }
        assert_eq!(queue.peek(), Some(TaskKey::new(0, 0))); // only a hint
        assert_eq!(queue.pop(), Some(TaskKey::new(3, 0)));
        queue.push(TaskKey::new(9, 0));
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            order,
            [
                TaskKey::new(9, 0),
                TaskKey::new(2, 0),
                TaskKey::new(1, 0),
                TaskKey::new(0, 0)
            ]
        );
    }
}
