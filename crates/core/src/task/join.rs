//! [`JoinHandle`] and [`JoinError`]: waiting for a task and learning how it
//! ended.

use std::fmt;
use std::rc::Rc;

use crate::scheduler::{
    cancel_task, park_running, with_running, ErasedTask, JoinError, ParkError, Task, TaskHeader,
    TaskState, TaskStats, WaitKind, WaitReason,
};

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

    /// Waits for the task to end and returns its value. The calling task
    /// parks meanwhile, so other tasks run. A task that has already ended
    /// is joined without parking (after the checkpoint).
    ///
    /// # Errors
    ///
    /// [`JoinError::Cancelled`] or [`JoinError::Panicked`] if the task did
    /// not return a value; [`JoinError::Unwinding`] or
    /// [`JoinError::OutsideTask`] if the caller cannot wait.
    ///
    /// # Cancellation
    ///
    /// Always a checkpoint, even when the task has already ended: a
    /// cancelled caller unwinds from here. The joined task keeps running.
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
        super::checkpoint_if_cancelled();
        loop {
            if let Some(result) = self.task.take_output() {
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
        self.task.take_output()
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
        cancel_task(self.header());
    }

    /// True once the task has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| 1);
    /// assert!(!handle.is_finished()); // queued, not run yet
    /// fibrio_core::task::yield_now();
    /// assert!(handle.is_finished());
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.header().is_terminal()
    }

    /// The task's state now.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::TaskState;
    ///
    /// let handle = fibrio_core::task::spawn(|| 1);
    /// assert_eq!(handle.state(), TaskState::Pending);
    /// fibrio_core::task::yield_now();
    /// assert_eq!(handle.state(), TaskState::Completed);
    /// # });
    /// ```
    pub fn state(&self) -> TaskState {
        self.header().state()
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

    /// The task's id: unique within the process, or, inside a deterministic
    /// simulation, within its run (see [`current_id`](super::current_id)).
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let a = fibrio_core::task::spawn(|| ());
    /// let b = fibrio_core::task::spawn(|| ());
    /// assert_ne!(a.id(), b.id());
    /// # });
    /// ```
    pub fn id(&self) -> u64 {
        self.header().id()
    }

    /// The task's name, if it was given one.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::{spawn, Builder};
    ///
    /// let named = Builder::new().name("io").spawn(|| ()).unwrap();
    /// assert_eq!(named.name(), Some("io"));
    /// assert_eq!(spawn(|| ()).name(), None);
    /// # });
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.header().name().map(|name| &**name)
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
/// the [`JoinHandle`]'s). Made by [`JoinHandle::task_ref`], or by
/// [`current`] for the running task; `!Send`, like the task.
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
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| ());
    /// handle.task_ref().cancel();
    /// assert!(handle.join().unwrap_err().is_cancelled());
    /// # });
    /// ```
    pub fn cancel(&self) {
        cancel_task(self.header());
    }

    /// True once the task has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let task = fibrio_core::task::spawn(|| 1).task_ref(); // the handle is dropped
    /// assert!(!task.is_finished());
    /// task.wait().unwrap();
    /// assert!(task.is_finished());
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.header().is_terminal()
    }

    /// The task's state now.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::TaskState;
    ///
    /// let task = fibrio_core::task::spawn(|| 1).task_ref();
    /// assert_eq!(task.state(), TaskState::Pending);
    /// task.wait().unwrap();
    /// assert_eq!(task.state(), TaskState::Completed);
    /// # });
    /// ```
    pub fn state(&self) -> TaskState {
        self.header().state()
    }

    /// A snapshot of the task's statistics.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| ());
    /// let task = handle.task_ref();
    /// task.wait().unwrap();
    /// assert_eq!(task.stats(), handle.stats());
    /// assert_eq!(task.stats().switches, 1);
    /// # });
    /// ```
    pub fn stats(&self) -> TaskStats {
        self.header().stats()
    }

    /// The task's id: unique within the process, or, inside a deterministic
    /// simulation, within its run (see [`current_id`](super::current_id)).
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::spawn(|| ());
    /// assert_eq!(handle.task_ref().id(), handle.id());
    /// # });
    /// ```
    pub fn id(&self) -> u64 {
        self.header().id()
    }

    /// The task's name, if it was given one.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let handle = fibrio_core::task::Builder::new().name("io").spawn(|| ()).unwrap();
    /// assert_eq!(handle.task_ref().name(), Some("io"));
    /// # });
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.header().name().map(|name| &**name)
    }

    /// Parks the calling task until this task has ended (does not park if
    /// it has, after the checkpoint).
    ///
    /// # Errors
    ///
    /// [`JoinError::Unwinding`] or [`JoinError::OutsideTask`] if the caller
    /// cannot wait.
    ///
    /// # Cancellation
    ///
    /// Always a checkpoint, even when the task has already ended; the
    /// watched task keeps running.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use std::time::Duration;
    ///
    /// let task = fibrio_core::task::spawn(|| fibrio_core::task::sleep(Duration::from_millis(1))).task_ref();
    /// task.wait().unwrap(); // parks until the task has ended
    /// assert!(task.state().is_success());
    /// # });
    /// ```
    pub fn wait(&self) -> Result<(), JoinError> {
        super::checkpoint_if_cancelled();
        while !self.is_finished() {
            wait_finished(&[self.header()])?;
        }
        Ok(())
    }

    /// What the task waits for while it is parked (a lock, a channel, a
    /// join, a read, a sleep, ...); `None` while it is not parked (queued,
    /// running, not started or ended). For task dumps and tests: the value
    /// is what the task's latest parking call recorded.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use std::time::Duration;
    /// use fibrio_core::task::{self, WaitKind};
    ///
    /// let sleeper = task::spawn(|| task::sleep(Duration::from_millis(5))).task_ref();
    /// assert_eq!(sleeper.wait_reason(), None); // not started
    /// task::yield_now(); // it runs and parks in its sleep
    /// assert_eq!(sleeper.wait_reason().unwrap().kind, WaitKind::Sleep);
    /// sleeper.wait().unwrap();
    /// assert_eq!(sleeper.wait_reason(), None); // ended
    /// # });
    /// ```
    pub fn wait_reason(&self) -> Option<WaitReason> {
        self.header().wait_reason()
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

/// The task running this code: a [`TaskRef`] to it, so that it can cancel
/// itself, or hand a reference to itself to another task (which can then
/// [`wait`](TaskRef::wait) for it or cancel it).
///
/// # Panics
///
/// Outside a task: on a thread without a fibrio runtime, or on a runtime's
/// own loop (in a driver, say), which includes the `Drop`s that run while a
/// runtime left by a panic unwinds the stacks of its parked tasks (a panic
/// there aborts the process). Use [`try_current`] to check.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task;
///
/// let worker = task::Builder::new()
///     .name("worker")
///     .spawn(|| {
///         let me = task::current();
///         assert_eq!(me.name(), Some("worker"));
///         me.cancel(); // cancels itself ...
///         task::yield_now(); // ... and unwinds at this checkpoint
///         unreachable!("cancelled at the checkpoint above");
///     })
///     .unwrap();
/// assert!(worker.join().unwrap_err().is_cancelled());
/// # });
/// ```
pub fn current() -> TaskRef {
    match try_current() {
        Some(task) => task,
        None => panic!(
            "fibrio_core::task::current() called outside a task: call it inside a runtime \
             (inside fibrio::run or a task it spawns), or use task::try_current() to check"
        ),
    }
}

/// The task running this code, or `None` outside a task (on a thread
/// without a runtime, or on a runtime's own loop). See [`current`].
///
/// # Examples
///
/// ```
/// use fibrio_core::task;
///
/// assert!(task::try_current().is_none()); // not in a task
/// let name = task::test_support::block_on(|| task::try_current().unwrap().name().map(String::from));
/// assert_eq!(name.as_deref(), Some("main"));
/// ```
pub fn try_current() -> Option<TaskRef> {
    with_running(|scheduler, _| scheduler.running_task())
        .flatten()
        .map(|task| TaskRef { task })
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
    super::checkpoint_if_cancelled();
    let headers: Vec<&TaskHeader> = tasks.iter().map(TaskRef::header).collect();
    loop {
        if let Some(index) = headers.iter().position(|h| h.is_terminal()) {
            return Ok(Some(index));
        }
        wait_finished(&headers)?;
    }
}

/// Registers the current task as a waiter of every unfinished task in
/// `headers`, parks once, and unregisters (also when unwinding). May return
/// spuriously; callers loop.
fn wait_finished(headers: &[&TaskHeader]) -> Result<(), JoinError> {
    // Named now, formatted never (only a report prints it).
    let reason = match headers {
        [one] => WaitReason::new(WaitKind::Join, one.id()),
        _ => {
            let first = headers
                .iter()
                .find(|h| !h.is_terminal())
                .unwrap_or(&headers[0]);
            WaitReason::new(WaitKind::JoinAny, first.id())
        }
    };
    let Some(me) = with_running(|_, me| me.key()) else {
        return Err(JoinError::OutsideTask);
    };
    struct Unregister<'a> {
        headers: &'a [&'a TaskHeader],
        me: crate::scheduler::TaskKey,
    }
    impl Drop for Unregister<'_> {
        fn drop(&mut self) {
            for header in self.headers {
                header.remove_join_waiter(self.me);
            }
        }
    }
    for header in headers {
        if !header.is_terminal() {
            header.add_join_waiter(me);
        }
    }
    let _unregister = Unregister { headers, me };
    match park_running(None, reason) {
        Ok(_) => Ok(()),
        Err(ParkError::Unwinding) => Err(JoinError::Unwinding),
        Err(ParkError::OutsideTask) => Err(JoinError::OutsideTask),
    }
}
