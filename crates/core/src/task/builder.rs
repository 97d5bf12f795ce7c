//! [`Builder`] and [`spawn`]: starting tasks.

use std::sync::Arc;

use super::JoinHandle;
use crate::scheduler::{spawn_here, SpawnError};

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
        spawn_here(self.name, self.stack_size, f).map(JoinHandle::new)
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
