//! [`TimerQueue`]: the scheduler's timers, ordered by deadline.
//!
//! Two structures share one slot table:
//!
//! * the *lane*, a deque of timers in `(deadline, sequence)` order. A timer
//!   whose deadline is no earlier than the lane's last one is appended to
//!   it, in O(1), and the earliest leaves from its front in O(1). Servers
//!   and sleepers set most timers this way: the same timeout or sleep
//!   length, started one after another, gives deadlines in order.
//! * a binary min-heap on `(deadline, sequence)` for every other timer,
//!   with an index (each timer's slot records where its entry sits), so
//!   cancelling one removes it at once in O(log n).
//!
//! Popping compares the two fronts. Timers with equal deadlines fire in the
//! order they were set, whichever structure holds them, because the
//! sequence number breaks ties. The `timers` benchmark
//! (`cargo bench --manifest-path benches/Cargo.toml --bench timers`) measured the heap at a
//! million timers against a `BTreeMap` and a lazily-deleted heap, and the
//! lane on in-order deadlines; see `docs/performance.md`.
//!
//! # Invariants
//!
//! * `heap` is a min-heap on `(deadline, sequence)`; `lane` is sorted on it.
//! * A slot is live exactly while its timer is set (in `heap` or `lane`);
//!   `free` lists exactly the slots that are not live.
//! * For a live timer in `heap`, `slots[entry.slot].position` is the index of
//!   its entry there and `in_lane` is false; for one in `lane`, `in_lane` is
//!   true.
//! * A slot's `generation` changes whenever its timer leaves (fires or is
//!   cancelled), so a stale [`TimerId`] never cancels the timer that reused
//!   the slot. A slot's `sequence` is its current timer's (unique per
//!   insert, a `u64` that never wraps in practice), and a lane entry is live
//!   exactly when its slot is live with the same `sequence`: a tombstone
//!   stays dead however often its slot is reused (a `u32` generation could
//!   come round again under a long-lived tombstone).
//! * Cancelling a lane timer leaves its entry behind as a tombstone, but the
//!   lane's front is always live (or the lane is empty), `lane_live` counts
//!   its live entries, and the lane is compacted once tombstones outnumber
//!   live entries by `LANE_SLACK`, so its length stays within twice the
//!   live timers plus a constant (its capacity, like the heap's, is kept
//!   after a burst, and shrunk when a compaction leaves it mostly empty). `len()` counts live timers only.

use std::collections::VecDeque;
use std::time::Instant;

use super::table::TaskKey;

/// How many more tombstones than live entries the lane may hold before it
/// is compacted.
const LANE_SLACK: usize = 32;

/// Identifies one timer, to cancel it.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use fibrio_core::scheduler::{TaskKey, TimerQueue};
///
/// let mut timers = TimerQueue::new();
/// let now = Instant::now();
/// let id = timers.insert(now, TaskKey::new(0, 0));
/// assert!(timers.contains(id));
/// assert!(timers.cancel(id));
/// assert!(!timers.contains(id)); // a stale id never matches a later timer
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    deadline: Instant,
    slot: u32,
    generation: u32,
}

impl TimerId {
    /// When the timer fires.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use fibrio_core::scheduler::{TaskKey, TimerQueue};
    ///
    /// let mut timers = TimerQueue::new();
    /// let now = Instant::now();
    /// let id = timers.insert(now + Duration::from_secs(1), TaskKey::new(0, 0));
    /// assert_eq!(id.deadline(), now + Duration::from_secs(1));
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
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
    /// The `sequence` of the slot's current (or last) timer.
    sequence: u64,
    position: u32,
    generation: u32,
    live: bool,
    in_lane: bool,
}

/// Timers waiting to wake tasks.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use fibrio_core::scheduler::{TaskKey, TimerQueue};
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
    lane: VecDeque<Entry>,
    lane_live: usize,
    slots: Vec<Slot>,
    free: Vec<u32>,
    sequence: u64,
}

impl TimerQueue {
    /// An empty queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let timers = fibrio_core::scheduler::TimerQueue::new();
    /// assert!(timers.is_empty());
    /// assert_eq!(timers.next_deadline(), None);
    /// ```
    pub fn new() -> TimerQueue {
        TimerQueue::default()
    }

    /// Adds a timer that wakes `task` at `deadline`: O(1) when `deadline`
    /// is no earlier than the latest timer set in order so far, O(log n)
    /// otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use fibrio_core::scheduler::{TaskKey, TimerQueue};
    ///
    /// let mut timers = TimerQueue::new();
    /// let now = Instant::now();
    /// timers.insert(now + Duration::from_secs(2), TaskKey::new(0, 0));
    /// timers.insert(now + Duration::from_secs(1), TaskKey::new(1, 0)); // out of order
    /// assert_eq!(timers.len(), 2);
    /// assert_eq!(timers.next_deadline(), Some(now + Duration::from_secs(1)));
    /// ```
    pub fn insert(&mut self, deadline: Instant, task: TaskKey) -> TimerId {
        self.sequence += 1;
        let in_lane = self
            .lane
            .back()
            .is_none_or(|last| last.deadline <= deadline);
        let position = if in_lane { 0 } else { self.heap.len() as u32 };
        let slot = match self.free.pop() {
            Some(slot) => {
                let entry = &mut self.slots[slot as usize];
                entry.task = task;
                entry.sequence = self.sequence;
                entry.position = position;
                entry.live = true;
                entry.in_lane = in_lane;
                slot
            }
            None => {
                self.slots.push(Slot {
                    task,
                    sequence: self.sequence,
                    position,
                    generation: 0,
                    live: true,
                    in_lane,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[slot as usize].generation;
        let entry = Entry {
            deadline,
            sequence: self.sequence,
            slot,
        };
        if in_lane {
            self.lane.push_back(entry);
            self.lane_live += 1;
        } else {
            self.heap.push(entry);
            self.sift_up(position as usize);
        }
        TimerId {
            deadline,
            slot,
            generation,
        }
    }

    /// Removes a timer. Returns false if it already fired or was cancelled.
    /// O(log n) for a heap timer; amortised O(1) for a lane timer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use fibrio_core::scheduler::{TaskKey, TimerQueue};
    ///
    /// let mut timers = TimerQueue::new();
    /// let now = Instant::now();
    /// let id = timers.insert(now, TaskKey::new(0, 0));
    /// assert!(timers.cancel(id));
    /// assert!(!timers.cancel(id)); // already cancelled
    /// assert!(timers.is_empty());
    /// ```
    pub fn cancel(&mut self, id: TimerId) -> bool {
        if !self.contains(id) {
            return false;
        }
        let slot = self.slots[id.slot as usize];
        if slot.in_lane {
            self.release(id.slot);
            self.lane_live -= 1;
            self.trim_lane();
        } else {
            self.remove_at(slot.position as usize);
        }
        true
    }

    /// True while the timer `id` has neither fired nor been cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use fibrio_core::scheduler::{TaskKey, TimerQueue};
    ///
    /// let mut timers = TimerQueue::new();
    /// let now = Instant::now();
    /// let id = timers.insert(now, TaskKey::new(0, 0));
    /// assert!(timers.contains(id));
    /// timers.fire_due(now, |_| {});
    /// assert!(!timers.contains(id)); // it fired
    /// ```
    pub fn contains(&self, id: TimerId) -> bool {
        self.slots
            .get(id.slot as usize)
            .is_some_and(|slot| slot.live && slot.generation == id.generation)
    }

    /// The earliest deadline, if any timer is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use fibrio_core::scheduler::{TaskKey, TimerQueue};
    ///
    /// let mut timers = TimerQueue::new();
    /// let now = Instant::now();
    /// assert_eq!(timers.next_deadline(), None);
    /// timers.insert(now + Duration::from_millis(5), TaskKey::new(0, 0));
    /// assert_eq!(timers.next_deadline(), Some(now + Duration::from_millis(5)));
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        self.earliest().map(|(entry, _)| entry.deadline)
    }

    /// Removes every timer whose deadline is at or before `now`, in deadline
    /// order, passing each task to `wake`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use fibrio_core::scheduler::{TaskKey, TimerQueue};
    ///
    /// let mut timers = TimerQueue::new();
    /// let now = Instant::now();
    /// timers.insert(now + Duration::from_secs(1), TaskKey::new(1, 0));
    /// timers.insert(now, TaskKey::new(0, 0));
    /// let mut woken = Vec::new();
    /// assert_eq!(timers.fire_due(now, |key| woken.push(key)), 1);
    /// assert_eq!(woken, [TaskKey::new(0, 0)]); // the later timer is still set
    /// assert_eq!(timers.len(), 1);
    /// ```
    pub fn fire_due(&mut self, now: Instant, mut wake: impl FnMut(TaskKey)) -> usize {
        let mut fired = 0;
        while let Some((first, from_lane)) = self.earliest() {
            if first.deadline > now {
                break;
            }
            let task = self.slots[first.slot as usize].task;
            if from_lane {
                self.lane.pop_front();
                self.release(first.slot);
                self.lane_live -= 1;
                self.trim_lane();
            } else {
                self.remove_at(0);
            }
            wake(task);
            fired += 1;
        }
        fired
    }

    /// How many timers are set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use fibrio_core::scheduler::{TaskKey, TimerQueue};
    ///
    /// let mut timers = TimerQueue::new();
    /// let now = Instant::now();
    /// let id = timers.insert(now, TaskKey::new(0, 0));
    /// timers.insert(now, TaskKey::new(1, 0));
    /// timers.cancel(id);
    /// assert_eq!(timers.len(), 1); // only live timers count
    /// ```
    pub fn len(&self) -> usize {
        self.heap.len() + self.lane_live
    }

    /// True when no timer is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use fibrio_core::scheduler::{TaskKey, TimerQueue};
    ///
    /// let mut timers = TimerQueue::new();
    /// let now = Instant::now();
    /// assert!(timers.is_empty());
    /// let id = timers.insert(now, TaskKey::new(0, 0));
    /// assert!(!timers.is_empty());
    /// timers.cancel(id);
    /// assert!(timers.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The earliest timer and whether it is the lane's front (the lane's
    /// front is always live, see the module invariants).
    fn earliest(&self) -> Option<(Entry, bool)> {
        match (self.heap.first(), self.lane.front()) {
            (Some(heap), Some(lane)) if lane.before(heap) => Some((*lane, true)),
            (Some(heap), _) => Some((*heap, false)),
            (None, Some(lane)) => Some((*lane, true)),
            (None, None) => None,
        }
    }

    /// Marks a slot's timer gone and frees the slot.
    fn release(&mut self, slot: u32) {
        let entry = &mut self.slots[slot as usize];
        entry.live = false;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(slot);
    }

    /// True when a lane entry's timer is still set.
    fn lane_entry_live(&self, entry: &Entry) -> bool {
        let slot = &self.slots[entry.slot as usize];
        slot.live && slot.sequence == entry.sequence
    }

    /// Restores the lane invariants after a lane timer left: drops
    /// tombstones from the front, and compacts the lane when tombstones
    /// outnumber live entries by more than `LANE_SLACK`.
    fn trim_lane(&mut self) {
        while let Some(front) = self.lane.front() {
            if self.lane_entry_live(front) {
                break;
            }
            self.lane.pop_front();
        }
        if self.lane.len() > 2 * self.lane_live + LANE_SLACK {
            let slots = &self.slots;
            self.lane.retain(|entry| {
                let slot = &slots[entry.slot as usize];
                slot.live && slot.sequence == entry.sequence
            });
            if self.lane.capacity() > 4 * self.lane.len() + LANE_SLACK {
                self.lane.shrink_to(2 * self.lane.len() + LANE_SLACK);
            }
        }
    }

    /// Takes the entry at `position` out of the heap and frees its slot.
    fn remove_at(&mut self, position: usize) {
        let removed = self.heap.swap_remove(position);
        self.release(removed.slot);
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
            let deadline = base + Duration::from_micros((seed >> 33) % 1000);
            ids.push((timers.insert(deadline, TaskKey::new(i, 0)), deadline, i));
        }
        let mut kept = Vec::new();
        for (n, (id, deadline, i)) in ids.into_iter().enumerate() {
            if n % 3 == 0 {
                assert!(timers.cancel(id));
                assert!(!timers.cancel(id));
            } else {
                kept.push((deadline, i));
            }
        }
        let mut fired = Vec::new();
        timers.fire_due(base + Duration::from_secs(1), |key| fired.push(key));
        assert!(timers.is_empty());
        // Deadline order, ties in insertion order.
        kept.sort();
        let expected: Vec<TaskKey> = kept.iter().map(|&(_, i)| TaskKey::new(i, 0)).collect();
        assert_eq!(fired, expected);
    }

    #[test]
    fn in_order_and_out_of_order_timers_interleave_by_deadline() {
        let base = Instant::now();
        let at = |ms: u64| base + Duration::from_millis(ms);
        let mut timers = TimerQueue::new();
        // 10, 20, 30 go to the lane; 15 and 5 to the heap; 30 again ties.
        for (i, ms) in [10, 20, 30, 15, 5, 30].into_iter().enumerate() {
            timers.insert(at(ms), TaskKey::new(i as u32, 0));
        }
        assert_eq!(timers.len(), 6);
        assert_eq!(timers.next_deadline(), Some(at(5)));
        let keys = |ids: &[u32]| ids.iter().map(|&i| TaskKey::new(i, 0)).collect::<Vec<_>>();
        let mut fired = Vec::new();
        assert_eq!(timers.fire_due(at(20), |key| fired.push(key)), 4);
        assert_eq!(fired, keys(&[4, 0, 3, 1]));
        fired.clear();
        timers.fire_due(at(30), |key| fired.push(key));
        assert_eq!(fired, keys(&[2, 5]));
        assert!(timers.is_empty());
    }

    #[test]
    fn cancelled_lane_timers_leave_no_tombstones_behind_for_long() {
        let base = Instant::now();
        let mut timers = TimerQueue::new();
        let keep = timers.insert(base, TaskKey::new(0, 0));
        // A read timeout re-armed on every read: set in order, then cancelled.
        for i in 1..=10_000u32 {
            let id = timers.insert(
                base + Duration::from_secs(30 + u64::from(i)),
                TaskKey::new(i, 0),
            );
            assert!(timers.cancel(id));
            assert!(timers.lane.len() <= 2 * timers.lane_live + LANE_SLACK + 1);
        }
        assert_eq!(timers.len(), 1);
        assert!(timers.lane.len() <= 2 + LANE_SLACK);
        assert!(timers.cancel(keep));
        assert!(timers.lane.is_empty(), "an empty lane keeps no tombstones");
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn a_tombstone_stays_dead_when_its_slot_generation_comes_round_again() {
        let base = Instant::now();
        let at = |ms: u64| base + Duration::from_millis(ms);
        let mut timers = TimerQueue::new();
        timers.insert(at(1000), TaskKey::new(0, 0)); // the lane's live front
        let doomed = timers.insert(at(2000), TaskKey::new(1, 0));
        // Cancelled behind the front: a tombstone.
        assert!(timers.cancel(doomed));
        // The slot is reused at once (by a heap timer: earlier than the
        // lane's last deadline) ...
        let reuse = timers.insert(at(500), TaskKey::new(2, 0));
        assert_eq!(reuse.slot, doomed.slot);
        // ... and after 2^32 such reuses its generation is the tombstone's.
        timers.slots[doomed.slot as usize].generation = doomed.generation;
        let mut fired = Vec::new();
        timers.fire_due(at(3000), |key| fired.push(key));
        assert_eq!(fired, [TaskKey::new(2, 0), TaskKey::new(0, 0)]);
        assert!(timers.is_empty());
    }

    #[test]
    fn cancelling_the_lane_front_moves_the_next_deadline() {
        let base = Instant::now();
        let mut timers = TimerQueue::new();
        let first = timers.insert(base + Duration::from_millis(1), TaskKey::new(0, 0));
        let second = timers.insert(base + Duration::from_millis(2), TaskKey::new(1, 0));
        timers.insert(base + Duration::from_millis(3), TaskKey::new(2, 0));
        assert!(timers.cancel(second));
        assert!(timers.cancel(first));
        assert_eq!(
            timers.next_deadline(),
            Some(base + Duration::from_millis(3))
        );
        let mut fired = Vec::new();
        timers.fire_due(base + Duration::from_millis(2), |key| fired.push(key));
        assert!(fired.is_empty(), "cancelled timers never fire");
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

    /// Issue 18: a million deadlines, a third set in order after 10 s
    /// (timeouts of one length re-armed as time goes on: the lane), the
    /// rest at random over the first 10 s (the heap), half of them cancelled in a scrambled order. Fired by a clock
    /// that advances a millisecond at a time: every live timer fires once,
    /// at or after its deadline, in deadline order, and while it is still
    /// due; no cancelled one fires; the queue ends empty, tombstones and
    /// all. About 1-2 s in a debug build.
    #[test]
    fn a_million_deadlines_half_cancelled_none_early_none_cancelled_none_left() {
        const N: usize = 1_000_000;
        let base = Instant::now();
        let at = |micros: u64| base + Duration::from_micros(micros);
        let mut timers = TimerQueue::new();
        let mut deadlines = Vec::with_capacity(N);
        let mut ids = Vec::with_capacity(N);
        let mut seed = 18u64;
        // The in-order stream: a 10 s timeout re-armed as time goes on.
        let mut latest = 10_000_000u64;
        for i in 0..N {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let random = seed >> 20;
            let micros = if random.is_multiple_of(3) {
                latest += random % 16;
                latest
            } else {
                random % 10_000_000
            };
            deadlines.push(micros);
            ids.push(timers.insert(at(micros), TaskKey::new(i as u32, 0)));
        }
        assert_eq!(timers.len(), N);
        assert!(!timers.heap.is_empty() && timers.lane_live > N / 10);

        // Every odd timer, in a scrambled order: 2 * (k * 7919 mod N/2) + 1
        // visits each odd index once (7919 is prime to N/2 = 2^5 * 5^6).
        let mut cancelled = vec![false; N];
        for k in 0..N / 2 {
            let i = 2 * ((k * 7919) % (N / 2)) + 1;
            assert!(timers.cancel(ids[i]), "timer {i} was not set");
            cancelled[i] = true;
        }
        assert_eq!(timers.len(), N / 2);
        assert!(!timers.cancel(ids[1]), "cancelled twice");

        let mut fired = vec![false; N];
        let mut count = 0;
        let mut now = 0u64;
        while !timers.is_empty() {
            now += 1000;
            let mut previous = 0;
            timers.fire_due(at(now), |key| {
                let i = key.index() as usize;
                assert!(!cancelled[i], "cancelled timer {i} fired");
                assert!(!fired[i], "timer {i} fired twice");
                assert!(deadlines[i] <= now, "timer {i} fired early");
                assert!(deadlines[i] >= previous, "timer {i} fired out of order");
                previous = deadlines[i];
                fired[i] = true;
                count += 1;
            });
            if let Some(next) = timers.next_deadline() {
                assert!(next > at(now), "a due timer was left behind at {now} us");
            }
            assert!(
                now < 20_000_000,
                "timers still set long after the last deadline"
            );
        }
        assert_eq!(count, N / 2);
        assert!(fired.iter().zip(&cancelled).all(|(&f, &c)| f != c));
        assert_eq!(timers.next_deadline(), None);
        assert!(timers.heap.is_empty() && timers.lane.is_empty() && timers.lane_live == 0);
        assert_eq!(
            timers.free.len(),
            timers.slots.len(),
            "every slot is free again"
        );
        assert!(ids.iter().all(|&id| !timers.contains(id)));
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
