//! [`Builder`], [`spawn`] and [`SpawnError`]: starting tasks.

use std::sync::Arc;

use super::JoinHandle;
use crate::scheduler::with_current;
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
}

/// Configures a task before it is spawned, like [`std::thread::Builder`].
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task::Builder;
///
/// let handle = Builder::new()
///     .name("resolver")
///     .stack_size(64 * 1024)
///     .spawn(|| "done")?;
/// assert_eq!(handle.join().unwrap(), "done");
/// # Ok::<(), fibrio_core::task::SpawnError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    name: Option<Arc<str>>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the runtime's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task. The name shows in stats, watchdog warnings and
    /// stack-overflow reports.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(Arc::from(name.into()));
        self
    }

    /// Sets the task's stack size in bytes (rounded up to 16 KiB and whole
    /// pages).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns `f` as a task on the current runtime. The task is queued; the
    /// caller keeps running until it parks or yields.
    ///
    /// # Errors
    ///
    /// [`SpawnError::NoRuntime`] outside a runtime,
    /// [`SpawnError::ShuttingDown`], [`SpawnError::TooManyTasks`], and
    /// [`SpawnError::Stack`] when no stack can be mapped (its message names
    /// `vm.max_map_count`).
    pub fn spawn<T: 'static>(
        self,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, SpawnError> {
        with_current(|scheduler| {
            let stack_size = self.stack_size.unwrap_or(scheduler.config().stack_size);
            scheduler.spawn(self.name, stack_size, f)
        })
        .unwrap_or(Err(SpawnError::NoRuntime))
    }
}

/// Spawns `f` as a task on the current runtime and returns its handle.
///
/// # Panics
///
/// With the [`SpawnError`] message, when the task cannot be spawned (see
/// [`Builder::spawn`] for the fallible form).
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// let handles: Vec<_> = (0..3).map(|i| fibrio_core::task::spawn(move || i * 10)).collect();
/// let values: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(values, [0, 10, 20]);
/// # });
/// ```
pub fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
    match Builder::new().spawn(f) {
        Ok(handle) => handle,
        Err(err) => panic!("fibrio::spawn failed: {err}"),
    }
}
