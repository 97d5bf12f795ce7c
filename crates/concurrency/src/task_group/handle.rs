//! [`TaskGroupHandle`]: a cloneable, `'static` way into a group, so that
//! children can spawn siblings, as trio passes its nursery around.
//!
//! Invariants (from the [`task_group`](super) module docs):
//! * A handle holds a `Weak` to the group's state: it never keeps the
//!   group (or its children) alive.
//! * A closed group takes no more children: spawning through a handle
//!   then returns [`TaskGroupSpawnError::Closed`], never panics and never
//!   starts a task.
//! * A child spawned through a handle belongs to exactly the scopes that
//!   enclose the group, never to those the calling task is inside.

use std::fmt;
use std::rc::{Rc, Weak};

use fibrio_core::task::{Builder, JoinHandle};

use super::error::TaskGroupSpawnError;
use super::state::GroupState;
#[cfg(doc)]
use super::TaskGroup;

/// A cloneable, `'static` way to spawn children into a [`TaskGroup`] from
/// inside it (trio passes its nursery around). Made by
/// [`TaskGroup::handle`].
///
/// The handle does not keep the group alive: once the group's `scope` has
/// stopped waiting, the group is *closed* and
/// [`spawn`](TaskGroupHandle::spawn) returns
/// [`TaskGroupSpawnError::Closed`].
///
/// `TaskGroupHandle` is `!Send`: the group's tasks never leave their
/// thread.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<fibrio_concurrency::TaskGroupHandle>();
/// ```
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::TaskGroup;
///
/// fibrio::run(|| {
///     let total = TaskGroup::scope(|g| {
///         let handle = g.handle();
///         let first = g.spawn(move || {
///             // A child starts a sibling and waits for it.
///             handle.spawn(|| 20).unwrap().join().unwrap() + 1
///         });
///         first.join().unwrap()
///     });
///     assert_eq!(total.unwrap(), 21);
/// });
/// ```
#[derive(Clone)]
pub struct TaskGroupHandle {
    pub(super) state: Weak<GroupState>,
}

impl TaskGroupHandle {
    /// The group, if it is still open.
    fn open_group(&self) -> Result<Rc<GroupState>, TaskGroupSpawnError> {
        match self.state.upgrade() {
            Some(state) if !state.closed.get() => Ok(state),
            _ => Err(TaskGroupSpawnError::Closed),
        }
    }

    /// Spawns a child into the group, as [`TaskGroup::spawn`] does. The
    /// child belongs to exactly the scopes that enclose the group (those
    /// around the [`TaskGroup::scope`] call, and the group's own), like
    /// every child of the group, and *not* to the scopes the calling task
    /// is inside at the call (trio's `nursery.start_soon`): a sibling
    /// started from inside a child's [`move_on_after`] outlives it.
    ///
    /// [`move_on_after`]: fibrio_core::task::move_on_after
    ///
    /// # Errors
    ///
    /// [`TaskGroupSpawnError::Closed`] if the group has ended (no task is
    /// started), or [`TaskGroupSpawnError::Spawn`] if the runtime could
    /// not spawn the task.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio::task::move_on_after;
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     TaskGroup::scope(|g| {
    ///         let handle = g.handle();
    ///         assert_eq!(handle.spawn(|| 5).unwrap().join().unwrap(), 5);
    ///         g.spawn(move || {
    ///             // Started inside a scope that has already timed out...
    ///             let sibling = move_on_after(Duration::ZERO, || {
    ///                 handle.spawn(|| {
    ///                     fibrio::yield_now(); // ...but not cancelled by it.
    ///                     "outlived"
    ///                 })
    ///             });
    ///             let sibling = sibling.unwrap().unwrap(); // no checkpoint in there
    ///             assert_eq!(sibling.join().unwrap(), "outlived");
    ///         });
    ///     })
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<T: 'static>(
        &self,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, TaskGroupSpawnError> {
        self.spawn_with(Builder::new(), f)
    }

    /// Spawns a child configured by `builder` (a name, a stack size) into
    /// the group, as [`TaskGroup::spawn_with`] does.
    ///
    /// # Errors
    ///
    /// As [`TaskGroupHandle::spawn`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::task::Builder;
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     TaskGroup::scope(|g| {
    ///         let handle = g.handle();
    ///         let child = handle.spawn_with(Builder::new().name("sibling"), || ()).unwrap();
    ///         assert_eq!(child.name(), Some("sibling"));
    ///     })
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_with<T: 'static>(
        &self,
        builder: Builder,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, TaskGroupSpawnError> {
        Ok(self.open_group()?.spawn_child(builder, f)?)
    }

    /// Cancels the group, as [`TaskGroup::cancel`] does. Does nothing once
    /// the group is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::{TaskGroup, TaskGroupError};
    ///
    /// fibrio::run(|| {
    ///     let got = TaskGroup::scope(|g| {
    ///         let handle = g.handle();
    ///         g.spawn(move || handle.cancel()); // a child stops the group
    ///         loop {
    ///             fibrio::yield_now();
    ///         }
    ///     });
    ///     assert!(matches!(got, Err(TaskGroupError::Cancelled)));
    /// });
    /// ```
    pub fn cancel(&self) {
        if let Ok(state) = self.open_group() {
            state.scope.cancel();
        }
    }

    /// True once the group has ended: spawning through the handle then
    /// fails with [`TaskGroupSpawnError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     let handle = TaskGroup::scope(|g| {
    ///         assert!(!g.handle().is_closed());
    ///         g.handle()
    ///     })
    ///     .unwrap();
    ///     assert!(handle.is_closed());
    /// });
    /// ```
    pub fn is_closed(&self) -> bool {
        self.open_group().is_err()
    }
}

impl fmt::Debug for TaskGroupHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupHandle")
            .field("closed", &self.is_closed())
            .finish()
    }
}
