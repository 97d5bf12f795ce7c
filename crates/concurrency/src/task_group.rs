//! [`TaskGroup`]: structured concurrency, asyncio's `TaskGroup` and trio's
//! nursery.
//!
//! [`TaskGroup::scope`] runs a body that spawns children through the group,
//! and returns only once every child has ended.
//!
//! Invariants:
//! * The group owns a [`CancelScope`]. The body runs inside it and every
//!   child is spawned inside it, so cancelling the scope (a child failed,
//!   [`TaskGroup::cancel`], the body panicked) cancels the body and every
//!   child at their next checkpoint.
//! * `children` lists every child ever spawned, in spawn order; it only
//!   grows, and only the body adds to it (children are `'static` and cannot
//!   borrow the group).
//! * `failures` gets one entry per child that *panicked* (cancellation is
//!   not a failure), pushed by the child itself as it unwinds, before it
//!   cancels the scope. So when two children fail in the same tick, both
//!   are recorded: nothing is dropped, unlike the `TaskGroup` of PHP
//!   AsyncIO (the PHP library fibrio was modelled on), which kept only the
//!   first.
//! * `scope` never returns (or unwinds) while a child is alive: if the
//!   body or the wait is interrupted (a panic, or the caller's own
//!   cancellation), it cancels the scope and waits for the children
//!   *shielded* before going on.
//! * Every failure is reported, the body's included, as asyncio's
//!   `ExceptionGroup` and trio's `MultiError` do: a panic in the body is
//!   not resumed but returned as [`TaskGroupError::BodyPanicked`], with its
//!   original payload next to every child's failure. Only a cancellation
//!   of the caller (never an error) goes on unwinding, as before.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use fibrio_core::fiber::payload_message;
use fibrio_core::task::{
    self, is_cancellation, wait_any, Builder, CancelScope, JoinHandle, SpawnError, TaskRef,
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

/// Why [`TaskGroup::scope`] returned no value.
#[derive(Debug)]
pub enum TaskGroupError {
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
}

impl TaskGroupError {
    /// The children's failures (empty for `Cancelled`; for `BodyPanicked`,
    /// the children's only: see [`TaskGroupError::body_panic`]).
    pub fn failures(&self) -> &[ChildFailure] {
        match self {
            TaskGroupError::Failed(failures) => failures,
            TaskGroupError::BodyPanicked { failures, .. } => failures,
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
}

fn write_failures(f: &mut fmt::Formatter<'_>, failures: &[ChildFailure]) -> fmt::Result {
    for failure in failures {
        write!(f, "\n  {failure}")?;
    }
    Ok(())
}

impl fmt::Display for TaskGroupError {
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
            TaskGroupError::Cancelled => f.write_str(
                "the task group was cancelled with TaskGroup::cancel before its body finished",
            ),
        }
    }
}

impl std::error::Error for TaskGroupError {}

/// A group of tasks that ends as one. Made by [`TaskGroup::scope`].
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
    scope: CancelScope,
    children: RefCell<Vec<TaskRef>>,
    failures: Rc<RefCell<Vec<ChildFailure>>>,
}

impl TaskGroup {
    /// Runs `body` with a new group, waits until every child spawned
    /// through it has ended, and returns the body's value.
    ///
    /// The first child to panic cancels the body and its siblings; `scope`
    /// then waits for all of them and reports every failure. A panic in the
    /// body cancels the children likewise, and is reported with theirs.
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
        let group = TaskGroup {
            scope: CancelScope::new(),
            children: RefCell::new(Vec::new()),
            failures: Rc::new(RefCell::new(Vec::new())),
        };
        let ran = panic::catch_unwind(AssertUnwindSafe(|| group.scope.run(|| body(&group))));
        let value = match ran {
            Ok(value) => {
                if let Err(payload) =
                    panic::catch_unwind(AssertUnwindSafe(|| group.wait_children()))
                {
                    // The caller was cancelled while waiting.
                    group.cancel_and_wait();
                    panic::resume_unwind(payload);
                }
                value
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
    /// cancelled when a sibling fails or the group is cancelled.
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
    pub fn spawn_with<T: 'static>(
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
        // Spawned inside the scope, so that the child belongs to it.
        let handle = self
            .scope
            .run(|| builder.spawn(child))
            .unwrap_or(Err(SpawnError::ShuttingDown))?;
        self.children.borrow_mut().push(handle.task_ref());
        Ok(handle)
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
        self.scope.cancel();
    }

    /// How many children were spawned so far.
    pub fn len(&self) -> usize {
        self.children.borrow().len()
    }

    /// True if no child was spawned yet.
    pub fn is_empty(&self) -> bool {
        self.children.borrow().is_empty()
    }

    /// How many children are still running.
    pub fn running(&self) -> usize {
        self.children
            .borrow()
            .iter()
            .filter(|c| !c.is_finished())
            .count()
    }

    /// Cancels every child and waits for them, shielded from the caller's
    /// cancellation.
    fn cancel_and_wait(&self) {
        self.scope.cancel();
        CancelScope::shield(|| self.wait_children());
    }

    /// The children's failures so far, in the order they happened.
    fn take_failures(&self) -> Vec<ChildFailure> {
        std::mem::take(&mut *self.failures.borrow_mut())
    }

    /// Parks until every child has ended.
    fn wait_children(&self) {
        loop {
            let running: Vec<TaskRef> = self
                .children
                .borrow()
                .iter()
                .filter(|c| !c.is_finished())
                .cloned()
                .collect();
            if running.is_empty() {
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
            .field("failures", &self.failures.borrow().len())
            .finish()
    }
}
