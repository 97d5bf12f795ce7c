//! The deterministic loop of [`SchedulerInner`]: `block_on` on virtual
//! time, the loop that never blocks, the virtual turn that moves time to
//! the next event, the deadlock report, group cancellation, per-run task
//! ids, and the watch on tasks that panicked. The data it uses is in
//! `det.rs`.
//!
//! # Invariants
//!
//! * The loop never blocks: when no task is runnable and the inbox is
//!   empty, virtual time jumps straight to the next timer or driver event;
//!   nothing to move to is a deadlock.
//! * Each recorded failure (a deadlock, a limit, an unjoined panic) stops
//!   the loop that was running when it was recorded; the shutdown that
//!   follows is a second loop, which a second failure stops in turn.
//! * A production scheduler enters this file only behind a test of `det`
//!   (`block_on`, `run_until`, `next_task_id`, `finish`), and the calls on
//!   its hot paths are out of line (`#[cold]`).

use std::rc::Rc;
use std::time::Instant;

use super::clock;
use super::det::{self, tag, DeadlockReport, DetFailure, DetState, TaskWait};
use super::error::SchedulerError;
use super::inner::{with_scheduler, SchedulerInner};
use super::record::{ErasedTask, TaskHeader};
use super::state::TaskState;
use super::table::TaskKey;

impl SchedulerInner {
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

    /// `run_until` of a deterministic scheduler: never blocks; when no task
    /// is runnable, virtual time jumps to the next event (`turn_virtual`).
    /// Counts and traces every task run, and stops early when a failure is
    /// recorded meanwhile (a deadlock, a limit, an unjoined panic): the
    /// shutdown that follows is a second `run_until`, which a second
    /// failure stops in turn.
    #[cold]
    #[inline(never)]
    pub(super) fn run_until_deterministic(&self, det: &DetState, done: &dyn Fn() -> bool) {
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

    /// The next per-run id of a deterministic run, its spawn traced.
    #[cold]
    #[inline(never)]
    pub(super) fn next_deterministic_task_id(&self, det: &DetState) -> u64 {
        let id = det.next_id();
        let parent = self.running().map_or(0, TaskHeader::id);
        det.trace(&[tag::SPAWN, parent, id]);
        id
    }
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

/// In a deterministic run, keeps the record of a task that panicked (see
/// `DetState::check_unjoined`). Out of line: production never calls it.
#[cold]
#[inline(never)]
pub(super) fn watch_if_failed(
    det: &DetState,
    state: TaskState,
    record: Option<Rc<dyn ErasedTask>>,
) {
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
