//! The loop of [`SchedulerInner`]: `block_on`, the loop that runs tasks
//! until a condition holds, the driver's turn, the inbox, the task switch
//! (`run_task`) and the end of a task (`finish`). The fields are in
//! `inner.rs`; spawning, waking, parking, the deterministic loop and
//! introspection are in their own files (the parent module's file map).
//! See the parent module for the invariants; this file adds two about the
//! main task, which may borrow from `block_on`'s caller (its slot and the
//! guard are in `main_slot.rs`):
//!
//! * Main's task record holds nothing borrowed: main's closure and its
//!   value live in a `MainSlot` on `block_on`'s frame, and the task's
//!   closure holds only a raw pointer to it and a function pointer.
//! * Main's frames never run once `block_on` has been left: it returns
//!   only after main ended, and on a panic out of it `FinishMain` unwinds
//!   (or, at thread exit, leaks) main's stack before the slot and the
//!   caller's borrows go.

use std::panic;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::clock;
use super::config::DeadlockAction;
use super::det::DetFailure;
use super::det_loop::watch_if_failed;
use super::error::{JoinError, SchedulerError};
use super::inner::{with_scheduler, SchedulerInner, SCHEDULER};
use super::main_slot::{thunk_of, FinishMain, MainSlot};
use super::metrics::Counters;
use super::observer::{Observer, TaskEvent, TaskEventKind};
use super::prefetch;
use super::record::ErasedTask;
use super::remote::{RemoteMsg, INBOX_BACKLOG, INBOX_BATCH};
use super::state::TaskState;
use super::table::TaskKey;

impl SchedulerInner {
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

    /// `block_on`, with main's panic handed back rather than resumed.
    pub(super) fn block_on_caught<'a, T: 'a>(
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
    pub(super) fn drain_inbox(&self) -> bool {
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
    pub(super) fn run_task(&self, key: TaskKey) {
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
    pub(super) fn finish(&self, key: TaskKey, task: &dyn ErasedTask) {
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

#[cfg(test)]
mod tests {
    //! The switch's slow path (`slow`): what it gathers in one flag must
    //! behave as when each feature tested its own.

    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use crate::scheduler::{
        metrics, NotifyDriver, Observer, Scheduler, SchedulerConfig, TaskEvent, TaskEventKind,
        WaitKind,
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
}
