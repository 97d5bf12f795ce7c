//! fibrio: a stackful coroutine runtime for Rust.
//!
//! Users write plain, blocking-style Rust; every call that would block
//! suspends the current fiber instead, and other fibers run. This facade
//! re-exports the layers that exist so far:
//!
//! * [`fiber`]: fibers with PHP `Fiber` semantics (`start`, `resume`,
//!   `throw`, `get_return`, `suspend`, `current`).
//! * [`stack`]: guard-paged, pooled fiber stacks and their statistics.
//!
//! # Examples
//!
//! ```
//! use fibrio::fiber::{suspend, Fiber};
//!
//! // A PHP-style generator: the fiber hands out values until it returns.
//! let countdown: Fiber<(), u32, &str> = Fiber::new(|()| {
//!     for n in (1..=3).rev() {
//!         suspend::<(), u32>(n).unwrap();
//!     }
//!     "liftoff"
//! });
//! let mut seen = vec![countdown.start(()).unwrap().unwrap()];
//! while let Some(n) = countdown.resume(()).unwrap() {
//!     seen.push(n);
//! }
//! assert_eq!(seen, [3, 2, 1]);
//! assert_eq!(countdown.get_return().unwrap(), "liftoff");
//! ```

#![forbid(unsafe_code)]

pub use fibrio_core::{fiber, stack};

/// The items most programs need, for `use fibrio::prelude::*`.
pub mod prelude {
    pub use fibrio_core::fiber::{current, suspend, Fiber, FiberError};
}

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
