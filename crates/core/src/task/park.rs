//! Parking and waking tasks, yielding, and cancellation checkpoints: the
//! API the higher layers (sockets, sync primitives) build on.
//!
//! A parked task sleeps until something calls [`Unparker::unpark`](super::Unparker::unpark) (from any
//! thread) or [`unpark_local`] (on the runtime's thread), or until the
//! deadline of [`park_until`]. Wake-ups are tokens, as with
//! [`std::thread::park`]: an unpark that arrives while the task is not
//! parked makes its next `park` return at once, so a waiter that registers
//! itself and then parks never misses a wake-up. `park` may also return
//! spuriously; callers re-check their condition in a loop.
//!
//! Every parking call is a cancellation *checkpoint*: if the task has been
//! cancelled, it unwinds from there with a private payload that the panic
//! hook does not print. During unwinding a checkpoint never suspends:
//! [`park`] returns [`ParkError::Unwinding`] instead.

use std::sync::Arc;
use std::time::Instant;

use crate::scheduler::{
    park_running, with_running, with_scheduler, yield_running, ParkError, TaskKey, WaitReason,
};

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
    park_running(None, WaitReason::PARK).map(drop)
}

/// Parks the current task until it is unparked or `deadline` passes,
/// whichever comes first: the building block of blocking calls with a
/// timeout (a semaphore's `acquire_timeout`, a channel's `recv_timeout`, a
/// socket's read timeout). Like [`park`] it may return spuriously, so
/// callers re-check their condition and the clock in a loop. `None` parks
/// without a deadline. The deadline's timer is removed however this ends.
///
/// # Errors
///
/// As [`park`]: [`ParkError::OutsideTask`] outside a task,
/// [`ParkError::Unwinding`] during unwinding (neither suspends).
///
/// # Cancellation
///
/// A checkpoint, as [`park`].
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use std::time::{Duration, Instant};
///
/// let deadline = Instant::now() + Duration::from_millis(10);
/// // Nobody unparks us: we wake at the deadline (or earlier, spuriously).
/// while Instant::now() < deadline {
///     fibrio_core::task::park_until(Some(deadline)).unwrap();
/// }
/// # });
/// ```
pub fn park_until(deadline: Option<Instant>) -> Result<(), ParkError> {
    park_running(deadline, WaitReason::PARK).map(drop)
}

/// [`park_until`], recording what the task waits for: `reason` is what a
/// deadlock report or [`TaskRef::wait_reason`](super::TaskRef::wait_reason)
/// shows while the task is parked. Blocking primitives call this rather
/// than [`park`], so that a stuck task says what it is stuck on (a lock, a
/// channel, a read). Recording costs one store of three words when the
/// task actually parks, and nothing when a waiting wake-up token makes it
/// return at once.
///
/// # Errors
///
/// As [`park`]: [`ParkError::OutsideTask`] outside a task,
/// [`ParkError::Unwinding`] during unwinding (neither suspends).
///
/// # Cancellation
///
/// A checkpoint, as [`park`].
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task::{self, Unparker, WaitKind, WaitReason};
///
/// let (me, unparker) = (task::current(), Unparker::current().unwrap());
/// let watcher = task::spawn(move || {
///     let reason = me.wait_reason().unwrap(); // main is parked
///     assert_eq!(reason, WaitReason::new(WaitKind::Event, 42));
///     unparker.unpark();
/// });
/// task::park_for(WaitReason::new(WaitKind::Event, 42), None).unwrap();
/// watcher.join().unwrap();
/// # });
/// ```
pub fn park_for(reason: WaitReason, deadline: Option<Instant>) -> Result<(), ParkError> {
    park_running(deadline, reason).map(drop)
}

/// A schedule point and a cancellation checkpoint, trio's
/// `trio.lowlevel.checkpoint()`: unwinds the current task if it has been
/// cancelled, otherwise lets the other runnable tasks run first, then
/// continues. Inside a task it is [`yield_now`]; outside a task, and while
/// unwinding, it does nothing.
///
/// It yields so that a translation of trio code keeps trio's interleaving.
/// To check for cancellation without yielding (asyncio's and tokio's
/// behaviour at an uncontended lock), use [`checkpoint_if_cancelled`].
///
/// # Cancellation
///
/// This is the checkpoint itself.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task;
///
/// let other = task::spawn(|| ());
/// task::checkpoint(); // `other` runs here
/// assert!(other.is_finished());
/// # });
/// fibrio_core::task::checkpoint(); // outside a task: nothing happens
/// ```
pub fn checkpoint() {
    yield_running();
}

/// Unwinds the current task if it has been cancelled, without yielding:
/// trio's `checkpoint_if_cancelled()`. Every blocking call of fibrio runs it
/// before it tries its operation, so an uncontended lock or a ready socket
/// is a cancellation checkpoint but not a schedule point, except once every
/// [`coop::BUDGET`](crate::coop::BUDGET) operations, when the cooperative
/// budget makes it yield (see [`coop`](crate::coop)). Does nothing outside
/// a task, or while unwinding.
///
/// # Cancellation
///
/// This is the checkpoint itself.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task;
///
/// let other = task::spawn(|| ());
/// task::checkpoint_if_cancelled(); // not cancelled, and `other` waits
/// assert!(!other.is_finished());
/// # });
/// ```
pub fn checkpoint_if_cancelled() {
    with_running(|_, task| task.checkpoint());
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
    with_running(|_, task| task.pending_cancel().is_some()).unwrap_or(false)
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
    if !yield_running() {
        std::thread::yield_now();
    }
}

/// Wakes task `key` of the runtime running on this thread. For drivers and
/// primitives that live on the runtime's thread. Returns false when no
/// runtime runs here. Stale keys are ignored; a key is only meaningful in
/// the runtime that made it (use an [`Unparker`](super::Unparker) to wake a task of another
/// runtime or from another thread).
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
    with_scheduler(|s| s.unpark(key)).is_some()
}

/// The key of the current task, if any.
///
/// # Examples
///
/// ```
/// assert!(fibrio_core::task::current_key().is_none()); // not in a task
/// ```
pub fn current_key() -> Option<TaskKey> {
    with_running(|_, task| task.key())
}

/// The id of the current task, if any.
///
/// Ids are unique within the process; inside a deterministic simulation
/// (`Scheduler::deterministic`) they are per run instead (1 for main, then
/// 2, 3, ... in spawn order), so that a re-run of a seed sees the same ids.
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
#[inline]
pub fn current_id() -> Option<u64> {
    with_running(|_, task| task.id())
}

/// The name of the current task, if it has one.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// let named = fibrio_core::task::Builder::new()
///     .name("worker")
///     .spawn(fibrio_core::task::current_name)
///     .unwrap();
/// assert_eq!(named.join().unwrap().as_deref(), Some("worker"));
/// # });
/// ```
pub fn current_name() -> Option<Arc<str>> {
    with_running(|_, task| task.name().cloned()).flatten()
}
