//! Fiber stacks: guard-paged `mmap` regions, recycled through a per-thread
//! pool.
//!
//! # Layout
//!
//! A [`FiberStack`] wraps corosensei's [`DefaultStack`]: one anonymous
//! mapping whose lowest page is `PROT_NONE` (the guard page) and whose other
//! pages are read-write. The stack grows down from the top of the mapping
//! towards the guard page, so running off the end faults instead of silently
//! corrupting the neighbouring memory. The overflow handler
//! (`stack/overflow.rs`) turns that fault into a readable message.
//!
//! Each guarded stack costs the kernel two memory mappings
//! ([`MAPPINGS_PER_STACK`]: the guard page and the usable part have
//! different protections). Linux caps a process at `vm.max_map_count`
//! mappings, 65530 by default.
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
//! * A refused stack first makes room by unmapping one of this thread's
//!   pooled stacks of another size, if there is one, and tries again.
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
//!   out for a request of exactly that size.
//! * The counters in [`StackStatistics`] are changed only by this module:
//!   `in_use` by `FiberStack::new`/`drop`, `pooled` by the pool, `mapped` by
//!   the code that calls `mmap`/`munmap`.
//! * Every stack mapping is a `Mapped`, which is charged to the
//!   process-wide budget before its `mmap` and discharged when it is
//!   dropped, whichever thread or thread-local destructor drops it; so the
//!   budget counts exactly the stacks mapped in the process, pooled ones
//!   included.

mod budget;
#[cfg(unix)]
pub(crate) mod overflow;

pub use budget::{
    map_reserve, max_map_count_for, MAPPINGS_PER_STACK, MAP_RESERVE_DIVISOR, MAP_RESERVE_FLOOR,
};

pub(crate) use overflow::{register_overflow_lookup, StackOwner};

use std::cell::RefCell;
use std::io;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicUsize, Ordering};

use corosensei::stack::{DefaultStack, Stack, StackPointer};

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
    /// plus the pooled ones, when all stacks stay on their thread).
    pub mapped: usize,
    /// The most stacks the pool will keep now.
    pub pool_capacity: usize,
    /// The most stacks this thread has had in use at once.
    pub peak_in_use: usize,
}

struct Pool {
    /// `(rounded size, stacks)`; a handful of distinct sizes at most.
    by_size: Vec<(usize, Vec<Mapped>)>,
    pooled: usize,
    /// The configured bound; with `adaptive`, the floor of the bound.
    capacity: usize,
    /// Whether the bound grows with `peak_in_use`.
    adaptive: bool,
    in_use: usize,
    peak_in_use: usize,
    mapped: usize,
}

impl Pool {
    /// The bound in force now.
    fn effective_capacity(&self) -> usize {
        if self.adaptive {
            self.capacity.max(self.peak_in_use.min(ADAPTIVE_POOL_LIMIT))
        } else {
            self.capacity
        }
    }
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            by_size: Vec::new(),
            pooled: 0,
            capacity: DEFAULT_POOL_CAPACITY,
            adaptive: true,
            in_use: 0,
            peak_in_use: 0,
            mapped: 0,
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
        p.capacity = capacity;
        p.adaptive = false;
        let mut excess = Vec::new();
        while p.pooled > capacity {
            let Some((_, stacks)) = p.by_size.iter_mut().find(|(_, s)| !s.is_empty()) else {
                break;
            };
            excess.extend(stacks.pop());
            p.pooled -= 1;
            p.mapped -= 1;
        }
        excess
    });
    // Unmap outside the borrow.
    drop(excess);
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
struct Mapped(ManuallyDrop<DefaultStack>);

impl std::ops::Deref for Mapped {
    type Target = DefaultStack;

    #[inline]
    fn deref(&self) -> &DefaultStack {
        &self.0
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: the stack is dropped (unmapped) exactly once, here, and
        // `self.0` is not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.0) };
        budget::release();
    }
}

/// Unmaps one of this thread's pooled stacks, of any size, to make room in
/// the mapping budget. Returns whether there was one.
fn unmap_one_pooled() -> bool {
    let victim = POOL
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let p = &mut *p;
            let victim = p.by_size.iter_mut().find_map(|(_, stacks)| stacks.pop());
            if victim.is_some() {
                p.pooled -= 1;
                p.mapped -= 1;
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
    /// or maps a new one.
    ///
    /// # Errors
    ///
    /// [`StackError::TooLarge`] above [`MAX_STACK_SIZE`];
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
        let pooled = POOL.with(|p| {
            let mut p = p.borrow_mut();
            let p = &mut *p;
            let stack = p
                .by_size
                .iter_mut()
                .find(|(s, _)| *s == size)
                .and_then(|(_, stacks)| stacks.pop());
            if stack.is_some() {
                p.pooled -= 1;
            }
            p.in_use += 1;
            p.peak_in_use = p.peak_in_use.max(p.in_use);
            stack
        });
        let inner = match pooled {
            Some(stack) => stack,
            None => match Self::map(size) {
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

    #[cold]
    fn map(size: usize) -> Result<Mapped, StackError> {
        #[cfg(unix)]
        overflow::ensure_installed();
        let mut charged = budget::acquire();
        if charged.is_err() && unmap_one_pooled() {
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
        match DefaultStack::new(size) {
            Ok(stack) => {
                POOL.with(|p| p.borrow_mut().mapped += 1);
                Ok(Mapped(ManuallyDrop::new(stack)))
            }
            Err(source) => {
                budget::release();
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
        let start = self.inner.limit().get();
        (start, start + page_size())
    }
}

impl std::fmt::Debug for FiberStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FiberStack")
            .field("size", &self.size)
            .field("base", &format_args!("{:#x}", self.inner.base().get()))
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
                if p.pooled >= p.effective_capacity() {
                    p.mapped -= 1;
                    return Some(inner);
                }
                p.pooled += 1;
                match p.by_size.iter_mut().find(|(s, _)| *s == size) {
                    Some((_, stacks)) => stacks.push(inner),
                    None => p.by_size.push((size, vec![inner])),
                }
                None
            })
            // The thread is exiting and its pool is gone: just unmap.
            .unwrap_or(None);
        drop(rejected);
    }
}

// SAFETY: every method delegates to `DefaultStack`, whose `Stack` impl
// upholds the trait's contract (a valid, aligned, writable region between
// `limit` and `base` that stays mapped while the `FiberStack` lives).
unsafe impl Stack for FiberStack {
    #[inline]
    fn base(&self) -> StackPointer {
        self.inner.base()
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        self.inner.limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_stack_is_reused_from_the_pool() {
        let before = statistics();
        let stack = FiberStack::new(48 * 1024).unwrap();
        let base = stack.inner.base().get();
        drop(stack);
        assert_eq!(statistics().pooled, before.pooled + 1);
        let again = FiberStack::new(48 * 1024).unwrap();
        assert_eq!(again.inner.base().get(), base);
        assert_eq!(statistics().mapped, before.mapped + 1);
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
            let again: Vec<_> = (0..burst)
                .map(|_| FiberStack::new(MIN_STACK_SIZE).unwrap())
                .collect();
            assert_eq!(
                statistics().mapped,
                burst,
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
        assert_eq!(stack.inner.base().get() - hi, MIN_STACK_SIZE);
    }

    #[test]
    fn oversized_request_is_an_error_not_a_panic() {
        let err = FiberStack::new(usize::MAX).unwrap_err();
        assert!(err.to_string().contains("maximum"), "{err}");
    }
}
