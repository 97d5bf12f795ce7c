//! [`TaskGroup`]: a group of tasks that ends as one, and its `scope`.
//!
//! Invariants (from the [`task_group`](super) module docs):
//! * The group owns a [`CancelScope`]. The body runs inside it, so
//!   cancelling the scope (a child failed, [`TaskGroup::cancel`], the body
//!   panicked or returned an error) cancels the body and every child at
//!   their next checkpoint.
//! * The group closes when `scope` stops waiting: right after it has seen
//!   every child ended (with no park in between, so no task can spawn in
//!   the gap), or as `scope` unwinds.
//! * `scope` waits until the children it sees have all ended, looking at
//!   the list again after each end: a child spawned (through a handle)
//!   while `scope` waits is waited for too.
//! * `scope` never returns (or unwinds) while a child is alive: if the
//!   body or the wait is interrupted (a panic, an error value, or the
//!   caller's own cancellation), it cancels the scope and waits for the
//!   children *shielded* before going on.
//! * Only a cancellation of the caller (never an error) goes on unwinding.

use std::cell::{Cell, OnceCell, RefCell};
use std::convert::Infallible;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use fibrio_core::fiber::payload_message;
#[cfg(doc)]
use fibrio_core::task;
use fibrio_core::task::{
    is_cancellation, wait_any, Builder, CancelScope, JoinHandle, ScopeContext, SpawnError, TaskRef,
};

use super::error::{ChildFailure, TaskGroupError};
use super::handle::TaskGroupHandle;
use super::state::{CloseOnExit, GroupState};

/// A group of tasks that ends as one. Made by [`TaskGroup::scope`] or
/// [`TaskGroup::try_scope`].
///
/// `TaskGroup` is `!Send`, like the tasks it spawns.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<fibrio_concurrency::TaskGroup>();
/// ```
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::TaskGroup;
///
/// fibrio::run(|| {
///     let total = TaskGroup::scope(|g| {
///         let parts: Vec<_> = (1..=4).map(|i| g.spawn(move || i * 10)).collect();
///         parts.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
///     });
///     assert_eq!(total.unwrap(), 100);
/// });
/// ```
pub struct TaskGroup {
    state: Rc<GroupState>,
}

impl TaskGroup {
    /// Runs `body` with a new group, waits until every child spawned
    /// through it (or through one of its [handles](TaskGroup::handle)) has
    /// ended, and returns the body's value.
    ///
    /// The first child to panic cancels the body and its siblings; `scope`
    /// then waits for all of them and reports every failure. A panic in the
    /// body cancels the children likewise, and is reported with theirs.
    /// For a body that can fail with an error value, see
    /// [`TaskGroup::try_scope`].
    ///
    /// # Errors
    ///
    /// * [`TaskGroupError::BodyPanicked`] if the body panicked: its payload,
    ///   and every child's panic (if any).
    /// * [`TaskGroupError::Failed`] with every child's panic, if the body
    ///   did not panic.
    /// * [`TaskGroupError::Cancelled`] if [`TaskGroup::cancel`] cut the
    ///   body short and nothing panicked.
    ///
    /// # Panics
    ///
    /// Never because of the body or a child: their panics are caught and
    /// returned in the error (so do not discard it with `let _ =`, or an
    /// `assert!` failing in the body goes unnoticed). Only the caller's own
    /// cancellation unwinds out of `scope` (see below).
    ///
    /// # Cancellation
    ///
    /// If the calling task is cancelled, the children are cancelled and
    /// waited for (shielded), then the cancellation goes on. The body's
    /// checkpoints are checkpoints as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::{TaskGroup, TaskGroupError};
    ///
    /// fibrio::run(|| {
    ///     # std::panic::set_hook(Box::new(|_| {}));
    ///     let err = TaskGroup::scope(|g| {
    ///         g.spawn(|| panic!("disk full"));
    ///         g.spawn(|| loop { fibrio::yield_now() }); // cancelled
    ///     })
    ///     .unwrap_err();
    ///     assert_eq!(err.failures().len(), 1);
    ///     assert_eq!(err.failures()[0].message, "disk full");
    /// });
    /// ```
    pub fn scope<R>(body: impl FnOnce(&TaskGroup) -> R) -> Result<R, TaskGroupError> {
        TaskGroup::try_scope(|group| Ok::<R, Infallible>(body(group)))
    }

    /// Like [`TaskGroup::scope`], for a body that can end the group with an
    /// error value instead of a panic (trio: an exception raised in the
    /// nursery's body). When the body returns `Err`, the children are
    /// cancelled and waited for, and the error comes back with every
    /// child's failure.
    ///
    /// # Errors
    ///
    /// * [`TaskGroupError::BodyFailed`] if the body returned `Err`: the
    ///   error, and every child's panic (if any).
    /// * Otherwise as [`TaskGroup::scope`]: `BodyPanicked`, `Failed`,
    ///   `Cancelled`.
    ///
    /// # Panics
    ///
    /// As [`TaskGroup::scope`]: only the caller's own cancellation unwinds.
    ///
    /// # Cancellation
    ///
    /// As [`TaskGroup::scope`]: if the calling task is cancelled, the
    /// children are cancelled and waited for (shielded), then the
    /// cancellation goes on.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::{TaskGroup, TaskGroupError};
    ///
    /// fn parse_all(lines: &[&str]) -> Result<i32, TaskGroupError<std::num::ParseIntError>> {
    ///     TaskGroup::try_scope(|g| {
    ///         // A task in the background, cancelled if parsing fails.
    ///         g.spawn(|| loop { fibrio::yield_now() });
    ///         let mut total = 0;
    ///         for line in lines {
    ///             total += line.parse::<i32>()?;
    ///         }
    ///         g.cancel();
    ///         Ok(total)
    ///     })
    /// }
    ///
    /// fibrio::run(|| {
    ///     assert_eq!(parse_all(&["1", "2"]).unwrap(), 3);
    ///     let err = parse_all(&["1", "two"]).unwrap_err();
    ///     assert!(err.body_error().is_some());
    ///     assert!(err.to_string().starts_with("the body of the task group returned an error"));
    /// });
    /// ```
    pub fn try_scope<R, E>(
        body: impl FnOnce(&TaskGroup) -> Result<R, E>,
    ) -> Result<R, TaskGroupError<E>> {
        let group = TaskGroup {
            state: Rc::new(GroupState {
                scope: CancelScope::new(),
                context: OnceCell::new(),
                children: RefCell::new(Vec::new()),
                failures: Rc::new(RefCell::new(Vec::new())),
                closed: Cell::new(false),
            }),
        };
        let _close = CloseOnExit(&group.state);
        let ran = panic::catch_unwind(AssertUnwindSafe(|| {
            group.state.scope.run(|| {
                // The scopes around the group and its own, for every child.
                let _ = group.state.context.set(ScopeContext::current());
                body(&group)
            })
        }));
        let value = match ran {
            Ok(Some(Err(error))) => {
                group.cancel_and_wait();
                return Err(TaskGroupError::BodyFailed {
                    error,
                    failures: group.take_failures(),
                });
            }
            Ok(finished) => {
                if let Err(payload) =
                    panic::catch_unwind(AssertUnwindSafe(|| group.wait_children()))
                {
                    // The caller was cancelled while waiting.
                    group.cancel_and_wait();
                    panic::resume_unwind(payload);
                }
                // `Some(Err(_))` returned above: only a value or a cut is left.
                finished.and_then(Result::ok)
            }
            Err(payload) => {
                group.cancel_and_wait();
                if is_cancellation(&*payload) {
                    // The caller's cancellation is not a failure: it goes on.
                    panic::resume_unwind(payload);
                }
                return Err(TaskGroupError::BodyPanicked {
                    message: payload_message(&payload).to_string(),
                    payload,
                    failures: group.take_failures(),
                });
            }
        };
        let failures = group.take_failures();
        if !failures.is_empty() {
            return Err(TaskGroupError::Failed(failures));
        }
        value.ok_or(TaskGroupError::Cancelled)
    }

    /// Spawns a child in the group. It belongs to the group's scope: it is
    /// cancelled when a sibling fails or the group is cancelled. It also
    /// belongs to the scopes around the [`TaskGroup::scope`] call, and to
    /// no other: not to a scope the body is inside when it calls `spawn`
    /// (trio's `nursery.start_soon`). Task dumps show the caller's file
    /// and line as where the child was spawned, as for [`task::spawn`].
    ///
    /// # Panics
    ///
    /// If the task cannot be spawned (like [`task::spawn`]); use
    /// [`TaskGroup::spawn_with`] to handle that.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     TaskGroup::scope(|g| assert_eq!(g.spawn(|| 2).join().unwrap(), 2)).unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
        match self.spawn_with(Builder::new(), f) {
            Ok(handle) => handle,
            Err(err) => panic!("{err}"),
        }
    }

    /// Spawns a child configured by `builder` (a name, a stack size).
    ///
    /// # Errors
    ///
    /// The [`SpawnError`] of [`Builder::spawn`]: outside a runtime, too many
    /// tasks, no stack.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::task::Builder;
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     TaskGroup::scope(|g| {
    ///         let child = g.spawn_with(Builder::new().name("worker"), || ()).unwrap();
    ///         assert_eq!(child.name(), Some("worker"));
    ///     })
    ///     .unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_with<T: 'static>(
        &self,
        builder: Builder,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, SpawnError> {
        self.state.spawn_child(builder, f)
    }

    /// A cloneable, `'static` handle that spawns children into this group
    /// from anywhere on the runtime's thread: give it to a child so that
    /// it can start siblings, as trio passes its nursery around. Children
    /// spawned through it belong to the group exactly as those of
    /// [`TaskGroup::spawn`]: they are cancelled with it, their panics are
    /// reported, and [`TaskGroup::scope`] waits for them.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     let done = Rc::new(Cell::new(false));
    ///     let seen = done.clone();
    ///     TaskGroup::scope(|g| {
    ///         let handle = g.handle();
    ///         g.spawn(move || {
    ///             // A sibling, started by a child: `scope` waits for it too.
    ///             handle.spawn(move || seen.set(true)).unwrap();
    ///         });
    ///     })
    ///     .unwrap();
    ///     assert!(done.get());
    /// });
    /// ```
    pub fn handle(&self) -> TaskGroupHandle {
        TaskGroupHandle {
            state: Rc::downgrade(&self.state),
        }
    }

    /// Cancels the body and every child. The children unwind at their next
    /// checkpoint. The body does too, and [`TaskGroup::scope`] then returns
    /// [`TaskGroupError::Cancelled`] (unless a child had failed or the body
    /// panicked). A body that returns without reaching a checkpoint after
    /// `cancel` keeps its value, as a [`CancelScope`](fibrio_core::task::CancelScope)'s
    /// body does: an operation that completed is not undone (trio's rule).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::{TaskGroup, TaskGroupError};
    ///
    /// fibrio::run(|| {
    ///     let got = TaskGroup::scope(|g| {
    ///         g.spawn(|| loop { fibrio::yield_now() });
    ///         g.cancel();
    ///         fibrio::yield_now(); // the body stops here
    ///     });
    ///     assert!(matches!(got, Err(TaskGroupError::Cancelled)));
    ///
    ///     // No checkpoint after `cancel`: the body's value stands, and the
    ///     // children are still cancelled and waited for.
    ///     let got = TaskGroup::scope(|g| {
    ///         g.spawn(|| loop { fibrio::yield_now() });
    ///         g.cancel();
    ///         7
    ///     });
    ///     assert_eq!(got.unwrap(), 7);
    /// });
    /// ```
    pub fn cancel(&self) {
        self.state.scope.cancel();
    }

    /// How many children were spawned so far (through the group and its
    /// handles).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     TaskGroup::scope(|g| {
    ///         assert!(g.is_empty());
    ///         g.spawn(|| ());
    ///         g.handle().spawn(|| ()).unwrap();
    ///         assert_eq!(g.len(), 2);
    ///     })
    ///     .unwrap();
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.state.children.borrow().len()
    }

    /// True if no child was spawned yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| TaskGroup::scope(|g| assert!(g.is_empty())).unwrap());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.state.children.borrow().is_empty()
    }

    /// How many children are still running.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     TaskGroup::scope(|g| {
    ///         g.spawn(|| ());
    ///         assert_eq!(g.running(), 1); // queued, not run yet
    ///         fibrio::yield_now();
    ///         assert_eq!(g.running(), 0);
    ///     })
    ///     .unwrap();
    /// });
    /// ```
    pub fn running(&self) -> usize {
        self.state
            .children
            .borrow()
            .iter()
            .filter(|c| !c.is_finished())
            .count()
    }

    /// Cancels every child and waits for them, shielded from the caller's
    /// cancellation.
    fn cancel_and_wait(&self) {
        self.state.scope.cancel();
        CancelScope::shield(|| self.wait_children());
    }

    /// The children's failures so far, in the order they happened.
    fn take_failures(&self) -> Vec<ChildFailure> {
        std::mem::take(&mut *self.state.failures.borrow_mut())
    }

    /// Parks until every child has ended, children spawned meanwhile
    /// (through a handle) included, then closes the group.
    fn wait_children(&self) {
        loop {
            let running: Vec<TaskRef> = self
                .state
                .children
                .borrow()
                .iter()
                .filter(|c| !c.is_finished())
                .cloned()
                .collect();
            if running.is_empty() {
                // No park since the list was read: nobody spawned since.
                self.state.closed.set(true);
                return;
            }
            if wait_any(&running).is_err() {
                // Outside a task or unwinding: nothing can be waited for.
                return;
            }
        }
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("children", &self.len())
            .field("running", &self.running())
            .field("failures", &self.state.failures.borrow().len())
            .finish()
    }
}
