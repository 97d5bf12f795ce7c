//! [`Handle`] and [`RemoteJoinHandle`]: spawning onto a runtime from any
//! thread, and waiting for the result from any thread.
//!
//! # Invariants
//!
//! * A [`RemoteJoinHandle`]'s slot is filled exactly once: with the value,
//!   the panic, `Cancelled` (by a guard, if the task unwound or never ran),
//!   or `NotSpawned`.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use super::error::{JoinError, ParkError, SpawnError};
use super::remote::{Remote, RemoteMsg, Unparker};
use super::run::{park_running, spawn_here, with_scheduler};
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
#[derive(Clone)]
pub struct Handle {
    remote: Arc<Remote>,
}

impl Handle {
    pub(crate) fn new(remote: Arc<Remote>) -> Handle {
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
    pub fn spawn<T, F>(&self, f: F) -> RemoteJoinHandle<T>
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
            let spawned = spawn_here(None, None, move || {
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
