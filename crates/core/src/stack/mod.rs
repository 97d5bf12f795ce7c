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
#[cfg(unix)]
pub(crate) mod overflow;
mod raw;

pub use budget::{
    map_reserve, max_map_count_for, MAPPINGS_PER_STACK, MAP_RESERVE_DIVISOR, MAP_RESERVE_FLOOR,
};

pub(crate) use overflow::{register_overflow_lookup, StackOwner};
pub use raw::{guard_kind, GuardKind};

use std::cell::RefCell;
use std::io;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corosensei::stack::{Stack, StackPointer};

use raw::RawStack;

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

/// Why a fiber stack could not be made.
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::{FiberStack, StackError, MAX_STACK_SIZE};
///
/// let err = FiberStack::new(MAX_STACK_SIZE + 1).unwrap_err();
/// assert!(matches!(err, StackError::TooLarge { .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// The requested size is above [`MAX_STACK_SIZE`].
    #[error("a fiber stack of {requested} bytes was requested, but the maximum is {max} bytes (1 GiB); ask for a smaller stack_size")]
    TooLarge {
        /// The size that was asked for, in bytes.
        requested: usize,
        /// [`MAX_STACK_SIZE`].
        max: usize,
    },
    /// The kernel refused to map the stack: the address space ran out
    /// (`ulimit -v`), or the kernel's memory mappings did (where the budget
    /// of [`StackError::MapLimit`] cannot be kept, without `/proc`).
    #[error("cannot map a {size_kib} KiB fiber stack ({stacks_mapped} stacks are mapped in this process): {source}. If the address space ran out, lower the stack_size or raise the address-space limit (`ulimit -v`). If the kernel's memory mappings ran out (each guarded stack takes 2, and Linux allows vm.max_map_count of them per process, 65530 by default), raise the limit: `sysctl -w vm.max_map_count={needed}` fits {needed_for} stacks (see docs/scaling.md)")]
    Map {
        /// The usable size that was asked for, in KiB.
        size_kib: usize,
        /// How many stacks the process had mapped (in use or pooled) when
        /// it failed.
        stacks_mapped: usize,
        /// A `vm.max_map_count` that fits `needed_for` stacks, counting the
        /// other mappings last measured and [`map_reserve`].
        needed: usize,
        /// The stacks `needed` fits: twice `stacks_mapped` (at least 1024).
        needed_for: usize,
        /// The error `mmap` or `mprotect` returned (usually `ENOMEM`).
        #[source]
        source: io::Error,
    },
    /// Mapping the stack would have left fewer than [`map_reserve`] kernel
    /// memory mappings for the rest of the process (the heap, threads,
    /// libraries), which would then fail to allocate and abort. Nothing was
    /// mapped; freeing stacks (ending tasks) makes room again.
    #[error("cannot map another {size_kib} KiB fiber stack: this process has {stacks_mapped} fiber stacks mapped (2 kernel memory mappings each) and about {in_use} of its vm.max_map_count = {limit} mappings in use, and fibrio keeps the last {reserve} free so that the heap, threads and libraries keep working. Keep fewer tasks alive at once, or raise the limit: `sysctl -w vm.max_map_count={needed}` fits {needed_for} stacks (see docs/scaling.md)")]
    #[non_exhaustive]
    MapLimit {
        /// The usable size that was asked for, in KiB.
        size_kib: usize,
        /// How many stacks the process has mapped, in use or pooled.
        stacks_mapped: usize,
        /// The mappings the process uses (measured at the last read of
        /// `/proc/self/maps`, plus the stacks mapped since).
        in_use: usize,
        /// `vm.max_map_count`, as last read.
        limit: usize,
        /// The mappings kept free: [`map_reserve`]`(limit)`.
        reserve: usize,
        /// The smallest `vm.max_map_count` that fits `needed_for` stacks
        /// beside the process's other mappings ([`max_map_count_for`]).
        needed: usize,
        /// The stacks `needed` fits: twice `stacks_mapped` (at least 1024).
        needed_for: usize,
    },
}

/// The stacks the errors' advice is computed for: twice those mapped.
fn advice_target(stacks: usize) -> usize {
    stacks.saturating_mul(2).max(1024)
}

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
struct SizeClass {
    size: usize,
    /// A stack: the last pushed is the first taken (LIFO), so the bottom
    /// of the vector holds the stacks unused the longest.
    stacks: Vec<Mapped>,
    /// The fewest stacks this class held since the trim window began: the
    /// bottom `low` have not been taken during the window.
    low: usize,
}

struct Pool {
    /// A handful of distinct sizes at most.
    classes: Vec<SizeClass>,
    pooled: usize,
    /// How many pooled stacks are not `clean` (may hold memory).
    dirty: usize,
    /// The configured bound; with `adaptive`, the floor of the bound.
    capacity: usize,
    /// Whether the bound grows with `peak_in_use`.
    adaptive: bool,
    in_use: usize,
    peak_in_use: usize,
    mapped: usize,
    /// Takes and returns since the clock was last read.
    ops: u32,
    /// Stacks dropped beyond the pool's bound, still mapped and charged to
    /// the budget, waiting to be unmapped together ([`UNMAP_BATCH`]).
    dead: Vec<RawStack>,
    /// When the current trim window began (`None`: not yet).
    window_start: Option<Instant>,
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
    fn bury(&mut self, stack: Mapped) -> Vec<RawStack> {
        self.mapped -= 1;
        self.dead.push(stack.into_raw());
        if self.dead.len() >= UNMAP_BATCH {
            std::mem::take(&mut self.dead)
        } else {
            Vec::new()
        }
    }

    /// The bound in force now.
    fn effective_capacity(&self) -> usize {
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
    fn tick(&mut self) -> Vec<Mapped> {
        self.ops += 1;
        if self.ops < TRIM_CHECK_EVERY {
            return Vec::new();
        }
        self.ops = 0;
        self.check_window(Instant::now())
    }

    #[cold]
    fn check_window(&mut self, now: Instant) -> Vec<Mapped> {
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

    fn start_window(&mut self, now: Instant) {
        self.window_start = Some(now);
        for class in &mut self.classes {
            class.low = class.stacks.len();
        }
    }

    /// Gives back the memory of the idle stacks (all pooled ones with
    /// `all`, else those not taken during the window): past
    /// [`POOL_TRIM_FLOOR`] they are returned to be unmapped, the others
    /// are `madvise(MADV_DONTNEED)`ed once. Starts a new window.
    fn trim(&mut self, all: bool) -> (Vec<Mapped>, usize) {
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
    fn has_work(&self) -> bool {
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

/// What a trim gave back.
///
/// # Examples
///
/// ```
/// let trimmed = fibrio_core::stack::trim_pool();
/// assert!(fibrio_core::stack::statistics().pooled <= fibrio_core::stack::POOL_TRIM_FLOOR);
/// # let _ = trimmed.unmapped;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trimmed {
    /// Stacks unmapped (beyond [`POOL_TRIM_FLOOR`]).
    pub unmapped: usize,
    /// Stacks kept in the pool whose memory this trim gave back.
    pub released: usize,
}

/// Gives back the memory of every stack in this thread's pool now: those
/// beyond [`POOL_TRIM_FLOOR`] are unmapped, the others keep their mapping
/// and lose their pages (`madvise(MADV_DONTNEED)`), so the next task that
/// takes one faults in fresh zeroed pages.
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::{self, FiberStack};
///
/// drop(FiberStack::new(64 * 1024).unwrap());
/// stack::trim_pool();
/// assert!(stack::statistics().pooled <= stack::POOL_TRIM_FLOOR);
/// ```
pub fn trim_pool() -> Trimmed {
    let (victims, released) = POOL
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let trimmed = p.trim(true);
            p.window_start = Some(Instant::now());
            trimmed
        })
        .unwrap_or_default();
    let unmapped = victims.len();
    unmap_all(victims);
    flush_dead();
    if unmapped > 0 || released > 0 {
        trim_heap();
    }
    Trimmed { unmapped, released }
}

/// Trims this thread's pool if a quiet period has passed since the last
/// check (giving back the stacks unused for that long), and returns how
/// long until calling it again could give anything back: `None` when the
/// pool holds nothing to give back.
///
/// This is the hook for an event loop that goes idle: call it before
/// blocking, and block no longer than what it returns.
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::{self, FiberStack};
///
/// drop(FiberStack::new(64 * 1024).unwrap());
/// if let Some(wait) = stack::trim_pool_if_due() {
///     assert!(wait <= stack::trim_quiet_period());
/// }
/// ```
pub fn trim_pool_if_due() -> Option<Duration> {
    let victims = POOL
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let now = Instant::now();
            let dirty = p.dirty;
            let victims = p.check_window(now);
            // Unmapped stacks, or pages released from pooled ones.
            let gave_back = !victims.is_empty() || p.dirty < dirty;
            let next = p.has_work().then(|| {
                let start = p.window_start.unwrap_or(now);
                (start + trim_quiet_period()).saturating_duration_since(now)
            });
            (victims, gave_back, next)
        })
        .ok();
    let (victims, gave_back, next) = victims?;
    unmap_all(victims);
    if gave_back {
        trim_heap();
    }
    next
}

/// After an idle thread's trim gave stacks back: asks `malloc` to give back
/// the free pages of its heaps too. The tasks that used those stacks freed
/// their buffers and bookkeeping, but glibc keeps freed memory that is not
/// at the top of a heap (a long-lived allocation above it pins it), so
/// without this the RSS of a server after a burst of connections stays
/// near its peak. At most once per quiet period per thread, on a thread
/// that has nothing else to do.
#[cold]
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointer and has no precondition: it
    // walks glibc's own arenas under their locks and only releases pages
    // of free chunks (`madvise(MADV_DONTNEED)`) or shrinks the top of a
    // heap, never memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

thread_local! {
    static POOL: RefCell<Pool> = const {
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

/// One stack mapping, charged to the process-wide mapping budget from
/// before its `mmap` until it is unmapped.
struct Mapped {
    raw: ManuallyDrop<RawStack>,
    /// Whether its usable pages hold no memory (never touched since it was
    /// mapped, or given back by a trim).
    clean: bool,
}

impl Mapped {
    /// The mapping, still charged to the budget: [`unmap_raw`] discharges
    /// it.
    fn into_raw(self) -> RawStack {
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
fn unmap_raw(stacks: Vec<RawStack>) {
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
fn unmap_all(stacks: Vec<Mapped>) {
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
fn flush_dead() -> bool {
    let dead = POOL
        .try_with(|p| std::mem::take(&mut p.borrow_mut().dead))
        .unwrap_or_default();
    let found = !dead.is_empty();
    unmap_raw(dead);
    found
}

/// Unmaps one of this thread's pooled stacks, of any size, to make room in
/// the mapping budget. Returns whether there was one.
fn unmap_one_pooled() -> bool {
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
