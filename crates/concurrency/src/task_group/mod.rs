//! [`TaskGroup`]: structured concurrency, asyncio's `TaskGroup` and trio's
//! nursery.
//!
//! [`TaskGroup::scope`] runs a body that spawns children through the group,
//! and returns only once every child has ended. [`TaskGroup::try_scope`]
//! does the same for a body that can end the group with an error value.
//! A [`TaskGroupHandle`] (from [`TaskGroup::handle`]) is a cloneable,
//! `'static` way into the group, so that children can spawn siblings, as
//! trio passes its nursery around.
//!
//! Invariants:
//! * The group owns a [`CancelScope`]. The body runs inside it, so
//!   cancelling the scope (a child failed, [`TaskGroup::cancel`], the body
//!   panicked or returned an error) cancels the body and every child at
//!   their next checkpoint.
//! * Every child belongs to exactly the scopes that enclose the group: the
//!   scopes around the `scope` call and the group's own, as a trio
//!   nursery's tasks do. The body captures them once, as a
//!   [`ScopeContext`], inside the group's scope before it runs, and every
//!   spawn (through the group or a handle, by whichever task, from inside
//!   whatever scopes) uses [`Builder::spawn_in`] with that context. So a
//!   child never belongs to a scope the spawning code happens to be in (a
//!   sibling's `move_on_after`, a nested scope of the body): such a scope
//!   timing out or being cancelled never reaches it, while cancelling a
//!   scope around the whole `scope` call reaches every child.
//! * The group's state lives in one `Rc`, owned by `scope`; handles hold a
//!   `Weak` to it, so a handle kept somewhere never keeps the group (or its
//!   children) alive.
//! * `children` lists every child ever spawned, in spawn order; it only
//!   grows. The body adds to it through the group, and so can any task of
//!   the runtime's thread through a [`TaskGroupHandle`], until the group is
//!   *closed*.
//! * The group closes when `scope` stops waiting: right after it has seen
//!   every child ended (with no park in between, so no task can spawn in
//!   the gap), or as `scope` unwinds. A closed group takes no more
//!   children: spawning through a handle then returns
//!   [`TaskGroupSpawnError::Closed`], never panics and never starts a task.
//! * `scope` waits until the children it sees have all ended, looking at
//!   the list again after each end: a child spawned (through a handle)
//!   while `scope` waits is waited for too.
//! * `failures` gets one entry per child that *panicked* (cancellation is
//!   not a failure), pushed by the child itself as it unwinds, before it
//!   cancels the scope. So when two children fail in the same tick, both
//!   are recorded: nothing is dropped, unlike the `TaskGroup` of PHP
//!   AsyncIO (the PHP library fibrio was modelled on), which kept only the
//!   first.
//! * `scope` never returns (or unwinds) while a child is alive: if the
//!   body or the wait is interrupted (a panic, an error value, or the
//!   caller's own cancellation), it cancels the scope and waits for the
//!   children *shielded* before going on.
//! * Every failure is reported, the body's included, as asyncio's
//!   `ExceptionGroup` and trio's `MultiError` do: a panic in the body is
//!   not resumed but returned as [`TaskGroupError::BodyPanicked`], and an
//!   error value of a [`TaskGroup::try_scope`] body as
//!   [`TaskGroupError::BodyFailed`], with every child's failure next to
//!   it. Only a cancellation of the caller (never an error) goes on
//!   unwinding, as before.
//!
//! One concept per file: `error` holds what a group reports
//! ([`ChildFailure`], [`TaskGroupError`], [`TaskGroupSpawnError`]),
//! `state` the state a group shares with its handles and how a child is
//! spawned into it, `group` the [`TaskGroup`] and its `scope`, `handle`
//! the [`TaskGroupHandle`].

mod error;
mod group;
mod handle;
mod state;

pub use error::{ChildFailure, TaskGroupError, TaskGroupSpawnError};
pub use group::TaskGroup;
pub use handle::TaskGroupHandle;

#[cfg(doc)]
use fibrio_core::task::{Builder, CancelScope, ScopeContext};
