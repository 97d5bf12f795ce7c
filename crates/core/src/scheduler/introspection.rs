//! What [`SchedulerInner`] tells about itself: the task dump, the
//! metrics, the health, and the deadlock check of a production scheduler.
//!
//! # Invariants
//!
//! * No borrow of the table is held across a switch: a dump with stacks
//!   clones the records first, since capturing resumes tasks.
//! * A deadlock is reported only when it is certain (every task parked on
//!   a join or a lock that only another parked task can release), once.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::clock;
use super::config::DeadlockAction;
use super::dump::{TaskDump, TaskInfo, TaskStatus};
use super::inner::SchedulerInner;
use super::metrics::{self, Health, RuntimeMetrics};
use super::record::ErasedTask;
use super::state::{TaskState, WaitKind};
use crate::stack;

impl SchedulerInner {
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
    pub(super) fn check_deadlock(&self) {
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
}

#[cfg(test)]
mod tests {
    //! Dumps with stacks: capturing a suspended task's backtrace runs none
    //! of its code.

    use std::sync::Arc;

    use crate::scheduler::{
        dump_with_stacks, NotifyDriver, Observer, Scheduler, SchedulerConfig, TaskStatus,
    };
    use crate::task;

    fn scheduler(observer: Option<Arc<dyn Observer>>) -> Scheduler {
        let config = SchedulerConfig {
            observer,
            ..SchedulerConfig::default()
        };
        Scheduler::new(config, Box::new(NotifyDriver::new()))
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
