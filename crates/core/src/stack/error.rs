//! [`StackError`]: why a fiber stack could not be made, with advice that
//! computes the `vm.max_map_count` the caller needs.
//!
//! Invariants: every variant's message says what to do; the advice is
//! computed for twice the stacks mapped now (`advice_target`), so following
//! it leaves room to grow.

use std::io;

#[cfg(doc)]
use super::{map_reserve, max_map_count_for, MAX_STACK_SIZE};

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
pub(super) fn advice_target(stacks: usize) -> usize {
    stacks.saturating_mul(2).max(1024)
}
