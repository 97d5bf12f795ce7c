//! This thread's pool of stacks, the mappings it owns, and their counters.
//!
//! Invariants (the module's "Pool invariants" and "Trimming", in short):
//! * The pool is per thread and holds at most its effective capacity of
//!   stacks; a pooled stack is used by no coroutine; stacks are keyed by
//!   their rounded size and taken LIFO within a size.
//! * `pooled`, `dirty`, `in_use`, `mapped` and `peak_in_use` change only
//!   here and in `FiberStack::new`/`drop`; `dirty` counts the pooled stacks
//!   not marked `clean`.
//! * Every stack mapping is a [`Mapped`], charged to the process-wide
//!   budget until its `munmap`; stacks the pool has no room for wait in
//!   `dead` and are unmapped [`UNMAP_BATCH`] at a time, adjacent ones
//!   together.
//! * The clock is read once per [`TRIM_CHECK_EVERY`] takes and returns; a
//!   window of at least the quiet period ends in a trim.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::raw::{self, RawStack};
use super::{
    budget, ADAPTIVE_POOL_LIMIT, DEFAULT_POOL_CAPACITY, DEFAULT_TRIM_QUIET_PERIOD, POOL_TRIM_FLOOR,
    TRIM_CHECK_EVERY, UNMAP_BATCH,
};
#[cfg(doc)]
use super::{trim_pool, trim_pool_if_due};

/// A snapshot of the current thread's stack counters.
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::{self, FiberStack};
///
/// let before = stack::statistics();
/// let s = FiberStack::new(64 * 1024).unwrap();
/// assert_eq!(stack::statistics().in_use, before.in_use + 1);
/// drop(s);
/// assert_eq!(stack::statistics().in_use, before.in_use);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackStatistics {
    /// Stacks handed out and not yet dropped.
    pub in_use: usize,
    /// Stacks waiting in the pool for reuse.
    pub pooled: usize,
    /// Stacks this thread has mapped and not unmapped (`in_use` of them
    /// plus the pooled ones, when all stacks stay on their thread). Up to
    /// 63 stacks waiting to be unmapped together are no longer counted.
    pub mapped: usize,
    /// The most stacks the pool will keep now.
    pub pool_capacity: usize,
    /// The most stacks this thread has had in use at once.
    pub peak_in_use: usize,
}

/// The pooled stacks of one rounded size.
pub(super) struct SizeClass {
    pub(super) size: usize,
    /// A stack: the last pushed is the first taken (LIFO), so the bottom
    /// of the vector holds the stacks unused the longest.
    pub(super) stacks: Vec<Mapped>,
    /// The fewest stacks this class held since the trim window began: the
    /// bottom `low` have not been taken during the window.
    pub(super) low: usize,
}

pub(super) struct Pool {
    /// A handful of distinct sizes at most.
    pub(super) classes: Vec<SizeClass>,
    pub(super) pooled: usize,
    /// How many pooled stacks are not `clean` (may hold memory).
    pub(super) dirty: usize,
    /// The configured bound; with `adaptive`, the floor of the bound.
    pub(super) capacity: usize,
    /// Whether the bound grows with `peak_in_use`.
    pub(super) adaptive: bool,
    pub(super) in_use: usize,
    pub(super) peak_in_use: usize,
    pub(super) mapped: usize,
    /// Takes and returns since the clock was last read.
    pub(super) ops: u32,
    /// Stacks dropped beyond the pool's bound, still mapped and charged to
    /// the budget, waiting to be unmapped together ([`UNMAP_BATCH`]).
    pub(super) dead: Vec<RawStack>,
    /// When the current trim window began (`None`: not yet).
    pub(super) window_start: Option<Instant>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        // The thread is exiting: unmap everything, adjacent stacks together.
        let mut all = std::mem::take(&mut self.dead);
        for class in self.classes.drain(..) {
            all.extend(class.stacks.into_iter().map(Mapped::into_raw));
        }
        unmap_raw(all);
    }
}

impl Pool {
    /// Queues `stack` to be unmapped; returns the queue once it holds
    /// [`UNMAP_BATCH`] stacks, for [`unmap_raw`] outside the borrow.
    #[inline]
    pub(super) fn bury(&mut self, stack: Mapped) -> Vec<RawStack> {
        self.mapped -= 1;
        self.dead.push(stack.into_raw());
        if self.dead.len() >= UNMAP_BATCH {
            std::mem::take(&mut self.dead)
        } else {
            Vec::new()
        }
    }

    /// The bound in force now.
    pub(super) fn effective_capacity(&self) -> usize {
        if self.adaptive {
            self.capacity.max(self.peak_in_use.min(ADAPTIVE_POOL_LIMIT))
        } else {
            self.capacity
        }
    }

    /// Counts one take or return; every [`TRIM_CHECK_EVERY`] reads the
    /// clock and, when a quiet period has passed since the window began,
    /// trims. Returns the stacks to unmap (outside the borrow).
    #[inline]
    pub(super) fn tick(&mut self) -> Vec<Mapped> {
        self.ops += 1;
        if self.ops < TRIM_CHECK_EVERY {
            return Vec::new();
        }
        self.ops = 0;
        self.check_window(Instant::now())
    }

    #[cold]
    pub(super) fn check_window(&mut self, now: Instant) -> Vec<Mapped> {
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) >= trim_quiet_period() => {
                self.window_start = Some(now);
                self.trim(false).0
            }
            Some(_) => Vec::new(),
            None => {
                self.start_window(now);
                Vec::new()
            }
        }
    }

    pub(super) fn start_window(&mut self, now: Instant) {
        self.window_start = Some(now);
        for class in &mut self.classes {
            class.low = class.stacks.len();
        }
    }

    /// Gives back the memory of the idle stacks (all pooled ones with
    /// `all`, else those not taken during the window): past
    /// [`POOL_TRIM_FLOOR`] they are returned to be unmapped, the others
    /// are `madvise(MADV_DONTNEED)`ed once. Starts a new window.
    pub(super) fn trim(&mut self, all: bool) -> (Vec<Mapped>, usize) {
        let mut victims = Vec::new();
        let mut kept = 0;
        let mut released = 0;
        for class in &mut self.classes {
            let released_before = released;
            let idle = if all {
                class.stacks.len()
            } else {
                class.low.min(class.stacks.len())
            };
            let keep = idle.min(POOL_TRIM_FLOOR.saturating_sub(kept));
            for stack in class.stacks.drain(..idle - keep) {
                self.dirty -= usize::from(!stack.clean);
                victims.push(stack);
            }
            for stack in &mut class.stacks[..keep] {
                if !stack.clean {
                    stack.raw.release_memory();
                    stack.clean = true;
                    released += 1;
                }
            }
            self.dirty -= released - released_before;
            kept += keep;
            class.low = class.stacks.len();
            // The list's room for a past peak (10,000 stacks, say) is heap
            // that the trim gives back too.
            if class.stacks.capacity() > 4 * class.stacks.len() {
                class.stacks.shrink_to(2 * class.stacks.len());
            }
        }
        self.classes.retain(|c| !c.stacks.is_empty());
        self.pooled -= victims.len();
        self.mapped -= victims.len();
        (victims, released)
    }

    /// Whether a trim could give anything back.
    pub(super) fn has_work(&self) -> bool {
        self.pooled > POOL_TRIM_FLOOR || self.dirty > 0
    }
}

/// The quiet period, in nanoseconds.
static TRIM_QUIET_NANOS: AtomicU64 = AtomicU64::new(DEFAULT_TRIM_QUIET_PERIOD.as_nanos() as u64);

/// How long a pooled stack must stay unused before a trim gives its memory
/// back (process-wide).
///
/// # Examples
///
/// ```
/// use fibrio_core::stack;
///
/// assert!(stack::trim_quiet_period() > std::time::Duration::ZERO);
/// ```
pub fn trim_quiet_period() -> Duration {
    Duration::from_nanos(TRIM_QUIET_NANOS.load(Ordering::Relaxed))
}

/// Sets how long a pooled stack must stay unused before its memory is given
/// back, for every thread ([`DEFAULT_TRIM_QUIET_PERIOD`] unless set).
///
/// The pools check it on their own, every 64 stacks taken or returned,
/// with one read of the clock; an idle thread trims only when
/// [`trim_pool_if_due`] or [`trim_pool`] is called.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_core::stack;
///
/// stack::set_trim_quiet_period(Duration::from_secs(5));
/// assert_eq!(stack::trim_quiet_period(), Duration::from_secs(5));
/// stack::set_trim_quiet_period(stack::DEFAULT_TRIM_QUIET_PERIOD);
/// ```
pub fn set_trim_quiet_period(period: Duration) {
    let nanos = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
    TRIM_QUIET_NANOS.store(nanos, Ordering::Relaxed);
}

thread_local! {
    pub(super) static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            classes: Vec::new(),
            pooled: 0,
            dirty: 0,
            capacity: DEFAULT_POOL_CAPACITY,
            adaptive: true,
            in_use: 0,
            peak_in_use: 0,
            mapped: 0,
            ops: 0,
            dead: Vec::new(),
            window_start: None,
        })
    };
}

/// Returns this thread's stack counters.
///
/// # Examples
///
/// ```
/// let stats = fibrio_core::stack::statistics();
/// assert!(stats.pooled <= stats.pool_capacity);
/// ```
pub fn statistics() -> StackStatistics {
    POOL.with(|p| {
        let p = p.borrow();
        StackStatistics {
            in_use: p.in_use,
            pooled: p.pooled,
            mapped: p.mapped,
            pool_capacity: p.effective_capacity(),
            peak_in_use: p.peak_in_use,
        }
    })
}

/// Returns how many stacks this thread's pool keeps at most, now.
///
/// # Examples
///
/// ```
/// assert!(fibrio_core::stack::pool_capacity() >= fibrio_core::stack::DEFAULT_POOL_CAPACITY);
/// ```
pub fn pool_capacity() -> usize {
    POOL.with(|p| p.borrow().effective_capacity())
}

/// Fixes how many stacks this thread's pool keeps (turning the adaptive
/// bound off), unmapping any excess now. `0` turns pooling off.
///
/// # Examples
///
/// ```
/// use fibrio_core::stack;
///
/// stack::set_pool_capacity(0);
/// drop(stack::FiberStack::new(32 * 1024).unwrap());
/// assert_eq!(stack::statistics().pooled, 0);
/// stack::set_pool_capacity(stack::DEFAULT_POOL_CAPACITY);
/// ```
pub fn set_pool_capacity(capacity: usize) {
    let excess: Vec<Mapped> = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let p = &mut *p;
        p.capacity = capacity;
        p.adaptive = false;
        let mut excess = Vec::new();
        for class in &mut p.classes {
            let surplus = class.stacks.len().min(p.pooled.saturating_sub(capacity));
            // The least recently used first.
            for stack in class.stacks.drain(..surplus) {
                p.dirty -= usize::from(!stack.clean);
                excess.push(stack);
            }
            class.low = class.low.min(class.stacks.len());
            p.pooled -= surplus;
            p.mapped -= surplus;
        }
        p.classes.retain(|c| !c.stacks.is_empty());
        excess
    });
    // Unmap outside the borrow.
    unmap_all(excess);
}

/// One stack mapping, charged to the process-wide mapping budget from
/// before its `mmap` until it is unmapped.
pub(super) struct Mapped {
    pub(super) raw: ManuallyDrop<RawStack>,
    /// Whether its usable pages hold no memory (never touched since it was
    /// mapped, or given back by a trim).
    pub(super) clean: bool,
}

impl Mapped {
    /// The mapping, still charged to the budget: [`unmap_raw`] discharges
    /// it.
    pub(super) fn into_raw(self) -> RawStack {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `raw` is taken exactly once and `this` is never dropped,
        // so the mapping has exactly one owner, the value returned.
        unsafe { ManuallyDrop::take(&mut this.raw) }
    }
}

/// Unmaps stacks taken with [`Mapped::into_raw`] (adjacent ones together)
/// and gives back their charges.
///
/// Inlined to one test: every stack taken or returned passes an empty list
/// here (the common case), which must cost no call.
#[inline]
pub(super) fn unmap_raw(stacks: Vec<RawStack>) {
    if !stacks.is_empty() {
        unmap_raw_now(stacks);
    }
}

#[cold]
fn unmap_raw_now(stacks: Vec<RawStack>) {
    budget::release_many(raw::unmap_many(stacks));
}

/// Unmaps pooled stacks (adjacent ones together); an empty list, the
/// common case on every stack taken or returned, costs one test.
#[inline]
pub(super) fn unmap_all(stacks: Vec<Mapped>) {
    if !stacks.is_empty() {
        unmap_all_now(stacks);
    }
}

#[cold]
fn unmap_all_now(stacks: Vec<Mapped>) {
    unmap_raw_now(stacks.into_iter().map(Mapped::into_raw).collect());
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the stack is dropped (unmapped) exactly once, here, and
        // `self.raw` is not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.raw) };
        budget::release();
    }
}

/// Unmaps the stacks waiting in this thread's queue of dead stacks now.
/// Returns whether there were any.
pub(super) fn flush_dead() -> bool {
    let dead = POOL
        .try_with(|p| std::mem::take(&mut p.borrow_mut().dead))
        .unwrap_or_default();
    let found = !dead.is_empty();
    unmap_raw(dead);
    found
}

/// Unmaps one of this thread's pooled stacks, of any size, to make room in
/// the mapping budget. Returns whether there was one.
pub(super) fn unmap_one_pooled() -> bool {
    let victim = POOL
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let p = &mut *p;
            let victim = p.classes.iter_mut().find_map(|c| {
                let stack = c.stacks.pop();
                c.low = c.low.min(c.stacks.len());
                stack
            });
            if let Some(victim) = &victim {
                p.pooled -= 1;
                p.mapped -= 1;
                p.dirty -= usize::from(!victim.clean);
            }
            victim
        })
        .ok()
        .flatten();
    let found = victim.is_some();
    // Unmap outside the borrow.
    drop(victim);
    found
}
