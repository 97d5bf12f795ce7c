//! Giving pooled stacks' memory back on demand: [`trim_pool`] (everything,
//! now) and [`trim_pool_if_due`] (the idle event loop's hook), and, when
//! either gave stacks back, glibc's free heap pages (`malloc_trim`).
//!
//! Invariants: a trim keeps up to [`POOL_TRIM_FLOOR`] stacks per thread
//! mapped (their pages released) and unmaps the rest; stacks are unmapped
//! outside the pool's borrow; `malloc_trim` runs only after a trim that
//! gave stacks back, so at most once per quiet period per thread.

use std::time::{Duration, Instant};

use super::pool::{flush_dead, trim_quiet_period, unmap_all, POOL};
#[cfg(doc)]
use super::POOL_TRIM_FLOOR;

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
