//! The engine behind [`gather`](super::gather()), [`select`](crate::select::select)
//! and their relatives: it owns a list of child tasks, hands out each
//! child's outcome exactly once, and cancels whatever it still owns when it
//! is dropped.
//!
//! Invariants:
//! * `waiting` holds, in increasing order, the indices whose outcome has
//!   not been taken yet, and `waiting_refs[k]` is the [`TaskRef`] of child
//!   `waiting[k]`. An index leaves `waiting` exactly when its outcome is
//!   taken (into `ready`) or abandoned, so every index is reported once.
//! * Waiting is [`wait_any`] over `waiting_refs`, entered only after a
//!   sweep found none of them finished: the engine never busy-waits, and a
//!   child that finished before the engine existed is taken by the first
//!   sweep (no wake-up to lose).
//! * Dropping the engine (normal end, or the owner unwinding because it
//!   was cancelled or panicked) cancels every child still in `waiting`.

use std::any::Any;
use std::collections::VecDeque;

use fibrio_core::task::{wait_any, JoinError, JoinHandle, TaskRef};

/// A child the engine can drive: a task it can watch through a
/// [`TaskRef`] and take an outcome from.
pub(crate) trait Child {
    /// The value the task returns.
    type Output;

    /// The task, for waiting, cancelling, and its name and id.
    fn task(&self) -> TaskRef;

    /// The outcome, if the task has ended (taken once).
    fn take(&mut self) -> Option<Result<Self::Output, JoinError>>;
}

impl<T: 'static> Child for JoinHandle<T> {
    type Output = T;

    fn task(&self) -> TaskRef {
        self.task_ref()
    }

    fn take(&mut self) -> Option<Result<T, JoinError>> {
        self.try_join()
    }
}

/// A type-erased child, for gathering handles of different types
/// ([`gather!`](crate::gather!)).
pub(crate) struct AnyChild {
    task: TaskRef,
    take: Box<dyn FnMut() -> Option<AnyOutcome>>,
}

/// A type-erased task outcome.
type AnyOutcome = Result<Box<dyn Any>, JoinError>;

impl AnyChild {
    pub(crate) fn new<T: 'static>(handle: JoinHandle<T>) -> AnyChild {
        AnyChild {
            task: handle.task_ref(),
            take: Box::new(move || {
                handle
                    .try_join()
                    .map(|outcome| outcome.map(|value| Box::new(value) as Box<dyn Any>))
            }),
        }
    }
}

impl Child for AnyChild {
    type Output = Box<dyn Any>;

    fn task(&self) -> TaskRef {
        self.task.clone()
    }

    fn take(&mut self) -> Option<AnyOutcome> {
        (self.take)()
    }
}

/// One child's outcome, with its input index.
pub(crate) type Outcome<T> = (usize, Result<T, JoinError>);

/// Owns the children; see the module documentation.
pub(crate) struct Engine<C: Child> {
    children: Vec<C>,
    tasks: Vec<TaskRef>,
    cancelled_by_us: Vec<bool>,
    waiting: Vec<usize>,
    waiting_refs: Vec<TaskRef>,
    ready: VecDeque<Outcome<C::Output>>,
}

impl<C: Child> Engine<C> {
    pub(crate) fn new(children: Vec<C>) -> Engine<C> {
        let tasks: Vec<TaskRef> = children.iter().map(Child::task).collect();
        Engine {
            cancelled_by_us: vec![false; children.len()],
            waiting: (0..children.len()).collect(),
            waiting_refs: tasks.clone(),
            tasks,
            children,
            ready: VecDeque::new(),
        }
    }

    /// How many children the engine was given.
    pub(crate) fn len(&self) -> usize {
        self.children.len()
    }

    /// Child `index`'s task.
    pub(crate) fn task(&self, index: usize) -> &TaskRef {
        &self.tasks[index]
    }

    /// True if child `index` was cancelled by [`cancel_rest`](Self::cancel_rest).
    pub(crate) fn cancelled_by_us(&self, index: usize) -> bool {
        self.cancelled_by_us[index]
    }

    /// The next outcome, in the order the children ended (index order
    /// among those seen ended in the same sweep), waiting for one if none
    /// is ready; `None` once every outcome has been handed out.
    ///
    /// # Errors
    ///
    /// The error of [`wait_any`] when the caller cannot wait
    /// ([`JoinError::Unwinding`], [`JoinError::OutsideTask`]); the children
    /// not yet ended are left waiting (see [`abandon`](Self::abandon)).
    pub(crate) fn next(&mut self) -> Option<Result<Outcome<C::Output>, JoinError>> {
        loop {
            if let Some(outcome) = self.ready.pop_front() {
                return Some(Ok(outcome));
            }
            if self.waiting.is_empty() {
                return None;
            }
            self.sweep();
            if !self.ready.is_empty() {
                continue;
            }
            if let Err(err) = wait_any(&self.waiting_refs) {
                return Some(Err(err));
            }
        }
    }

    /// Moves the outcome of every ended child from `waiting` to `ready`.
    fn sweep(&mut self) {
        // Stable compaction: the children still running keep their order.
        let mut kept = 0;
        for k in 0..self.waiting.len() {
            let index = self.waiting[k];
            match self.children[index].take() {
                Some(outcome) => self.ready.push_back((index, outcome)),
                None => {
                    self.waiting.swap(kept, k);
                    self.waiting_refs.swap(kept, k);
                    kept += 1;
                }
            }
        }
        self.waiting.truncate(kept);
        self.waiting_refs.truncate(kept);
    }

    /// Cancels every child whose outcome has not been taken yet.
    pub(crate) fn cancel_rest(&mut self) {
        for (&index, task) in self.waiting.iter().zip(&self.waiting_refs) {
            if !task.is_finished() {
                self.cancelled_by_us[index] = true;
                task.cancel();
            }
        }
    }

    /// Gives up on the children not yet ended after `next` failed: cancels
    /// them (the caller cannot wait for them) and returns their indices,
    /// in increasing order. Outcomes already taken stay in `ready`.
    pub(crate) fn abandon(&mut self) -> Vec<usize> {
        for task in &self.waiting_refs {
            task.cancel();
        }
        self.waiting_refs.clear();
        std::mem::take(&mut self.waiting)
    }
}

impl<C: Child> Drop for Engine<C> {
    fn drop(&mut self) {
        for task in &self.waiting_refs {
            task.cancel();
        }
    }
}

/// A fresh copy of an error returned by [`wait_any`] (which only returns
/// [`JoinError::Unwinding`] or [`JoinError::OutsideTask`]), to report it
/// for every child that could not be waited for.
pub(crate) fn copy_wait_error(err: &JoinError) -> JoinError {
    match err {
        JoinError::Unwinding => JoinError::Unwinding,
        _ => JoinError::OutsideTask,
    }
}
