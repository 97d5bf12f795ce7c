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

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::convert::Infallible;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use fibrio_core::fiber::payload_message;
use fibrio_core::task::{
    self, is_cancellation, wait_any, Builder, CancelScope, JoinHandle, ScopeContext, SpawnError,
    TaskRef,
};

/// One child's panic, recorded by its [`TaskGroup`].
pub struct ChildFailure {
    /// Spawn order within the group, from 0.
    pub index: usize,
    /// The task's id.
    pub id: u64,
    /// The task's name, if it had one.
    pub name: Option<String>,
    /// The panic message (or a description of a payload that is not text).
    pub message: String,
    /// The original panic payload. The child's [`JoinHandle`] reports a
    /// panic whose payload is the `message` as a `String`.
    pub payload: Box<dyn Any + Send>,
}

impl fmt::Debug for ChildFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildFailure")
            .field("index", &self.index)
            .field("id", &self.id)
            .field("name", &self.name)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ChildFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "[{}] task '{}' (id {})", self.index, name, self.id)?,
            None => write!(f, "[{}] task #{}", self.index, self.id)?,
        }
        write!(f, " panicked: {}", self.message)
    }
}

/// Why [`TaskGroup::scope`] or [`TaskGroup::try_scope`] returned no value.
///
/// `E` is the error type of a [`TaskGroup::try_scope`] body; for
/// [`TaskGroup::scope`] it is [`Infallible`], so
/// [`BodyFailed`](TaskGroupError::BodyFailed) cannot happen and a `match`
/// on a `TaskGroupError` need not name it.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::{TaskGroup, TaskGroupError};
///
/// fibrio::run(|| {
///     let err = TaskGroup::try_scope(|g| {
///         g.spawn(|| loop { fibrio::yield_now() }); // cancelled
///         Err::<(), _>("no such user")
///     })
///     .unwrap_err();
///     assert!(matches!(err, TaskGroupError::BodyFailed { error: "no such user", .. }));
///     assert!(err.failures().is_empty());
/// });
/// ```
#[derive(Debug)]
pub enum TaskGroupError<E = Infallible> {
    /// One or more children panicked; the others and the body were
    /// cancelled. Every failure is here, in the order they happened.
    Failed(Vec<ChildFailure>),
    /// [`TaskGroup::cancel`] cut the body short, and no child failed.
    Cancelled,
    /// The body panicked; the children were cancelled and waited for.
    /// The body's panic is here, and so is every child's (children that
    /// failed before the body panicked, or while they were being
    /// cancelled), in the order they happened.
    BodyPanicked {
        /// The body's panic message (or a description of a payload that is
        /// not text).
        message: String,
        /// The body's original panic payload; pass it to
        /// [`std::panic::resume_unwind`] to go on unwinding.
        payload: Box<dyn Any + Send>,
        /// Every child's failure, possibly none.
        failures: Vec<ChildFailure>,
    },
    /// The body of a [`TaskGroup::try_scope`] returned `Err`; the children
    /// were cancelled and waited for. The body's error is here, and so is
    /// every child's panic (children that failed before the body returned,
    /// or while they were being cancelled), in the order they happened.
    BodyFailed {
        /// The error the body returned.
        error: E,
        /// Every child's failure, possibly none.
        failures: Vec<ChildFailure>,
    },
}

impl<E> TaskGroupError<E> {
    /// The children's failures (empty for `Cancelled`; for `BodyPanicked`
    /// and `BodyFailed`, the children's only: see
    /// [`TaskGroupError::body_panic`] and [`TaskGroupError::body_error`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     # std::panic::set_hook(Box::new(|_| {}));
    ///     let err = TaskGroup::scope(|g| {
    ///         g.spawn(|| panic!("disk full"));
    ///     })
    ///     .unwrap_err();
    ///     assert_eq!(err.failures()[0].message, "disk full");
    /// });
    /// ```
    pub fn failures(&self) -> &[ChildFailure] {
        match self {
            TaskGroupError::Failed(failures) => failures,
            TaskGroupError::BodyPanicked { failures, .. } => failures,
            TaskGroupError::BodyFailed { failures, .. } => failures,
            TaskGroupError::Cancelled => &[],
        }
    }

    /// The body's panic payload, if the body panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     # std::panic::set_hook(Box::new(|_| {}));
    ///     let err = TaskGroup::scope(|_| panic!("bad input")).unwrap_err();
    ///     assert_eq!(err.body_panic().unwrap().downcast_ref(), Some(&"bad input"));
    /// });
    /// ```
    pub fn body_panic(&self) -> Option<&(dyn Any + Send)> {
        match self {
            TaskGroupError::BodyPanicked { payload, .. } => Some(&**payload),
            _ => None,
        }
    }

    /// The error the body returned, if a [`TaskGroup::try_scope`] body
    /// returned `Err`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     let err = TaskGroup::try_scope(|_| Err::<(), _>(404)).unwrap_err();
    ///     assert_eq!(err.body_error(), Some(&404));
    /// });
    /// ```
    pub fn body_error(&self) -> Option<&E> {
        match self {
            TaskGroupError::BodyFailed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Takes the error the body returned out of a
    /// [`BodyFailed`](TaskGroupError::BodyFailed), dropping the children's
    /// failures that came with it (read them first with
    /// [`TaskGroupError::failures`] if they matter).
    ///
    /// # Errors
    ///
    /// `self`, unchanged, if it is not a `BodyFailed`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::TaskGroup;
    ///
    /// fibrio::run(|| {
    ///     let err = TaskGroup::try_scope(|_| Err::<(), _>("quota exceeded")).unwrap_err();
    ///     assert_eq!(err.into_body_error().unwrap(), "quota exceeded");
    ///
    ///     let cancelled = TaskGroup::try_scope(|g| {
    ///         g.cancel();
    ///         fibrio::yield_now(); // the body stops here
    ///         Ok::<(), &str>(())
    ///     })
    ///     .unwrap_err();
    ///     assert!(cancelled.into_body_error().is_err());
    /// });
    /// ```
    pub fn into_body_error(self) -> Result<E, TaskGroupError<E>> {
        match self {
            TaskGroupError::BodyFailed { error, .. } => Ok(error),
            other => Err(other),
        }
    }
}

fn write_failures(f: &mut fmt::Formatter<'_>, failures: &[ChildFailure]) -> fmt::Result {
    for failure in failures {
        write!(f, "\n  {failure}")?;
    }
    Ok(())
}

/// Writes ", and N task(s) of the group failed:" and the list, if any.
fn write_child_failures_too(f: &mut fmt::Formatter<'_>, failures: &[ChildFailure]) -> fmt::Result {
    match failures.len() {
        0 => Ok(()),
        n => {
            write!(
                f,
                "\nand {n} task{} of the group failed:",
                if n == 1 { "" } else { "s" }
            )?;
            write_failures(f, failures)
        }
    }
}

impl<E: fmt::Display> fmt::Display for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskGroupError::Failed(failures) => {
                let n = failures.len();
                write!(
                    f,
                    "{n} task{} of the group failed, so the rest were cancelled:",
                    if n == 1 { "" } else { "s" }
                )?;
                write_failures(f, failures)
            }
            TaskGroupError::BodyPanicked {
                message, failures, ..
            } => {
                write!(f, "the body of the task group panicked: {message}")?;
                write_child_failures_too(f, failures)
            }
            TaskGroupError::BodyFailed { error, failures } => {
                write!(
                    f,
                    "the body of the task group returned an error, so its tasks were cancelled: {error}"
                )?;
                write_child_failures_too(f, failures)
            }
            TaskGroupError::Cancelled => f.write_str(
                "the task group was cancelled with TaskGroup::cancel before its body finished",
            ),
        }
    }
}

/// `E` needs only `Debug + Display`, so that a body returning
/// `Result<_, Box<dyn Error>>` or `Result<_, &str>` (neither is an `Error`
/// in std) still gives an `Error` that `?` carries on. The price: the
/// body's error is not the [`source`](std::error::Error::source) (an
/// `E` that is not an `Error` cannot be one). It is in the message, and
/// [`body_error`](TaskGroupError::body_error) returns it.
///
/// # Examples
///
/// ```
/// use std::error::Error;
/// use fibrio_concurrency::TaskGroup;
///
/// fn load() -> Result<u32, Box<dyn Error>> {
///     let value = TaskGroup::try_scope(|_| -> Result<u32, Box<dyn Error>> {
///         Err("no such key".into())
///     })?; // a TaskGroupError<Box<dyn Error>> is an Error
///     Ok(value)
/// }
/// fibrio::run(|| {
///     let err = load().unwrap_err();
///     assert!(err.to_string().contains("no such key"));
///     assert!(err.source().is_none());
/// });
/// ```
impl<E: fmt::Debug + fmt::Display> std::error::Error for TaskGroupError<E> {}

/// Why a [`TaskGroupHandle`] could not spawn a task into its group.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::{TaskGroup, TaskGroupSpawnError};
///
/// fibrio::run(|| {
///     let handle = TaskGroup::scope(|g| g.handle()).unwrap();
///     let err = handle.spawn(|| ()).unwrap_err();
///     assert!(matches!(err, TaskGroupSpawnError::Closed));
///     assert!(err.to_string().contains("use fibrio::spawn"));
/// });
/// ```
#[derive(Debug, thiserror::Error)]
pub enum TaskGroupSpawnError {
    /// The group's `scope` has already returned (or is unwinding), so the
    /// group takes no more children. No task was started.
    #[error(
        "the task group has already ended and takes no more tasks: spawn into a group whose \
         scope is still running, or use fibrio::spawn for a task that outlives the group"
    )]
    Closed,
    /// The runtime could not spawn the task (see [`Builder::spawn`]).
    #[error("could not spawn a task into the group: {0}")]
    Spawn(#[from] SpawnError),
}

/// The state of a group, shared by the [`TaskGroup`] and its handles.
struct GroupState {
    scope: CancelScope,
    /// The scopes enclosing the group, its own innermost: every child is
    /// spawned into them. Set once, inside the group's scope, before the
    /// body runs; the body (and the handles it makes) is the only way to
    /// spawn, so it is always set by the first spawn.
    context: OnceCell<ScopeContext>,
    children: RefCell<Vec<TaskRef>>,
    failures: Rc<RefCell<Vec<ChildFailure>>>,
    closed: Cell<bool>,
}

impl GroupState {
    /// Spawns `f` as a child, inside the group's scope, and lists it.
    #[track_caller]
    fn spawn_child<T: 'static>(
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
struct CloseOnExit<'a>(&'a GroupState);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        self.0.closed.set(true);
    }
}

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
    state: Weak<GroupState>,
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
