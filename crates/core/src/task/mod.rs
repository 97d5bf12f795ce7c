//! Tasks: fibers owned by the scheduler.
//!
//! [`spawn`] (or [`Builder::spawn`]) queues a closure to run on its own
//! stack; the spawner keeps running until it parks or yields. The returned
//! [`JoinHandle`] waits for the result ([`JoinHandle::join`]), cancels
//! ([`JoinHandle::cancel`]), and reports [`TaskState`] and [`TaskStats`].
//!
//! # Life of a task
//!
//! `Pending` (queued) -> `Running` (first switched into; parked time counts
//! as running) -> `Completed`, `Failed` (it panicked; the payload goes to
//! `join`) or `Cancelled` (it unwound at a checkpoint, or never ran).
//!
//! # Cancellation
//!
//! Cancellation is cooperative and level-triggered. [`JoinHandle::cancel`]
//! marks the task; its next checkpoint (every parking call: `park`,
//! `yield_now`, `join`, and in higher layers `sleep`, socket I/O, locks)
//! unwinds its stack with a private payload, so every `Drop` runs. Catching
//! that payload with `catch_unwind` does not stop the cancellation: the next
//! checkpoint unwinds again. A checkpoint reached while unwinding never
//! suspends. Cancellation needs `panic = "unwind"`.
//!
//! [`CancelScope`] cancels a region of a task rather than all of it, with
//! an optional deadline, trio style; [`move_on_after`], [`fail_after`],
//! [`move_on_at`], [`fail_at`] and the `_shielded` forms are the short
//! forms, and [`current_effective_deadline`] tells the running code when
//! it will be cancelled. Scopes nest per task, can be shielded (and the
//! shield raised or lowered while they run), and tasks spawned inside a
//! scope belong to it. [`Builder::spawn_in`] spawns into the scopes of a
//! captured [`ScopeContext`] instead of the spawner's (trio's
//! `nursery.start_soon`: the task belongs to the nursery's scopes).
//!
//! [`checkpoint`] is a cancellation checkpoint and a schedule point, as
//! trio's is; [`checkpoint_if_cancelled`] only checks. [`current`] is the
//! running task, as a [`TaskRef`] it can cancel itself through or hand out.
//!
//! # What a parked task waits for
//!
//! Every parking call records a [`WaitReason`] in the task before it
//! suspends ([`park_for`]; `park` records [`WaitKind::Park`], `sleep`
//! `Sleep`, joins `Join`/`JoinAny`, and the higher layers their locks,
//! channels and I/O). [`TaskRef::wait_reason`] reads it while the task is
//! parked, and a deterministic run's deadlock report prints it per task.

mod builder;
#[doc(hidden)]
pub mod det;
mod join;
mod park;
mod scope;
mod time;

pub use builder::{spawn, Builder};
pub use join::{current, try_current, wait_any, JoinHandle, TaskRef};
pub use park::{
    checkpoint, checkpoint_if_cancelled, current_id, current_key, current_name, is_cancelled, park,
    park_for, park_until, unpark_local, yield_now,
};
pub use scope::{
    current_effective_deadline, fail_after, fail_after_shielded, fail_at, move_on_after,
    move_on_after_shielded, move_on_at, CancelScope, Elapsed, ScopeContext,
};
pub use time::{pending_timers, sleep, sleep_until};

pub use crate::scheduler::{
    Handle, JoinError, ParkError, RemoteJoinHandle, SpawnError, TaskKey, TaskState, TaskStats,
    Unparker, WaitKind, WaitReason,
};
pub use crate::unwind::is_cancellation;

/// Helpers for examples and tests that need a runtime without I/O.
#[doc(hidden)]
pub mod test_support {
    /// Installs, once per process, a panic hook that hides the panics the
    /// tests plan: those whose message starts with "planned", and the panic
    /// of `fibrio::run` called inside a running runtime ("... inside a
    /// running one ..."), which tests provoke on purpose. Any other panic is
    /// passed to the hook installed before. The hook is never swapped back,
    /// so tests running in parallel keep their panic messages.
    pub fn quiet_planned_panics() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
                let planned = message.is_some_and(|m| {
                    m.starts_with("planned") || m.contains("inside a running one")
                });
                if !planned {
                    previous(info);
                }
            }));
        });
    }

    use crate::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};

    /// Runs `f` as the main task of a scheduler on a [`NotifyDriver`].
    ///
    /// # Panics
    ///
    /// If `f` panics, or the scheduler cannot start.
    pub fn block_on<'a, T: 'a>(f: impl FnOnce() -> T + 'a) -> T {
        Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()))
            .block_on(f)
            .expect("the test scheduler failed")
    }
}
