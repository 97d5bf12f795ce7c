//! [`SchedulerInner`], the state of one scheduler: its fields, its
//! construction, the thread-local `SCHEDULER` that names the scheduler
//! running on this thread, and the overflow report's lookup for tasks.
//! The behaviour lives in sibling files, one `impl SchedulerInner` each:
//! the loop (`run.rs`), spawning (`spawn.rs`), waking and cancelling
//! (`wake.rs`), parking and yielding (`park.rs`), the deterministic loop
//! (`det_loop.rs`), and introspection (`introspection.rs`); main's slot is
//! in `main_slot.rs`. Those files use this one, and this one uses none of
//! them.
//!
//! # Invariants
//!
//! * While `block_on` runs, `SCHEDULER` points at its scheduler; it is
//!   null otherwise (`block_on_caught` in `run.rs` sets and clears it).
//! * `running` is the header of the task being run, or null while the
//!   scheduler's own loop runs. Only `run_task` sets it.
//! * `slow` holds what the task switch must do besides switching (the
//!   `SLOW_*` bits): `SLOW_OBSERVED` and `SLOW_WATCHED` never change
//!   during a run; `SLOW_SAMPLING` is set while a wake-to-run sample is
//!   in flight.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;

use super::config::SchedulerConfig;
use super::det::{DetConfig, DetState, Stream};
use super::driver::Driver;
use super::metrics::Counters;
use super::observer::Observer;
use super::record::{ErasedTask, TaskHeader};
use super::remote::{Remote, RemoteMsg};
use super::run_queue::RunQueue;
use super::table::{TaskKey, TaskTable};
use super::timers::TimerQueue;
use super::watchdog::Watchdog;
use crate::stack::{self, StackOwner};

thread_local! {
    pub(super) static SCHEDULER: Cell<*const SchedulerInner> = const { Cell::new(std::ptr::null()) };
}

/// The scheduler running on this thread, if any.
#[inline(always)]
pub(super) fn scheduler_here<'a>() -> Option<&'a SchedulerInner> {
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

/// `SchedulerInner::slow`: an observer is set (the switch sends `Started`
/// and `Parked`).
const SLOW_OBSERVED: u8 = 1;
/// `SchedulerInner::slow`: a watchdog is set (the switch tells it).
const SLOW_WATCHED: u8 = 2;
/// `SchedulerInner::slow`: a wake-up's wake-to-run delay is being timed
/// (`counters.sample`).
pub(super) const SLOW_SAMPLING: u8 = 4;

pub(crate) struct SchedulerInner {
    pub(crate) id: u64,
    pub(super) config: SchedulerConfig,
    pub(super) table: RefCell<TaskTable<dyn ErasedTask>>,
    pub(super) run_queue: RefCell<RunQueue>,
    pub(super) running: Cell<*const TaskHeader>,
    pub(super) timers: RefCell<TimerQueue>,
    /// The clock read of the current turn: task timestamps use it, so no
    /// state change pays for a clock read of its own.
    pub(super) now: Cell<Instant>,
    pub(super) driver: RefCell<Box<dyn Driver>>,
    /// Keys the driver and the timers woke in a turn; the buffer is reused.
    pub(super) woken: RefCell<Vec<TaskKey>>,
    pub(super) driver_name: &'static str,
    pub(super) remote: Arc<Remote>,
    pub(super) inbox: Receiver<RemoteMsg>,
    pub(super) watchdog: Option<Watchdog>,
    pub(super) shutting_down: Cell<bool>,
    /// The next task id this scheduler hands out, and the end of its block.
    pub(super) task_ids: Cell<(u64, u64)>,
    /// `Some` for a deterministic scheduler only (virtual time, seeded
    /// schedule); boxed so that its address stays put for `det::Activate`.
    pub(super) det: Option<Box<DetState>>,
    /// The metrics' counters (`metrics.rs`).
    pub(super) counters: Counters,
    /// `config.observer`, kept here. The switch's own event sites are
    /// reached only through `slow` (`run_task_slow`).
    pub(super) observer: Option<Arc<dyn Observer>>,
    /// What the task switch must do besides switching (`SLOW_*` bits): a
    /// switch tests this one field, and takes `run_task_slow` when any bit
    /// is set. `SLOW_OBSERVED` and `SLOW_WATCHED` never change during a
    /// run; `SLOW_SAMPLING` is set while a wake-to-run sample is in flight.
    pub(super) slow: Cell<u8>,
    /// With an observer, every wake-up takes `woken_slow` (for its event),
    /// and the countdown to the next wake-to-run sample is kept here;
    /// `counters.sample_tick` then stays 0.
    pub(super) observed_tick: Cell<u32>,
    /// When the scheduler was built (uptime, busy time).
    pub(super) started: Instant,
    /// A deadlock was reported already (it cannot end: report it once).
    pub(super) deadlock_reported: Cell<bool>,
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
