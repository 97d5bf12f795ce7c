//! Parking and waking tasks, yielding, and cancellation checkpoints: the
//! API the higher layers (timers, sockets, sync primitives) build on.
//!
//! A parked task sleeps until something calls [`Unparker::unpark`] (from any
//! thread) or [`unpark_local`] (on the runtime's thread). Wake-ups are
//! tokens, as with [`std::thread::park`]: an unpark that arrives while the
//! task is not parked makes its next `park` return at once, so a waiter
//! that registers itself and then parks never misses a wake-up. `park` may
//! also return spuriously; callers re-check their condition in a loop.
//!
//! Every parking call is a cancellation *checkpoint*: if the task has been
//! cancelled, it unwinds from there with a private payload that the panic
//! hook does not print. During unwinding a checkpoint never suspends:
//! [`park`] returns [`ParkError::Unwinding`] instead.

use std::sync::Arc;
use std::time::Instant;

use super::scope;
use crate::scheduler::{suspend_task, with_current, Remote, RemoteMsg, TaskKey};

/// The private panic payload that unwinds a cancelled task: `scope` names
/// the cancel scope whose `run` catches it, or is `None` when the task
/// itself was cancelled.
pub(crate) struct Cancelled {
    pub(crate) scope: Option<u64>,
}

/// True if `payload` is the one fibrio unwinds cancelled tasks with. Code
/// that catches unwinding (`catch_unwind`) should resume it with
/// [`std::panic::resume_unwind`] rather than swallow it; swallowing does
/// not help anyway, since the next checkpoint unwinds again.
///
/// # Examples
///
/// ```
/// let payload: Box<dyn std::any::Any + Send> = Box::new("a real panic");
/// assert!(!fibrio_core::task::is_cancellation(&*payload));
/// ```
pub fn is_cancellation(payload: &(dyn std::any::Any + Send)) -> bool {
    payload.is::<Cancelled>()
}

/// Why [`park`] returned without parking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParkError {
    /// Not called from inside a fibrio task.
    #[error("park called outside a fibrio task")]
    OutsideTask,
    /// The thread is unwinding; suspending now would leak the panic state to
    /// other tasks, so the call returns at once.
    #[error("cannot park while the task is unwinding; do not block in Drop")]
    Unwinding,
}

/// Parks the current task until it is unparked.
///
/// # Errors
///
/// [`ParkError::OutsideTask`] outside a task, [`ParkError::Unwinding`]
/// during unwinding. Neither suspends.
///
/// # Cancellation
///
/// A checkpoint: a cancelled task unwinds from here instead of parking,
/// and a parked task that is cancelled (or whose scope is, or whose scope's
/// deadline passes) wakes and unwinds from here. But if something else
/// woke it first in the same turn (its timer fired, its data arrived),
/// `park` returns normally, so the result it waited for is not thrown
/// away; the next checkpoint unwinds. (trio's rule: an operation that
/// completed is not cancelled after the fact.)
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task::{self, Unparker};
///
/// let me = Unparker::current().unwrap();
/// let waker = task::spawn(move || me.unpark());
/// task::park().unwrap(); // returns once `waker` has run
/// assert!(waker.is_finished());
/// # });
/// ```
pub fn park() -> Result<(), ParkError> {
    let result = with_current(|scheduler| {
        let Some(header) = scheduler.current() else {
            return Err(ParkError::OutsideTask);
        };
        if std::thread::panicking() {
            return Err(ParkError::Unwinding);
        }
        checkpoint_task(header);
        if header.notified.replace(false) {
            return Ok(());
        }
        // Inside scopes with a deadline, the driver wakes us at the earliest
        // one, so that the checkpoint below sees it.
        let timer = if header.scope_depth.get() > 0 {
            scope::visible_deadline(header).and_then(|d| scheduler.add_driver_timer(d, header.key))
        } else {
            None
        };
        header.parked.set(true);
        suspend_task(header);
        // Running again: the header is still this task's. Unwind if a
        // cancellation (or a scope's deadline) is what woke us; any other
        // wake-up returns normally, and the caller's next checkpoint sees
        // a cancellation that arrived meanwhile.
        let mut woken_by_cancel = header.cancel_wake.replace(false);
        if let Some(timer) = timer {
            scheduler.cancel_driver_timer(timer);
            woken_by_cancel |= Instant::now() >= timer.deadline;
        }
        if woken_by_cancel {
            checkpoint_task(header);
        }
        Ok(())
    });
    result.unwrap_or(Err(ParkError::OutsideTask))
}

/// Unwinds the current task if it has been cancelled. Does nothing outside
/// a task, or while unwinding.
///
/// # Cancellation
///
/// This is the checkpoint itself.
///
/// # Examples
///
/// ```
/// fibrio_core::task::checkpoint(); // outside a task: nothing happens
/// ```
pub fn checkpoint() {
    with_current(|scheduler| {
        if let Some(header) = scheduler.current() {
            checkpoint_task(header);
        }
    });
}

#[inline]
fn checkpoint_task(header: &crate::task::raw::TaskHeader) {
    if header.scope_depth.get() == 0 {
        if header.cancel_requested.get() && !std::thread::panicking() {
            std::panic::resume_unwind(Box::new(Cancelled { scope: None }));
        }
        return;
    }
    if let Some(scope) = scope::pending_cancel(header) {
        if !std::thread::panicking() {
            std::panic::resume_unwind(Box::new(Cancelled { scope }));
        }
    }
}

/// True if the current task has been asked to cancel, directly or through
/// a [`CancelScope`](super::CancelScope) around the running code (shields
/// respected): the next checkpoint would unwind.
///
/// # Examples
///
/// ```
/// assert!(!fibrio_core::task::is_cancelled()); // not in a task
/// ```
pub fn is_cancelled() -> bool {
    with_current(|s| s.current().map(|h| scope::pending_cancel(h).is_some()))
        .flatten()
        .unwrap_or(false)
}

/// Lets the other runnable tasks run, then continues. Outside a task it
/// yields the thread ([`std::thread::yield_now`]).
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// let other = fibrio_core::task::spawn(|| ());
/// fibrio_core::task::yield_now();
/// assert!(other.is_finished());
/// # });
/// ```
pub fn yield_now() {
    let in_task = with_current(|scheduler| {
        let Some(header) = scheduler.current() else {
            return false;
        };
        if std::thread::panicking() {
            return true;
        }
        checkpoint_task(header);
        scheduler.yield_current(header);
        checkpoint_task(header);
        true
    })
    .unwrap_or(false);
    if !in_task {
        std::thread::yield_now();
    }
}

/// Wakes task `key` of the runtime running on this thread. For drivers and
/// primitives that live on the runtime's thread. Returns false when no
/// runtime runs here. Stale keys are ignored.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task;
///
/// let me = task::current_key().unwrap();
/// assert!(task::unpark_local(me)); // leaves a token ...
/// task::park().unwrap(); // ... so this returns at once
/// # });
/// ```
pub fn unpark_local(key: TaskKey) -> bool {
    with_current(|s| s.unpark(key)).is_some()
}

/// The key of the current task, if any.
pub fn current_key() -> Option<TaskKey> {
    with_current(|s| s.current().map(|h| h.key)).flatten()
}

/// The id of the current task, if any.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// let handle = fibrio_core::task::spawn(|| fibrio_core::task::current_id());
/// let id = handle.id();
/// assert_eq!(handle.join().unwrap(), Some(id));
/// # });
/// ```
pub fn current_id() -> Option<u64> {
    with_current(|s| s.current().map(|h| h.id)).flatten()
}

/// The name of the current task, if it has one.
pub fn current_name() -> Option<Arc<str>> {
    with_current(|s| s.current().and_then(|h| h.name.clone())).flatten()
}

/// Wakes one task, from any thread. Cloneable and `Send`.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task::{self, Unparker};
///
/// let me = Unparker::current().unwrap();
/// std::thread::spawn(move || me.unpark()); // another OS thread
/// task::park().unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct Unparker {
    key: TaskKey,
    remote: Arc<Remote>,
}

impl Unparker {
    pub(crate) fn new(key: TaskKey, remote: Arc<Remote>) -> Unparker {
        Unparker { key, remote }
    }

    /// Wakes the task if it is parked, as a cancellation does: its `park`
    /// then checks for cancellation. From any thread.
    pub(crate) fn wake_for_cancel(&self) {
        let local = with_current(|s| {
            if s.id == self.remote.id {
                s.wake_for_cancel(self.key);
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
        if !local {
            self.remote.send(RemoteMsg::CancelWake(self.key));
        }
    }

    /// An unparker for the current task, or `None` outside a task.
    pub fn current() -> Option<Unparker> {
        with_current(|s| {
            s.current().map(|h| Unparker {
                key: h.key,
                remote: s.remote(),
            })
        })
        .flatten()
    }

    /// The task this unparker wakes.
    pub fn key(&self) -> TaskKey {
        self.key
    }

    /// Wakes the task: queues it if it is parked, or makes its next `park`
    /// return at once. Waking a task that has ended does nothing.
    pub fn unpark(&self) {
        let local = with_current(|s| {
            if s.id == self.remote.id {
                s.unpark(self.key);
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
        if !local {
            self.remote.send(RemoteMsg::Unpark(self.key));
        }
    }
}

impl std::fmt::Debug for Unparker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unparker")
            .field("key", &self.key)
            .field("runtime", &self.remote.id)
            .finish()
    }
}
