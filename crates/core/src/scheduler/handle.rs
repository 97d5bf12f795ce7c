//! [`Handle`] and [`RemoteJoinHandle`]: spawning onto a runtime from any
//! thread, and waiting for the result from any thread; asking a runtime
//! for a dump, its metrics or its health from any thread.
//!
//! # Invariants
//!
//! * A [`RemoteJoinHandle`]'s slot is filled exactly once: with the value,
//!   the panic, `Cancelled` (by a guard, if the task unwound or never ran),
//!   or `NotSpawned`.
//! * A spawn through [`Handle::try_spawn`] is queued exactly as one through
//!   [`Handle::spawn`]; only the admission check before it differs.
//! * Every `Handle` is counted in its runtime's `Remote` from creation to
//!   drop (the deadlock check needs to know none is alive).
//! * A query (dump, metrics, health) runs on the runtime's thread: at once
//!   when the caller is on it, else as a job through the inbox, answered
//!   through a channel of its own; a caller that stops waiting (its
//!   deadline) drops the receiver, and the late answer is dropped.

use std::cell::Cell;
use std::panic::Location;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;

use super::dump::{DumpError, DumpOptions, TaskDump};
use super::error::{JoinError, ParkError, SpawnError, TrySpawnError};
use super::inner::{with_scheduler, SchedulerInner};
use super::metrics::{Health, RuntimeMetrics};
use super::park::park_running;
use super::remote::{Remote, RemoteMsg, Unparker};
use super::spawn::spawn_here;
use super::state::{WaitKind, WaitReason};
use crate::unwind::is_cancellation;

/// A `Send + Clone` handle to a runtime: spawns `Send` closures onto it from
/// any thread, and wakes it if it is blocked in the poller.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::scheduler::Handle;
///
/// let handle = Handle::current();
/// let from_thread = std::thread::spawn(move || handle.spawn(|| 40 + 2));
/// let remote = from_thread.join().unwrap();
/// assert_eq!(remote.join().unwrap(), 42);
/// # });
/// ```
pub struct Handle {
    remote: Arc<Remote>,
}

impl Clone for Handle {
    fn clone(&self) -> Handle {
        Handle::new(self.remote.clone())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.remote.remove_handle();
    }
}

impl Handle {
    pub(crate) fn new(remote: Arc<Remote>) -> Handle {
        remote.add_handle();
        Handle { remote }
    }

    /// The handle of the runtime running on this thread.
    ///
    /// # Panics
    ///
    /// Outside a runtime; use [`try_current`](Handle::try_current) to check.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::scheduler::Handle;
    ///
    /// let remote = Handle::current().spawn(|| "spawned");
    /// assert_eq!(remote.join().unwrap(), "spawned");
    /// # });
    /// ```
    pub fn current() -> Handle {
        match Handle::try_current() {
            Some(handle) => handle,
            None => panic!("Handle::current() called outside a fibrio runtime: call it inside fibrio::run, or keep a Handle from there"),
        }
    }

    /// The handle of the runtime running on this thread, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(fibrio_core::scheduler::Handle::try_current().is_none());
    /// ```
    pub fn try_current() -> Option<Handle> {
        with_scheduler(|s| Handle::new(s.remote()))
    }

    /// Spawns `f` onto the runtime, from any thread. The task starts once
    /// the runtime reads its inbox (at once if it is idle).
    ///
    /// # Examples
    ///
    /// See [`Handle`].
    ///
    /// The inbox is not bounded: a thread spawning faster than the runtime
    /// starts tasks queues closures without limit (the runtime takes them
    /// in batches, so its timers and tasks keep their turn meanwhile). Use
    /// [`try_spawn`](Handle::try_spawn) for back-pressure.
    #[track_caller]
    pub fn spawn<T, F>(&self, f: F) -> RemoteJoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.queue_spawn(f, Location::caller())
    }

    /// Spawns `f` onto the runtime, from any thread, unless the runtime is
    /// full: back-pressure for remote spawners.
    ///
    /// It refuses when the runtime already has
    /// [`remote_spawn_capacity`](super::SchedulerConfig::remote_spawn_capacity)
    /// spawns from other threads waiting to start, or when its live tasks
    /// (as of its last inbox read) plus those waiting reach `max_tasks`. The
    /// check is approximate when several threads spawn at once; the runtime
    /// still enforces `max_tasks` exactly, and a spawn it refuses then is
    /// reported by [`RemoteJoinHandle::join`] as
    /// [`JoinError::NotSpawned`]. A runtime that has ended also reports
    /// through `join` ([`SpawnError::ShuttingDown`]).
    ///
    /// # Errors
    ///
    /// [`TrySpawnError`], holding the closure and
    /// [`SpawnError::InboxFull`] or [`SpawnError::TooManyTasks`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::scheduler::Handle;
    ///
    /// let handle = Handle::current();
    /// let remote = std::thread::spawn(move || {
    ///     let mut job = || 6 * 7;
    ///     loop {
    ///         match handle.try_spawn(job) {
    ///             Ok(remote) => return remote,
    ///             // Full: wait a little, then offer the same closure again.
    ///             Err(refused) => {
    ///                 job = refused.into_closure();
    ///                 std::thread::sleep(std::time::Duration::from_millis(1));
    ///             }
    ///         }
    ///     }
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(remote.join().unwrap(), 42);
    /// # });
    /// ```
    #[track_caller]
    pub fn try_spawn<T, F>(&self, f: F) -> Result<RemoteJoinHandle<T>, TrySpawnError<F>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let remote = &self.remote;
        let queued = remote.queued_spawns();
        if queued >= remote.spawn_capacity {
            let capacity = remote.spawn_capacity;
            return Err(TrySpawnError::new(SpawnError::InboxFull { capacity }, f));
        }
        if let Some(limit) = remote.max_tasks {
            if remote.alive().saturating_add(queued) >= limit {
                return Err(TrySpawnError::new(SpawnError::TooManyTasks { limit }, f));
            }
        }
        Ok(self.queue_spawn(f, Location::caller()))
    }

    /// Queues the spawn of `f` as a job for the runtime's thread.
    fn queue_spawn<T, F>(&self, f: F, location: &'static Location<'static>) -> RemoteJoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState {
                result: None,
                waiter: None,
            }),
        });
        let for_task = slot.clone();
        let job = Box::new(move || {
            // Armed once the task exists: a refused spawn drops the closure
            // (and this guard) first, and must be reported as refused.
            let armed = Rc::new(Cell::new(false));
            let fill = FillOnDrop {
                slot: Some(for_task.clone()),
                armed: armed.clone(),
            };
            let spawned = spawn_here(None, None, Some(location), move || {
                let mut fill = fill;
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                    Ok(value) => fill.fill(Ok(value)),
                    Err(payload) if is_cancellation(&*payload) => {
                        fill.fill(Err(JoinError::Cancelled));
                        std::panic::resume_unwind(payload);
                    }
                    Err(payload) => fill.fill(Err(JoinError::Panicked(payload))),
                }
            });
            match spawned {
                Ok(_) => armed.set(true),
                Err(err) => for_task.fill(Err(JoinError::NotSpawned(err))),
            }
        });
        if !self.remote.send(RemoteMsg::Spawn(job)) {
            slot.fill(Err(JoinError::NotSpawned(SpawnError::ShuttingDown)));
        }
        RemoteJoinHandle { slot }
    }

    /// Wakes the runtime if it is blocked in its driver.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
    ///
    /// let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    /// let handle = scheduler.handle();
    /// // From any thread; harmless when the runtime is not blocked.
    /// std::thread::spawn(move || handle.wake()).join().unwrap();
    /// assert_eq!(scheduler.block_on(|| 1).unwrap(), 1);
    /// ```
    pub fn wake(&self) {
        self.remote.notifier.notify();
    }

    /// A dump of every live task of the runtime, without stacks, from any
    /// thread; see [`TaskDump`] and [`dump_with`](Handle::dump_with).
    ///
    /// # Errors
    ///
    /// [`DumpError::Unresponsive`] if the runtime does not answer within
    /// one second (a task is blocking its thread: the error names it and
    /// how long it has run), [`DumpError::Gone`] if it has ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
    ///
    /// let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    /// let handle = scheduler.handle();
    /// let tasks = scheduler
    ///     .block_on(move || {
    ///         let from = std::thread::spawn(move || handle.dump().unwrap());
    ///         while !from.is_finished() {
    ///             fibrio_core::task::yield_now(); // the dump runs between tasks
    ///         }
    ///         from.join().unwrap().tasks.len()
    ///     })
    ///     .unwrap();
    /// assert_eq!(tasks, 1); // main
    /// ```
    pub fn dump(&self) -> Result<TaskDump, DumpError> {
        self.dump_with(DumpOptions::new())
    }

    /// A dump taken as `options` say: with stacks or not, and how long to
    /// wait for the runtime's answer.
    ///
    /// # Errors
    ///
    /// As [`dump`](Handle::dump), with `options`' deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::scheduler::{DumpOptions, Handle};
    ///
    /// // On the runtime's own thread the dump is taken at once.
    /// let dump = Handle::current().dump_with(DumpOptions::new().stacks(true)).unwrap();
    /// assert!(dump.tasks[0].backtrace.is_some());
    /// # });
    /// ```
    pub fn dump_with(&self, options: DumpOptions) -> Result<TaskDump, DumpError> {
        let stacks = options.with_stacks();
        self.query(options.wait_limit(), move |s| s.dump(stacks))
    }

    /// The runtime's metrics, from any thread; see [`RuntimeMetrics`].
    ///
    /// # Errors
    ///
    /// As [`dump`](Handle::dump).
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let metrics = fibrio_core::scheduler::Handle::current().metrics().unwrap();
    /// assert_eq!(metrics.tasks_alive, 1);
    /// # });
    /// ```
    pub fn metrics(&self) -> Result<RuntimeMetrics, DumpError> {
        self.query(Duration::from_secs(1), SchedulerInner::metrics)
    }

    /// The runtime's health, from any thread; see [`Health`].
    ///
    /// # Errors
    ///
    /// As [`dump`](Handle::dump): a runtime that does not answer within
    /// one second is not healthy, and the error says which task blocks it.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let health = fibrio_core::scheduler::Handle::current().health().unwrap();
    /// assert_eq!(health.tasks_alive, 1);
    /// # });
    /// ```
    pub fn health(&self) -> Result<Health, DumpError> {
        self.query(Duration::from_secs(1), SchedulerInner::health)
    }

    /// Runs `f` on the runtime's thread and returns its value, waiting at
    /// most `deadline` when called from another thread.
    fn query<R: Send + 'static>(
        &self,
        deadline: Duration,
        f: impl FnOnce(&SchedulerInner) -> R + Send + 'static,
    ) -> Result<R, DumpError> {
        let id = self.remote.id;
        let mut f = Some(f);
        let here = with_scheduler(|s| {
            if s.id == id {
                f.take().map(|f| f(s))
            } else {
                None
            }
        })
        .flatten();
        if let Some(value) = here {
            return Ok(value);
        }
        let Some(f) = f else {
            return Err(DumpError::Gone);
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        let job = Box::new(move || {
            if let Some(value) = with_scheduler(f) {
                let _ = tx.send(value);
            }
        });
        if !self.remote.send(RemoteMsg::Query(job)) {
            return Err(DumpError::Gone);
        }
        let before = self.remote.running();
        match rx.recv_timeout(deadline) {
            Ok(value) => Ok(value),
            Err(RecvTimeoutError::Disconnected) => Err(DumpError::Gone),
            Err(RecvTimeoutError::Timeout) => {
                let (task, since) = self.remote.running();
                let now = self.remote.origin.elapsed();
                // The same task, and no driver turn since: it has run
                // all along, since that turn at least.
                let stuck = task != 0 && (task, since) == before;
                Err(DumpError::Unresponsive {
                    task: stuck.then_some(task),
                    running_for: if stuck {
                        now.saturating_sub(since).max(deadline)
                    } else {
                        deadline
                    },
                    waited: deadline,
                })
            }
        }
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("runtime", &self.remote.id)
            .finish()
    }
}

enum Waiter {
    Thread(std::thread::Thread),
    Task(Unparker),
}

struct SlotState<T> {
    result: Option<Result<T, JoinError>>,
    waiter: Option<Waiter>,
}

struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

impl<T> Slot<T> {
    fn fill(&self, result: Result<T, JoinError>) {
        let waiter = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.result.is_some() {
                return;
            }
            state.result = Some(result);
            state.waiter.take()
        };
        match waiter {
            Some(Waiter::Thread(thread)) => thread.unpark(),
            Some(Waiter::Task(unparker)) => unparker.unpark(),
            None => {}
        }
    }
}

/// Fills the slot with `Cancelled` if the task, once spawned (`armed`),
/// never filled it (it was cancelled before running, or unwound).
struct FillOnDrop<T> {
    slot: Option<Arc<Slot<T>>>,
    armed: Rc<Cell<bool>>,
}

impl<T> FillOnDrop<T> {
    fn fill(&mut self, result: Result<T, JoinError>) {
        if let Some(slot) = self.slot.take() {
            slot.fill(result);
        }
    }
}

impl<T> Drop for FillOnDrop<T> {
    fn drop(&mut self) {
        if self.armed.get() {
            self.fill(Err(JoinError::Cancelled));
        }
    }
}

/// Waits for a task spawned through a [`Handle`]. It is `Send`, and its
/// `join` works both on plain threads (the thread blocks) and inside fibrio
/// tasks (the task parks).
///
/// # Examples
///
/// See [`Handle`].
pub struct RemoteJoinHandle<T> {
    slot: Arc<Slot<T>>,
}

impl<T> RemoteJoinHandle<T> {
    /// True once the result is available.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// let remote = fibrio_core::scheduler::Handle::current().spawn(|| 6 * 7);
    /// while !remote.is_finished() {
    ///     fibrio_core::task::yield_now(); // lets the runtime start and run it
    /// }
    /// assert_eq!(remote.join().unwrap(), 42);
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.slot
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .result
            .is_some()
    }

    /// Waits for the task's result.
    ///
    /// # Errors
    ///
    /// [`JoinError::Cancelled`], [`JoinError::Panicked`] or
    /// [`JoinError::NotSpawned`] as the task ended; [`JoinError::Unwinding`]
    /// or [`JoinError::OutsideTask`] (on a runtime's own loop) if this caller
    /// cannot wait.
    ///
    /// # Cancellation
    ///
    /// Inside a task, a checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
    ///
    /// let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    /// let remote = scheduler.handle().spawn(|| 6 * 7);
    /// // Inside a task, `join` parks the task; on a plain thread it blocks.
    /// let value = scheduler.block_on(move || remote.join()).unwrap();
    /// assert_eq!(value.unwrap(), 42);
    /// ```
    pub fn join(self) -> Result<T, JoinError> {
        loop {
            let in_task = Unparker::current();
            let on_runtime_loop = in_task.is_none() && with_scheduler(|_| ()).is_some();
            {
                let mut state = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(result) = state.result.take() {
                    return result;
                }
                if on_runtime_loop {
                    return Err(JoinError::OutsideTask);
                }
                state.waiter = Some(match &in_task {
                    Some(unparker) => Waiter::Task(unparker.clone()),
                    None => Waiter::Thread(std::thread::current()),
                });
            }
            if in_task.is_some() {
                // The task runs on another runtime: its id is not known here.
                let reason = WaitReason::new(WaitKind::Join, 0);
                if let Err(ParkError::Unwinding) = park_running(None, reason) {
                    return Err(JoinError::Unwinding);
                }
            } else {
                std::thread::park();
            }
        }
    }
}

impl<T> std::fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// The dump of the runtime running on this thread; see [`TaskDump`]. The
/// calling task appears as `Running`.
///
/// # Panics
///
/// Outside a runtime.
///
/// # Examples
///
/// See [`TaskDump`].
pub fn dump() -> TaskDump {
    with_scheduler(|scheduler| scheduler.dump(false))
        .expect("fibrio::dump() called outside a fibrio runtime")
}

/// [`dump`] with every task's backtrace (see [`TaskInfo::backtrace`](super::TaskInfo::backtrace) for
/// the cost). The calling task's own backtrace is taken here.
///
/// # Panics
///
/// Outside a runtime.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// let dump = fibrio_core::scheduler::dump_with_stacks();
/// assert!(dump.tasks[0].backtrace.is_some());
/// # });
/// ```
pub fn dump_with_stacks() -> TaskDump {
    with_scheduler(|scheduler| scheduler.dump(true))
        .expect("fibrio::dump_with_stacks() called outside a fibrio runtime")
}

/// The metrics of the runtime running on this thread.
///
/// # Panics
///
/// Outside a runtime.
///
/// # Examples
///
/// See [`RuntimeMetrics`].
pub fn metrics() -> RuntimeMetrics {
    with_scheduler(|scheduler| scheduler.metrics())
        .expect("fibrio::metrics() called outside a fibrio runtime")
}
