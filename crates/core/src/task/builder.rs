//! [`Builder`] and [`spawn`]: starting tasks.

use std::sync::Arc;

use super::{JoinHandle, ScopeContext};
use crate::scheduler::{spawn_here, with_scheduler, SpawnError};

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
    /// caller keeps running until it parks or yields. Task dumps show the
    /// caller's file and line as where the task was spawned.
    ///
    /// # Errors
    ///
    /// [`SpawnError::NoRuntime`] outside a runtime,
    /// [`SpawnError::ShuttingDown`], [`SpawnError::TooManyTasks`], and
    /// [`SpawnError::Stack`] when no stack can be mapped (its message names
    /// `vm.max_map_count`).
    #[track_caller]
    pub fn spawn<T: 'static>(
        self,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, SpawnError> {
        let location = std::panic::Location::caller();
        spawn_here(self.name, self.stack_size, Some(location), f).map(JoinHandle::new)
    }

    /// Spawns `f` as a task on the current runtime, as [`Builder::spawn`]
    /// does, but into the cancel scopes of `context` instead of the
    /// caller's: the task belongs to exactly the scopes `context` holds
    /// (see [`ScopeContext::current`]), and to none of the scopes the
    /// caller is inside. This is how a nursery starts a task in its own
    /// scopes whoever asks it to (trio's `nursery.start_soon`).
    ///
    /// A shielded scope in `context` shields the task. The scopes need not
    /// be entered by anyone any more: cancelling one of them still cancels
    /// the task.
    ///
    /// # Errors
    ///
    /// As [`Builder::spawn`].
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint. If a scope of `context` is already cancelled, the
    /// task is still spawned (and its handle returned), but it never
    /// starts: it ends [`Cancelled`](super::TaskState::Cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use std::time::Duration;
    /// use fibrio_core::task::{self, move_on_after, Builder, ScopeContext};
    ///
    /// let here = ScopeContext::current(); // no scope
    /// let child = move_on_after(Duration::ZERO, || {
    ///     // Spawned inside a scope that times out at once, but into `here`.
    ///     Builder::new().name("kept").spawn_in(&here, || {
    ///         task::yield_now();
    ///         7
    ///     })
    /// });
    /// assert!(child.is_some()); // no checkpoint: the body finished
    /// assert_eq!(child.unwrap()?.join().unwrap(), 7);
    /// # Ok::<(), fibrio_core::task::SpawnError>(())
    /// # }).unwrap();
    /// ```
    #[track_caller]
    pub fn spawn_in<T: 'static>(
        self,
        context: &ScopeContext,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, SpawnError> {
        let location = std::panic::Location::caller();
        with_scheduler(|scheduler| {
            let scopes = Some(context.states());
            scheduler.spawn(self.name, self.stack_size, scopes, Some(location), f)
        })
        .unwrap_or(Err(SpawnError::NoRuntime))
        .map(JoinHandle::new)
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
#[track_caller]
pub fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
    match Builder::new().spawn(f) {
        Ok(handle) => handle,
        Err(err) => panic!("fibrio::spawn failed: {err}"),
    }
}
