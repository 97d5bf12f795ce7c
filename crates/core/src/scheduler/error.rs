//! The errors of the task kernel: [`SpawnError`] (a task could not
//! start) and [`TrySpawnError`] (a remote spawn refused for back-pressure,
//! with its closure), [`JoinError`] (a task produced no value) and [`ParkError`] (the
//! caller could not park). The public `task` module re-exports them.

use std::fmt;

use crate::fiber::{payload_message, Payload};
use crate::stack::StackError;

/// Why a task could not be spawned.
///
/// # Examples
///
/// ```
/// use fibrio_core::task::{Builder, SpawnError};
///
/// // Outside a runtime there is nothing to spawn onto.
/// let err = Builder::new().spawn(|| ()).unwrap_err();
/// assert!(matches!(err, SpawnError::NoRuntime));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// No fibrio runtime runs on this thread. Spawn from inside
    /// `fibrio::run`, or use a `Handle` from another thread.
    #[error("no fibrio runtime is running on this thread: spawn from inside fibrio::run, or through a Handle")]
    NoRuntime,
    /// The runtime is shutting down (its main task has returned).
    #[error("the fibrio runtime is shutting down and accepts no new tasks")]
    ShuttingDown,
    /// The runtime's `max_tasks` limit is reached.
    #[error("the runtime already runs its limit of {limit} tasks; wait for some to finish or raise max_tasks")]
    TooManyTasks {
        /// The configured limit.
        limit: usize,
    },
    /// The task's stack could not be mapped.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// [`Handle::try_spawn`](crate::scheduler::Handle::try_spawn): the
    /// runtime already has `capacity` spawns from other threads queued and
    /// not yet started (it is busy, or blocked by a task).
    #[error("the runtime already has {capacity} spawns from other threads waiting to start; retry later, use Handle::spawn (unbounded), or raise remote_spawn_capacity")]
    InboxFull {
        /// The configured capacity
        /// ([`SchedulerConfig::remote_spawn_capacity`](crate::scheduler::SchedulerConfig::remote_spawn_capacity)).
        capacity: usize,
    },
}

/// Why [`Handle::try_spawn`](crate::scheduler::Handle::try_spawn) did not
/// queue a task. The closure comes back, so the caller can retry it later,
/// run it elsewhere, or drop it.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
/// use fibrio_core::task::SpawnError;
///
/// let config = SchedulerConfig { remote_spawn_capacity: 1, ..SchedulerConfig::default() };
/// let scheduler = Scheduler::new(config, Box::new(NotifyDriver::new()));
/// let handle = scheduler.handle();
/// let first = handle.try_spawn(|| 1).unwrap(); // queued: the runtime is not running yet
/// let refused = handle.try_spawn(|| 2).unwrap_err();
/// assert!(matches!(refused.error(), SpawnError::InboxFull { capacity: 1 }));
/// let closure = refused.into_closure();
/// assert_eq!(closure(), 2);
/// assert_eq!(scheduler.block_on(move || first.join().unwrap()).unwrap(), 1);
/// ```
pub struct TrySpawnError<F> {
    error: SpawnError,
    closure: F,
}

impl<F> TrySpawnError<F> {
    pub(crate) fn new(error: SpawnError, closure: F) -> TrySpawnError<F> {
        TrySpawnError { error, closure }
    }

    /// Why the task was not queued: [`SpawnError::InboxFull`] or
    /// [`SpawnError::TooManyTasks`].
    ///
    /// # Examples
    ///
    /// See [`TrySpawnError`].
    pub fn error(&self) -> &SpawnError {
        &self.error
    }

    /// The closure that was not spawned.
    ///
    /// # Examples
    ///
    /// See [`TrySpawnError`].
    pub fn into_closure(self) -> F {
        self.closure
    }
}

impl<F> fmt::Debug for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrySpawnError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for TrySpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl<F> std::error::Error for TrySpawnError<F> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Why a task did not produce a value.
///
/// # Examples
///
/// ```
/// use fibrio_core::task::JoinError;
///
/// let err = JoinError::Cancelled;
/// assert!(err.is_cancelled() && !err.is_panic());
/// assert_eq!(err.to_string(), "the task was cancelled");
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The task was cancelled: it unwound at a checkpoint, or never ran.
    #[error("the task was cancelled")]
    Cancelled,
    /// The task panicked; the payload is kept.
    #[error("the task panicked: {}", payload_message(.0))]
    Panicked(Payload),
    /// The task could not be spawned (seen by
    /// [`RemoteJoinHandle`](crate::scheduler::RemoteJoinHandle)s, whose spawn
    /// happens later, on the runtime's thread).
    #[error("the task could not be spawned: {0}")]
    NotSpawned(#[from] SpawnError),
    /// `join` was called while the current task is unwinding (in a `Drop`
    /// during a panic or a cancellation), and the task had not finished.
    /// Waiting would mean suspending during unwinding, which fibrio never
    /// does: do not block in `Drop`.
    #[error("cannot wait for an unfinished task while the current task is unwinding; do not block in Drop")]
    Unwinding,
    /// `join` was called outside any fibrio task (for example on a plain
    /// thread), and the task had not finished. Join from inside a task.
    #[error("cannot wait for an unfinished task outside a fibrio task; join from inside a task")]
    OutsideTask,
}

impl JoinError {
    /// True if the task was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::JoinError;
    ///
    /// assert!(JoinError::Cancelled.is_cancelled());
    /// assert!(!JoinError::OutsideTask.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// True if the task panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::JoinError;
    ///
    /// assert!(JoinError::Panicked(Box::new("boom")).is_panic());
    /// assert!(!JoinError::Cancelled.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// The panic payload.
    ///
    /// # Panics
    ///
    /// If the error is not a panic; use [`try_into_panic`](JoinError::try_into_panic)
    /// to check.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::JoinError;
    ///
    /// let err = JoinError::Panicked(Box::new("boom"));
    /// assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"boom"));
    /// ```
    pub fn into_panic(self) -> Payload {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(other) => {
                panic!("JoinError::into_panic called on an error that is not a panic: {other}")
            }
        }
    }

    /// The panic payload, or the error itself if it is not a panic.
    ///
    /// # Errors
    ///
    /// Returns `self` unchanged when it is not [`JoinError::Panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::JoinError;
    ///
    /// let payload = JoinError::Panicked(Box::new(7_u32)).try_into_panic().unwrap();
    /// assert_eq!(payload.downcast_ref::<u32>(), Some(&7));
    /// assert!(JoinError::Cancelled.try_into_panic().unwrap_err().is_cancelled());
    /// ```
    pub fn try_into_panic(self) -> Result<Payload, JoinError> {
        match self {
            JoinError::Panicked(payload) => Ok(payload),
            other => Err(other),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("Cancelled"),
            JoinError::Panicked(payload) => f
                .debug_tuple("Panicked")
                .field(&payload_message(payload))
                .finish(),
            JoinError::NotSpawned(err) => f.debug_tuple("NotSpawned").field(err).finish(),
            JoinError::Unwinding => f.write_str("Unwinding"),
            JoinError::OutsideTask => f.write_str("OutsideTask"),
        }
    }
}

/// Why [`park`](crate::task::park) returned without parking.
///
/// # Examples
///
/// ```
/// use fibrio_core::task::{park, ParkError};
///
/// // Outside a task there is nothing to park.
/// assert_eq!(park(), Err(ParkError::OutsideTask));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParkError {
    /// Not called from inside a fibrio task.
    #[error("park called outside a fibrio task")]
    OutsideTask,
    /// The thread is unwinding; suspending now would leak the panic state to
    /// other tasks, so the call returns at once.
    #[error("cannot park while the task is unwinding; do not block in Drop")]
    Unwinding,
}

/// Why [`Scheduler::block_on`](super::Scheduler::block_on) could not run its task to the end.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig, SchedulerError};
///
/// # fibrio_core::task::test_support::block_on(|| {
/// let inner = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
/// let err = inner.block_on(|| ()).unwrap_err(); // a runtime already runs here
/// assert!(matches!(err, SchedulerError::Nested));
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerError {
    /// `block_on` was called on a thread that is already running a
    /// scheduler (for example from inside a task). Spawn a task instead.
    #[error("cannot start a fibrio runtime inside a running one: spawn a task with fibrio::spawn instead of calling run again")]
    Nested,
    /// The main task could not be spawned.
    #[error("cannot spawn the main task: {0}")]
    Spawn(#[from] SpawnError),
    /// The main task was cancelled before it returned a value.
    #[error("the main task was cancelled before it returned")]
    MainCancelled,
}
