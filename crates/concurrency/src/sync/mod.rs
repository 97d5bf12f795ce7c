//! Synchronisation primitives that park tasks: [`Mutex`], [`RwLock`],
//! [`Condvar`], [`Event`], [`Notify`], [`WaitGroup`] and [`Barrier`].
//!
//! They mirror `std::sync` (and `asyncio`/`tokio` where std has no
//! counterpart), but a blocked caller parks its fibrio *task*, so the
//! runtime's thread goes on running the other tasks. Outside any task a
//! blocking call blocks the thread, so the same values also synchronise
//! plain threads, and threads with tasks.
//!
//! # Invariants shared by every primitive
//!
//! * **State.** Each primitive keeps its state (flags, counters, the FIFO
//!   queue of waiters) behind one `std::sync::Mutex`, held only for a few
//!   instructions and never across a park. [`Mutex`] adds an atomic word in
//!   front of it so that an uncontended lock and unlock never touch the
//!   queue.
//! * **Checkpoints.** Every call that can block is a cancellation
//!   checkpoint: it calls [`coop::proceed`](fibrio_core::coop::proceed) on
//!   entry, even when it would not have to wait (a checkpoint that yields
//!   only once the task's cooperative budget is spent, before the call
//!   takes anything), and parks through `fibrio_core::task::park_until`,
//!   which unwinds a cancelled task. (A condvar wait, which always waits,
//!   only checks for cancellation on entry.)
//! * **FIFO hand-off.** Waiters queue in arrival order, and are served
//!   from the front (the one exception is [`Notify::notify_last`], which
//!   serves the most recent waiter, as tokio's does). What a waiter waits
//!   for (the lock, a notification, a release) is *handed* into its queue
//!   node by whoever releases it, before the waiter runs again, so a
//!   newcomer cannot barge past the queue.
//! * **Leaving early loses nothing.** A waiter that leaves without
//!   returning success (cancelled, timed out, unwinding) removes its node
//!   in a `Drop` guard. If something had already been handed to it, the
//!   guard passes it on: a lock to the next waiter (or back to free), a
//!   `notify_one` to the next waiter (a `notify_last` to the now most
//!   recent one) or, for [`Notify`], back into the stored permit. A
//!   cancelled lock waiter never ends up owning the lock, and a cancelled
//!   barrier waiter no longer counts as arrived.
//! * **No suspending while unwinding.** A blocking call reached while the
//!   task unwinds (in a `Drop` during cancellation or a panic) returns an
//!   `Unwinding` error instead of parking, unless it can succeed at once.
//!   Do not block in `Drop`.
//! * **Timeouts.** The lock forms with a timeout fail with
//!   [`LockError::Timeout`] (there is no guard to return). The wait forms
//!   report a timeout as a value: `Ok(false)` from
//!   [`Event::wait_timeout`], [`Notify::wait_timeout`] and
//!   [`WaitGroup::wait_timeout`], a [`WaitTimeoutResult`] from
//!   [`Condvar::wait_timeout`], as `std::sync::Condvar` does.
//! * **No poisoning.** Cancellation unwinds through guards routinely, so a
//!   guard dropped during unwinding is a normal release, not a sign of
//!   broken data; the locks never report poisoning.
//! * **Sharing.** The types are `Send + Sync` (the locks when `T` allows,
//!   as in std). [`WaitGroup`] is a cloneable handle; the others are plain
//!   values, shared through an [`Arc`](std::sync::Arc) or a reference, as
//!   with `std::sync`.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use fibrio_concurrency::sync::{Mutex, WaitGroup};
//!
//! fibrio::run(|| {
//!     let total = Arc::new(Mutex::new(0));
//!     let wg = WaitGroup::new();
//!     for i in 1..=4 {
//!         let (total, token) = (total.clone(), wg.guard());
//!         fibrio::spawn(move || {
//!             let _token = token; // calls `done` when the task ends
//!             *total.lock().unwrap() += i;
//!         });
//!     }
//!     wg.wait().unwrap();
//!     assert_eq!(*total.lock().unwrap(), 10);
//! });
//! ```

mod barrier;
mod condvar;
mod error;
mod event;
mod mutex;
mod notify;
mod rwlock;
mod wait_group;

pub use barrier::{Barrier, BarrierStatistics, BarrierWaitResult};
pub use condvar::{Condvar, CondvarStatistics, WaitTimeoutResult};
pub use error::{LockError, TryLockError, WaitError};
pub use event::{Event, EventStatistics};
pub use mutex::{Mutex, MutexGuard, MutexStatistics};
pub use notify::{Notify, NotifyStatistics};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockStatistics, RwLockWriteGuard};
pub use wait_group::{WaitGroup, WaitGroupGuard, WaitGroupStatistics};

/// What a [`Condvar`] or [`Notify`] waiter was handed when woken: a
/// `notify_one` or `notify_last` (which must be passed on, the same way, if
/// the waiter leaves without using it) or a broadcast (which need not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wakeup {
    /// One waiter, the longest-waiting: `notify_one`, [`Condvar::notify`].
    One,
    /// One waiter, the most recent: [`Notify::notify_last`].
    Last,
    /// Every waiter of the moment: `notify_all`, `notify_waiters`.
    All,
}
