//! [`JoinSet`]: a set of tasks whose results come back in the order the
//! tasks ended, tokio's `JoinSet`.
//!
//! Invariants:
//! * `tasks` holds the [`JoinHandle`] of every task spawned into the set
//!   whose result has not been taken yet, under a token unique within the
//!   set. [`JoinSet::len`] counts them, ended or not. Tokens grow with each
//!   spawn and `tasks` is a `BTreeMap`, so every walk over it (cancelling,
//!   draining) goes in spawn order, never in a hasher's order: a
//!   deterministic simulation replays it.
//! * Every task spawned into the set pushes its token onto the shared
//!   `ended` queue exactly once, from a guard moved into its closure: as
//!   the closure returns, as it unwinds (a panic, a cancellation), or, for
//!   a task cancelled before it ever ran, when the scheduler drops the
//!   closure. Nothing of the task can park after that push, so the queue
//!   order *is* the completion order, also for tasks that end in the same
//!   turn. Results are taken from the front of the queue only.
//! * A token with no entry in `tasks` (its spawn failed, so the closure
//!   was dropped unrun) is skipped.
//! * A waiting [`JoinSet::join_next`] registers its [`Unparker`] next to
//!   the queue; the next push wakes it. It unregisters when it leaves,
//!   also by unwinding.
//! * Dropping the set cancels the tasks left in it and waits for them
//!   (shielded), so none outlives the set, except while the thread is
//!   unwinding (or outside a task), where nothing can park: they are then
//!   cancelled and end at their next checkpoint, on their own.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use fibrio_core::task::{
    self, wait_any, Builder, CancelScope, JoinError, JoinHandle, ParkError, SpawnError, TaskRef,
    Unparker,
};

/// The completion queue shared by a set and its tasks.
#[derive(Default)]
struct Completions {
    /// Tokens of the tasks that ended, in the order they ended.
    ended: RefCell<VecDeque<u64>>,
    /// The task parked in `join_next`, if any.
    waiter: RefCell<Option<Unparker>>,
}

/// Moved into a task's closure: records the task's end when the closure
/// is gone, whichever way it goes.
struct RecordEnd {
    completions: Rc<Completions>,
    token: u64,
}

impl Drop for RecordEnd {
    fn drop(&mut self) {
        self.completions.ended.borrow_mut().push_back(self.token);
        let waiter = self.completions.waiter.borrow_mut().take();
        if let Some(waiter) = waiter {
            waiter.unpark();
        }
    }
}

/// Unregisters the waiting `join_next`, by returning or unwinding.
struct Unregister<'a>(&'a Completions);

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.0.waiter.borrow_mut().take();
    }
}

/// A set of tasks spawned on the current runtime, whose results
/// [`join_next`](JoinSet::join_next) hands back in the order the tasks
/// ended: tokio's `JoinSet`.
///
/// Dropping the set cancels the tasks still in it and waits for them to
/// end, shielded from the caller's cancellation, so no task outlives the
/// set. The one exception: while the thread is unwinding (the set is
/// dropped by a panic or a cancellation of its owner), nothing can park,
/// so the tasks are cancelled but not waited for; each ends at its next
/// checkpoint (and one that has not started never runs). To wait for them
/// in that case too, call [`JoinSet::join_all`] (which waits, shielded, if
/// the caller is cancelled meanwhile) or [`JoinSet::shutdown`] before the
/// set goes.
///
/// Unlike a [`TaskGroup`](crate::TaskGroup), a set does not cancel the
/// other tasks when one panics: every result, a panic included, comes back
/// through `join_next`.
///
/// `JoinSet` is `!Send`: its tasks never leave their thread.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<fibrio_concurrency::JoinSet<u32>>();
/// ```
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_concurrency::JoinSet;
///
/// fibrio::run(|| {
///     let mut set = JoinSet::new();
///     for ms in [30, 10, 20] {
///         set.spawn(move || {
///             fibrio::sleep(Duration::from_millis(ms));
///             ms
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(result) = set.join_next() {
///         order.push(result.unwrap());
///     }
///     assert_eq!(order, [10, 20, 30]);
/// });
/// ```
pub struct JoinSet<T> {
    tasks: BTreeMap<u64, JoinHandle<T>>,
    completions: Rc<Completions>,
    next_token: u64,
}

impl<T> JoinSet<T> {
    /// An empty set.
    ///
    /// # Examples
    ///
    /// ```
    /// let set = fibrio_concurrency::JoinSet::<()>::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> JoinSet<T> {
        JoinSet {
            tasks: BTreeMap::new(),
            completions: Rc::default(),
            next_token: 0,
        }
    }

    /// How many tasks are in the set: running, or ended with a result not
    /// taken yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::JoinSet;
    ///
    /// fibrio::run(|| {
    ///     let mut set = JoinSet::new();
    ///     set.spawn(|| 1);
    ///     set.spawn(|| 2);
    ///     assert_eq!(set.len(), 2);
    ///     set.join_next();
    ///     assert_eq!(set.len(), 1);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True if the set holds no task.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::JoinSet;
    ///
    /// fibrio::run(|| {
    ///     let mut set = JoinSet::new();
    ///     assert!(set.is_empty());
    ///     set.spawn(|| ());
    ///     assert!(!set.is_empty());
    /// });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Cancels every task in the set. The tasks stay in it: each unwinds
    /// at its next checkpoint (one that has not started never runs), and
    /// [`JoinSet::join_next`] then returns its [`JoinError::Cancelled`] (or
    /// its value, if it ended before reaching a checkpoint).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::JoinSet;
    ///
    /// fibrio::run(|| {
    ///     let mut set = JoinSet::new();
    ///     set.spawn(|| loop { fibrio::yield_now() });
    ///     set.cancel_all();
    ///     assert_eq!(set.len(), 1);
    ///     assert!(set.join_next().unwrap().unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel_all(&self) {
        for handle in self.tasks.values() {
            handle.cancel();
        }
    }

    /// Takes the result of the task that ended first, if one has ended,
    /// without waiting: `None` if the set is empty or no task in it has
    /// ended yet.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::JoinSet;
    ///
    /// fibrio::run(|| {
    ///     let mut set = JoinSet::new();
    ///     set.spawn(|| 7);
    ///     assert!(set.try_join_next().is_none()); // queued, not run yet
    ///     fibrio::yield_now();
    ///     assert_eq!(set.try_join_next().unwrap().unwrap(), 7);
    ///     assert!(set.is_empty());
    /// });
    /// ```
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        loop {
            let token = *self.completions.ended.borrow().front()?;
            let Some(handle) = self.tasks.get(&token) else {
                // A spawn that failed: its closure was dropped unrun.
                self.completions.ended.borrow_mut().pop_front();
                continue;
            };
            if !handle.is_finished() {
                // Its closure is gone but the scheduler has not recorded
                // the end yet: wait for it, to keep the order.
                return None;
            }
            self.completions.ended.borrow_mut().pop_front();
            let handle = self.tasks.remove(&token)?;
            // Finished, so its result is there: only the set, which owns
            // the only handle, takes it. (A result taken twice reads as
            // `Cancelled`, as `JoinHandle::try_join` documents.)
            return Some(handle.try_join().unwrap_or(Err(JoinError::Cancelled)));
        }
    }

    /// Cancels every task and drops the set's handles, waiting for the
    /// tasks (shielded) unless the caller cannot park.
    fn cancel_and_wait_all(&mut self) {
        self.cancel_all();
        if std::thread::panicking() {
            return;
        }
        CancelScope::shield(|| {
            for (_, handle) in std::mem::take(&mut self.tasks) {
                if let Err(JoinError::Unwinding | JoinError::OutsideTask) = handle.join() {
                    // Nothing can be waited for: the rest are cancelled.
                    break;
                }
            }
        });
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns `f` as a task in the set, and returns a [`TaskRef`] to watch
    /// or cancel it (the result comes back through
    /// [`join_next`](JoinSet::join_next)). Task dumps show the caller's
    /// file and line as where the task was spawned.
    ///
    /// # Panics
    ///
    /// If the task cannot be spawned (like [`fibrio_core::task::spawn`]);
    /// use [`JoinSet::spawn_with`] to handle that.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::JoinSet;
    ///
    /// fibrio::run(|| {
    ///     let mut set = JoinSet::new();
    ///     let task = set.spawn(|| "done");
    ///     task.wait().unwrap();
    ///     assert!(task.is_finished());
    ///     assert_eq!(set.join_next().unwrap().unwrap(), "done");
    /// });
    /// ```
    #[track_caller]
    pub fn spawn(&mut self, f: impl FnOnce() -> T + 'static) -> TaskRef {
        match self.spawn_with(Builder::new(), f) {
            Ok(task) => task,
            Err(err) => {
                panic!("JoinSet::spawn failed: {err}; use JoinSet::spawn_with to handle the error")
            }
        }
    }

    /// Spawns `f` as a task configured by `builder` (a name, a stack
    /// size) in the set.
    ///
    /// # Errors
    ///
    /// The [`SpawnError`] of [`Builder::spawn`]: outside a runtime, too
    /// many tasks, no stack. The set is left as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::task::Builder;
    /// use fibrio_concurrency::JoinSet;
    ///
    /// fibrio::run(|| {
    ///     let mut set = JoinSet::new();
    ///     let task = set.spawn_with(Builder::new().name("fetch"), || 200).unwrap();
    ///     assert_eq!(task.name(), Some("fetch"));
    ///     assert_eq!(set.join_next().unwrap().unwrap(), 200);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_with(
        &mut self,
        builder: Builder,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<TaskRef, SpawnError> {
        let token = self.next_token;
        self.next_token += 1;
        // Made out here and moved in, so that it also records a task that
        // never runs (its closure is dropped unrun).
        let record_end = RecordEnd {
            completions: self.completions.clone(),
            token,
        };
        let handle = builder.spawn(move || {
            let _record_end = record_end;
            f()
        })?;
        let task = handle.task_ref();
        self.tasks.insert(token, handle);
        Ok(task)
    }

    /// Waits for the next task to end and returns its result, in the order
    /// the tasks ended; `None` once the set is empty. The task leaves the
    /// set.
    ///
    /// # Errors
    ///
    /// The task's [`JoinError`] (`Cancelled`, `Panicked`) inside `Some`.
    /// `Some(Err(JoinError::Unwinding))` or `Some(Err(JoinError::OutsideTask))`
    /// if a task has to be waited for but the caller cannot park; the tasks
    /// then stay in the set.
    ///
    /// # Cancellation
    ///
    /// Always a checkpoint, even when a result is ready. A cancelled
    /// `join_next` takes nothing: the task stays in the set, and its result
    /// comes back from the next call.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::JoinSet;
    ///
    /// fibrio::run(|| {
    ///     # std::panic::set_hook(Box::new(|_| {}));
    ///     let mut set = JoinSet::new();
    ///     set.spawn(|| -> u8 { panic!("bad row") });
    ///     let err = set.join_next().unwrap().unwrap_err();
    ///     assert!(err.is_panic());
    ///     assert!(set.join_next().is_none());
    /// });
    /// ```
    pub fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        task::checkpoint_if_cancelled();
        match self.next_ended() {
            Ok(next) => next,
            Err(err) => Some(Err(err)),
        }
    }

    /// Waits for every task and returns their results in the order the
    /// tasks ended.
    ///
    /// # Errors
    ///
    /// None of its own: each task's [`JoinError`] is in its place. If the
    /// caller cannot park (it is unwinding, or outside a task), the tasks
    /// not ended yet are cancelled and each reports that
    /// [`JoinError::Unwinding`] or [`JoinError::OutsideTask`].
    ///
    /// # Cancellation
    ///
    /// A checkpoint. If the caller is cancelled, the tasks left are
    /// cancelled and waited for (shielded), then the cancellation goes on:
    /// no task outlives the call.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::JoinSet;
    ///
    /// fibrio::run(|| {
    ///     let mut set = JoinSet::new();
    ///     for i in 0..3 {
    ///         set.spawn(move || i * 2);
    ///     }
    ///     let mut values: Vec<i32> = set.join_all().into_iter().map(Result::unwrap).collect();
    ///     values.sort();
    ///     assert_eq!(values, [0, 2, 4]);
    /// });
    /// ```
    pub fn join_all(mut self) -> Vec<Result<T, JoinError>> {
        let mut results = Vec::with_capacity(self.len());
        let joined = panic::catch_unwind(AssertUnwindSafe(|| {
            task::checkpoint_if_cancelled();
            loop {
                match self.next_ended() {
                    Ok(Some(result)) => results.push(result),
                    Ok(None) => return,
                    Err(err) => {
                        self.cancel_all();
                        for _ in std::mem::take(&mut self.tasks) {
                            results.push(Err(match err {
                                JoinError::Unwinding => JoinError::Unwinding,
                                _ => JoinError::OutsideTask,
                            }));
                        }
                        return;
                    }
                }
            }
        }));
        if let Err(payload) = joined {
            // The caller was cancelled: no task outlives the call.
            self.cancel_and_wait_all();
            panic::resume_unwind(payload);
        }
        results
    }

    /// Cancels every task and waits for all of them to end, shielded from
    /// the caller's cancellation; their results are dropped. The set is
    /// empty afterwards, unless the caller cannot park (it is unwinding,
    /// or outside a task): then the tasks are cancelled and stay in it.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint: the wait is shielded. A cancellation of the
    /// caller takes effect at its next checkpoint after `shutdown`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::JoinSet;
    ///
    /// fibrio::run(|| {
    ///     let mut set = JoinSet::new();
    ///     let task = set.spawn(|| loop { fibrio::yield_now() });
    ///     set.shutdown();
    ///     assert!(set.is_empty());
    ///     assert!(task.state().is_cancelled());
    /// });
    /// ```
    pub fn shutdown(&mut self) {
        self.cancel_all();
        CancelScope::shield(|| while let Ok(Some(_)) = self.next_ended() {});
    }

    /// Waits (not a checkpoint) for the next task to end and takes its
    /// result; `Ok(None)` once the set is empty.
    fn next_ended(&mut self) -> Result<Option<Result<T, JoinError>>, JoinError> {
        loop {
            if self.tasks.is_empty() {
                return Ok(None);
            }
            if let Some(result) = self.try_join_next() {
                return Ok(Some(result));
            }
            self.wait_for_an_end()?;
        }
    }

    /// Parks until a task of the set may have ended (may return
    /// spuriously).
    fn wait_for_an_end(&self) -> Result<(), JoinError> {
        let front = self.completions.ended.borrow().front().copied();
        if let Some(handle) = front.and_then(|token| self.tasks.get(&token)) {
            // Its closure is gone; wait for the scheduler to record the end.
            return wait_any(&[handle.task_ref()]).map(drop);
        }
        let Some(me) = Unparker::current() else {
            return Err(JoinError::OutsideTask);
        };
        *self.completions.waiter.borrow_mut() = Some(me);
        let _unregister = Unregister(&self.completions);
        task::park().map_err(|err| match err {
            ParkError::Unwinding => JoinError::Unwinding,
            ParkError::OutsideTask => JoinError::OutsideTask,
        })
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> JoinSet<T> {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    /// Cancels the tasks left and waits for them (shielded); while the
    /// thread is unwinding, only cancels them (see [`JoinSet`]).
    fn drop(&mut self) {
        if !self.tasks.is_empty() {
            self.cancel_and_wait_all();
        }
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet")
            .field("len", &self.len())
            .field("ended", &self.completions.ended.borrow().len())
            .finish()
    }
}
