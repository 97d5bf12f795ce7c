//! Waking and cancelling on [`SchedulerInner`]: `unpark` (the one path
//! every wake-up ends in), its slow part (the observer's `Woken` event and
//! the wake-to-run sample), cancellation requests, and [`Unparker`]'s
//! waking methods with their local fast path.
//!
//! # Invariants
//!
//! * Each wake-up has one path: whoever wakes a task ends in `unpark`,
//!   which queues the task if it is parked or leaves it a token; stale
//!   keys are ignored.
//! * One wake-up in `SAMPLE_EVERY` is timed, one sample in flight at a
//!   time; with an observer every wake-up takes `woken_slow`.
//! * A [`TaskKey`] means nothing outside its runtime: `cancel_task` and
//!   `Unparker`'s delivery compare runtime ids, so a key of another
//!   runtime never reaches this one's table.

use std::time::Instant;

use super::inner::{with_running, with_scheduler, SchedulerInner, SLOW_SAMPLING};
use super::metrics::SAMPLE_EVERY;
use super::observer::{TaskEvent, TaskEventKind};
use super::record::TaskHeader;
use super::remote::{RemoteMsg, Unparker};
use super::table::TaskKey;

impl SchedulerInner {
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
    pub(super) fn record_sample(&self, queued_at: Instant) {
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
