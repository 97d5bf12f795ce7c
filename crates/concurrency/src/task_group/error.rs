//! What a task group reports: [`ChildFailure`] (one child's panic),
//! [`TaskGroupError`] (why `scope`/`try_scope` returned no value) and
//! [`TaskGroupSpawnError`] (why a handle could not spawn).
//!
//! Invariants (from the [`task_group`](super) module docs):
//! * Every failure is reported, the body's included, as asyncio's
//!   `ExceptionGroup` and trio's `MultiError` do: a panic in the body is
//!   returned as [`TaskGroupError::BodyPanicked`], and an error value of a
//!   [`TaskGroup::try_scope`] body as [`TaskGroupError::BodyFailed`], with
//!   every child's failure next to it, in the order they happened.
//! * Cancellation is not a failure: a cancelled child is not a
//!   [`ChildFailure`].
//! * Spawning through a handle into a closed group returns
//!   [`TaskGroupSpawnError::Closed`], never panics.

use std::any::Any;
use std::convert::Infallible;
use std::fmt;

use fibrio_core::task::SpawnError;
#[cfg(doc)]
use fibrio_core::task::{Builder, JoinHandle};

#[cfg(doc)]
use super::{TaskGroup, TaskGroupHandle};

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
