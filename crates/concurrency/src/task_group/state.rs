//! The state of a group, shared by the [`TaskGroup`] and its handles, and
//! how a child is spawned into it.
//!
//! Invariants (from the [`task_group`](super) module docs):
//! * The group's state lives in one `Rc`, owned by `scope`; handles hold a
//!   `Weak` to it, so a handle kept somewhere never keeps the group (or its
//!   children) alive.
//! * Every child is spawned with [`Builder::spawn_in`] into `context`, the
//!   scopes that enclose the group (its own innermost), captured once
//!   before the body runs: never into a scope the spawning code happens to
//!   be in.
//! * `children` lists every child ever spawned, in spawn order; it only
//!   grows, until the group is *closed* ([`CloseOnExit`] closes it when
//!   `scope` leaves, by returning or unwinding).
//! * `failures` gets one entry per child that *panicked* (cancellation is
//!   not a failure), pushed by the child itself as it unwinds, before it
//!   cancels the scope: two children failing in the same tick are both
//!   recorded.

use std::cell::{Cell, OnceCell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use fibrio_core::fiber::payload_message;
use fibrio_core::task::{
    self, is_cancellation, Builder, CancelScope, JoinHandle, ScopeContext, SpawnError, TaskRef,
};

use super::error::ChildFailure;
#[cfg(doc)]
use super::TaskGroup;

/// The state of a group, shared by the [`TaskGroup`] and its handles.
pub(super) struct GroupState {
    pub(super) scope: CancelScope,
    /// The scopes enclosing the group, its own innermost: every child is
    /// spawned into them. Set once, inside the group's scope, before the
    /// body runs; the body (and the handles it makes) is the only way to
    /// spawn, so it is always set by the first spawn.
    pub(super) context: OnceCell<ScopeContext>,
    pub(super) children: RefCell<Vec<TaskRef>>,
    pub(super) failures: Rc<RefCell<Vec<ChildFailure>>>,
    pub(super) closed: Cell<bool>,
}

impl GroupState {
    /// Spawns `f` as a child, inside the group's scope, and lists it.
    #[track_caller]
    pub(super) fn spawn_child<T: 'static>(
        &self,
        builder: Builder,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, SpawnError> {
        let index = self.children.borrow().len();
        let failures = self.failures.clone();
        let scope = self.scope.clone();
        let child = move || match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => value,
            Err(payload) if is_cancellation(&*payload) => panic::resume_unwind(payload),
            Err(payload) => {
                let message = payload_message(&payload).to_string();
                failures.borrow_mut().push(ChildFailure {
                    index,
                    id: task::current_id().unwrap_or(0),
                    name: task::current_name().map(|n| n.to_string()),
                    message: message.clone(),
                    payload,
                });
                scope.cancel();
                panic::resume_unwind(Box::new(message));
            }
        };
        // Into the group's scopes, never the spawning code's.
        let context = self
            .context
            .get()
            .expect("the group's scope context is captured before its body runs");
        let handle = builder.spawn_in(context, child)?;
        self.children.borrow_mut().push(handle.task_ref());
        Ok(handle)
    }
}

/// Closes the group when `scope` leaves, by returning or unwinding.
pub(super) struct CloseOnExit<'a>(pub(super) &'a GroupState);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        self.0.closed.set(true);
    }
}
