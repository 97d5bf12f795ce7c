//! The kernel of fibrio: fibers with the semantics of PHP's `Fiber`
//! class, guard-paged stacks recycled through a per-thread pool, and the
//! task scheduler. It sits on `fibrio-context` and under the reactor, the
//! concurrency toolkit and the `fibrio` facade. It knows nothing of I/O:
//! the reactor plugs in as a [`Driver`](scheduler::Driver).
//!
//! Its modules form layers, bottom up; each uses only those below it:
//!
//! | layer | what it holds |
//! |---|---|
//! | [`diagnostics`] | warnings and errors that reach the `log` logger, or stderr when none is installed (warnings rate-limited) |
//! | `unwind` (private) | the cancellation payload and [`is_cancellation`](task::is_cancellation) |
//! | [`stack`] | [`FiberStack`](stack::FiberStack), the stack pool, the overflow reporter (which learns whose stack overflowed through lookups the layers above register) |
//! | [`fiber`] | [`Fiber`](fiber::Fiber), [`suspend`](fiber::suspend), [`current`](fiber::current), [`FiberError`](fiber::FiberError) |
//! | [`scheduler`] | the task kernel: the run queue, the task table and record, the timers, the driver seam, [`Handle`](scheduler::Handle), the clock and the deterministic kernel |
//! | [`time`] | the runtime's clock: [`Instant`](time::Instant) and [`now_std`](time::now_std), virtual inside a deterministic simulation |
//! | [`task`] | the public task API: [`spawn`](task::spawn), [`JoinHandle`](task::JoinHandle), [`park`](task::park), [`sleep`](task::sleep), [`CancelScope`](task::CancelScope) |
//! | [`coop`] | the cooperative budget: [`proceed`](coop::proceed), a checkpoint that yields once every [`BUDGET`](coop::BUDGET) operations |
//!
//! Fibers require `panic = "unwind"`: dropping a suspended fiber unwinds
//! its stack, and so does cancelling a task.
//!
//! # Examples
//!
//! ```
//! use fibrio_core::fiber::{suspend, Fiber};
//!
//! let fiber: Fiber<(), u32, ()> = Fiber::new(|()| {
//!     for i in 1..=3 {
//!         suspend::<(), u32>(i * i).unwrap();
//!     }
//! });
//! let mut squares = vec![fiber.start(()).unwrap().unwrap()];
//! while let Some(n) = fiber.resume(()).unwrap() {
//!     squares.push(n);
//! }
//! assert_eq!(squares, [1, 4, 9]);
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[cfg(not(panic = "unwind"))]
compile_error!(
    "fibrio needs `panic = \"unwind\"`: closing fibers and cancelling tasks unwind their stacks. \
     Remove `panic = \"abort\"` from your Cargo profile."
);

#[cfg(not(unix))]
compile_error!("fibrio currently supports Unix targets only (Linux, macOS, the BSDs).");

// Layers, bottom up: diagnostics, unwind, stack, fiber, scheduler, time,
// task, coop; each uses only the ones before it (see the table above).
pub mod coop;
pub mod diagnostics;
pub mod fiber;
pub mod scheduler;
pub mod stack;
pub mod task;
pub mod time;
mod unwind;
