//! Prefetching the next task while the current one runs.
//!
//! Resuming a task touches memory that has usually left the cache since it
//! last ran: its header, and the frames on its stack that the resumption
//! returns through. With thousands of tasks that is a cache miss per line,
//! and `perf` put most of a short task's cost there (the first instructions
//! after a switch, and the first frames pushed on a stack). So before the
//! scheduler resumes a task, it asks the CPU to start loading the header of
//! the task queued behind it, and the window of that task's stack around
//! `TaskHeader::stack_hint`.
//!
//! # Invariants
//!
//! * A prefetch is only a hint: it never faults, writes nothing and changes
//!   no result, whatever the address. So a stale hint (a task that ran
//!   deeper since) costs a wasted load, never a wrong one.
//! * `stack_hint` is an address on the task's own stack: before its first
//!   run, `STACK_WINDOW_ABOVE` bytes below the stack's top; while parked, a
//!   local in the parking frame (`suspend_task`). The frames a resumption
//!   returns through lie just above it.

use super::record::TaskHeader;

/// Bytes of stack prefetched above the hint: the frames a resumption
/// returns through (park, the blocking call, the task's code). Measured at
/// about 800 bytes from a task's entry to its timer insert in `sleep`.
pub(crate) const STACK_WINDOW_ABOVE: usize = 1024;

/// Bytes of stack prefetched below the hint: the switch's own frame.
#[cfg(target_arch = "x86_64")]
const STACK_WINDOW_BELOW: usize = 256;

/// A cache line.
#[cfg(target_arch = "x86_64")]
const LINE: usize = 64;

/// Starts loading `header` and the hot part of its task's stack.
#[inline]
pub(crate) fn prefetch_task(header: &TaskHeader) {
    #[cfg(target_arch = "x86_64")]
    {
        let start = header as *const TaskHeader as usize;
        let end = start + std::mem::size_of::<TaskHeader>();
        for line in (start..end).step_by(LINE) {
            prefetch_line(line);
        }
        let hint = header.stack_hint();
        if hint != 0 {
            let low = hint.saturating_sub(STACK_WINDOW_BELOW);
            for line in (low..hint + STACK_WINDOW_ABOVE).step_by(LINE) {
                prefetch_line(line);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = header;
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_line(address: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: `prefetcht0` is part of SSE, which every x86_64 CPU has, and
    // it is a hint: it never faults (not even on an unmapped address),
    // writes nothing and has no effect on the program's results.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(address as *const i8) }
}
