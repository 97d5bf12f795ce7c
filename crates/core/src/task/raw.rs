//! The task record the scheduler works with: [`TaskHeader`] (everything but
//! the output), [`Task<T>`] (header plus output), and the type-erased view
//! [`ErasedTask`] that the task table stores.
//!
//! # Invariants
//!
//! * `state` follows [`TaskState::can_become`]; only the scheduler
//!   (`scheduler/run.rs`) changes it.
//! * `coroutine` is live from spawn until the task terminates, and is dropped
//!   exactly once, by [`TaskHeader::drop_coroutine`], when the scheduler
//!   finishes the task (after it returned, or without running it when it was
//!   cancelled first). Its stack goes back to the pool at that moment.
//! * `parked` is true exactly while the task is suspended in `park` waiting
//!   to be unparked; `queued` exactly while its key is in the run queue. A
//!   task is never both. `notified` records an unpark that arrived while
//!   the task was not parked; the next `park` consumes it and returns at
//!   once. These three make wake-ups impossible to lose or duplicate.
//! * `cancel_requested` only ever goes from false to true
//!   (level-triggered cancellation); so does `cancel_forced`, set only by a
//!   scheduler shutting down, which cancels through shields.
//! * `scopes` is the task's stack of cancel-scope frames (see
//!   `task/scope.rs`); only the task itself pushes and pops them, while it
//!   runs, except that `spawn` fills a new task's stack with copies of its
//!   spawner's frames, and `finish` drops it. `scope_depth` is its length,
//!   so checkpoints outside any scope cost one load.
//! * `cancel_wake` is set when a cancellation (of the task or of a scope
//!   it is in) is what woke it from `park`; `park` clears it and then
//!   checks for cancellation. A task woken by anything else returns from
//!   `park` normally, so a wait that completed is not undone by a
//!   cancellation that came later in the same turn.
//! * `join_waiters` lists the tasks to wake when this one finishes (its
//!   joiner, and tasks in `wait_any`); each waiter removes its own entry
//!   when it stops waiting, and `finish` wakes and clears the rest.
//! * `saved_fiber` holds the PHP-style fiber that was current inside this
//!   task when it last switched out (null if none), stored as `Running`
//!   meanwhile (`fiber::current::switch_current`); the scheduler makes it
//!   current again around every resume and around the drop of the task's
//!   coroutine, so that `fiber::suspend` in one task never sees another
//!   task's fiber, and no other task can resume a fiber parked in the
//!   middle of its run.
//! * `context` holds the task's context variables whenever the task is not
//!   running: the snapshot of its spawner's context until it first runs,
//!   then whatever it left when it last switched out. The scheduler
//!   exchanges it with the thread's current context around every resume,
//!   so while the task runs, the task's context is current and `context`
//!   holds the scheduler loop's. The scheduler drops it when the task
//!   finishes.
//! * `output` is written once, by the task's root frame (or by the
//!   scheduler for a task cancelled before it ran), and taken once by
//!   `JoinHandle::join`.
//! * `stack_hint` is written by `spawn` (near the stack's top) and by
//!   `suspend_task` (its own frame) and is only ever prefetched, never
//!   dereferenced, so any value is harmless (`scheduler/prefetch.rs`).
//! * `created_at`, `started_at` and `completed_at` are set once each, by
//!   the scheduler (spawn, first run, finish).

use std::cell::{Cell, RefCell, UnsafeCell};
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::time::Instant;

use corosensei::{Coroutine, Yielder};
use fibrio_context::Context;

use super::scope::Frame;
use super::{JoinError, TaskState, TaskStats};
use crate::fiber::current::{self as fiber_current, FiberHeader};
use crate::scheduler::TaskKey;
use crate::stack::FiberStack;

pub(crate) type TaskCoroutine = Coroutine<(), (), (), FiberStack>;

/// Everything the scheduler knows about a task, independent of its output
/// type.
pub(crate) struct TaskHeader {
    pub(crate) key: TaskKey,
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) state: Cell<TaskState>,
    pub(crate) coroutine: UnsafeCell<ManuallyDrop<TaskCoroutine>>,
    coroutine_live: Cell<bool>,
    pub(crate) yielder: Cell<*const Yielder<(), ()>>,
    pub(crate) parked: Cell<bool>,
    pub(crate) queued: Cell<bool>,
    pub(crate) notified: Cell<bool>,
    pub(crate) cancel_requested: Cell<bool>,
    pub(crate) cancel_forced: Cell<bool>,
    pub(crate) cancel_wake: Cell<bool>,
    pub(crate) scopes: RefCell<Vec<Frame>>,
    pub(crate) scope_depth: Cell<usize>,
    pub(crate) join_waiters: RefCell<Vec<TaskKey>>,
    pub(crate) saved_fiber: Cell<*const FiberHeader>,
    pub(crate) context: RefCell<Context>,
    pub(crate) guard: (usize, usize),
    pub(crate) stack_size: usize,
    /// Where on its stack the task will touch memory first when resumed;
    /// only ever prefetched, never dereferenced (`scheduler/prefetch.rs`).
    pub(crate) stack_hint: Cell<usize>,
    pub(crate) created_at: Instant,
    pub(crate) started_at: Cell<Option<Instant>>,
    pub(crate) completed_at: Cell<Option<Instant>>,
    pub(crate) switches: Cell<u64>,
}

impl TaskHeader {
    pub(crate) fn new(
        key: TaskKey,
        id: u64,
        name: Option<Arc<str>>,
        coroutine: TaskCoroutine,
        context: Context,
        guard: (usize, usize),
        stack_size: usize,
    ) -> TaskHeader {
        TaskHeader {
            key,
            id,
            name,
            state: Cell::new(TaskState::Pending),
            coroutine: UnsafeCell::new(ManuallyDrop::new(coroutine)),
            coroutine_live: Cell::new(true),
            yielder: Cell::new(std::ptr::null()),
            parked: Cell::new(false),
            queued: Cell::new(false),
            notified: Cell::new(false),
            cancel_requested: Cell::new(false),
            cancel_forced: Cell::new(false),
            cancel_wake: Cell::new(false),
            scope_depth: Cell::new(0),
            scopes: RefCell::new(Vec::new()),
            join_waiters: RefCell::new(Vec::new()),
            saved_fiber: Cell::new(std::ptr::null()),
            context: RefCell::new(context),
            guard,
            stack_size,
            stack_hint: Cell::new(0),
            created_at: Instant::now(),
            started_at: Cell::new(None),
            completed_at: Cell::new(None),
            switches: Cell::new(0),
        }
    }

    /// Moves the task to `next`, which must be a legal transition.
    pub(crate) fn set_state(&self, next: TaskState) {
        debug_assert!(
            self.state.get().can_become(next),
            "illegal task transition {} -> {next}",
            self.state.get()
        );
        self.state.set(next);
    }

    /// Drops the coroutine (and with it the closure, if it never ran), which
    /// returns the stack to the pool. Later calls do nothing.
    ///
    /// Only the scheduler calls this, from `finish` (the coroutine has
    /// returned, or never started) and from `Drop`; a task never finishes
    /// itself, so the coroutine is never running here.
    pub(crate) fn drop_coroutine(&self) {
        if !self.coroutine_live.replace(false) {
            return;
        }
        // SAFETY: the coroutine is live (`coroutine_live` was true) and not
        // running (see above), so no `&mut` to it is live.
        let coroutine = unsafe { &mut *self.coroutine.get() };
        if !coroutine.started() || coroutine.done() {
            // Finished, or never ran: dropping it runs none of the task's
            // code (at most the closure's captures' `Drop`s).
            // SAFETY: `coroutine_live` was true, so this is the only drop.
            unsafe { ManuallyDrop::drop(coroutine) }
            return;
        }
        // Dropping a suspended coroutine unwinds its stack, which runs the
        // task's code; make the task's PHP-style fiber current meanwhile,
        // as the scheduler does around a resume, so that the fibers it
        // unwinds see their own nesting (and this thread's current fiber is
        // the same afterwards).
        // SAFETY: `saved_fiber` is null or the fiber that was current when
        // the task last switched out; its `Fiber` is borrowed on the task's
        // stack, which has not been unwound yet.
        let outer = unsafe { fiber_current::switch_current(self.saved_fiber.get()) };
        let restore = RestoreFiber(outer);
        // Fibers parked in the task pass the unwinding on to the task's
        // stack instead of returning it as a panic (`Fiber::finish`).
        let dropping = fiber_current::DroppingTask::enter();
        // SAFETY: `coroutine_live` was true, so this is the only drop.
        unsafe { ManuallyDrop::drop(coroutine) }
        drop(dropping);
        drop(restore);
        self.saved_fiber.set(std::ptr::null());
    }

    pub(crate) fn stats(&self) -> TaskStats {
        TaskStats {
            id: self.id,
            name: self.name.clone(),
            state: self.state.get(),
            created_at: self.created_at,
            started_at: self.started_at.get(),
            completed_at: self.completed_at.get(),
            switches: self.switches.get(),
        }
    }
}

impl Drop for TaskHeader {
    fn drop(&mut self) {
        // Normally already done by `finish`. A task dropped while suspended
        // (its scheduler unwound before finishing it) is unwound here.
        self.drop_coroutine();
    }
}

/// Makes its fiber current again when dropped, even by a panic out of a
/// coroutine being unwound (`TaskHeader::drop_coroutine`).
struct RestoreFiber(*const FiberHeader);

impl Drop for RestoreFiber {
    fn drop(&mut self) {
        // SAFETY: `self.0` is what `switch_current` returned in
        // `drop_coroutine`: null or the fiber this code runs in, alive for
        // as long as this code runs.
        unsafe { fiber_current::switch_current(self.0) };
    }
}

/// A task with output type `T`.
pub(crate) struct Task<T> {
    pub(crate) header: TaskHeader,
    pub(crate) output: UnsafeCell<Option<Result<T, JoinError>>>,
}

impl<T> Task<T> {
    /// Stores the task's outcome. Called once, by the root frame or by the
    /// scheduler for a task cancelled before it ran.
    pub(crate) fn set_output(&self, output: Result<T, JoinError>) {
        // SAFETY: the output is written once (module invariant), and read
        // only by `take_output` after the task is terminal, so no reference
        // into it is live now.
        unsafe { *self.output.get() = Some(output) };
    }

    /// Takes the outcome of a terminal task.
    pub(crate) fn take_output(&self) -> Option<Result<T, JoinError>> {
        // SAFETY: called only once the task is terminal, when the root frame
        // can no longer write; no other reference into `output` exists.
        unsafe { (*self.output.get()).take() }
    }
}

/// The view of a task that the task table keeps, whatever its output type.
pub(crate) trait ErasedTask {
    fn header(&self) -> &TaskHeader;
    /// Records `Cancelled` as the outcome of a task that never ran.
    fn set_cancelled(&self);
    /// The terminal state matching the stored outcome.
    fn outcome_state(&self) -> TaskState;
}

impl<T> ErasedTask for Task<T> {
    fn header(&self) -> &TaskHeader {
        &self.header
    }

    fn set_cancelled(&self) {
        self.set_output(Err(JoinError::Cancelled));
    }

    fn outcome_state(&self) -> TaskState {
        // SAFETY: called by the scheduler right after the root frame wrote
        // the output and before anyone can take it.
        match unsafe { &*self.output.get() } {
            Some(Ok(_)) => TaskState::Completed,
            Some(Err(JoinError::Panicked(_))) => TaskState::Failed,
            _ => TaskState::Cancelled,
        }
    }
}
