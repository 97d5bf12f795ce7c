//! [`JoinHandle`] and [`JoinError`]: waiting for a task and learning how it
//! ended.

use std::fmt;
use std::rc::Rc;

use super::raw::{ErasedTask, Task, TaskHeader};
use super::{park, ParkError, TaskState, TaskStats};
use crate::fiber::{payload_message, Payload};
use crate::scheduler::{with_current, TaskKey};

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
    NotSpawned(#[from] super::SpawnError),
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
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// True if the task panicked.
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

/// An owned permission to wait for a task's result.
///
/// Dropping a `JoinHandle` detaches the task: it keeps running, and its
/// result is dropped when it ends.
///
/// `JoinHandle` is `!Send`: tasks never leave their thread.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<fibrio_core::task::JoinHandle<()>>();
/// ```
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task;
///
/// let handle = task::Builder::new().name("adder").spawn(|| 2 + 2).unwrap();
/// assert_eq!(handle.name(), Some("adder"));
/// assert_eq!(handle.join().unwrap(), 4);
/// # });
/// ```
pub struct JoinHandle<T> {
    task: Rc<Task<T>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: Rc<Task<T>>) -> JoinHandle<T> {
        JoinHandle { task }
    }

    fn header(&self) -> &TaskHeader {
        &self.task.header
    }

    pub(crate) fn key(&self) -> TaskKey {
        self.header().key
    }

    /// Takes the result if the task has ended.
    pub(crate) fn join_now(&self) -> Option<Result<T, JoinError>> {
        if self.header().state.get().is_terminal() {
            Some(self.task.take_output().unwrap_or(Err(JoinError::Cancelled)))
        } else {
            None
        }
    }

    /// Waits for the task to end and returns its value. The calling task
    /// parks meanwhile, so other tasks run. A task that has already ended
    /// is joined at once.
    ///
    /// # Errors
    ///
    /// [`JoinError::Cancelled`] or [`JoinError::Panicked`] if the task did
    /// not return a value; [`JoinError::Unwinding`] or
    /// [`JoinError::OutsideTask`] if the caller cannot wait.
    ///
    /// # Cancellation
    ///
    /// A checkpoint: if the calling task is cancelled while it waits, it
    /// unwinds from here. The joined task keeps running.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| -> u8 { panic!("no value") });
    /// # let hook = std::panic::take_hook(); std::panic::set_hook(Box::new(|_| {}));
    /// let err = handle.join().unwrap_err();
    /// # std::panic::set_hook(hook);
    /// assert!(err.is_panic());
    /// # });
    /// ```
    pub fn join(self) -> Result<T, JoinError> {
        loop {
            if let Some(result) = self.join_now() {
                return result;
            }
            wait_finished(&[self.header()])?;
        }
    }

    /// Takes the result if the task has ended, without waiting: `None`
    /// while it runs. Once taken, the result is gone: a later `try_join` or
    /// `join` reports [`JoinError::Cancelled`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| 7);
    /// assert!(handle.try_join().is_none()); // queued, not run yet
    /// fibrio_core::task::yield_now();
    /// assert_eq!(handle.try_join().unwrap().unwrap(), 7);
    /// # });
    /// ```
    pub fn try_join(&self) -> Option<Result<T, JoinError>> {
        self.join_now()
    }

    /// A cloneable reference to the task that can watch and cancel it but
    /// not take its result, like tokio's `AbortHandle`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| 1);
    /// let task = handle.task_ref();
    /// assert_eq!(task.id(), handle.id());
    /// task.wait().unwrap();
    /// assert!(task.is_finished());
    /// # });
    /// ```
    pub fn task_ref(&self) -> TaskRef
    where
        T: 'static,
    {
        TaskRef {
            task: self.task.clone(),
        }
    }

    /// Requests cancellation. The task unwinds at its next checkpoint (any
    /// parking call), running its `Drop`s, and ends as
    /// [`TaskState::Cancelled`]; a task that has not started never runs.
    /// Cancelling a finished task does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| unreachable!("never runs"));
    /// handle.cancel();
    /// assert!(handle.join().unwrap_err().is_cancelled());
    /// # });
    /// ```
    pub fn cancel(&self) {
        cancel_header(self.header());
    }

    /// True once the task has ended.
    pub fn is_finished(&self) -> bool {
        self.header().state.get().is_terminal()
    }

    /// The task's state now.
    pub fn state(&self) -> TaskState {
        self.header().state.get()
    }

    /// A snapshot of the task's statistics.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| ());
    /// fibrio_core::task::yield_now();
    /// let stats = handle.stats();
    /// assert!(stats.state.is_success());
    /// assert_eq!(stats.switches, 1);
    /// assert!(stats.duration().is_some());
    /// # });
    /// ```
    pub fn stats(&self) -> TaskStats {
        self.header().stats()
    }

    /// The task's process-unique id.
    pub fn id(&self) -> u64 {
        self.header().id
    }

    /// The task's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.header().name.as_deref()
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}

/// A cloneable, type-erased reference to a task: it can report on the
/// task, wait for it to end and cancel it, but not take its result (that is
/// the [`JoinHandle`]'s). Made by [`JoinHandle::task_ref`]; `!Send`, like
/// the task.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<fibrio_core::task::TaskRef>();
/// ```
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task;
///
/// let handle = task::spawn(|| loop { task::yield_now() });
/// let watcher = handle.task_ref();
/// watcher.cancel();
/// watcher.wait().unwrap();
/// assert!(watcher.state().is_cancelled());
/// assert!(handle.join().unwrap_err().is_cancelled());
/// # });
/// ```
#[derive(Clone)]
pub struct TaskRef {
    task: Rc<dyn ErasedTask>,
}

impl TaskRef {
    fn header(&self) -> &TaskHeader {
        self.task.header()
    }

    /// Requests cancellation, as [`JoinHandle::cancel`].
    pub fn cancel(&self) {
        cancel_header(self.header());
    }

    /// True once the task has ended.
    pub fn is_finished(&self) -> bool {
        self.header().state.get().is_terminal()
    }

    /// The task's state now.
    pub fn state(&self) -> TaskState {
        self.header().state.get()
    }

    /// A snapshot of the task's statistics.
    pub fn stats(&self) -> TaskStats {
        self.header().stats()
    }

    /// The task's process-unique id.
    pub fn id(&self) -> u64 {
        self.header().id
    }

    /// The task's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.header().name.as_deref()
    }

    /// Parks the calling task until this task has ended (returns at once if
    /// it has).
    ///
    /// # Errors
    ///
    /// [`JoinError::Unwinding`] or [`JoinError::OutsideTask`] if the caller
    /// cannot wait.
    ///
    /// # Cancellation
    ///
    /// A checkpoint; the watched task keeps running.
    pub fn wait(&self) -> Result<(), JoinError> {
        while !self.is_finished() {
            wait_finished(&[self.header()])?;
        }
        Ok(())
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRef")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}

/// Parks the calling task until at least one of `tasks` has ended, and
/// returns the index of the first ended one in slice order; `Ok(None)` for
/// an empty slice. Returns at once if one has already ended. The building
/// block of `gather`, `select` and task groups.
///
/// # Errors
///
/// [`JoinError::Unwinding`] or [`JoinError::OutsideTask`] if the caller
/// cannot wait.
///
/// # Cancellation
///
/// A checkpoint; the watched tasks keep running.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task;
///
/// let slow = task::spawn(|| loop { task::yield_now() });
/// let quick = task::spawn(|| ());
/// let first = task::wait_any(&[slow.task_ref(), quick.task_ref()]).unwrap();
/// assert_eq!(first, Some(1));
/// slow.cancel();
/// # });
/// ```
pub fn wait_any(tasks: &[TaskRef]) -> Result<Option<usize>, JoinError> {
    if tasks.is_empty() {
        return Ok(None);
    }
    let headers: Vec<&TaskHeader> = tasks.iter().map(TaskRef::header).collect();
    loop {
        if let Some(index) = headers.iter().position(|h| h.state.get().is_terminal()) {
            return Ok(Some(index));
        }
        wait_finished(&headers)?;
    }
}

/// Registers the current task as a waiter of every unfinished task in
/// `headers`, parks once, and unregisters (also when unwinding). May return
/// spuriously; callers loop.
fn wait_finished(headers: &[&TaskHeader]) -> Result<(), JoinError> {
    let me = with_current(|s| s.current().map(|me| me.key)).flatten();
    let Some(me) = me else {
        return Err(JoinError::OutsideTask);
    };
    struct Unregister<'a> {
        headers: &'a [&'a TaskHeader],
        me: TaskKey,
    }
    impl Drop for Unregister<'_> {
        fn drop(&mut self) {
            for header in self.headers {
                let mut waiters = header.join_waiters.borrow_mut();
                if let Some(i) = waiters.iter().position(|k| *k == self.me) {
                    waiters.swap_remove(i);
                }
            }
        }
    }
    for header in headers {
        if !header.state.get().is_terminal() {
            header.join_waiters.borrow_mut().push(me);
        }
    }
    let _unregister = Unregister { headers, me };
    match park() {
        Ok(()) => Ok(()),
        Err(ParkError::Unwinding) => Err(JoinError::Unwinding),
        Err(ParkError::OutsideTask) => Err(JoinError::OutsideTask),
    }
}

fn cancel_header(header: &TaskHeader) {
    let key = header.key;
    let on_scheduler = with_current(|s| s.cancel(key)).is_some();
    if !on_scheduler && !header.state.get().is_terminal() {
        header.cancel_requested.set(true);
    }
}
