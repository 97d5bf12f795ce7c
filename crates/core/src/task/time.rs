//! [`sleep`] and [`sleep_until`]: park the current task until a deadline.
//!
//! A deadline never fires early: the scheduler fires a timer only once its
//! clock reading of the turn has reached the deadline, and the sleep ends
//! only when its own timer fired. A sleep that ends for any reason (fired,
//! or the task unwinding from a cancellation) removes its timer, so nothing
//! is left behind.

use std::time::{Duration, Instant};

use crate::scheduler::{
    clock_now, park_running, with_running, with_scheduler, yield_running, WaitKind, WaitReason,
};

/// A sleep's wait reason: the deadline is in the task's timer.
const SLEEP: WaitReason = WaitReason::new(WaitKind::Sleep, 0);

/// Parks the current task for at least `duration`; other tasks run
/// meanwhile. `sleep(Duration::ZERO)` yields to the other runnable tasks.
///
/// Outside a fibrio runtime it sleeps the thread ([`std::thread::sleep`]).
/// While the task is unwinding (in a `Drop`), it returns at once rather than
/// suspend.
///
/// # Cancellation
///
/// A checkpoint: a cancelled task unwinds from here, and its timer is
/// removed.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let elapsed = fibrio_core::task::test_support::block_on(|| {
///     let start = Instant::now();
///     // Three tasks sleeping 20 ms each take about 20 ms, not 60.
///     let handles: Vec<_> = (0..3)
///         .map(|_| fibrio_core::task::spawn(|| fibrio_core::task::sleep(Duration::from_millis(20))))
///         .collect();
///     for handle in handles {
///         handle.join().unwrap();
///     }
///     start.elapsed()
/// });
/// assert!(elapsed >= Duration::from_millis(20));
/// ```
pub fn sleep(duration: Duration) {
    let now = clock_now();
    match now.checked_add(duration) {
        Some(deadline) => sleep_until_from(now, deadline),
        // Too far to represent: sleep until woken by cancellation.
        None => sleep_forever(),
    }
}

/// Parks the current task until `deadline`. See [`sleep`].
///
/// `deadline` is a `std::time::Instant` or a [`crate::time::Instant`]; build
/// it from the runtime's clock ([`crate::time::Instant::now`]) so that it
/// is virtual inside a deterministic simulation.
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # fibrio_core::task::test_support::block_on(|| {
/// let deadline = Instant::now() + Duration::from_millis(10);
/// fibrio_core::task::sleep_until(deadline);
/// assert!(Instant::now() >= deadline);
/// # });
/// ```
pub fn sleep_until(deadline: impl Into<Instant>) {
    sleep_until_from(clock_now(), deadline.into());
}

/// `sleep_until`, given the time now (so `sleep` reads the clock once).
// Inlined into `sleep` and `sleep_until`: a frame fewer between a parked
// sleeper and its task's root, which a cancellation's unwind walks twice
// (issue 18).
#[inline(always)]
fn sleep_until_from(now: Instant, deadline: Instant) {
    if with_running(|_, _| ()).is_none() {
        std::thread::sleep(deadline.saturating_duration_since(now));
        return;
    }
    if now >= deadline {
        // A checkpoint and a schedule point, as every sleep is.
        yield_running();
        return;
    }
    // Spurious wake-ups park again; only our own timer ends the sleep.
    while let Ok(fired) = park_running(Some(deadline), SLEEP) {
        if fired {
            return;
        }
    }
}

fn sleep_forever() {
    if with_running(|_, _| ()).is_none() {
        loop {
            std::thread::park();
        }
    }
    while park_running(None, SLEEP).is_ok() {}
}

/// The timers of the runtime running on this thread that have not fired
/// yet (every pending `sleep`, `park_until` and scope deadline of a parked
/// task), or `None` outside a runtime.
///
/// # Examples
///
/// ```
/// assert_eq!(fibrio_core::task::pending_timers(), None); // no runtime here
/// # fibrio_core::task::test_support::block_on(|| {
/// assert_eq!(fibrio_core::task::pending_timers(), Some(0));
/// # });
/// ```
pub fn pending_timers() -> Option<usize> {
    with_scheduler(|scheduler| scheduler.pending_timers())
}
