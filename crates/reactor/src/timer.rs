//! [`TimerQueue`]: the reactor's timers, ordered by deadline.
//!
//! A binary min-heap of `(deadline, sequence)` with an index: every timer
//! has a slot in `slots` that records where its entry sits in `heap`, so a
//! cancelled timer is removed at once in O(log n), not left behind for the
//! poller to trip over. Inserting is O(log n) with a small constant,
//! popping the earliest is O(log n), and timers with equal deadlines fire in
//! the order they were set. The `timers` benchmark
//! (`cargo bench -p fibrio-benches --bench timers`) measured the choice at a
//! million timers against a `BTreeMap` and a lazily-deleted heap; see
//! `docs/performance.md`.
//!
//! # Invariants
//!
//! * `heap` is a min-heap on `(deadline, sequence)`.
//! * For every live timer, `slots[entry.slot].position` is the index of its
//!   entry in `heap`; a slot is live exactly while its timer is in `heap`.
//! * A slot's `generation` changes whenever its timer leaves the heap, so a
//!   stale [`TimerId`] never cancels the timer that reused the slot.
//! * `free` lists exactly the slots that are not live.

use std::time::Instant;

use fibrio_core::scheduler::TaskKey;

/// Identifies one timer, to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    deadline: Instant,
    slot: u32,
    generation: u32,
}

impl TimerId {
    /// When the timer fires.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The id packed for [`DriverTimer`](fibrio_core::scheduler::DriverTimer).
    pub(crate) fn to_driver_timer(self) -> fibrio_core::scheduler::DriverTimer {
        fibrio_core::scheduler::DriverTimer {
            deadline: self.deadline,
            id: (u64::from(self.slot) << 32) | u64::from(self.generation),
        }
    }

    /// The inverse of [`TimerId::to_driver_timer`].
    pub(crate) fn from_driver_timer(timer: fibrio_core::scheduler::DriverTimer) -> TimerId {
        TimerId {
            deadline: timer.deadline,
            slot: (timer.id >> 32) as u32,
            generation: timer.id as u32,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    deadline: Instant,
    sequence: u64,
    slot: u32,
}

impl Entry {
    fn before(&self, other: &Entry) -> bool {
        (self.deadline, self.sequence) < (other.deadline, other.sequence)
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    task: TaskKey,
    position: u32,
    generation: u32,
    live: bool,
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
/// assert!(!timers.cancel(late)); // already gone
/// let mut woken = Vec::new();
/// timers.fire_due(now + Duration::from_secs(5), |key| woken.push(key));
/// assert_eq!(woken, [TaskKey::new(1, 0)]);
/// assert!(timers.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct TimerQueue {
    heap: Vec<Entry>,
    slots: Vec<Slot>,
    free: Vec<u32>,
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
        let position = self.heap.len() as u32;
        let slot = match self.free.pop() {
            Some(slot) => {
                let entry = &mut self.slots[slot as usize];
                entry.task = task;
                entry.position = position;
                entry.live = true;
                slot
            }
            None => {
                self.slots.push(Slot {
                    task,
                    position,
                    generation: 0,
                    live: true,
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Entry {
            deadline,
            sequence: self.sequence,
            slot,
        });
        self.sift_up(position as usize);
        TimerId {
            deadline,
            slot,
            generation: self.slots[slot as usize].generation,
        }
    }

    /// Removes a timer. Returns false if it already fired or was cancelled.
    /// O(log n).
    pub fn cancel(&mut self, id: TimerId) -> bool {
        if !self.contains(id) {
            return false;
        }
        let position = self.slots[id.slot as usize].position as usize;
        self.remove_at(position);
        true
    }

    /// True while the timer `id` has neither fired nor been cancelled.
    pub fn contains(&self, id: TimerId) -> bool {
        self.slots
            .get(id.slot as usize)
            .is_some_and(|slot| slot.live && slot.generation == id.generation)
    }

    /// The earliest deadline, if any timer is set.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|entry| entry.deadline)
    }

    /// Removes every timer whose deadline is at or before `now`, in deadline
    /// order, passing each task to `wake`.
    pub fn fire_due(&mut self, now: Instant, mut wake: impl FnMut(TaskKey)) -> usize {
        let mut fired = 0;
        while let Some(first) = self.heap.first() {
            if first.deadline > now {
                break;
            }
            let task = self.slots[first.slot as usize].task;
            self.remove_at(0);
            wake(task);
            fired += 1;
        }
        fired
    }

    /// How many timers are set.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no timer is set.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Takes the entry at `position` out of the heap and frees its slot.
    fn remove_at(&mut self, position: usize) {
        let removed = self.heap.swap_remove(position);
        let slot = &mut self.slots[removed.slot as usize];
        slot.live = false;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(removed.slot);
        if position < self.heap.len() {
            self.slots[self.heap[position].slot as usize].position = position as u32;
            let position = self.sift_up(position);
            self.sift_down(position);
        }
    }

    /// Moves the entry at `position` up to its place; returns where it ends.
    /// The entry is held aside while its ancestors move down into the hole,
    /// so each level costs one move and one slot update, not a swap.
    fn sift_up(&mut self, mut position: usize) -> usize {
        let entry = self.heap[position];
        while position > 0 {
            let parent = (position - 1) / 2;
            if !entry.before(&self.heap[parent]) {
                break;
            }
            self.place(position, self.heap[parent]);
            position = parent;
        }
        self.place(position, entry);
        position
    }

    /// Moves the entry at `position` down to its place, the same way.
    fn sift_down(&mut self, mut position: usize) {
        let entry = self.heap[position];
        let len = self.heap.len();
        loop {
            let left = 2 * position + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].before(&self.heap[left]) {
                right
            } else {
                left
            };
            if !self.heap[child].before(&entry) {
                break;
            }
            self.place(position, self.heap[child]);
            position = child;
        }
        self.place(position, entry);
    }

    /// Puts `entry` at `position` and records that in its slot.
    fn place(&mut self, position: usize, entry: Entry) {
        self.slots[entry.slot as usize].position = position as u32;
        self.heap[position] = entry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn random_inserts_and_cancels_pop_in_order_and_leave_nothing() {
        let base = Instant::now();
        let mut timers = TimerQueue::new();
        let mut ids = Vec::new();
        let mut seed = 7u64;
        for i in 0..2000u32 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let deadline = base + Duration::from_micros(seed % 1000);
            ids.push((timers.insert(deadline, TaskKey::new(i, 0)), deadline));
        }
        let mut kept = Vec::new();
        for (n, (id, deadline)) in ids.into_iter().enumerate() {
            if n % 3 == 0 {
                assert!(timers.cancel(id));
                assert!(!timers.cancel(id));
            } else {
                kept.push(deadline);
            }
        }
        let mut fired = Vec::new();
        let mut last = base;
        timers.fire_due(base + Duration::from_secs(1), |key| fired.push(key));
        assert_eq!(fired.len(), kept.len());
        assert!(timers.is_empty());
        kept.sort();
        for deadline in kept {
            assert!(deadline >= last);
            last = deadline;
        }
    }

    #[test]
    fn equal_deadlines_fire_in_insertion_order() {
        let at = Instant::now();
        let mut timers = TimerQueue::new();
        for i in 0..50 {
            timers.insert(at, TaskKey::new(i, 0));
        }
        let mut fired = Vec::new();
        timers.fire_due(at, |key| fired.push(key));
        assert_eq!(
            fired,
            (0..50).map(|i| TaskKey::new(i, 0)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_stale_id_never_cancels_the_timer_that_reused_its_slot() {
        let at = Instant::now();
        let mut timers = TimerQueue::new();
        let old = timers.insert(at, TaskKey::new(1, 0));
        assert!(timers.cancel(old));
        let new = timers.insert(at, TaskKey::new(2, 0));
        assert!(!timers.cancel(old));
        assert_eq!(timers.len(), 1);
        assert!(timers.cancel(new));
    }
}
