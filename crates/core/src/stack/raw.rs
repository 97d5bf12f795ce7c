//! Mapping fiber stacks: several per `mmap`, each with its own guard page.
//!
//! # Layout
//!
//! One `mmap` holds `count` stacks side by side, each `stride` = one guard
//! page + its usable size. The lowest page of each stack is its guard:
//!
//! ```text
//! | guard | usable (size) | guard | usable (size) | ... |
//! ^ limit               ^ base (the stack grows down from here)
//! ```
//!
//! Once mapped, the stacks are independent: each is unmapped alone, with
//! its own `munmap` of exactly its `stride` bytes (unmapping part of a
//! mapping is ordinary POSIX), so nothing keeps track of the batch.
//!
//! # Guard pages: two ways
//!
//! * **Guard markers** (Linux 6.13 and later): the whole batch is mapped
//!   read-write and `madvise(MADV_GUARD_INSTALL)` marks each guard page in
//!   the page tables. Touching it raises `SIGSEGV` exactly as a `PROT_NONE`
//!   page does, but the mapping is not split, so the kernel keeps one
//!   memory mapping (VMA) for many adjacent stacks, and mapping and
//!   unmapping them is cheaper. Markers survive `MADV_DONTNEED`, which the
//!   pool's trim relies on.
//! * **`mprotect`** (older kernels, other Unix systems): each guard page is
//!   made `PROT_NONE`, which splits the mapping, two mappings per stack.
//!
//! The way is chosen once per process, by probing with a two-page mapping
//! before the first stack is mapped. Either way the budget charges
//! [`MAPPINGS_PER_STACK`](super::MAPPINGS_PER_STACK) (2) per stack, an upper
//! bound that is exact for `mprotect` guards.
//!
//! # Invariants
//!
//! * A [`RawStack`] owns exactly `[limit, base)`: nothing else maps,
//!   unmaps or changes it, and it is unmapped once, by `Drop`.
//! * `[limit, limit + page)` is a guard (marker or `PROT_NONE`) and
//!   `[limit + page, base)` is read-write, for the whole life of the value.
//! * Each stack is registered with valgrind (a no-op outside it) for as
//!   long as it is mapped, as corosensei's own `DefaultStack` does.

use std::io;
use std::mem::ManuallyDrop;
use std::ptr;
use std::sync::atomic::{AtomicU8, Ordering};

use corosensei::stack::valgrind::ValgrindStackRegistration;

use super::page_size;

/// `MADV_GUARD_INSTALL` (Linux 6.13, `include/uapi/asm-generic/mman-common.h`),
/// not yet in the `libc` crate.
#[cfg(target_os = "linux")]
const MADV_GUARD_INSTALL: libc::c_int = 102;

const MODE_UNKNOWN: u8 = 0;
const MODE_MARKERS: u8 = 1;
const MODE_MPROTECT: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(MODE_UNKNOWN);

/// How guard pages are made in this process (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardKind {
    /// `madvise(MADV_GUARD_INSTALL)` page-table markers (Linux 6.13+): no
    /// split mappings.
    Markers,
    /// A `PROT_NONE` page per stack, made with `mprotect`.
    Mprotect,
}

/// How this process makes its stacks' guard pages: probed once, with the
/// first call (or the first stack).
///
/// # Examples
///
/// ```
/// use fibrio_core::stack::{guard_kind, GuardKind};
///
/// // Linux 6.13 and later: markers; elsewhere, mprotect.
/// assert!(matches!(guard_kind(), GuardKind::Markers | GuardKind::Mprotect));
/// ```
pub fn guard_kind() -> GuardKind {
    match MODE.load(Ordering::Relaxed) {
        MODE_MARKERS => GuardKind::Markers,
        MODE_MPROTECT => GuardKind::Mprotect,
        _ => {
            let kind = probe();
            let mode = match kind {
                GuardKind::Markers => MODE_MARKERS,
                GuardKind::Mprotect => MODE_MPROTECT,
            };
            MODE.store(mode, Ordering::Relaxed);
            kind
        }
    }
}

/// Whether `MADV_GUARD_INSTALL` works here: tried on a fresh two-page
/// mapping.
fn probe() -> GuardKind {
    #[cfg(target_os = "linux")]
    {
        if std::env::var_os("FIBRIO_STACK_GUARD").is_some_and(|v| v == "mprotect") {
            return GuardKind::Mprotect;
        }
        let page = page_size();
        // SAFETY: an anonymous mapping with no address hint has no
        // preconditions; the result is checked and unmapped below.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                2 * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return GuardKind::Mprotect;
        }
        // SAFETY: `p` is the start of the two pages mapped above, which
        // nothing else uses.
        let ok = unsafe { libc::madvise(p, page, MADV_GUARD_INSTALL) } == 0;
        // SAFETY: exactly the mapping made above, no longer used.
        unsafe { libc::munmap(p, 2 * page) };
        if ok {
            GuardKind::Markers
        } else {
            GuardKind::Mprotect
        }
    }
    #[cfg(not(target_os = "linux"))]
    GuardKind::Mprotect
}

/// One mapped stack: `[limit, base)`, its guard page the lowest page.
pub(crate) struct RawStack {
    base: usize,
    /// Guard page included.
    len: usize,
    valgrind: ManuallyDrop<ValgrindStackRegistration>,
}

impl RawStack {
    /// The top of the stack (exclusive).
    #[inline]
    pub(crate) fn base(&self) -> usize {
        self.base
    }

    /// The bottom of the guard page.
    #[inline]
    pub(crate) fn limit(&self) -> usize {
        self.base - self.len
    }

    /// Gives the usable pages' memory back to the kernel; they read as zero
    /// when touched again. The guard stays (markers survive it).
    pub(crate) fn release_memory(&self) {
        let page = page_size();
        // SAFETY: `[limit + page, base)` is this stack's read-write part,
        // which it owns and which no coroutine uses: it is called only on
        // pooled stacks. Discarding the contents of private anonymous
        // memory is always allowed; failure only leaves the memory in use.
        unsafe {
            libc::madvise(
                (self.limit() + page) as *mut libc::c_void,
                self.len - page,
                libc::MADV_DONTNEED,
            )
        };
    }
}

impl Drop for RawStack {
    fn drop(&mut self) {
        // SAFETY: deregistered once, here, before the memory goes.
        unsafe { ManuallyDrop::drop(&mut self.valgrind) };
        // SAFETY: `[limit, base)` is owned by this value alone (module
        // invariant) and is unmapped exactly once, here.
        let ret = unsafe { libc::munmap(self.limit() as *mut libc::c_void, self.len) };
        debug_assert_eq!(ret, 0, "munmap of a fiber stack failed");
    }
}

/// Maps `count` stacks of `size` usable bytes (a multiple of the page size)
/// in one `mmap`, each with its guard page.
pub(crate) fn map_batch(size: usize, count: usize) -> io::Result<Vec<RawStack>> {
    debug_assert!(count > 0 && size.is_multiple_of(page_size()));
    let kind = guard_kind();
    let page = page_size();
    let stride = size + page;
    let len = stride
        .checked_mul(count)
        .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
    // SAFETY: an anonymous mapping with no address hint has no
    // preconditions; the result is checked below.
    let start = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if start == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let start = start as usize;
    for i in 0..count {
        let guard = (start + i * stride) as *mut libc::c_void;
        let ret = match kind {
            #[cfg(target_os = "linux")]
            // SAFETY: `guard` is a page of the mapping made above, owned
            // here and not yet handed out.
            GuardKind::Markers => unsafe { libc::madvise(guard, page, MADV_GUARD_INSTALL) },
            // SAFETY: as above.
            _ => unsafe { libc::mprotect(guard, page, libc::PROT_NONE) },
        };
        if ret != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: the whole mapping made above, nothing handed out yet.
            unsafe { libc::munmap(start as *mut libc::c_void, len) };
            return Err(err);
        }
    }
    Ok((0..count)
        .map(|i| {
            let limit = start + i * stride;
            RawStack {
                base: limit + stride,
                len: stride,
                valgrind: ManuallyDrop::new(ValgrindStackRegistration::new(
                    limit as *mut u8,
                    stride,
                )),
            }
        })
        .collect())
}

/// Unmaps `stacks` with as few `munmap` calls as their addresses allow:
/// stacks that lie end to end (as those of one batch do) go in one call.
/// Returns how many were unmapped (all of them).
pub(crate) fn unmap_many(mut stacks: Vec<RawStack>) -> usize {
    let count = stacks.len();
    stacks.sort_unstable_by_key(RawStack::limit);
    let mut run: Option<(usize, usize)> = None;
    for stack in stacks {
        let mut stack = ManuallyDrop::new(stack);
        let (limit, base) = (stack.limit(), stack.base());
        // SAFETY: each stack is deregistered once, here; its memory is
        // unmapped below and `stack` is never dropped (ManuallyDrop).
        unsafe { ManuallyDrop::drop(&mut stack.valgrind) };
        run = match run {
            Some((start, end)) if end == limit => Some((start, base)),
            Some((start, end)) => {
                unmap_range(start, end);
                Some((limit, base))
            }
            None => Some((limit, base)),
        };
    }
    if let Some((start, end)) = run {
        unmap_range(start, end);
    }
    count
}

/// Unmaps `[start, end)`, a run of whole stacks owned by [`unmap_many`].
fn unmap_range(start: usize, end: usize) {
    // SAFETY: `[start, end)` is the union of adjacent stacks whose
    // `RawStack`s were consumed by `unmap_many` without being dropped: this
    // is the one `munmap` of each of them.
    let ret = unsafe { libc::munmap(start as *mut libc::c_void, end - start) };
    debug_assert_eq!(ret, 0, "munmap of fiber stacks failed");
}
