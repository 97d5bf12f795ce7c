//! [`SchedulerInner`]: the run queue, the task table, the loop that runs
//! tasks, spawning, and waking. See the parent module for the invariants.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosensei::{Coroutine, CoroutineResult, Yielder};
use crossbeam_channel::Receiver;
use fibrio_context::Context;

use super::prefetch;
use super::table::{TaskKey, TaskTable};
use super::watchdog::Watchdog;
use super::{Driver, DriverTimer, Remote, RemoteMsg, SchedulerConfig, SchedulerError};
use crate::fiber::current as fiber_current;
use crate::stack::FiberStack;
use crate::task::raw::{ErasedTask, Task, TaskHeader};
use crate::task::scope;
use crate::task::{Cancelled, JoinError, JoinHandle, SpawnError, TaskState, Unparker};

thread_local! {
    static SCHEDULER: Cell<*const SchedulerInner> = const { Cell::new(std::ptr::null()) };
}

/// Calls `f` with the scheduler running on this thread, if any.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&SchedulerInner) -> R) -> Option<R> {
    let ptr = SCHEDULER.try_with(|s| s.get()).ok()?;
    if ptr.is_null() {
        return None;
    }
    // SAFETY: a non-null SCHEDULER points at the `SchedulerInner` whose
    // `block_on` is running on this thread; `block_on` holds an `Rc` to it
    // and clears the pointer before returning.
    Some(f(unsafe { &*ptr }))
}

static NEXT_SCHEDULER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
static NEXT_TASK_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
/// Task ids are handed to schedulers in blocks, so that most spawns get
/// theirs without touching the shared counter.
const TASK_ID_BLOCK: u64 = 1024;

pub(crate) struct SchedulerInner {
    pub(crate) id: u64,
    config: SchedulerConfig,
    table: RefCell<TaskTable>,
    run_queue: RefCell<VecDeque<TaskKey>>,
    current: Cell<*const TaskHeader>,
    driver: RefCell<Box<dyn Driver>>,
    driver_name: &'static str,
    remote: Arc<Remote>,
    inbox: Receiver<RemoteMsg>,
    watchdog: Option<Watchdog>,
    shutting_down: Cell<bool>,
    spawned: Cell<u64>,
    /// The next task id this scheduler hands out, and the end of its block.
    task_ids: Cell<(u64, u64)>,
}

impl SchedulerInner {
    pub(crate) fn new(config: SchedulerConfig, driver: Box<dyn Driver>) -> Rc<SchedulerInner> {
        let id = NEXT_SCHEDULER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (remote, inbox) = Remote::new(id, driver.notifier());
        let watchdog = config.watchdog.map(Watchdog::start);
        Rc::new(SchedulerInner {
            id,
            driver_name: driver.name(),
            config,
            table: RefCell::new(TaskTable::new()),
            run_queue: RefCell::new(VecDeque::new()),
            current: Cell::new(std::ptr::null()),
            driver: RefCell::new(driver),
            remote,
            inbox,
            watchdog,
            shutting_down: Cell::new(false),
            spawned: Cell::new(0),
            task_ids: Cell::new((0, 0)),
        })
    }

    pub(crate) fn driver_name(&self) -> &'static str {
        self.driver_name
    }

    pub(crate) fn remote(&self) -> Arc<Remote> {
        self.remote.clone()
    }

    pub(crate) fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// The header of the running task, or `None` on the scheduler's loop.
    #[inline]
    pub(crate) fn current(&self) -> Option<&TaskHeader> {
        let ptr = self.current.get();
        // SAFETY: `current` is only non-null while `run_task` runs that
        // task, holding an `Rc` to it.
        (!ptr.is_null()).then(|| unsafe { &*ptr })
    }

    pub(crate) fn block_on<T: 'static>(
        self: &Rc<Self>,
        main: impl FnOnce() -> T + 'static,
    ) -> Result<T, SchedulerError> {
        if with_current(|_| ()).is_some() {
            return Err(SchedulerError::Nested);
        }
        struct Enter;
        impl Drop for Enter {
            fn drop(&mut self) {
                SCHEDULER.with(|s| s.set(std::ptr::null()));
            }
        }
        SCHEDULER.with(|s| s.set(Rc::as_ptr(self)));
        let _enter = Enter;

        let stack_size = self.config.stack_size;
        let main = self.spawn(Some(Arc::from("main")), stack_size, main)?;
        let main_key = main.key();
        let main_done = || main.state().is_terminal();
        self.run_until(&main_done);

        // Cancel everything still alive and let it unwind.
        self.shutting_down.set(true);
        for key in self.table.borrow().keys() {
            debug_assert_ne!(key, main_key);
            if let Some(task) = self.table.borrow().get(key) {
                // Through shields: a shielded task parked forever would
                // otherwise hang the shutdown.
                task.header().cancel_forced.set(true);
            }
            self.cancel(key);
        }
        self.run_until(&|| self.table.borrow().len() == 0);
        self.drain_inbox();

        match main.join_now() {
            Some(Ok(value)) => Ok(value),
            Some(Err(JoinError::Panicked(payload))) => panic::resume_unwind(payload),
            _ => Err(SchedulerError::MainCancelled),
        }
    }

    /// Runs tasks, and parks in the driver when none is runnable, until
    /// `done` holds.
    fn run_until(&self, done: &dyn Fn() -> bool) {
        let interval = self.config.driver_interval.max(1);
        let mut since_poll = 0u32;
        while !done() {
            let next = self.run_queue.borrow_mut().pop_front();
            match next {
                Some(key) => {
                    self.prefetch_next();
                    self.run_task(key);
                    since_poll += 1;
                    if since_poll >= interval {
                        since_poll = 0;
                        self.drain_inbox();
                        self.park_driver(Some(Duration::ZERO));
                    }
                }
                None => {
                    since_poll = 0;
                    if self.drain_inbox() {
                        continue;
                    }
                    self.park_driver(None);
                    self.drain_inbox();
                }
            }
        }
    }

    /// Starts loading the task queued next, while this one runs.
    #[inline]
    fn prefetch_next(&self) {
        let Some(&next) = self.run_queue.borrow().front() else {
            return;
        };
        if let Some(task) = self.table.borrow().get(next) {
            prefetch::prefetch_task(task.header());
        }
    }

    fn park_driver(&self, timeout: Option<Duration>) {
        self.driver.borrow_mut().park(timeout);
    }

    /// Handles messages from other threads. Returns true if any arrived.
    fn drain_inbox(&self) -> bool {
        let mut any = false;
        while let Ok(message) = self.inbox.try_recv() {
            any = true;
            match message {
                RemoteMsg::Unpark(key) => self.unpark(key),
                RemoteMsg::CancelWake(key) => self.wake_for_cancel(key),
                RemoteMsg::Spawn(spawn) => spawn(),
            }
        }
        any
    }

    fn run_task(&self, key: TaskKey) {
        let Some(task) = self.table.borrow().get(key).cloned() else {
            return;
        };
        let header = task.header();
        header.queued.set(false);
        match header.state.get() {
            TaskState::Pending => {
                if header.cancel_requested.get()
                    || (header.scope_depth.get() > 0 && scope::pending_cancel(header).is_some())
                {
                    task.set_cancelled();
                    self.finish(key, &*task);
                    return;
                }
                header.set_state(TaskState::Running);
                header.started_at.set(Some(Instant::now()));
            }
            TaskState::Running => {}
            _ => return,
        }
        header.switches.set(header.switches.get() + 1);
        self.current.set(header);
        // SAFETY: `saved_fiber` is null or what the switch below returned
        // when this task last switched out, and the task has not finished.
        let outer_fiber = unsafe { fiber_current::switch_current(header.saved_fiber.get()) };
        header.context.borrow_mut().swap_with_current();
        if let Some(watchdog) = &self.watchdog {
            watchdog.enter(header.id, header.name.as_ref());
        }
        // SAFETY: the coroutine is live (the task is not terminal) and only
        // this function resumes it; no other `&mut` to it exists because a
        // task never runs itself.
        let coroutine = unsafe { &mut **header.coroutine.get() };
        let result = coroutine.resume(());
        if let Some(watchdog) = &self.watchdog {
            watchdog.leave();
        }
        // SAFETY: `outer_fiber` is what the switch above returned: null or
        // the fiber this scheduler loop runs in, which is alive while the
        // loop is.
        header
            .saved_fiber
            .set(unsafe { fiber_current::switch_current(outer_fiber) });
        header.context.borrow_mut().swap_with_current();
        self.current.set(std::ptr::null());
        if let CoroutineResult::Return(()) = result {
            self.finish(key, &*task);
        }
    }

    /// Ends a task whose root frame returned (or that never ran): records
    /// its state, frees its stack, wakes its joiner, forgets it.
    fn finish(&self, key: TaskKey, task: &dyn ErasedTask) {
        let header = task.header();
        header.set_state(task.outcome_state());
        header.completed_at.set(Some(Instant::now()));
        header.drop_coroutine();
        // The task's context variables go now, not when the last handle does.
        drop(header.context.take());
        // Leaving its scopes: their cancellations no longer concern it.
        drop(header.scopes.take());
        header.scope_depth.set(0);
        let waiters = header.join_waiters.take();
        for waiter in waiters {
            self.unpark(waiter);
        }
        self.table.borrow_mut().remove(key);
    }

    pub(crate) fn spawn<T: 'static>(
        &self,
        name: Option<Arc<str>>,
        stack_size: usize,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, SpawnError> {
        if self.shutting_down.get() {
            return Err(SpawnError::ShuttingDown);
        }
        if let Some(limit) = self.config.max_tasks {
            if self.table.borrow().len() >= limit {
                return Err(SpawnError::TooManyTasks { limit });
            }
        }
        let stack = FiberStack::new(stack_size)?;
        // The child starts with the spawner's context as it is now (O(1)).
        let context = Context::current_snapshot();
        let key = self.table.borrow().next_key();
        // The child belongs to every scope its spawner is inside.
        let scopes = match self.current() {
            Some(parent) if parent.scope_depth.get() > 0 => parent
                .scopes
                .borrow()
                .iter()
                .map(|frame| frame.inherit(Unparker::new(key, self.remote.clone())))
                .collect(),
            _ => Vec::new(),
        };
        let guard = stack.guard_range();
        let stack_size = stack.size();
        let stack_top = corosensei::stack::Stack::base(&stack).get();
        let id = self.next_task_id();
        let task: Rc<Task<T>> = Rc::new_cyclic(|weak| {
            let this = weak.as_ptr();
            let coroutine = Coroutine::with_stack(stack, move |yielder: &Yielder<(), ()>, ()| {
                // SAFETY: the coroutine is owned by the task at `this`, so the
                // task is alive whenever this closure runs.
                let task: &Task<T> = unsafe { &*this };
                task.header.yielder.set(yielder);
                let output = match panic::catch_unwind(AssertUnwindSafe(f)) {
                    Ok(value) => Ok(value),
                    Err(payload) if payload.is::<Cancelled>() => Err(JoinError::Cancelled),
                    Err(payload) => Err(JoinError::Panicked(payload)),
                };
                task.set_output(output);
            });
            Task {
                header: TaskHeader::new(key, id, name, coroutine, context, guard, stack_size),
                output: std::cell::UnsafeCell::new(None),
            }
        });
        task.header
            .stack_hint
            .set(stack_top.saturating_sub(prefetch::STACK_WINDOW_ABOVE));
        if !scopes.is_empty() {
            task.header.scope_depth.set(scopes.len());
            *task.header.scopes.borrow_mut() = scopes;
        }
        let inserted = self.table.borrow_mut().insert(task.clone());
        debug_assert_eq!(inserted, key);
        task.header.queued.set(true);
        self.run_queue.borrow_mut().push_back(key);
        self.spawned.set(self.spawned.get() + 1);
        Ok(JoinHandle::new(task))
    }

    /// A process-unique task id, from this scheduler's block of ids.
    fn next_task_id(&self) -> u64 {
        let (next, end) = self.task_ids.get();
        if next < end {
            self.task_ids.set((next + 1, end));
            return next;
        }
        let start = NEXT_TASK_ID.fetch_add(TASK_ID_BLOCK, std::sync::atomic::Ordering::Relaxed);
        self.task_ids.set((start + 1, start + TASK_ID_BLOCK));
        start
    }

    /// Wakes the task `key` on this thread: queues it if it is parked,
    /// or leaves it a token for its next park. Stale keys are ignored.
    pub(crate) fn unpark(&self, key: TaskKey) {
        let table = self.table.borrow();
        let Some(task) = table.get(key) else {
            return;
        };
        let header = task.header();
        if header.parked.replace(false) {
            header.queued.set(true);
            self.run_queue.borrow_mut().push_back(key);
        } else if !header.state.get().is_terminal() {
            header.notified.set(true);
        }
    }

    /// Requests cancellation of `key`; a parked task is woken so that it
    /// reaches its checkpoint.
    pub(crate) fn cancel(&self, key: TaskKey) {
        let parked = {
            let table = self.table.borrow();
            let Some(task) = table.get(key) else {
                return;
            };
            let header = task.header();
            if header.state.get().is_terminal() {
                return;
            }
            header.cancel_requested.set(true);
            header.parked.get()
        };
        if parked {
            self.wake_for_cancel(key);
        }
    }

    /// Wakes `key` if it is parked, marking the wake-up as a cancellation's
    /// so that its `park` checks for cancellation before returning. A task
    /// that is not parked needs nothing: it reaches a checkpoint anyway.
    pub(crate) fn wake_for_cancel(&self, key: TaskKey) {
        let parked = {
            let table = self.table.borrow();
            let Some(task) = table.get(key) else {
                return;
            };
            let header = task.header();
            let parked = header.parked.get();
            if parked {
                header.cancel_wake.set(true);
            }
            parked
        };
        if parked {
            self.unpark(key);
        }
    }

    /// Arms a driver wake-up for `key` at `deadline` (see
    /// [`Driver::add_timer`]).
    pub(crate) fn add_driver_timer(&self, deadline: Instant, key: TaskKey) -> Option<DriverTimer> {
        self.driver.borrow_mut().add_timer(deadline, key)
    }

    /// Disarms a wake-up from [`SchedulerInner::add_driver_timer`].
    pub(crate) fn cancel_driver_timer(&self, timer: DriverTimer) {
        self.driver.borrow_mut().cancel_timer(timer);
    }

    /// Puts the running task at the back of the run queue and switches out.
    pub(crate) fn yield_current(&self, header: &TaskHeader) {
        header.queued.set(true);
        self.run_queue.borrow_mut().push_back(header.key);
        suspend_task(header);
    }
}

/// What the overflow handler reports about a task whose guard page was hit.
pub(crate) struct OverflowedTask {
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) stack_size: usize,
}

/// Returns the running task if `addr` lies in its stack's guard page.
///
/// # Safety
///
/// Must be called on the faulting thread. It reads only immutable fields of
/// the current task's header (cloning the name's `Arc` touches only its
/// atomic count) and allocates nothing, so it is usable from a signal
/// handler.
pub(crate) unsafe fn overflowed_task(addr: usize) -> Option<OverflowedTask> {
    let scheduler = SCHEDULER.try_with(|s| s.get()).ok()?;
    if scheduler.is_null() {
        return None;
    }
    // SAFETY: non-null SCHEDULER is live (see `with_current`), and
    // `current` is live while non-null (see `SchedulerInner::current`).
    let header = unsafe { (*scheduler).current() }?;
    let (lo, hi) = header.guard;
    if addr < lo || addr >= hi {
        return None;
    }
    Some(OverflowedTask {
        id: header.id,
        name: header.name.clone(),
        stack_size: header.stack_size,
    })
}

/// Switches from the running task back to the scheduler loop.
#[inline]
pub(crate) fn suspend_task(header: &TaskHeader) {
    // SAFETY: the yielder was stored by the task's root frame before any
    // user code ran, lives on the task's stack, and we are running on that
    // task (the caller got `header` from `current()`).
    let yielder = unsafe { &*header.yielder.get() };
    let here = 0u8;
    header
        .stack_hint
        .set(std::hint::black_box(&here) as *const u8 as usize);
    yielder.suspend(());
}

impl Drop for SchedulerInner {
    fn drop(&mut self) {
        // Tasks are all finished by `block_on`; anything left (block_on was
        // never called) is dropped with its table, which unwinds suspended
        // coroutines.
        self.run_queue.get_mut().clear();
    }
}
