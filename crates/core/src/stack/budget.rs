//! The process-wide budget of kernel memory mappings for fiber stacks.
//!
//! Linux refuses a process more than `vm.max_map_count` memory mappings
//! (VMAs). Fiber stacks are by far the largest consumer, two mappings each,
//! and when they take the last mapping every later `mmap` in the process
//! fails: the next large `malloc` (a `Vec` growing past 128 KiB, the timer
//! queue, the symbolisation of a backtrace) returns null and Rust aborts
//! with "memory allocation of N bytes failed". So the stack allocator stops
//! [`map_reserve`] mappings short of the limit and returns
//! [`StackError::MapLimit`](super::StackError::MapLimit) instead.
//!
//! # How the count is kept cheaply
//!
//! * The limit is read from `/proc/sys/vm/max_map_count` when the first
//!   stack is mapped, and again with every re-count below, so that a limit
//!   raised with `sysctl` while the process runs is used without a restart.
//!   Without `/proc` (or on another system) there is no budget and only the
//!   kernel's own refusal, [`StackError::Map`](super::StackError::Map),
//!   remains.
//! * `STACKS` counts the stacks mapped in the whole process (in use or
//!   pooled, on every thread); each is charged [`MAPPINGS_PER_STACK`]
//!   mappings. Everything else in the process ("the others") was measured
//!   at the last read of `/proc/self/maps` (one line per mapping): others =
//!   lines − 2 × stacks at that moment.
//! * Mapping a stack is one atomic increment and one atomic load while the
//!   count of stacks stays at or below `CHECK_AT`. Crossing it takes the
//!   slow path: re-read `/proc/self/maps` (if the rate limit allows), then
//!   move `CHECK_AT` halfway to the most stacks that fit, or refuse when
//!   none fits. Filling the budget from empty thus re-reads about
//!   log2(limit) times at most, and far from the limit never.
//! * Reading `/proc/self/maps` costs about 0.3 µs per mapping (18 ms at
//!   60,000 mappings), so a read is allowed only 100 times its own duration
//!   after the previous one: at most 1% of one core even for a process that
//!   keeps spawning at the limit. Between two reads the decision uses the
//!   last measurement of the others plus the exact count of our own
//!   stacks, so stacks freed since are seen at once.
//! * The reserve therefore has to absorb whatever the rest of the process
//!   maps between two reads. The file is re-read at each halving of the
//!   headroom that the rate limit allows, so what it cannot catch is the
//!   rest of the process taking more than the reserve plus half the
//!   remaining headroom between two reads.
//!
//! # Invariants
//!
//! * `STACKS` is changed only by [`acquire`] (before the `mmap`, undone if
//!   it is refused or fails) and [`release`] (when the mapping is dropped),
//!   so it never undercounts live stack mappings by more than the few being
//!   created on other threads at that instant.
//! * `CHECK_AT` is written only under `STATE`'s lock. A stale read of it
//!   can let a thread or two past the checkpoint before the slow path runs,
//!   which the reserve absorbs.
//! * [`acquire`] never allocates after start-up: the buffer `/proc/self/maps`
//!   is read through is allocated once, with the first stack, while
//!   mappings are plentiful, and the limit is read into a stack array.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// How many kernel memory mappings (lines of `/proc/self/maps`) one guarded
/// fiber stack costs at most: 2, its `PROT_NONE` guard page and its
/// read-write part.
///
/// It can be fewer when the kernel merges a stack's part with a neighbour
/// of the same protection, never more: a stack is one `mmap` and one
/// `mprotect`, which splits one mapping into at most three.
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::MAPPINGS_PER_STACK;
///
/// // 30,000 tasks with guarded stacks hold 60,000 mappings.
/// assert_eq!(30_000 * MAPPINGS_PER_STACK, 60_000);
/// ```
pub const MAPPINGS_PER_STACK: usize = 2;

/// The smallest mapping reserve kept for the rest of the process: 4096
/// mappings (see [`map_reserve`]).
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::{map_reserve, MAP_RESERVE_FLOOR};
///
/// assert_eq!(map_reserve(65_530), MAP_RESERVE_FLOOR);
/// ```
pub const MAP_RESERVE_FLOOR: usize = 4096;

/// The share of a large `vm.max_map_count` kept for the rest of the
/// process: one mapping in 32 (see [`map_reserve`]).
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::{map_reserve, MAP_RESERVE_DIVISOR};
///
/// assert_eq!(map_reserve(1 << 20), (1 << 20) / MAP_RESERVE_DIVISOR);
/// ```
pub const MAP_RESERVE_DIVISOR: usize = 32;

/// How many of `limit` (a `vm.max_map_count`) kernel memory mappings fiber
/// stacks leave free for the rest of the process: the larger of
/// [`MAP_RESERVE_FLOOR`] and `limit /` [`MAP_RESERVE_DIVISOR`], but never
/// more than a quarter of `limit`.
///
/// The rest of a process maps memory for threads (a stack and a guard, plus
/// an alternate signal stack and its guard: 4 mappings per thread, 256 for
/// the 64 blocking threads), for malloc arenas (2 each, up to 8 per core:
/// 1,024 on 64 cores), for every allocation above malloc's mmap threshold
/// (128 KiB at first), for the libraries loaded late (the resolver's NSS
/// modules: about 5 each) and for the symbolisation of a backtrace (the
/// executable's debug information). The floor covers all of these with
/// room to spare; the share grows the reserve with limits raised for big
/// processes, whose other mappings tend to grow too. At the default limit
/// of 65,530 it costs 2,048 stacks (6%), at 1,048,576 it is 32,768.
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::map_reserve;
///
/// assert_eq!(map_reserve(65_530), 4_096);
/// assert_eq!(map_reserve(1_048_576), 32_768);
/// assert_eq!(map_reserve(8_000), 2_000); // a quarter of a tiny limit
/// ```
pub fn map_reserve(limit: usize) -> usize {
    MAP_RESERVE_FLOOR
        .max(limit / MAP_RESERVE_DIVISOR)
        .min(limit / 4)
}

/// The smallest `vm.max_map_count` that lets `stacks` guarded fiber stacks
/// exist at once in a process that holds `other_mappings` other mappings,
/// counting the [`map_reserve`] the stack allocator keeps free.
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::{map_reserve, max_map_count_for, MAPPINGS_PER_STACK};
///
/// // A million tasks in a process with 300 other mappings.
/// let limit = max_map_count_for(1_000_000, 300);
/// assert_eq!(limit, 2_064_825);
/// assert!(limit - map_reserve(limit) >= 1_000_000 * MAPPINGS_PER_STACK + 300);
/// ```
pub fn max_map_count_for(stacks: usize, other_mappings: usize) -> usize {
    let needed = stacks
        .saturating_mul(MAPPINGS_PER_STACK)
        .saturating_add(other_mappings);
    let fits = |limit: usize| limit - map_reserve(limit) >= needed;
    // `limit - map_reserve(limit)` never decreases as `limit` grows, and
    // is at least `limit * 3 / 4`, so the answer lies in `[needed, hi]`.
    let (mut lo, mut hi) = (needed, needed.saturating_mul(2).saturating_add(16));
    if !fits(hi) {
        return usize::MAX;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Stacks mapped in the whole process, in use or pooled.
static STACKS: AtomicUsize = AtomicUsize::new(0);
/// The fast path allows mapping while `STACKS` stays at or below this.
/// Zero at first, so that the first stack takes the slow path and starts
/// the budget.
static CHECK_AT: AtomicUsize = AtomicUsize::new(0);
static STATE: Mutex<State> = Mutex::new(State {
    started: false,
    limit: None,
    others: 0,
    next_read: None,
    buf: Vec::new(),
});

/// A read of `/proc/self/maps` is allowed this many times its own
/// duration after the previous one.
const READ_INTERVAL_FACTOR: u32 = 100;
/// The buffer `/proc/self/maps` is read through (below malloc's mmap
/// threshold, so it comes from the heap).
const READ_BUFFER: usize = 32 * 1024;

struct State {
    started: bool,
    /// `vm.max_map_count`, or `None` when there is no budget.
    limit: Option<usize>,
    /// Mappings that are not fiber stacks, at the last read.
    others: usize,
    /// The earliest instant of the next read; `None` allows one now.
    next_read: Option<Instant>,
    buf: Vec<u8>,
}

/// Why [`acquire`] refused: the budget as it stood.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal {
    /// Stacks mapped in the process, not counting the refused one.
    pub(crate) stacks: usize,
    /// Mappings in use in the process (an estimate between reads).
    pub(crate) in_use: usize,
    pub(crate) limit: usize,
    pub(crate) reserve: usize,
    /// Mappings that are not fiber stacks.
    pub(crate) others: usize,
}

/// Charges one more stack to the budget, before it is mapped.
///
/// # Errors
///
/// A [`Refusal`] when the stack would eat into the reserve; nothing is
/// charged then.
#[inline]
pub(crate) fn acquire() -> Result<(), Refusal> {
    let stacks = STACKS.fetch_add(1, Ordering::Relaxed) + 1;
    if stacks <= CHECK_AT.load(Ordering::Relaxed) {
        return Ok(());
    }
    let result = check(stacks);
    if result.is_err() {
        STACKS.fetch_sub(1, Ordering::Relaxed);
    }
    result
}

/// Gives back the charge of a stack that was unmapped, or whose mapping
/// failed.
#[inline]
pub(crate) fn release() {
    STACKS.fetch_sub(1, Ordering::Relaxed);
}

/// Gives back the charges of `count` stacks that were unmapped.
#[inline]
pub(crate) fn release_many(count: usize) {
    STACKS.fetch_sub(count, Ordering::Relaxed);
}

/// The budget as it stands, for an error message: `(others, stacks)`, the
/// mappings that were not stacks at the last read (0 without a budget) and
/// the stacks mapped now.
pub(crate) fn snapshot() -> (usize, usize) {
    let state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    (state.others, STACKS.load(Ordering::Relaxed))
}

#[cold]
fn check(stacks: usize) -> Result<(), Refusal> {
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    if !state.started {
        state.started = true;
        state.limit = read_limit();
        state.buf = vec![0; READ_BUFFER];
    }
    let Some(mut limit) = state.limit else {
        CHECK_AT.store(usize::MAX, Ordering::Relaxed);
        return Ok(());
    };
    let stacks_now = STACKS.load(Ordering::Relaxed).max(stacks);
    let now = Instant::now();
    if state.next_read.is_none_or(|next| now >= next) {
        let Some(lines) = count_mappings(&mut state.buf) else {
            // `/proc/self/maps` cannot be read: give the budget up rather
            // than guess.
            state.limit = None;
            CHECK_AT.store(usize::MAX, Ordering::Relaxed);
            return Ok(());
        };
        let cost = now.elapsed();
        // A limit changed since start-up counts from now on.
        if let Some(now_limit) = read_limit() {
            limit = now_limit;
            state.limit = Some(limit);
        }
        // The stack being charged is not mapped yet.
        let ours = (stacks_now - 1) * MAPPINGS_PER_STACK;
        state.others = lines.saturating_sub(ours);
        state.next_read = Some(Instant::now() + cost * READ_INTERVAL_FACTOR);
    }
    let reserve = map_reserve(limit);
    let fitting = (limit - reserve).saturating_sub(state.others) / MAPPINGS_PER_STACK;
    if stacks_now <= fitting {
        CHECK_AT.store(stacks_now + (fitting - stacks_now) / 2, Ordering::Relaxed);
        Ok(())
    } else {
        // Every attempt comes back here until stacks are freed.
        CHECK_AT.store(fitting, Ordering::Relaxed);
        let stacks = stacks_now - 1;
        Err(Refusal {
            stacks,
            in_use: state.others + stacks * MAPPINGS_PER_STACK,
            limit,
            reserve,
            others: state.others,
        })
    }
}

/// `vm.max_map_count`, or `None` where it cannot be read. Allocates
/// nothing (beyond what `open` does in the kernel).
fn read_limit() -> Option<usize> {
    let mut file = std::fs::File::open("/proc/sys/vm/max_map_count").ok()?;
    let mut buf = [0u8; 32];
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let text = std::str::from_utf8(&buf[..len]).ok()?;
    text.trim().parse().ok().filter(|&limit: &usize| limit > 0)
}

/// The number of lines in `/proc/self/maps`: the mappings in use.
fn count_mappings(buf: &mut [u8]) -> Option<usize> {
    let mut file = std::fs::File::open("/proc/self/maps").ok()?;
    let mut lines = 0;
    loop {
        match file.read(buf) {
            Ok(0) => return Some(lines),
            Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count(),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_has_a_floor_a_share_and_a_cap() {
        assert_eq!(map_reserve(65_530), MAP_RESERVE_FLOOR);
        assert_eq!(map_reserve(262_144), 8_192);
        assert_eq!(map_reserve(1 << 20), 32_768);
        assert_eq!(map_reserve(4_000), 1_000);
        assert_eq!(map_reserve(0), 0);
    }

    #[test]
    fn the_limit_reads_as_the_sysctl_says() {
        let text = std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap();
        assert_eq!(read_limit(), Some(text.trim().parse().unwrap()));
    }

    #[test]
    fn max_map_count_for_is_the_smallest_limit_that_fits() {
        for stacks in [0, 1, 1_000, 30_000, 524_271, 1_000_000] {
            for others in [0, 250, 10_000] {
                let limit = max_map_count_for(stacks, others);
                let needed = stacks * MAPPINGS_PER_STACK + others;
                assert!(limit - map_reserve(limit) >= needed, "{stacks} {others}");
                assert!(
                    limit == 0 || limit - 1 - map_reserve(limit - 1) < needed,
                    "{stacks} {others}: {limit} is not the smallest"
                );
            }
        }
        // The old advice, 1048576, holds fewer than 524,272 stacks.
        assert!(max_map_count_for(524_272, 0) > 1_048_576);
        assert_eq!(max_map_count_for(usize::MAX, 0), usize::MAX);
    }

    #[test]
    fn counting_mappings_sees_new_ones() {
        const PAGES: usize = 2_000;
        let page = super::super::page_size();
        let mut buf = vec![0; READ_BUFFER];
        let before = count_mappings(&mut buf).expect("/proc/self/maps");
        assert!(before > 0);
        // SAFETY: an anonymous mapping with no address hint has no
        // preconditions; it is checked and unmapped below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGES * page,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        for i in (1..PAGES).step_by(2) {
            // SAFETY: page `i` lies inside the mapping made above, which
            // nothing else uses; making every other page readable splits
            // the mapping into `PAGES` mappings.
            let r = unsafe {
                libc::mprotect(p.cast::<u8>().add(i * page).cast(), page, libc::PROT_READ)
            };
            assert_eq!(r, 0);
        }
        let after = count_mappings(&mut buf).unwrap();
        // SAFETY: `p` and the length are exactly the mapping made above,
        // which nothing else uses.
        unsafe { libc::munmap(p, PAGES * page) };
        // Other tests map and unmap concurrently, but far fewer than this.
        assert!(after >= before + PAGES / 2, "{before} -> {after}");
    }
}
