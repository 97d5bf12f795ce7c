//! Spawning on [`SchedulerInner`]: the checks that refuse a spawn, the
//! new task's stack, scopes and identity, the task ids, and spawning onto
//! the scheduler running on this thread.
//!
//! # Invariants
//!
//! * A task's closure larger than `INLINE_CLOSURE_MAX` is boxed before it
//!   is moved onto the new stack (corosensei accepts at most 1,024 bytes).
//! * Task ids are process-unique, handed to each scheduler in blocks of
//!   `TASK_ID_BLOCK`; a deterministic run hands out per-run ids instead.
//! * A refused spawn (shutting down, `max_tasks`, no stack) is counted
//!   (`tasks_refused`) and leaves nothing behind; an accepted one is in
//!   the table and queued before `spawn` returns.

use std::panic::{self, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::sync::Arc;

use corosensei::{Coroutine, Yielder};
use fibrio_context::Context;

use super::cancel::{Frame, ScopeState};
use super::error::{JoinError, SpawnError};
use super::inner::{with_scheduler, SchedulerInner};
use super::metrics::Counters;
use super::observer::{Observer, TaskEvent, TaskEventKind};
use super::prefetch;
use super::record::{Task, TaskHeader, TaskIdentity};
use super::remote::Unparker;
use crate::stack::FiberStack;
use crate::unwind::Cancelled;

static NEXT_TASK_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
/// Task ids are handed to schedulers in blocks, so that most spawns get
/// theirs without touching the shared counter.
const TASK_ID_BLOCK: u64 = 1024;
/// The largest task closure moved onto a new stack as it is; larger ones
/// are boxed first (corosensei accepts at most 1,024 bytes, closure and
/// the task pointer together).
const INLINE_CLOSURE_MAX: usize = 512;

impl SchedulerInner {
    /// Counts a refused spawn (the `tasks_refused` metric).
    #[cold]
    fn refuse(&self, err: SpawnError) -> SpawnError {
        Counters::bump(&self.counters.refused);
        err
    }

    /// Spawns `f` as a new task, queued behind the runnable ones.
    ///
    /// `scopes` names the cancel scopes the task belongs to, outermost
    /// first: `None` for those of the running task (the spawner) as it is
    /// now, `Some` for exactly the listed ones (`Builder::spawn_in`), the
    /// spawner's own being ignored.
    /// `location` is where the spawn was called (`None`: unknown, main).
    // `#[inline]` since this moved out of `run.rs`: without it, LLVM left
    // this out of line and inlined `spawn_here` into its caller instead,
    // +1% a spawn+join (callgrind).
    #[inline]
    pub(crate) fn spawn<T: 'static, F: FnOnce() -> T + 'static>(
        &self,
        name: Option<Arc<str>>,
        stack_size: Option<usize>,
        scopes: Option<&[Arc<ScopeState>]>,
        location: Option<&'static Location<'static>>,
        f: F,
    ) -> Result<Rc<Task<T>>, SpawnError> {
        // corosensei moves the task's closure onto the new stack and refuses
        // one over 1 KiB with a panic; a large closure goes in a box (one
        // allocation, only for closures that large).
        if std::mem::size_of::<F>() > INLINE_CLOSURE_MAX {
            let boxed: Box<dyn FnOnce() -> T> = Box::new(f);
            return self.spawn_inline(name, stack_size, scopes, location, boxed);
        }
        self.spawn_inline(name, stack_size, scopes, location, f)
    }

    /// [`spawn`](Self::spawn) of a closure small enough to move onto the
    /// stack as it is.
    fn spawn_inline<T: 'static>(
        &self,
        name: Option<Arc<str>>,
        stack_size: Option<usize>,
        scopes: Option<&[Arc<ScopeState>]>,
        location: Option<&'static Location<'static>>,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<Rc<Task<T>>, SpawnError> {
        if self.shutting_down.get() {
            return Err(self.refuse(SpawnError::ShuttingDown));
        }
        if let Some(limit) = self.config.max_tasks {
            if self.table.borrow().len() >= limit {
                return Err(self.refuse(SpawnError::TooManyTasks { limit }));
            }
        }
        let stack = match FiberStack::new(stack_size.unwrap_or(self.config.stack_size)) {
            Ok(stack) => stack,
            Err(err) => return Err(self.refuse(err.into())),
        };
        // The child starts with the spawner's context as it is now (O(1)).
        let context = Context::current_snapshot();
        let key = self.table.borrow().next_key();
        let spawner = self.running();
        let scopes: Vec<Frame> = match scopes {
            // Exactly the listed scopes (an empty list allocates nothing).
            Some(states) => states
                .iter()
                .map(|state| state.join(Unparker::new(key, self.remote.clone())))
                .collect(),
            // The child belongs to every scope its spawner is inside.
            None => match spawner {
                Some(parent) if parent.in_scope() => parent
                    .frames()
                    .iter()
                    .map(|frame| frame.inherit(Unparker::new(key, self.remote.clone())))
                    .collect(),
                _ => Vec::new(),
            },
        };
        let guard = stack.guard_range();
        let stack_size = stack.size();
        let stack_top = corosensei::stack::Stack::base(&stack).get();
        let identity = TaskIdentity {
            key,
            runtime: self.id,
            id: self.next_task_id(),
            name,
            created_at: self.now.get(),
            parent: spawner.map_or(0, TaskHeader::id),
            location,
        };
        if let Some(observer) = &self.observer {
            observe_created(&**observer, &identity);
        }
        let task: Rc<Task<T>> = Rc::new_cyclic(|weak| {
            let this = weak.as_ptr();
            let coroutine = Coroutine::with_stack(stack, move |yielder: &Yielder<(), ()>, ()| {
                // SAFETY: the coroutine is owned by the task at `this`, so the
                // task is alive whenever this closure runs.
                let task: &Task<T> = unsafe { &*this };
                task.header.set_yielder(yielder);
                let output = match panic::catch_unwind(AssertUnwindSafe(f)) {
                    Ok(value) => Ok(value),
                    Err(payload) if payload.is::<Cancelled>() => Err(JoinError::Cancelled),
                    Err(payload) => Err(JoinError::Panicked(payload)),
                };
                task.set_output(output);
            });
            Task::new(TaskHeader::new(
                identity,
                coroutine,
                context,
                scopes,
                guard,
                stack_size,
                stack_top.saturating_sub(prefetch::STACK_WINDOW_ABOVE),
            ))
        });
        let inserted = self.table.borrow_mut().insert(task.clone());
        debug_assert_eq!(inserted, key);
        self.run_queue.borrow_mut().push(key);
        Ok(task)
    }

    /// A process-unique task id, from this scheduler's block of ids; in a
    /// deterministic run, the next per-run id (1, 2, ...), its spawn traced.
    #[inline]
    fn next_task_id(&self) -> u64 {
        if let Some(det) = &self.det {
            return self.next_deterministic_task_id(det);
        }
        let (next, end) = self.task_ids.get();
        if next < end {
            self.task_ids.set((next + 1, end));
            return next;
        }
        let start = NEXT_TASK_ID.fetch_add(TASK_ID_BLOCK, std::sync::atomic::Ordering::Relaxed);
        self.task_ids.set((start + 1, start + TASK_ID_BLOCK));
        start
    }
}

/// Spawns onto the scheduler running on this thread, into the scopes the
/// running task (the spawner) is inside.
pub(crate) fn spawn_here<T: 'static>(
    name: Option<Arc<str>>,
    stack_size: Option<usize>,
    location: Option<&'static Location<'static>>,
    f: impl FnOnce() -> T + 'static,
) -> Result<Rc<Task<T>>, SpawnError> {
    with_scheduler(|scheduler| scheduler.spawn(name, stack_size, None, location, f))
        .unwrap_or(Err(SpawnError::NoRuntime))
}

/// Sends the `Created` event of the task `identity` describes (out of
/// line, as `observe_end`).
#[cold]
#[inline(never)]
fn observe_created(observer: &dyn Observer, identity: &TaskIdentity) {
    observer.on_event(&TaskEvent {
        parent: identity.parent,
        name: identity.name.as_deref(),
        ..TaskEvent::new(TaskEventKind::Created, identity.id)
    });
}
