//! Fiber stacks: guard-paged `mmap` regions, recycled through a per-thread
//! pool.
//!
//! # Layout
//!
//! A [`FiberStack`] is one page-aligned region whose lowest page is a guard
//! page and whose other pages are read-write (`raw.rs`). The stack grows
//! down from the top of the region towards the guard page, so running off
//! the end faults instead of silently corrupting the neighbouring memory.
//! The overflow handler (`stack/overflow.rs`) turns that fault into a
//! readable message.
//!
//! * **Guards.** On Linux 6.13 and later the guard is a page-table marker
//!   (`madvise(MADV_GUARD_INSTALL)`), which does not split the mapping;
//!   elsewhere it is a `PROT_NONE` page (`mprotect`), which does.
//!   [`guard_kind`] says which; `FIBRIO_STACK_GUARD=mprotect` forces the
//!   second.
//! * **Batches.** A stack that has to be mapped comes with up to 31 more of
//!   its size from the same `mmap` (at most 4 MiB, and no more than the
//!   pool has room for), which go straight into the pool. Each is an
//!   independent stack from then on, unmapped on its own.
//! * **Unmapping.** Stacks that the pool has no room for wait in a queue
//!   of up to 64 and are unmapped together, adjacent ones in one `munmap`.
//!
//! Each stack is budgeted as two kernel memory mappings
//! ([`MAPPINGS_PER_STACK`]): exact with `mprotect` guards, an upper bound
//! with markers (adjacent stacks then share one mapping). Linux caps a
//! process at `vm.max_map_count` mappings, 65530 by default.
//!
//! # The mapping budget
//!
//! When stacks take the last mapping, every later `mmap` in the process
//! fails, and the next large allocation aborts the process. So the
//! allocator never lets stacks take the last [`map_reserve`] mappings
//! (4,096 at the default limit, 1/32 of larger limits): a stack that would
//! is refused with [`StackError::MapLimit`], and the heap, new threads,
//! late-loaded libraries and panic backtraces keep working. At the default
//! limit this leaves about 30,600 stacks; the error computes the
//! `vm.max_map_count` that fits twice as many, and [`max_map_count_for`]
//! any number. `docs/scaling.md` has the whole path to a million tasks.
//!
//! * The limit is read from `/proc/sys/vm/max_map_count` with the first
//!   stack (and again with each re-count, so a raised limit is used
//!   without a restart). The process's mappings are counted from
//!   `/proc/self/maps`, but rarely: stacks are counted exactly, in an
//!   atomic, and the file is re-read only when the stacks have used half
//!   of the headroom left at the previous read, and then at most once per
//!   100 times the duration of a read (`budget.rs` explains).
//! * Without `/proc` there is no budget; the kernel's refusal (or an
//!   address-space limit, `ulimit -v`) is then [`StackError::Map`].
//! * A refused stack first makes room by unmapping this thread's queue of
//!   stacks waiting to be unmapped, or one of its pooled stacks of another
//!   size, if there is one, and tries again.
//! * Either error is returned, never a crash: `task::Builder::spawn` returns
//!   it as `SpawnError::Stack`, and `task::spawn` panics with its message
//!   (which unwinds that task only, and has the reserve to print a
//!   backtrace).
//!
//! # Pool invariants
//!
//! * The pool is per thread (fibers never leave their thread), so it needs no
//!   locking. It holds at most [`pool_capacity`] stacks in all. By default
//!   that bound adapts: it is the larger of [`DEFAULT_POOL_CAPACITY`] and
//!   the most stacks this thread has had in use at once (up to
//!   [`ADAPTIVE_POOL_LIMIT`]), so a burst of tasks that recurs (a server's
//!   peak) costs no system calls the second time. [`set_pool_capacity`]
//!   fixes the bound instead.
//! * A stack in the pool is not in use by any coroutine: it enters the pool
//!   only from [`FiberStack`]'s `Drop`, which runs after its coroutine has
//!   finished or was never started.
//! * Stacks are keyed by their rounded size, so a pooled stack is only handed
//!   out for a request of exactly that size. Within a size the pool is a
//!   stack (LIFO), so its bottom holds the stacks unused the longest.
//! * A pooled stack marked `clean` has no memory behind its usable pages
//!   (fresh from a batch, or released by a trim); any other may.
//!
//! # Trimming
//!
//! Stacks unused for a quiet period ([`set_trim_quiet_period`], 10 s by
//! default) give their memory back. Each size keeps a low-water mark: the
//! fewest stacks it held since the window began; the bottom `low` stacks
//! were not taken during the whole window. When a window of at least the
//! quiet period ends, those beyond [`POOL_TRIM_FLOOR`] (per thread) are
//! unmapped and the others `madvise(MADV_DONTNEED)`ed (once; markers
//! survive it), and a new window begins. Windows are checked with one
//! clock read per 64 stacks taken or returned, so the steady state makes no
//! system call; an idle thread trims only through [`trim_pool_if_due`] or
//! [`trim_pool`]. When one of those two gave stacks back, it also asks
//! glibc's `malloc` to give back the free pages of its heaps
//! (`malloc_trim(0)`, on `target_env = "gnu"`): after a burst of tasks ends,
//! the memory their owners freed is mostly kept by `malloc` otherwise.
//! * The counters in [`StackStatistics`] are changed only by this module:
//!   `in_use` by `FiberStack::new`/`drop`, `pooled` by the pool, `mapped` by
//!   the code that calls `mmap`/`munmap`.
//! * Every stack mapping is a `Mapped`, which is charged to the
//!   process-wide budget before its `mmap` and discharged after its
//!   `munmap`: when it is dropped, whichever thread or thread-local
//!   destructor drops it, or, once taken apart into its `RawStack` for the
//!   unmap queue, when the queue unmaps it (`unmap_raw`; the pool's `Drop`
//!   empties the queue). So the budget counts exactly the stacks mapped in
//!   the process, pooled and queued ones included.

mod budget;
mod error;
#[cfg(unix)]
pub(crate) mod overflow;
mod pool;
mod raw;
mod trim;

pub use budget::{
    map_reserve, max_map_count_for, MAPPINGS_PER_STACK, MAP_RESERVE_DIVISOR, MAP_RESERVE_FLOOR,
};

pub use error::StackError;
pub(crate) use overflow::{register_overflow_lookup, StackOwner};
pub use pool::{
    pool_capacity, set_pool_capacity, set_trim_quiet_period, statistics, trim_quiet_period,
    StackStatistics,
};
pub use raw::{guard_kind, GuardKind};
pub use trim::{trim_pool, trim_pool_if_due, Trimmed};

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corosensei::stack::{Stack, StackPointer};

use error::advice_target;
use pool::{flush_dead, unmap_all, unmap_one_pooled, unmap_raw, Mapped, SizeClass, POOL};

/// The stack size a fiber gets when none is given: 256 KiB.
///
/// Pages are only backed by memory once touched, so a large size costs
/// address space rather than RAM; 256 KiB fits typical request handlers
/// (parsers, TLS, `serde_json`) with room to spare. Lower it, with the
/// builders' `stack_size`, to run hundreds of thousands of fibers.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

/// The smallest usable stack size: 16 KiB. Smaller requests are rounded up,
/// because unwinding a panic alone needs a few KiB.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// The largest stack size accepted: 1 GiB.
pub const MAX_STACK_SIZE: usize = 1 << 30;

/// How many stacks each thread's pool keeps at least, by default.
pub const DEFAULT_POOL_CAPACITY: usize = 1024;

/// The most stacks an adaptive pool grows to (see the module docs).
pub const ADAPTIVE_POOL_LIMIT: usize = 65_536;

/// How long a pooled stack stays unused before a trim gives its memory
/// back, by default: 10 s (see [`set_trim_quiet_period`]).
pub const DEFAULT_TRIM_QUIET_PERIOD: Duration = Duration::from_secs(10);

/// The pool's floor: how many idle stacks per thread a trim keeps mapped
/// (with their memory given back, so they cost address space and page
/// tables, not RSS). Idle stacks beyond it are unmapped.
pub const POOL_TRIM_FLOOR: usize = 1024;

/// How many stacks one `mmap` maps at most (the rest go to the pool).
const BATCH_STACKS: usize = 32;
/// The most address space one batch maps, so that large stacks come in
/// small batches.
const BATCH_BYTES: usize = 4 << 20;
/// The pool reads the clock once per this many takes and returns.
const TRIM_CHECK_EVERY: u32 = 64;
/// Stacks the pool has no room for wait until this many can be unmapped
/// together (adjacent ones in one `munmap`).
const UNMAP_BATCH: usize = 64;

/// The system page size (a power of two), read once.
///
/// # Examples
///
/// ```
/// let page = fibrio_core::stack::page_size();
/// assert!(page.is_power_of_two());
/// assert_eq!(fibrio_core::stack::rounded_size(page + 1).unwrap() % page, 0);
/// ```
#[inline]
pub fn page_size() -> usize {
    static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
    let cached = PAGE_SIZE.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    #[cfg(unix)]
    // SAFETY: sysconf has no preconditions; it only reads a system value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    #[cfg(not(unix))]
    let size = 4096;
    let size = if size > 0 && (size as usize).is_power_of_two() {
        size as usize
    } else {
        4096
    };
    PAGE_SIZE.store(size, Ordering::Relaxed);
    size
}

/// Rounds a requested size the way [`FiberStack::new`] does: up to
/// [`MIN_STACK_SIZE`], then up to a whole number of pages.
///
/// # Errors
///
/// [`StackError::TooLarge`] above [`MAX_STACK_SIZE`].
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::{rounded_size, MIN_STACK_SIZE};
///
/// assert_eq!(rounded_size(1).unwrap(), MIN_STACK_SIZE);
/// assert_eq!(rounded_size(64 * 1024).unwrap(), 64 * 1024);
/// ```
#[inline]
pub fn rounded_size(requested: usize) -> Result<usize, StackError> {
    if requested > MAX_STACK_SIZE {
        return Err(StackError::TooLarge {
            requested,
            max: MAX_STACK_SIZE,
        });
    }
    let page_mask = page_size() - 1;
    Ok((requested.max(MIN_STACK_SIZE) + page_mask) & !page_mask)
}
/// A guard-paged fiber stack that returns to its thread's pool when dropped.
///
/// `FiberStack` is `!Send`: it belongs to the pool of the thread that made it.
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::FiberStack;
///
/// let stack = FiberStack::new(64 * 1024)?;
/// assert_eq!(stack.size(), 64 * 1024);
/// # Ok::<(), fibrio_core::stack::StackError>(())
/// ```
pub struct FiberStack {
    inner: ManuallyDrop<Mapped>,
    size: usize,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl FiberStack {
    /// Takes a stack of at least `size` usable bytes from this thread's pool,
    /// or maps a new one (with a few more for the pool: see the module
    /// docs).
    ///
    /// # Errors
    ///
    /// [`StackError::TooLarge`] above [`MAX_STACK_SIZE`];
    /// [`StackError::MapLimit`] when the mapping budget is used up;
    /// [`StackError::Map`] when the kernel refuses the mapping.
    ///
    /// # Examples
    ///
    /// ```
    /// let stack = fibrio_core::stack::FiberStack::new(1)?; // rounded up
    /// assert_eq!(stack.size(), fibrio_core::stack::MIN_STACK_SIZE);
    /// # Ok::<(), fibrio_core::stack::StackError>(())
    /// ```
    #[inline]
    pub fn new(size: usize) -> Result<FiberStack, StackError> {
        let size = rounded_size(size)?;
        let (pooled, victims, room) = POOL.with(|p| {
            let mut p = p.borrow_mut();
            let p = &mut *p;
            let stack = p.classes.iter_mut().find(|c| c.size == size).and_then(|c| {
                let stack = c.stacks.pop();
                c.low = c.low.min(c.stacks.len());
                stack
            });
            if let Some(stack) = &stack {
                p.pooled -= 1;
                p.dirty -= usize::from(!stack.clean);
            }
            p.in_use += 1;
            p.peak_in_use = p.peak_in_use.max(p.in_use);
            let victims = p.tick();
            let room = p.effective_capacity().saturating_sub(p.pooled);
            (stack, victims, room)
        });
        unmap_all(victims);
        let inner = match pooled {
            Some(mut stack) => {
                stack.clean = false;
                stack
            }
            None => match Self::map(size, room) {
                Ok(stack) => stack,
                Err(err) => {
                    POOL.with(|p| p.borrow_mut().in_use -= 1);
                    return Err(err);
                }
            },
        };
        Ok(FiberStack {
            inner: ManuallyDrop::new(inner),
            size,
            _not_send: std::marker::PhantomData,
        })
    }

    /// Maps a stack for the caller, and up to `room` more into the pool in
    /// the same `mmap`.
    #[cold]
    fn map(size: usize, room: usize) -> Result<Mapped, StackError> {
        #[cfg(unix)]
        overflow::ensure_installed();
        let mut charged = budget::acquire();
        if charged.is_err() && (flush_dead() || unmap_one_pooled()) {
            charged = budget::acquire();
        }
        if let Err(refusal) = charged {
            let needed_for = advice_target(refusal.stacks);
            return Err(StackError::MapLimit {
                size_kib: size / 1024,
                stacks_mapped: refusal.stacks,
                in_use: refusal.in_use,
                limit: refusal.limit,
                reserve: refusal.reserve,
                needed: max_map_count_for(needed_for, refusal.others),
                needed_for,
            });
        }
        // The extra stacks: as many as the pool has room for and the budget
        // allows, within one batch.
        let stride = size + page_size();
        let wanted = room
            .min(BATCH_STACKS - 1)
            .min((BATCH_BYTES / stride).saturating_sub(1));
        let mut count = 1;
        while count <= wanted && budget::acquire().is_ok() {
            count += 1;
        }
        match raw::map_batch(size, count) {
            Ok(mut stacks) => {
                let mine = stacks.pop().expect("map_batch maps `count` >= 1 stacks");
                let extra: Vec<Mapped> = stacks
                    .into_iter()
                    .map(|raw| Mapped {
                        raw: ManuallyDrop::new(raw),
                        clean: true,
                    })
                    .collect();
                POOL.with(|p| {
                    let mut p = p.borrow_mut();
                    let p = &mut *p;
                    p.mapped += count;
                    p.pooled += extra.len();
                    match p.classes.iter_mut().find(|c| c.size == size) {
                        Some(class) => class.stacks.extend(extra),
                        None => p.classes.push(SizeClass {
                            size,
                            stacks: extra,
                            low: 0,
                        }),
                    }
                });
                Ok(Mapped {
                    raw: ManuallyDrop::new(mine),
                    clean: false,
                })
            }
            Err(source) => {
                for _ in 0..count {
                    budget::release();
                }
                let (others, stacks) = budget::snapshot();
                let needed_for = advice_target(stacks);
                Err(StackError::Map {
                    size_kib: size / 1024,
                    stacks_mapped: stacks,
                    needed: max_map_count_for(needed_for, others),
                    needed_for,
                    source,
                })
            }
        }
    }

    /// The usable size in bytes (the guard page not included).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::stack::{page_size, FiberStack};
    ///
    /// let stack = FiberStack::new(64 * 1024 + 1)?; // rounded up to whole pages
    /// assert_eq!(stack.size(), 64 * 1024 + page_size());
    /// # Ok::<(), fibrio_core::stack::StackError>(())
    /// ```
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }

    /// The address range `[start, end)` of the guard page below the stack.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::stack::{page_size, FiberStack};
    ///
    /// let stack = FiberStack::new(64 * 1024)?;
    /// let (start, end) = stack.guard_range();
    /// assert_eq!(end - start, page_size()); // one guard page
    /// assert_eq!(start % page_size(), 0);
    /// # Ok::<(), fibrio_core::stack::StackError>(())
    /// ```
    #[inline]
    pub fn guard_range(&self) -> (usize, usize) {
        let start = self.inner.raw.limit();
        (start, start + page_size())
    }
}

impl std::fmt::Debug for FiberStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FiberStack")
            .field("size", &self.size)
            .field("base", &format_args!("{:#x}", self.inner.raw.base()))
            .finish()
    }
}

impl Drop for FiberStack {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `inner` is taken exactly once, here, and `self` is not used
        // afterwards.
        let inner = unsafe { ManuallyDrop::take(&mut self.inner) };
        let size = self.size;
        let rejected = POOL
            .try_with(|p| {
                let mut p = p.borrow_mut();
                let p = &mut *p;
                p.in_use -= 1;
                let victims = p.tick();
                if p.pooled >= p.effective_capacity() {
                    let dead = p.bury(inner);
                    return (victims, dead);
                }
                p.pooled += 1;
                p.dirty += 1;
                match p.classes.iter_mut().find(|c| c.size == size) {
                    Some(class) => class.stacks.push(inner),
                    None => p.classes.push(SizeClass {
                        size,
                        stacks: vec![inner],
                        low: 0,
                    }),
                }
                (victims, Vec::new())
            })
            // The thread is exiting and its pool is gone: just unmap.
            .unwrap_or_default();
        unmap_all(rejected.0);
        unmap_raw(rejected.1);
    }
}

// SAFETY: `base` and `limit` are those of the `RawStack` this value owns:
// `[limit, base)` is page-aligned (so aligned to `STACK_ALIGNMENT`), its
// lowest page is a guard page and the rest, at least `MIN_STACK_SIZE`
// (16 KiB, above corosensei's 4 KiB minimum), is read-write, and it stays
// mapped and used by nothing else while the `FiberStack` lives (`raw.rs`'s
// invariants). That is corosensei's `Stack` contract: a guard page below
// enough usable memory, `limit` including the guard.
unsafe impl Stack for FiberStack {
    #[inline]
    fn base(&self) -> StackPointer {
        StackPointer::new(self.inner.raw.base()).expect("a mapped stack's top is not 0")
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.inner.raw.limit()).expect("a mapped stack is not at 0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn dropped_stack_is_reused_from_the_pool() {
        let stack = FiberStack::new(48 * 1024).unwrap();
        let taken = statistics();
        let base = Stack::base(&stack).get();
        drop(stack);
        assert_eq!(statistics().pooled, taken.pooled + 1);
        let again = FiberStack::new(48 * 1024).unwrap();
        assert_eq!(Stack::base(&again).get(), base);
        assert_eq!(statistics().mapped, taken.mapped, "nothing new was mapped");
    }

    #[test]
    fn pool_never_exceeds_its_capacity() {
        set_pool_capacity(2);
        let stacks: Vec<_> = (0..5)
            .map(|_| FiberStack::new(20 * 1024).unwrap())
            .collect();
        drop(stacks);
        let stats = statistics();
        assert_eq!(stats.pooled, 2);
        assert_eq!(stats.mapped, 2);
        set_pool_capacity(0);
        assert_eq!(statistics().mapped, 0);
        set_pool_capacity(DEFAULT_POOL_CAPACITY);
    }

    #[test]
    fn adaptive_pool_keeps_up_to_the_peak_in_use() {
        // A fresh thread: the pool starts adaptive.
        std::thread::spawn(|| {
            let burst = DEFAULT_POOL_CAPACITY + 100;
            let stacks: Vec<_> = (0..burst)
                .map(|_| FiberStack::new(MIN_STACK_SIZE).unwrap())
                .collect();
            drop(stacks);
            let stats = statistics();
            assert_eq!(stats.peak_in_use, burst);
            assert_eq!(stats.pooled, burst, "the whole burst is kept for next time");
            let mapped = stats.mapped;
            assert_eq!(mapped, burst);
            let again: Vec<_> = (0..burst)
                .map(|_| FiberStack::new(MIN_STACK_SIZE).unwrap())
                .collect();
            assert_eq!(
                statistics().mapped,
                mapped,
                "the second burst mapped nothing"
            );
            drop(again);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn guard_page_sits_just_below_the_usable_stack() {
        let stack = FiberStack::new(MIN_STACK_SIZE).unwrap();
        let (lo, hi) = stack.guard_range();
        assert_eq!(hi - lo, page_size());
        assert_eq!(Stack::base(&stack).get() - hi, MIN_STACK_SIZE);
    }

    #[test]
    fn one_mmap_maps_a_batch_and_the_rest_waits_in_the_pool() {
        std::thread::spawn(|| {
            let first = FiberStack::new(MIN_STACK_SIZE).unwrap();
            let stats = statistics();
            assert_eq!(stats.in_use, 1);
            assert_eq!(stats.mapped, BATCH_STACKS);
            assert_eq!(stats.pooled, BATCH_STACKS - 1);
            // The batch's stacks are adjacent, each with its own guard.
            let second = FiberStack::new(MIN_STACK_SIZE).unwrap();
            let stride = MIN_STACK_SIZE + page_size();
            let (a, b) = (first.guard_range().0, second.guard_range().0);
            assert_eq!(a.abs_diff(b), stride);
            assert_eq!(statistics().mapped, BATCH_STACKS);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn stacks_unused_for_a_quiet_period_are_trimmed_to_the_floor() {
        std::thread::spawn(|| {
            let n = POOL_TRIM_FLOOR + 500;
            let stacks: Vec<_> = (0..n)
                .map(|_| FiberStack::new(MIN_STACK_SIZE).unwrap())
                .collect();
            drop(stacks);
            let pooled = statistics().pooled;
            assert!(pooled >= n);
            // A window starts; nothing is taken for a whole window.
            POOL.with(|p| p.borrow_mut().start_window(Instant::now()));
            let later = Instant::now() + trim_quiet_period();
            let victims = POOL.with(|p| p.borrow_mut().check_window(later));
            assert_eq!(victims.len(), pooled - POOL_TRIM_FLOOR);
            drop(victims);
            assert_eq!(statistics().pooled, POOL_TRIM_FLOOR);
            POOL.with(|p| {
                let p = p.borrow();
                assert!(p.classes.iter().all(|c| c.stacks.iter().all(|s| s.clean)));
                assert!(!p.has_work());
            });
        })
        .join()
        .unwrap();
    }

    #[test]
    fn stacks_taken_during_the_window_are_not_trimmed() {
        std::thread::spawn(|| {
            let stacks: Vec<_> = (0..100)
                .map(|_| FiberStack::new(MIN_STACK_SIZE).unwrap())
                .collect();
            drop(stacks);
            let pooled = statistics().pooled;
            POOL.with(|p| p.borrow_mut().start_window(Instant::now()));
            // 10 are taken and returned during the window: busy.
            let busy: Vec<_> = (0..10)
                .map(|_| FiberStack::new(MIN_STACK_SIZE).unwrap())
                .collect();
            drop(busy);
            let later = Instant::now() + trim_quiet_period();
            let (victims, released) = POOL.with(|p| {
                let mut p = p.borrow_mut();
                p.window_start = Some(later - trim_quiet_period());
                let victims = p.check_window(later);
                let released = p.classes[0].stacks.iter().filter(|s| s.clean).count();
                (victims, released)
            });
            assert!(victims.is_empty(), "below the floor nothing is unmapped");
            assert_eq!(statistics().pooled, pooled);
            // The idle 90 were released, the busy 10 kept their memory.
            assert_eq!(released, pooled - 10);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn oversized_request_is_an_error_not_a_panic() {
        let err = FiberStack::new(usize::MAX).unwrap_err();
        assert!(err.to_string().contains("maximum"), "{err}");
    }
}
