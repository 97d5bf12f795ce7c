//! The task observer: [`Observer`] receives every task event of a runtime
//! built with [`Builder::observer`](crate::Builder::observer).
//!
//! Invariant: events arrive on the runtime's thread, in the order they
//! happen; with no observer set, each event site costs one branch.

pub use fibrio_core::scheduler::{Observer, TaskEvent, TaskEventKind};
