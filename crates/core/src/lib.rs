//! The lowest layer of fibrio: fibers with the semantics of PHP's `Fiber`
//! class, on guard-paged stacks recycled through a per-thread pool.
//!
//! * [`fiber`]: [`Fiber`](fiber::Fiber), [`suspend`](fiber::suspend),
//!   [`current`](fiber::current) and [`FiberError`](fiber::FiberError).
//! * [`stack`]: [`FiberStack`](stack::FiberStack), the stack pool, and the
//!   stack-overflow reporter.
//!
//! This crate knows nothing of I/O. Fibers require `panic = "unwind"`:
//! dropping a suspended fiber unwinds its stack.
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

pub mod fiber;
pub mod scheduler;
pub mod stack;
pub mod task;
