//! Parking and yielding the running task of [`SchedulerInner`]: the
//! common park, the park with a timer (its own deadline or a scope's),
//! yielding, and the free functions the task API calls.
//!
//! # Invariants
//!
//! * Only the running task parks or yields itself (the callers' contract
//!   for `suspend`).
//! * Every deadline of a park is one timer, at the earlier of its own and
//!   its scopes', armed by the parking task and removed when it runs
//!   again.
//! * A cancellation's wake-up (a scope deadline that fired counts as one)
//!   is acted on by a checkpoint in `park_running_task`, once
//!   `park_with_timer` has returned, so that frame is not one more that
//!   the cancellation's unwind walks.

use std::time::Instant;

use super::error::ParkError;
use super::inner::{scheduler_here, with_running, SchedulerInner};
use super::record::TaskHeader;
use super::state::WaitReason;

impl SchedulerInner {
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
