//! [`SchedulerInner`]: the run queue, the task table, the timers, the loop
//! that runs tasks, spawning, parking and waking. See the parent module for
//! the invariants; this file adds two about the main task, which may borrow
//! from `block_on`'s caller:
//!
//! * Main's task record holds nothing borrowed: main's closure and its
//!   value live in a `MainSlot` on `block_on`'s frame, and the task's
//!   closure holds only a raw pointer to it and a function pointer.
//! * Main's frames never run once `block_on` has been left: it returns
//!   only after main ended, and on a panic out of it `FinishMain` unwinds
//!   (or, at thread exit, leaks) main's stack before the slot and the
//!   caller's borrows go.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosensei::{Coroutine, Yielder};
use crossbeam_channel::Receiver;
use fibrio_context::Context;

use super::cancel::{Frame, ScopeState};
use super::clock;
use super::config::DeadlockAction;
use super::config::SchedulerConfig;
use super::det::{self, tag, DeadlockReport, DetConfig, DetFailure, DetState, Stream, TaskWait};
use super::driver::Driver;
use super::dump::{TaskDump, TaskInfo, TaskStatus};
use super::error::{JoinError, ParkError, SchedulerError, SpawnError};
use super::metrics::{self, Counters, Health, RuntimeMetrics, SAMPLE_EVERY};
use super::observer::{Observer, TaskEvent, TaskEventKind};
use super::prefetch;
use super::record::{ErasedTask, Task, TaskHeader, TaskIdentity};
use super::remote::{Remote, RemoteMsg, Unparker, INBOX_BACKLOG, INBOX_BATCH};
use super::run_queue::RunQueue;
use super::state::{TaskState, WaitKind, WaitReason};
use super::table::{TaskKey, TaskTable};
use super::timers::TimerQueue;
use super::watchdog::Watchdog;
use crate::stack::{self, FiberStack, StackOwner};
use crate::unwind::Cancelled;

thread_local! {
    static SCHEDULER: Cell<*const SchedulerInner> = const { Cell::new(std::ptr::null()) };
}

/// The scheduler running on this thread, if any.
#[inline(always)]
fn scheduler_here<'a>() -> Option<&'a SchedulerInner> {
    let ptr = SCHEDULER.try_with(|s| s.get()).ok()?;
    // SAFETY: a non-null SCHEDULER points at the `SchedulerInner` whose
    // `block_on` is running on this thread; `block_on` holds an `Rc` to it
    // and clears the pointer before returning. Every caller
    // (`with_scheduler`, `with_running`, `park_running`) uses the reference
    // only within its own call, which a task makes while `block_on` runs
    // it: a task parked in `park_running` resumes only inside the same
    // `block_on`, and if its scheduler is dropped instead, its stack is
    // unwound without using the reference again.
    (!ptr.is_null()).then(|| unsafe { &*ptr })
}

/// Calls `f` with the scheduler running on this thread, if any.
#[inline(always)]
pub(crate) fn with_scheduler<R>(f: impl FnOnce(&SchedulerInner) -> R) -> Option<R> {
    Some(f(scheduler_here()?))
}

/// Calls `f` with the scheduler running on this thread and its running
/// task; `None` outside a task.
#[inline(always)]
pub(crate) fn with_running<R>(f: impl FnOnce(&SchedulerInner, &TaskHeader) -> R) -> Option<R> {
    let scheduler = scheduler_here()?;
    let task = scheduler.running()?;
    Some(f(scheduler, task))
}

static NEXT_SCHEDULER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
static NEXT_TASK_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
/// Task ids are handed to schedulers in blocks, so that most spawns get
/// theirs without touching the shared counter.
const TASK_ID_BLOCK: u64 = 1024;
/// The largest task closure moved onto a new stack as it is; larger ones
/// are boxed first (corosensei accepts at most 1,024 bytes, closure and
/// the task pointer together).
const INLINE_CLOSURE_MAX: usize = 512;
/// `SchedulerInner::slow`: an observer is set (the switch sends `Started`
/// and `Parked`).
const SLOW_OBSERVED: u8 = 1;
/// `SchedulerInner::slow`: a watchdog is set (the switch tells it).
const SLOW_WATCHED: u8 = 2;
/// `SchedulerInner::slow`: a wake-up's wake-to-run delay is being timed
/// (`counters.sample`).
const SLOW_SAMPLING: u8 = 4;

pub(crate) struct SchedulerInner {
    pub(crate) id: u64,
    config: SchedulerConfig,
    table: RefCell<TaskTable<dyn ErasedTask>>,
    run_queue: RefCell<RunQueue>,
    running: Cell<*const TaskHeader>,
    timers: RefCell<TimerQueue>,
    /// The clock read of the current turn: task timestamps use it, so no
    /// state change pays for a clock read of its own.
    now: Cell<Instant>,
    driver: RefCell<Box<dyn Driver>>,
    /// Keys the driver and the timers woke in a turn; the buffer is reused.
    woken: RefCell<Vec<TaskKey>>,
    driver_name: &'static str,
    remote: Arc<Remote>,
    inbox: Receiver<RemoteMsg>,
    watchdog: Option<Watchdog>,
    shutting_down: Cell<bool>,
    /// The next task id this scheduler hands out, and the end of its block.
    task_ids: Cell<(u64, u64)>,
    /// `Some` for a deterministic scheduler only (virtual time, seeded
    /// schedule); boxed so that its address stays put for `det::Activate`.
    det: Option<Box<DetState>>,
    /// The metrics' counters (`metrics.rs`).
    counters: Counters,
    /// `config.observer`, kept here. The switch's own event sites are
    /// reached only through `slow` (`run_task_slow`).
    observer: Option<Arc<dyn Observer>>,
    /// What the task switch must do besides switching (`SLOW_*` bits): a
    /// switch tests this one field, and takes `run_task_slow` when any bit
    /// is set. `SLOW_OBSERVED` and `SLOW_WATCHED` never change during a
    /// run; `SLOW_SAMPLING` is set while a wake-to-run sample is in flight.
    slow: Cell<u8>,
    /// With an observer, every wake-up takes `woken_slow` (for its event),
    /// and the countdown to the next wake-to-run sample is kept here;
    /// `counters.sample_tick` then stays 0.
    observed_tick: Cell<u32>,
    /// When the scheduler was built (uptime, busy time).
    started: Instant,
    /// A deadlock was reported already (it cannot end: report it once).
    deadlock_reported: Cell<bool>,
}

impl SchedulerInner {
    pub(crate) fn new(config: SchedulerConfig, driver: Box<dyn Driver>) -> Rc<SchedulerInner> {
        Self::build(config, driver, None)
    }

    /// A deterministic scheduler: virtual time, the run queue ordered by
    /// the seeded policy of `det`, per-run task ids, and no watchdog (it
    /// measures real time).
    pub(crate) fn new_deterministic(
        mut config: SchedulerConfig,
        driver: Box<dyn Driver>,
        det: DetConfig,
    ) -> Rc<SchedulerInner> {
        config.watchdog = None;
        Self::build(config, driver, Some(Box::new(DetState::new(det))))
    }

    fn build(
        config: SchedulerConfig,
        driver: Box<dyn Driver>,
        det: Option<Box<DetState>>,
    ) -> Rc<SchedulerInner> {
        stack::register_overflow_lookup(overflowed_task);
        let run_queue = match &det {
            None => RunQueue::new(),
            Some(det) => RunQueue::with_policy(
                det.config
                    .policy
                    .build(Stream::Schedule.seed_for(det.config.seed)),
            ),
        };
        let id = NEXT_SCHEDULER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (remote, inbox) = Remote::new(id, driver.notifier(), &config);
        let watchdog = config.watchdog.map(Watchdog::start);
        let observer = config.observer.clone();
        let slow = if observer.is_some() { SLOW_OBSERVED } else { 0 }
            | if watchdog.is_some() { SLOW_WATCHED } else { 0 };
        Rc::new(SchedulerInner {
            id,
            driver_name: driver.name(),
            config,
            table: RefCell::new(TaskTable::new()),
            run_queue: RefCell::new(run_queue),
            running: Cell::new(std::ptr::null()),
            timers: RefCell::new(TimerQueue::new()),
            now: Cell::new(Instant::now()),
            driver: RefCell::new(driver),
            woken: RefCell::new(Vec::new()),
            remote,
            inbox,
            watchdog,
            shutting_down: Cell::new(false),
            task_ids: Cell::new((0, 0)),
            det,
            counters: Counters::default(),
            observer,
            slow: Cell::new(slow),
            observed_tick: Cell::new(0),
            started: Instant::now(),
            deadlock_reported: Cell::new(false),
        })
    }

    pub(crate) fn driver_name(&self) -> &'static str {
        self.driver_name
    }

    pub(crate) fn remote(&self) -> Arc<Remote> {
        self.remote.clone()
    }

    /// The timers not yet fired.
    pub(crate) fn pending_timers(&self) -> usize {
        self.timers.borrow().len()
    }

    /// Calls `f` with the task `key` of this scheduler, if it is alive.
    pub(crate) fn with_task<R>(&self, key: TaskKey, f: impl FnOnce(&TaskHeader) -> R) -> Option<R> {
        let task = self.table.borrow().get(key).cloned()?;
        Some(f(task.header()))
    }

    /// The header of the running task, or `None` on the scheduler's loop.
    #[inline]
    pub(crate) fn running(&self) -> Option<&TaskHeader> {
        let ptr = self.running.get();
        // SAFETY: `running` is only non-null while `run_task` runs that
        // task, holding an `Rc` to it.
        (!ptr.is_null()).then(|| unsafe { &*ptr })
    }

    /// Runs `main` as the main task until it ends, then cancels and unwinds
    /// every other task, and returns `main`'s value.
    ///
    /// `main` and `T` may borrow from the caller (`'a`). The task record of
    /// main (`Rc<Task<()>>`, which `TaskRef`s and `task::current()` clone
    /// and may keep past this call) holds nothing of `'a`: main's closure
    /// and its value stay in [`MainSlot`] on this frame, and the task runs
    /// [`run_main`] through a raw pointer to it. The proof that this is
    /// sound is at the `unsafe` block below and at [`FinishMain`].
    pub(crate) fn block_on<'a, T: 'a>(
        self: &Rc<Self>,
        main: impl FnOnce() -> T + 'a,
    ) -> Result<T, SchedulerError> {
        if self.det.is_some() {
            return match self.block_on_deterministic(main).0 {
                Ok(value) => Ok(value),
                Err(DetFailure::MainPanicked(payload)) => panic::resume_unwind(payload),
                Err(DetFailure::Scheduler(err)) => Err(err),
                Err(failure) => panic!("fibrio: deterministic run failed: {failure}"),
            };
        }
        match self.block_on_caught(main)? {
            Ok(value) => Ok(value),
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    /// Runs a deterministic scheduler's `block_on`: virtual time from an
    /// origin read now, this scheduler's `DetState` active on the thread
    /// meanwhile. Returns main's outcome (the run's first failure wins over
    /// it) and the run's figures.
    pub(crate) fn block_on_deterministic<'a, T: 'a>(
        self: &Rc<Self>,
        main: impl FnOnce() -> T + 'a,
    ) -> (Result<T, DetFailure>, det::DetStats) {
        let det = self
            .det
            .as_deref()
            .expect("block_on_deterministic on a deterministic scheduler");
        if with_scheduler(|_| ()).is_some() {
            let stats = det.stats(det.origin());
            return (Err(DetFailure::Scheduler(SchedulerError::Nested)), stats);
        }
        /// Leaves virtual time on every way out, a panic included.
        struct LeaveVirtualTime;
        impl Drop for LeaveVirtualTime {
            fn drop(&mut self) {
                clock::set_virtual(None);
            }
        }
        let origin = Instant::now();
        det.set_origin(origin);
        self.now.set(origin);
        clock::set_virtual(Some(origin));
        let _virtual = LeaveVirtualTime;
        let _active = det::Activate::new(det);
        let outcome = self.block_on_caught(main);
        // The handles left were dropped with their tasks in the shutdown.
        det.check_unjoined();
        let stats = det.stats(self.now.get());
        let result = match (det.take_failure(), outcome) {
            (Some(failure), _) => Err(failure),
            (None, Ok(Ok(value))) => Ok(value),
            (None, Ok(Err(payload))) => Err(DetFailure::MainPanicked(payload)),
            (None, Err(err)) => Err(DetFailure::Scheduler(err)),
        };
        (result, stats)
    }

    /// `block_on`, with main's panic handed back rather than resumed.
    fn block_on_caught<'a, T: 'a>(
        self: &Rc<Self>,
        main: impl FnOnce() -> T + 'a,
    ) -> Result<Result<T, Box<dyn std::any::Any + Send>>, SchedulerError> {
        if with_scheduler(|_| ()).is_some() {
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
        // Virtual inside a deterministic run: its origin.
        self.now.set(clock::now());

        // Declared before `main_task` and `_finish_main`, so dropped after
        // them on every path (locals drop in reverse order).
        let mut slot = MainSlot {
            main: Some(main),
            output: None,
        };
        let thunk = thunk_of(&slot);
        let slot_ptr: *mut () = (&raw mut slot).cast();
        // The task's closure captures a raw pointer and a function pointer:
        // both `'static`, so the record borrows nothing.
        let main_task = self.spawn(Some(Arc::from("main")), None, None, None, move || {
            // SAFETY: `slot_ptr` points at `slot`, a `MainSlot` of the types
            // `thunk` was made for (`thunk_of`). This closure runs only as
            // main's root frame, which runs only while this `block_on`
            // call is live and before `slot` is dropped:
            // * A task's code runs only in `run_task` (`header.resume`),
            //   called only by `run_until`, called only by this call: each
            //   scheduler runs `block_on` at most once (`Scheduler`'s
            //   methods take it by value), never twice at once (`Nested`),
            //   and no other scheduler has main in its table.
            // * On every way out of this call, `_finish_main` (dropped
            //   before `slot`) leaves main terminal with its coroutine
            //   dropped or leaked, so its frames never run again, whoever
            //   still holds its record; see `FinishMain`. Before that, the
            //   table and `main_task` hold the record, so nothing else can
            //   drop (and so unwind) the coroutine.
            // * Unwinding main's stack (a panic, a cancellation, or the
            //   forced unwinding of `FinishMain`) runs only `Drop`s of
            //   main's frames; `run_main` touches the slot only before it
            //   calls main's closure and after that returns.
            // Nothing else reads or writes `slot` while main runs: this
            // frame made `thunk` from `slot` before `slot_ptr`, and touches
            // `slot` again only once main is terminal.
            unsafe { thunk(slot_ptr) }
        })?;
        let _finish_main = FinishMain {
            scheduler: self,
            task: &main_task,
        };
        let main_done = || main_task.header.is_terminal();
        self.run_until(&main_done);

        // Cancel everything still alive and let it unwind.
        self.shutting_down.set(true);
        for key in self.table.borrow().keys() {
            if let Some(task) = self.table.borrow().get(key) {
                // Through shields: a shielded task parked forever would
                // otherwise hang the shutdown.
                task.header().force_cancel();
            }
            self.cancel(key);
        }
        self.run_until(&|| self.table.borrow().len() == 0);
        self.drain_inbox();

        match main_task.take_output() {
            // `run_main` stores the value before main's root frame returns.
            Some(Ok(())) => Ok(Ok(slot
                .output
                .take()
                .expect("fibrio: main returned without storing its value"))),
            Some(Err(JoinError::Panicked(payload))) => Ok(Err(payload)),
            _ => Err(SchedulerError::MainCancelled),
        }
    }

    /// The running task's record, shared (for `task::current`); `None` on
    /// the scheduler's own loop.
    pub(crate) fn running_task(&self) -> Option<Rc<dyn ErasedTask>> {
        let header = self.running()?;
        // The running task is in the table: `finish` removes it only after
        // its root frame returned.
        self.table.borrow().get(header.key()).cloned()
    }

    /// Runs tasks, and parks in the driver when none is runnable, until
    /// `done` holds.
    fn run_until(&self, done: &dyn Fn() -> bool) {
        if let Some(det) = &self.det {
            return self.run_until_deterministic(det, done);
        }
        let interval = self.config.driver_interval.max(1);
        let mut since_turn = 0u32;
        while !done() {
            let next = self.run_queue.borrow_mut().pop();
            match next {
                Some(key) => {
                    self.prefetch_next();
                    self.run_task(key);
                    since_turn += 1;
                    if since_turn >= interval {
                        since_turn = 0;
                        self.drain_inbox();
                        self.turn(false);
                    }
                }
                None => {
                    since_turn = 0;
                    if self.drain_inbox() {
                        continue;
                    }
                    if self.config.deadlock != DeadlockAction::Ignore
                        && !self.deadlock_reported.get()
                        && self.timers.borrow().is_empty()
                    {
                        self.check_deadlock();
                    }
                    self.turn(true);
                    self.drain_inbox();
                }
            }
        }
    }

    /// `run_until` of a deterministic scheduler: never blocks; when no task
    /// is runnable, virtual time jumps to the next event (`turn_virtual`).
    /// Counts and traces every task run, and stops early when a failure is
    /// recorded meanwhile (a deadlock, a limit, an unjoined panic): the
    /// shutdown that follows is a second `run_until`, which a second
    /// failure stops in turn.
    #[cold]
    #[inline(never)]
    fn run_until_deterministic(&self, det: &DetState, done: &dyn Fn() -> bool) {
        let interval = self.config.driver_interval.max(1);
        let mut since_turn = 0u32;
        let failures = det.failures();
        // Each loop (main's, then the shutdown's) gets the full allowance.
        let step_limit = det.steps().saturating_add(det.config.max_steps);
        while !done() && det.failures() == failures {
            if det.steps() >= step_limit && self.run_queue.borrow().peek().is_some() {
                det.fail(DetFailure::TimeLimit {
                    elapsed: self.now.get().saturating_duration_since(det.origin()),
                    steps: det.steps(),
                });
                break;
            }
            let next = self.run_queue.borrow_mut().pop();
            let Some(key) = next else {
                since_turn = 0;
                if self.drain_inbox() {
                    // A wake-up or spawn from another thread: not under
                    // the simulation's control, so the run may not replay.
                    det.trace(&[tag::EXTERNAL]);
                    continue;
                }
                self.turn_virtual(det, true);
                continue;
            };
            let Some(task) = self.table.borrow().get(key).cloned() else {
                continue;
            };
            let header = task.header();
            let id = header.id();
            det.step();
            det.trace(&[tag::RUN, id]);
            // Tasks spawned while it runs join its group.
            det.set_current_group(det.group_of(id));
            self.run_task(key);
            det.set_current_group(0);
            if header.is_terminal() {
                det.trace(&[tag::FINISH, id, state_word(header.state())]);
            } else if header.is_queued() {
                det.trace(&[tag::YIELD, id]);
            } else {
                det.trace(&[tag::PARK, id]);
            }
            drop(task);
            det.check_unjoined();
            since_turn += 1;
            if since_turn >= interval {
                since_turn = 0;
                if self.drain_inbox() {
                    det.trace(&[tag::EXTERNAL]);
                }
                self.turn_virtual(det, false);
            }
        }
    }

    /// The turn of a deterministic scheduler. Delivers the driver's events
    /// and fires the timers due now; then, when `idle` (nothing is runnable
    /// and the inbox is empty) and nothing woke, moves virtual time to the
    /// earlier of the next timer and the driver's next event, and delivers
    /// what is due there. Nothing due at all: a deadlock. Virtual time past
    /// `max_virtual_time`: the time limit. Never blocks.
    fn turn_virtual(&self, det: &DetState, idle: bool) {
        let mut woken = std::mem::take(&mut *self.woken.borrow_mut());
        let now = self.now.get();
        let next_event = self.driver.borrow_mut().poll_virtual(now, &mut woken);
        let fired = self
            .timers
            .borrow_mut()
            .fire_due(now, |key| woken.push(key));
        if fired > 0 {
            det.trace(&[tag::FIRE, fired as u64]);
        }
        if idle && woken.is_empty() {
            let next_timer = self.timers.borrow().next_deadline();
            let next = match (next_timer, next_event) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match next {
                None => det.fail(DetFailure::Deadlock(self.deadlock_report(det))),
                Some(at) => {
                    let at = at.max(now);
                    let elapsed = at.saturating_duration_since(det.origin());
                    if elapsed > det.config.max_virtual_time {
                        det.fail(DetFailure::TimeLimit {
                            elapsed: now.saturating_duration_since(det.origin()),
                            steps: det.steps(),
                        });
                    } else {
                        self.now.set(at);
                        clock::set_virtual(Some(at));
                        det.trace(&[tag::ADVANCE, elapsed.as_nanos() as u64]);
                        self.driver.borrow_mut().poll_virtual(at, &mut woken);
                        let fired = self.timers.borrow_mut().fire_due(at, |key| woken.push(key));
                        if fired > 0 {
                            det.trace(&[tag::FIRE, fired as u64]);
                        }
                    }
                }
            }
        }
        for key in woken.drain(..) {
            self.unpark(key);
        }
        *self.woken.borrow_mut() = woken;
    }

    /// Every live task, in slot order, for a deadlock report.
    fn deadlock_report(&self, det: &DetState) -> DeadlockReport {
        let table = self.table.borrow();
        let tasks = table
            .keys()
            .into_iter()
            .filter_map(|key| table.get(key))
            .map(|task| {
                let header = task.header();
                TaskWait {
                    id: header.id(),
                    name: header.name().cloned(),
                    state: header.state(),
                    parked: header.is_parked(),
                    wait: header.wait_reason(),
                    cancel_requested: header.cancel_requested(),
                    group: det.group_name(det.group_of(header.id())),
                }
            })
            .collect();
        DeadlockReport {
            virtual_elapsed: self.now.get().saturating_duration_since(det.origin()),
            steps: det.steps(),
            tasks,
        }
    }

    /// Every live task, in slot order (see `dump.rs`). With `stacks`, each
    /// suspended task's backtrace, captured without running its code; the
    /// running task (the caller) captures its own.
    pub(crate) fn dump(&self, stacks: bool) -> TaskDump {
        // Records, not borrows: capturing resumes tasks, and no borrow of
        // the table may be held across a switch.
        let tasks: Vec<Rc<dyn ErasedTask>> = self.table.borrow().iter().cloned().collect();
        let now = clock::now();
        let running = self.running.get();
        let infos = tasks
            .iter()
            .map(|task| {
                let header = task.header();
                let is_running = std::ptr::eq(header, running);
                let wait = header.wait_reason();
                let status = if is_running {
                    TaskStatus::Running
                } else if header.state() == TaskState::Pending {
                    TaskStatus::Pending
                } else if header.is_queued() {
                    TaskStatus::Runnable
                } else if wait.is_some() {
                    TaskStatus::Parked
                } else {
                    TaskStatus::Suspended
                };
                let backtrace = match (stacks, is_running) {
                    (false, _) => None,
                    (true, true) => Some(std::backtrace::Backtrace::force_capture()),
                    // SAFETY: this task is not the running one, and nothing
                    // else resumes it meanwhile: only this thread's loop
                    // resumes tasks, and it is either here or suspended in
                    // the running task that called this.
                    (true, false) => unsafe { header.capture_backtrace() },
                };
                TaskInfo {
                    id: header.id(),
                    name: header.name().cloned(),
                    state: header.state(),
                    status,
                    parent: (header.parent() != 0).then_some(header.parent()),
                    spawned_at: header.location().map(Into::into),
                    parked_for: wait.map(|_| now.saturating_duration_since(header.parked_at())),
                    wait,
                    cancel_requested: header.cancel_requested(),
                    backtrace: backtrace.map(Arc::new),
                }
            })
            .collect();
        TaskDump {
            runtime: self.id,
            driver: self.driver_name,
            tasks: infos,
        }
    }

    /// A snapshot of the metrics (see `metrics.rs`).
    pub(crate) fn metrics(&self) -> RuntimeMetrics {
        let c = &self.counters;
        let mut parked: Vec<(WaitKind, usize)> = Vec::new();
        // Switches into tasks that have ended, plus those into live ones.
        let mut switches = c.switches.get();
        let (alive, queued) = {
            let table = self.table.borrow();
            for task in table.iter() {
                switches += task.header().stats_switches();
                if let Some(wait) = task.header().wait_reason() {
                    match parked.iter_mut().find(|(kind, _)| *kind == wait.kind) {
                        Some((_, n)) => *n += 1,
                        None => parked.push((wait.kind, 1)),
                    }
                }
            }
            (table.len(), self.run_queue.borrow().len())
        };
        parked.sort_by_key(|(kind, _)| kind.to_string());
        let driver = self.driver.borrow().stats();
        let stacks = stack::statistics();
        let uptime = self.started.elapsed();
        let idle = c.idle.get().min(uptime);
        RuntimeMetrics {
            runtime: self.id,
            driver: self.driver_name,
            uptime,
            tasks_alive: alive,
            // Every task spawned has ended or is alive.
            tasks_spawned: c.completed.get() + c.failed.get() + c.cancelled.get() + alive as u64,
            tasks_completed: c.completed.get(),
            tasks_failed: c.failed.get(),
            tasks_cancelled: c.cancelled.get(),
            tasks_refused: c.refused.get(),
            remote_spawns_queued: self.remote.queued_spawns(),
            switches,
            run_queue_depth: queued,
            parked_by_reason: parked,
            timers_pending: self.timers.borrow().len(),
            fds_registered: driver.fds_registered,
            driver_polls: c.polls.get(),
            driver_events: c.events.get(),
            busy: uptime - idle,
            idle,
            wake_to_run: c.histogram(),
            blocking_threads: driver.blocking_threads,
            blocking_idle: driver.blocking_idle,
            blocking_queued: driver.blocking_queued,
            stacks_mapped: stacks.mapped,
            stacks_pooled: stacks.pooled,
            stacks_in_use: stacks.in_use,
        }
    }

    /// The runtime's health (see `Health`).
    pub(crate) fn health(&self) -> Health {
        Health {
            runtime: self.id,
            driver: self.driver_name,
            uptime: self.started.elapsed(),
            tasks_alive: self.table.borrow().len(),
            rss_bytes: metrics::rss_bytes(),
            longest_unparked: self.longest_unparked(),
        }
    }

    /// The longest any task not parked now has gone since it last parked
    /// (or was spawned): how long the runnable ones have waited, or the
    /// running one has run.
    pub(crate) fn longest_unparked(&self) -> Duration {
        let now = clock::now();
        let table = self.table.borrow();
        table
            .iter()
            .filter(|task| !task.header().is_parked())
            .map(|task| now.saturating_duration_since(task.header().parked_at()))
            .max()
            .unwrap_or_default()
    }

    /// Called when nothing is runnable, the inbox is empty and no timer is
    /// pending: reports a deadlock (once) if every live task is parked on
    /// something only another parked task of this runtime can release.
    ///
    /// A task is stuck for sure when it waits for the end of a task of this
    /// runtime that is stuck for sure, or for a `Mutex` (or a write lock)
    /// held by such a task, and no cancel scope (which another thread may
    /// cancel) holds it. Everything else (a channel, an unpark, I/O, a
    /// blocking job, a sleep, a semaphore, ...) can be released by another
    /// thread, so it is never reported: no false alarms. The stuck set is
    /// the greatest fixed point of that rule; the runtime is deadlocked
    /// when it holds every live task, and no `Handle` is alive (one could
    /// spawn a task that cancels one of them).
    #[cold]
    #[inline(never)]
    fn check_deadlock(&self) {
        if self.remote.handles() > 0 {
            return;
        }
        // (id, waits for: a task id) of every live task; any other wait
        // ends the check at once.
        let mut edges: Vec<(u64, u64)> = Vec::new();
        {
            let table = self.table.borrow();
            for task in table.iter() {
                let header = task.header();
                if header.in_scope() {
                    return;
                }
                let Some(wait) = header.wait_reason() else {
                    return;
                };
                let on = match wait.kind {
                    WaitKind::Join if wait.object != 0 => wait.object,
                    WaitKind::Mutex | WaitKind::RwLockWrite if wait.holder != 0 => wait.holder,
                    _ => return,
                };
                edges.push((header.id(), on));
            }
        }
        if edges.is_empty() {
            return;
        }
        // Every task waits on a task; all of them are stuck for sure iff
        // every one it waits on is itself live (and so, here, waiting).
        edges.sort_unstable();
        let live = |id: u64| edges.binary_search_by_key(&id, |&(task, _)| task).is_ok();
        if !edges.iter().all(|&(_, on)| live(on)) {
            return;
        }
        self.deadlock_reported.set(true);
        let dump = self.dump(false);
        let message = format!(
            "deadlock: every task of runtime {} is parked on a lock or a join that only another              parked task can release, and nothing else can wake them\n{dump}",
            self.id
        );
        if self.config.deadlock == DeadlockAction::Panic {
            panic!("{message}");
        }
        crate::diagnostics::error("fibrio", format_args!("{message}"));
    }

    /// Starts loading the task queued next, while this one runs.
    #[inline]
    fn prefetch_next(&self) {
        let Some(next) = self.run_queue.borrow().peek() else {
            return;
        };
        if let Some(task) = self.table.borrow().get(next) {
            prefetch::prefetch_task(task.header());
        }
    }

    /// One turn of the driver and the timers: looks at outside events
    /// (blocking until the next deadline when `block`, and nothing is
    /// runnable), reads the clock, and wakes the tasks whose events came
    /// or whose deadlines passed.
    fn turn(&self, block: bool) {
        let next_deadline = self.timers.borrow().next_deadline();
        let timeout = if !block {
            Some(Duration::ZERO)
        } else {
            next_deadline.map(|deadline| {
                let until = deadline.saturating_duration_since(Instant::now());
                // Within the spin window of the deadline, look without
                // blocking; otherwise block until the window opens.
                let spin = self.config.timer_spin;
                if until > spin {
                    until - spin
                } else {
                    if !until.is_zero() {
                        std::hint::spin_loop();
                    }
                    Duration::ZERO
                }
            })
        };
        let mut woken = std::mem::take(&mut *self.woken.borrow_mut());
        // Idle time: one clock read before a wait that may block.
        let idle_from = (block && timeout != Some(Duration::ZERO)).then(Instant::now);
        self.driver.borrow_mut().park(timeout, &mut woken);
        let now = Instant::now();
        self.now.set(now);
        self.remote.mark_turn(now);
        Counters::bump(&self.counters.polls);
        self.counters
            .events
            .set(self.counters.events.get() + woken.len() as u64);
        if let Some(from) = idle_from {
            let idle = &self.counters.idle;
            idle.set(idle.get() + now.saturating_duration_since(from));
        }
        if next_deadline.is_some_and(|deadline| deadline <= now) {
            self.timers
                .borrow_mut()
                .fire_due(now, |key| woken.push(key));
        }
        for key in woken.drain(..) {
            self.unpark(key);
        }
        *self.woken.borrow_mut() = woken;
    }

    /// Handles messages from other threads, at most `INBOX_BATCH` of them,
    /// and none while `INBOX_BACKLOG` tasks are runnable; after a full
    /// batch, polls the driver without blocking (timers, I/O). So a flood
    /// of remote spawns leaves timers and running tasks their turn, and
    /// spawned tasks that have not started (each holding a stack) stay
    /// bounded. Returns true if any message arrived (the caller runs what
    /// they woke before it reads again).
    fn drain_inbox(&self) -> bool {
        // A long run queue first: what the inbox holds would only queue
        // behind it, each spawn holding a stack meanwhile.
        if self.run_queue.borrow().len() >= INBOX_BACKLOG {
            return false;
        }
        let mut taken = 0;
        while taken < INBOX_BATCH {
            let Ok(message) = self.inbox.try_recv() else {
                break;
            };
            taken += 1;
            match message {
                RemoteMsg::Unpark(key) => self.unpark(key),
                RemoteMsg::CancelWake(key) => self.wake_for_cancel(key),
                RemoteMsg::Spawn(spawn) => {
                    self.remote.took_spawn();
                    spawn();
                }
                RemoteMsg::Query(query) => query(),
            }
        }
        self.remote.publish_alive(self.table.borrow().len());
        if taken == INBOX_BATCH && self.det.is_none() {
            self.turn(false);
        }
        taken > 0
    }

    // Always inlined: it has two callers (the production loop and the
    // deterministic one), and a call here costs the production loop ~5% of
    // a spawn+join (callgrind).
    #[inline(always)]
    fn run_task(&self, key: TaskKey) {
        let Some(task) = self.table.borrow().get(key).cloned() else {
            return;
        };
        let header = task.header();
        header.take_queued();
        let first_run = match header.state() {
            TaskState::Running => false,
            TaskState::Pending => {
                if header.may_be_cancelled() && header.pending_cancel().is_some() {
                    task.set_cancelled();
                    self.finish(key, &*task);
                    return;
                }
                header.start(self.now.get());
                true
            }
            // Finished already (a stale queue entry cannot exist, but a
            // terminal task is never resumed).
            _ => return,
        };
        // The observer, the watchdog and the wake-to-run sample: one test
        // for all three, so a switch with none of them pays one branch.
        if self.slow.get() != 0 {
            return self.run_task_slow(key, &*task, first_run);
        }
        self.remote.enter(header.id());
        self.running.set(header);
        // SAFETY: the task is not terminal, and it is not running: only
        // this loop resumes tasks, and `running` was null until just now.
        let returned = unsafe { header.resume() };
        self.running.set(std::ptr::null());
        self.remote.leave();
        if returned {
            self.finish(key, &*task);
        }
    }

    /// Counts a task that ended other than by returning a value.
    #[cold]
    #[inline(never)]
    fn count_unusual_end(&self, state: TaskState) {
        match state {
            TaskState::Failed => Counters::bump(&self.counters.failed),
            _ => Counters::bump(&self.counters.cancelled),
        }
    }

    /// `run_task` when `slow` is set: the same switch, plus the observer's
    /// `Started` (on the task's `first_run`) and `Parked` events, the
    /// watchdog's enter and leave, and the end of a wake-to-run sample.
    ///
    /// `Parked` is sent here, once the task is back on this loop, rather
    /// than in `park`: nothing runs between the task's switch out and this
    /// point, so the observer sees the same events in the same order, and
    /// `park` itself tests nothing.
    #[cold]
    #[inline(never)]
    fn run_task_slow(&self, key: TaskKey, task: &dyn ErasedTask, first_run: bool) {
        let header = task.header();
        if first_run {
            if let Some(observer) = &self.observer {
                observer.on_event(&TaskEvent::new(TaskEventKind::Started, header.id()));
            }
        }
        if let Some((sampled, queued_at)) = self.counters.sample.get() {
            if sampled == key {
                self.record_sample(queued_at);
            }
        }
        self.remote.enter(header.id());
        self.running.set(header);
        if let Some(watchdog) = &self.watchdog {
            watchdog.enter(header.id(), header.name());
        }
        // SAFETY: as in `run_task`: the task is not terminal and not
        // running, and `running` was null until just now.
        let returned = unsafe { header.resume() };
        if let Some(watchdog) = &self.watchdog {
            watchdog.leave();
        }
        // A task back here that did not return either yielded (queued) or
        // parked (its `begin_park` set `parked`, and it switched out at
        // once): the latter is the `Parked` event, sent while the task is
        // still the running one, as it was sent from inside `park`.
        if !returned && header.is_parked() {
            if let Some(observer) = &self.observer {
                observer.on_event(&TaskEvent {
                    wait: header.wait_reason(),
                    ..TaskEvent::new(TaskEventKind::Parked, header.id())
                });
            }
        }
        self.running.set(std::ptr::null());
        self.remote.leave();
        if returned {
            self.finish(key, task);
        }
    }

    /// Ends a task whose root frame returned (or that never ran): records
    /// its state, frees its stack, wakes its joiners, forgets it.
    fn finish(&self, key: TaskKey, task: &dyn ErasedTask) {
        // One (dynamic) `header` call: each costs an indirect call.
        let header = task.header();
        let state = task.outcome_state();
        if state == TaskState::Completed {
            Counters::bump(&self.counters.completed);
        } else {
            self.count_unusual_end(state);
        }
        // Switches are counted per task, and summed here as tasks end.
        let switches = &self.counters.switches;
        switches.set(switches.get() + header.stats_switches());
        if let Some(observer) = &self.observer {
            observe_end(&**observer, header.id(), state);
        }
        header.finish(state, self.now.get(), |waiter| self.unpark(waiter));
        let record = self.table.borrow_mut().remove(key);
        if let Some(det) = &self.det {
            watch_if_failed(det, state, record);
            for waiter in det.left_group(header.id()) {
                self.unpark(waiter);
            }
        }
    }

    /// Requests cancellation of every live task of group `group` of a
    /// deterministic run, in slot order.
    pub(crate) fn cancel_group(&self, det: &DetState, group: u32) {
        let keys: Vec<TaskKey> = {
            let table = self.table.borrow();
            table
                .keys()
                .into_iter()
                .filter(|&key| {
                    table
                        .get(key)
                        .is_some_and(|task| det.group_of(task.header().id()) == group)
                })
                .collect()
        };
        for key in keys {
            self.cancel(key);
        }
    }

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

    /// The next per-run id of a deterministic run, its spawn traced.
    #[cold]
    #[inline(never)]
    fn next_deterministic_task_id(&self, det: &DetState) -> u64 {
        let id = det.next_id();
        let parent = self.running().map_or(0, TaskHeader::id);
        det.trace(&[tag::SPAWN, parent, id]);
        id
    }

    /// Wakes the task `key`: queues it if it is parked, or leaves it a
    /// token for its next park. Stale keys are ignored.
    #[inline]
    pub(crate) fn unpark(&self, key: TaskKey) {
        {
            let table = self.table.borrow();
            let Some(task) = table.get(key) else {
                return;
            };
            if !task.header().unpark() {
                return;
            }
            self.run_queue.borrow_mut().push(key);
        }
        // One test for both the observer and the wake-up sample: the
        // common case (no observer, not the 64th wake-up) only counts
        // down, one decrement and one sign test, and keeps nothing live
        // for the slow call. The countdown goes "negative" (its top bit
        // set) when a sample is due; with an observer it stays negative,
        // so every wake-up takes `woken_slow`.
        let tick = self.counters.sample_tick.get().wrapping_sub(1);
        self.counters.sample_tick.set(tick);
        if tick > i32::MAX as u32 {
            self.woken_slow(key);
        }
    }

    /// The rest of a wake-up when an observer is set or a sample is due:
    /// the `Woken` event, and one wake-up in `SAMPLE_EVERY` timed
    /// (`metrics.rs`).
    #[cold]
    #[inline(never)]
    fn woken_slow(&self, key: TaskKey) {
        // Back to "negative" (`unpark`'s next decrement keeps it so), until
        // a sample starts below and sets the next countdown.
        self.counters.sample_tick.set(u32::MAX);
        if let Some(observer) = &self.observer {
            // `unpark` queued the task just now, so it is in the table.
            let id = self
                .table
                .borrow()
                .get(key)
                .map_or(0, |task| task.header().id());
            observer.on_event(&TaskEvent::new(TaskEventKind::Woken, id));
            // With an observer, the countdown to the next sample is kept
            // in `observed_tick` (every wake-up comes here).
            let tick = self.observed_tick.get();
            if tick > 0 {
                self.observed_tick.set(tick - 1);
                return;
            }
        }
        if self.counters.sample.get().is_some() {
            // One sample in flight at a time: the next wake-up tries again.
            return;
        }
        self.counters.sample.set(Some((key, Instant::now())));
        self.slow.set(self.slow.get() | SLOW_SAMPLING);
        if self.observer.is_some() {
            self.observed_tick.set(SAMPLE_EVERY - 1);
        } else {
            // `unpark` counts the next 63 wake-ups down to 0; the 64th
            // makes it negative again.
            self.counters.sample_tick.set(SAMPLE_EVERY - 1);
        }
    }

    #[cold]
    #[inline(never)]
    fn record_sample(&self, queued_at: Instant) {
        self.counters.sample.set(None);
        self.slow.set(self.slow.get() & !SLOW_SAMPLING);
        self.counters
            .record_latency(Instant::now().saturating_duration_since(queued_at));
    }

    /// Requests cancellation of `key`; a parked task is woken so that it
    /// reaches its checkpoint.
    pub(crate) fn cancel(&self, key: TaskKey) {
        let parked = match self.table.borrow().get(key) {
            Some(task) => task.header().request_cancel(),
            None => return,
        };
        if parked {
            self.wake_for_cancel(key);
        }
    }

    /// Wakes `key` if it is parked, marking the wake-up as a cancellation's
    /// so that its `park` checks for cancellation before returning. A task
    /// that is not parked needs nothing: it reaches a checkpoint anyway.
    pub(crate) fn wake_for_cancel(&self, key: TaskKey) {
        let parked = match self.table.borrow().get(key) {
            Some(task) => task.header().mark_cancel_wake(),
            None => return,
        };
        if parked {
            self.unpark(key);
        }
    }

    /// Puts the running task at the back of the run queue and switches out.
    fn yield_running(&self, header: &TaskHeader) {
        header.mark_queued();
        self.run_queue.borrow_mut().push(header.key());
        // SAFETY: `header` is the running task (the caller's contract).
        // A queued task is never marked as woken by a cancellation (only a
        // parked one is), so there is no mark to act on.
        let _ = unsafe { header.suspend() };
    }

    /// Parks the running task `header`, waiting for `reason`, until it is
    /// unparked or `deadline` passes. Returns whether `deadline`'s timer is
    /// what woke it.
    #[inline(always)]
    fn park_running_task(
        &self,
        header: &TaskHeader,
        deadline: Option<Instant>,
        reason: WaitReason,
    ) -> Result<bool, ParkError> {
        if std::thread::panicking() {
            return Err(ParkError::Unwinding);
        }
        header.checkpoint();
        if deadline.is_some() || header.in_scope() {
            let wake = self.park_with_timer(header, deadline, reason);
            // The checkpoint is here, once `park_with_timer` has returned:
            // its frame is then not one more that a cancellation's unwind
            // walks (twice; issue 18).
            if wake.by_cancel {
                header.checkpoint();
            }
            return Ok(wake.deadline_fired);
        }
        // The common park: no deadline, so no timer.
        // No observer test here: the loop sends `Parked` once the task is
        // back on it (`run_task_slow`).
        if header.begin_park(reason, self.now.get()) {
            // SAFETY: `header` is the running task (the caller's contract).
            let woken_by_cancel = unsafe { header.suspend() };
            // Running again. Unwind if a cancellation is what woke us; any
            // other wake-up returns normally, and the caller's next
            // checkpoint sees a cancellation that arrived meanwhile.
            if woken_by_cancel {
                header.checkpoint();
            }
        }
        Ok(false)
    }

    /// `park_running_task` with a deadline of its own or of a scope around
    /// the task: one timer, at the earlier of the two, removed on waking.
    /// Returns how the task was woken; the caller runs the checkpoint that
    /// a cancellation's wake-up calls for.
    fn park_with_timer(
        &self,
        header: &TaskHeader,
        deadline: Option<Instant>,
        reason: WaitReason,
    ) -> TimedWake {
        if deadline.is_some_and(|deadline| deadline <= self.now.get()) {
            return TimedWake {
                deadline_fired: true,
                by_cancel: false,
            };
        }
        if !header.begin_park(reason, self.now.get()) {
            return TimedWake {
                deadline_fired: false,
                by_cancel: false,
            };
        }
        // Inside scopes with a deadline, wake at the earliest one, so that
        // the caller's checkpoint sees it.
        let scope_deadline = header.visible_deadline();
        let wake_at = match (deadline, scope_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timer = wake_at.map(|at| self.timers.borrow_mut().insert(at, header.key()));
        // SAFETY: `header` is the running task (the caller's contract).
        let mut by_cancel = unsafe { header.suspend() };
        // Running again: as in `park_running_task`, a scope deadline that
        // fired counts as a cancellation's wake-up.
        let mut deadline_fired = false;
        if let Some(timer) = timer {
            // A timer that is no longer set has fired.
            if !self.timers.borrow_mut().cancel(timer) {
                deadline_fired = deadline == wake_at;
                by_cancel |= scope_deadline == wake_at;
            }
        }
        TimedWake {
            deadline_fired,
            by_cancel,
        }
    }
}

/// How `park_with_timer` ended.
#[derive(Clone, Copy)]
struct TimedWake {
    /// The park's own deadline woke the task.
    deadline_fired: bool,
    /// A cancellation (or a scope deadline) woke it: the caller checks.
    by_cancel: bool,
}

/// Main's closure and, once it has returned, its value: kept on
/// `block_on`'s frame, so that main's task record (which `TaskRef`s can keep
/// alive past `block_on`) holds nothing borrowed.
struct MainSlot<F, T> {
    main: Option<F>,
    output: Option<T>,
}

/// [`run_main`] for `slot`'s types, as a plain function pointer: its type,
/// `unsafe fn(*mut ())`, names neither `F` nor `T`, so it is `'static` even
/// when they borrow.
fn thunk_of<F: FnOnce() -> T, T>(_slot: &MainSlot<F, T>) -> unsafe fn(*mut ()) {
    run_main::<F, T>
}

/// Main's root: takes the closure out of the slot, runs it, and stores its
/// value back in the slot. A panic (or cancellation) unwinds out of here
/// to the task's root frame, which records it; the slot is not touched
/// then.
///
/// # Safety
///
/// `slot` points at a `MainSlot<F, T>` that stays live, and that nothing
/// else reads or writes, from the start of this call until it returns or
/// unwinds, however long it is suspended in between; and once the slot is
/// gone, the call is never resumed.
unsafe fn run_main<F: FnOnce() -> T, T>(slot: *mut ()) {
    let slot = slot.cast::<MainSlot<F, T>>();
    // SAFETY: `slot` is live and unaliased (the contract above); the
    // reference lasts only for this statement.
    let main = unsafe { (*slot).main.take() };
    let value = main.expect("fibrio: main's closure runs once")();
    // SAFETY: the slot is still live and unaliased: this call has not
    // returned yet (the contract above), whatever `main` did meanwhile.
    unsafe { (*slot).output = Some(value) };
}

/// Leaves main terminal, with its coroutine dropped, when `block_on` is
/// left while main has not ended: only by a panic out of the scheduler's
/// loop (the driver's `park`, a task's value or context dropped by the
/// loop, a job from another thread) or out of the shutdown, since the
/// normal way out waits for main to end first.
///
/// This is what keeps main's frames from running after `block_on`, and
/// so from using what they borrow (`block_on`'s `'a`, and the slot):
///
/// * Dropping main's coroutine unwinds its stack now, while `'a` and the
///   slot are still live (this guard is dropped before the slot, inside
///   the call that borrows `'a`); or, where that is not safe (while the
///   thread's thread-locals are destroyed, or fibrio cannot tell that it
///   is not), leaks it: its stack stays mapped and its frames never run
///   again (`TaskHeader::drop_coroutine`). A coroutine that never started
///   just drops its `'static` closure.
/// * Either way main is terminal afterwards, and its coroutine is marked
///   dropped, so no `run_task` resumes it and no later drop of its record
///   (the last `TaskRef` of it, kept in a thread-local, say) unwinds it.
///
/// Without this guard, main's suspended coroutine would be unwound when
/// the last `Rc` of its record is dropped: with the scheduler's table
/// still inside this call, or much later through a kept `TaskRef`, when
/// what its frames borrow is gone.
struct FinishMain<'s> {
    scheduler: &'s SchedulerInner,
    task: &'s Rc<Task<()>>,
}

impl Drop for FinishMain<'_> {
    fn drop(&mut self) {
        if self.task.header.is_terminal() {
            return;
        }
        // What main's `Drop`s spawn while it unwinds would never run.
        self.scheduler.shutting_down.set(true);
        self.scheduler.finish(self.task.header.key(), &**self.task);
    }
}

/// Parks the running task, recording that it waits for `reason`, until it
/// is unparked or `deadline` passes (see `task::park_for`). Returns whether
/// the deadline is what woke it.
#[inline(always)]
pub(crate) fn park_running(
    deadline: Option<Instant>,
    reason: WaitReason,
) -> Result<bool, ParkError> {
    // No closure here: this is the hot path of every blocking call, and a
    // closure around the switch was left out of line, costing a second
    // frame that saves every callee-saved register.
    let Some(scheduler) = scheduler_here() else {
        return Err(ParkError::OutsideTask);
    };
    let Some(header) = scheduler.running() else {
        return Err(ParkError::OutsideTask);
    };
    scheduler.park_running_task(header, deadline, reason)
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

/// Sends the event of task `id`'s end in `state` (out of line: `finish`
/// runs for every task, an observer is rare).
#[cold]
#[inline(never)]
fn observe_end(observer: &dyn Observer, id: u64, state: TaskState) {
    let kind = match state {
        TaskState::Completed => TaskEventKind::Completed,
        TaskState::Failed => TaskEventKind::Failed,
        _ => TaskEventKind::Cancelled,
    };
    observer.on_event(&TaskEvent::new(kind, id));
}

/// Lets the other runnable tasks run, then continues. False outside a task.
#[inline]
pub(crate) fn yield_running() -> bool {
    with_running(|scheduler, header| {
        if std::thread::panicking() {
            return;
        }
        header.checkpoint();
        scheduler.yield_running(header);
        header.checkpoint();
    })
    .is_some()
}

/// In a deterministic run, puts the running task at the back of the run
/// queue and lets the schedule policy choose who runs next, without the
/// cancellation checkpoints of `yield_now`. Does nothing outside a
/// deterministic run, outside a task, or while unwinding.
pub(crate) fn schedule_point() {
    with_running(|scheduler, header| {
        if scheduler.det.is_some() && !std::thread::panicking() {
            scheduler.yield_running(header);
        }
    });
}

/// In a deterministic run, requests cancellation of every live task of
/// `group`; false outside one.
pub(crate) fn cancel_group(group: u32) -> bool {
    with_scheduler(|scheduler| match &scheduler.det {
        Some(det) => {
            scheduler.cancel_group(det, group);
            true
        }
        None => false,
    })
    .unwrap_or(false)
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

/// Requests cancellation of the task `header` (`JoinHandle::cancel`). A
/// terminal task is left alone; so is every other task of the scheduler
/// running here when `header` belongs to another (an earlier runtime's
/// handle): keys are only meaningful in their own runtime.
pub(crate) fn cancel_task(header: &TaskHeader) {
    let done = with_scheduler(|scheduler| {
        if scheduler.id != header.runtime() {
            return false;
        }
        scheduler.cancel(header.key());
        true
    });
    if done != Some(true) {
        header.request_cancel();
    }
}

impl Unparker {
    /// An unparker for the current task, or `None` outside a task.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(fibrio_core::task::Unparker::current().is_none()); // not in a task
    /// ```
    pub fn current() -> Option<Unparker> {
        with_running(|scheduler, header| Unparker::new(header.key(), scheduler.remote()))
    }

    /// Wakes the task: queues it if it is parked, or makes its next `park`
    /// return at once. Waking a task that has ended does nothing. Callable
    /// from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::{self, Unparker};
    ///
    /// let me = Unparker::current().unwrap();
    /// me.unpark(); // leaves a token ...
    /// task::park().unwrap(); // ... so this returns at once
    /// # });
    /// ```
    pub fn unpark(&self) {
        self.deliver(SchedulerInner::unpark, RemoteMsg::Unpark);
    }

    /// Wakes the task if it is parked, as a cancellation does: its `park`
    /// then checks for cancellation. From any thread.
    pub(crate) fn wake_for_cancel(&self) {
        self.deliver(SchedulerInner::wake_for_cancel, RemoteMsg::CancelWake);
    }

    /// Runs `local` on the task's scheduler when it is the one running on
    /// this thread; otherwise sends `remote` through its inbox.
    #[inline]
    fn deliver(&self, local: fn(&SchedulerInner, TaskKey), remote: fn(TaskKey) -> RemoteMsg) {
        let delivered = with_scheduler(|s| {
            let here = s.id == self.remote.id;
            if here {
                local(s, self.key);
            }
            here
        });
        if delivered != Some(true) {
            self.remote.send(remote(self.key));
        }
    }
}

/// The overflow report's lookup for tasks: the running task, if `addr`
/// lies in its stack's guard page.
///
/// # Safety
///
/// Called by the overflow handler on the faulting thread (see
/// `stack::overflow::OverflowLookup`). It reads only immutable fields of the
/// running task's header and allocates nothing.
unsafe fn overflowed_task(addr: usize) -> Option<StackOwner> {
    let scheduler = SCHEDULER.try_with(|s| s.get()).ok()?;
    if scheduler.is_null() {
        return None;
    }
    // SAFETY: a non-null SCHEDULER is live (see `with_scheduler`), and
    // `running` is live while non-null (see `SchedulerInner::running`).
    let header = unsafe { (*scheduler).running() }?;
    let (lo, hi) = header.guard();
    if addr < lo || addr >= hi {
        return None;
    }
    let name = header.name().map(|name| {
        // SAFETY: the name lives as long as the header, which outlives the
        // report: the handler aborts the process before returning.
        unsafe { &*(&**name as *const str) }
    });
    Some(StackOwner {
        kind: "task",
        name,
        id: header.id(),
        stack_size: header.stack_size(),
    })
}

impl Drop for SchedulerInner {
    fn drop(&mut self) {
        // Tasks are all finished by `block_on`; anything left (block_on was
        // never called) is dropped with its table, which unwinds suspended
        // coroutines.
        self.run_queue.get_mut().clear();
    }
}

/// In a deterministic run, keeps the record of a task that panicked (see
/// `DetState::check_unjoined`). Out of line: production never calls it.
#[cold]
#[inline(never)]
fn watch_if_failed(det: &DetState, state: TaskState, record: Option<Rc<dyn ErasedTask>>) {
    if state == TaskState::Failed {
        if let Some(record) = record {
            det.watch_failed(record);
        }
    }
}

/// A stable number for `state`, for the trace hash (not `as`: the enum's
/// layout may change, the trace must not).
fn state_word(state: TaskState) -> u64 {
    match state {
        TaskState::Pending => 1,
        TaskState::Running => 2,
        TaskState::Completed => 3,
        TaskState::Failed => 4,
        TaskState::Cancelled => 5,
    }
}

#[cfg(test)]
mod tests {
    //! The switch's slow path (`slow`): what it gathers in one flag must
    //! behave as when each feature tested its own.

    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use crate::scheduler::{
        dump_with_stacks, metrics, NotifyDriver, Observer, Scheduler, SchedulerConfig, TaskEvent,
        TaskEventKind, TaskStatus, WaitKind,
    };
    use crate::task;

    /// Every event: kind, task, wait kind.
    #[derive(Default)]
    struct Record(Mutex<Vec<(TaskEventKind, u64, Option<WaitKind>)>>);

    impl Observer for Record {
        fn on_event(&self, e: &TaskEvent<'_>) {
            let seen = (e.kind, e.task, e.wait.map(|w| w.kind));
            self.0.lock().unwrap().push(seen);
        }
    }

    fn scheduler(observer: Option<Arc<Record>>) -> Scheduler {
        let config = SchedulerConfig {
            observer: observer.map(|o| o as Arc<dyn Observer>),
            ..SchedulerConfig::default()
        };
        Scheduler::new(config, Box::new(NotifyDriver::new()))
    }

    /// `rounds` park/unpark round trips between main and one peer, then
    /// the number of wake-to-run samples taken.
    fn samples_after_ping_pong(observer: Option<Arc<Record>>, rounds: usize) -> u64 {
        scheduler(observer)
            .block_on(move || {
                let main = task::current_key().unwrap();
                let peer_key = std::rc::Rc::new(std::cell::Cell::new(None));
                let key_out = peer_key.clone();
                let peer = task::spawn(move || {
                    key_out.set(task::current_key());
                    for _ in 0..rounds {
                        task::park().unwrap();
                        task::unpark_local(main);
                    }
                });
                task::yield_now(); // the peer parks first
                let peer_key = peer_key.get().unwrap();
                for _ in 0..rounds {
                    task::unpark_local(peer_key);
                    task::park().unwrap();
                }
                peer.join().unwrap();
                metrics().wake_to_run.count()
            })
            .unwrap()
    }

    #[test]
    fn one_wake_up_in_sample_every_is_timed_with_or_without_an_observer() {
        // 1,280 wake-ups (the peer has ended before main joins it).
        let rounds = 640;
        let plain = samples_after_ping_pong(None, rounds);
        let observed = samples_after_ping_pong(Some(Arc::default()), rounds);
        assert_eq!(plain, observed);
        // The first wake-up and then every 64th: each sample ends before
        // the next wake-up here, so none is skipped.
        let wakes = 2 * rounds as u64;
        let every = u64::from(crate::scheduler::SAMPLE_EVERY);
        assert_eq!(plain, (wakes - 1) / every + 1);
    }

    #[test]
    fn the_observer_sees_timed_and_scoped_parks_and_no_park_for_a_yield() {
        use TaskEventKind::*;
        let record = Arc::new(Record::default());
        let child = scheduler(Some(record.clone()))
            .block_on(|| {
                let child = task::spawn(|| {
                    task::yield_now();
                    // A deadline already passed: no park, no event.
                    task::park_until(Some(Instant::now() - Duration::from_secs(1))).unwrap();
                    task::park_until(Some(Instant::now() + Duration::from_millis(1))).unwrap();
                    task::sleep(Duration::from_millis(1));
                    let parked = task::move_on_after(Duration::from_millis(1), || {
                        // Only the scope's deadline wakes it.
                        loop {
                            task::park().unwrap();
                        }
                    });
                    assert!(parked.is_none());
                });
                let id = child.id();
                child.join().unwrap();
                id
            })
            .unwrap();
        let events: Vec<_> = record
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, task, _)| *task == child)
            .map(|&(kind, _, wait)| (kind, wait))
            .collect();
        let park = Some(WaitKind::Park);
        let expected = vec![
            (Created, None),
            (Started, None),
            (Parked, park),
            (Woken, None),
            (Parked, Some(WaitKind::Sleep)),
            (Woken, None),
            (Parked, park),
            (Woken, None),
            (Completed, None),
        ];
        assert_eq!(events, expected);
    }

    #[test]
    fn a_stack_capture_keeps_the_cancellation_that_woke_a_task() {
        let (backtrace, status, cancelled) = scheduler(None)
            .block_on(|| {
                let parked = task::spawn(|| loop {
                    task::park().unwrap();
                });
                task::yield_now(); // it parks
                parked.cancel(); // queued, its wake-up marked as a cancellation's
                let dump = dump_with_stacks();
                let info = dump.tasks.iter().find(|t| t.id == parked.id()).unwrap();
                let backtrace = info.backtrace.is_some();
                let status = info.status;
                // The capture ran none of its code: the cancellation still
                // unwinds it at its park.
                let cancelled = parked.join().unwrap_err().is_cancelled();
                (backtrace, status, cancelled)
            })
            .unwrap();
        assert!(backtrace);
        assert_eq!(status, TaskStatus::Runnable);
        assert!(cancelled);
    }

    #[test]
    fn a_captured_task_that_yielded_runs_on_unchanged() {
        let steps = scheduler(None)
            .block_on(|| {
                let steps = std::rc::Rc::new(std::cell::Cell::new(0));
                let counter = steps.clone();
                let worker = task::spawn(move || {
                    for _ in 0..3 {
                        counter.set(counter.get() + 1);
                        task::yield_now();
                    }
                });
                task::yield_now();
                // Captured twice while it is queued after a yield.
                for _ in 0..2 {
                    let dump = dump_with_stacks();
                    let info = dump.tasks.iter().find(|t| t.id == worker.id()).unwrap();
                    assert!(info.backtrace.is_some());
                }
                assert_eq!(steps.get(), 1);
                worker.join().unwrap();
                steps.get()
            })
            .unwrap();
        assert_eq!(steps, 3);
    }
}
