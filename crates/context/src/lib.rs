//! Context variables for fibrio, with the semantics of Python's
//! `contextvars` as asyncio uses them.
//!
//! Every fibrio task has a [`Context`]; outside any task, every thread has
//! one. A task spawned by another starts with a snapshot of its parent's
//! context, taken at spawn time. From then on the two are independent: the
//! child's writes never reach its parent or its siblings, and the parent's
//! later writes never reach children that already exist.
//!
//! * Typed keys: [`ContextVar<T>`] with [`get`](ContextVar::get),
//!   [`set`](ContextVar::set) (returning a [`Token`]),
//!   [`reset`](ContextVar::reset) and [`scoped`](ContextVar::scoped).
//! * String keys, with parity to the six context functions of PHP AsyncIO
//!   (the PHP Fiber plus Workerman library that fibrio was modelled on):
//!   [`set_context`], [`get_context`], [`has_context`], [`delete_context`],
//!   [`all_context`], [`clear_context`] (plus [`set_sendable_context`]).
//! * For the scheduler: [`Context::current_snapshot`] (O(1)) and
//!   [`swap_current`].
//! * Crossing threads: [`SendableContext`] carries the entries whose values
//!   are `Send + Sync` (set with [`set_sendable_context`] or through a
//!   [`ContextVar::new_sendable`] variable) to another thread;
//!   `fibrio::spawn_blocking` uses it.
//!
//! This crate is a leaf: it knows nothing of fibers, tasks or I/O. The
//! fibrio scheduler stores one [`Context`] per task and swaps it in and out
//! around every task switch. See `docs/context.md` for the design, and why
//! it differs from PHP AsyncIO's live parent chain.
//!
//! # Invariants
//!
//! * A thread has one current context at a time (see [`swap_current`]).
//! * A context is two levels, each a persistent map: its own writes over an
//!   inherited snapshot that already merges every ancestor level. Taking a
//!   snapshot shares the maps (O(1)); a write copies O(log n) tree nodes.
//! * Typed keys are process-unique ids, never reused; string keys live in a
//!   separate map. Nothing is keyed by an address or any other reusable id.
//! * User code (`Clone`, `Drop` of values) never runs while this crate
//!   holds the thread-local borrow.
//!
//! # Examples
//!
//! ```
//! use fibrio_context::{get_context, set_context, Context, ContextVar};
//!
//! static USER_ID: ContextVar<u64> = ContextVar::new("user_id");
//!
//! set_context("request_id", String::from("req-42"));
//! USER_ID.set(12345);
//!
//! // What a spawned task does: run in a snapshot of the spawner's context.
//! let mut child = Context::current_snapshot();
//! child.run(|| {
//!     assert_eq!(get_context::<String>("request_id").as_deref(), Some("req-42"));
//!     assert_eq!(USER_ID.get(), Some(12345));
//!     USER_ID.set(1); // stays in the child
//! });
//! assert_eq!(USER_ID.get(), Some(12345));
//! ```

#![forbid(unsafe_code)]

mod context;
mod current;
mod keyed;
mod sendable;
mod var;

pub use context::Context;
pub use current::swap_current;
pub use keyed::{
    all_context, clear_context, delete_context, get_context, has_context, set_context,
    set_sendable_context, ContextValue, IntoContextKey,
};
pub use sendable::SendableContext;
pub use var::{ContextVar, ResetError, Token};
