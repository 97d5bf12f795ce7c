//! [`sleep`] and [`sleep_until`]: park the current task until a deadline.
//!
//! A deadline never fires early: after every wake-up the task checks the
//! clock and parks again if it is too soon. A sleep that ends for any
//! reason (fired, or the task unwinding from a cancellation) removes its
//! timer, so nothing is left behind.

use std::time::{Duration, Instant};

use fibrio_core::task;

use crate::reactor::with_current;

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
/// use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// use fibrio_reactor::{sleep, BackendKind, Reactor};
///
/// let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// let _enter = reactor.enter();
/// let elapsed = Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
///     let start = Instant::now();
///     // Three tasks sleeping 20 ms each take about 20 ms, not 60.
///     let handles: Vec<_> = (0..3)
///         .map(|_| fibrio_core::task::spawn(|| sleep(Duration::from_millis(20))))
///         .collect();
///     for handle in handles {
///         handle.join().unwrap();
///     }
///     start.elapsed()
/// }).unwrap();
/// assert!(elapsed >= Duration::from_millis(20));
/// ```
pub fn sleep(duration: Duration) {
    let now = Instant::now();
    match now.checked_add(duration) {
        Some(deadline) => sleep_until_from(now, deadline),
        // Too far to represent: sleep until woken by cancellation.
        None => sleep_forever(),
    }
}

/// Parks the current task until `deadline`. See [`sleep`].
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// # use fibrio_reactor::{BackendKind, Reactor};
/// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// # let _enter = reactor.enter();
/// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
/// let deadline = Instant::now() + Duration::from_millis(10);
/// fibrio_reactor::sleep_until(deadline);
/// assert!(Instant::now() >= deadline);
/// # }).unwrap();
/// ```
pub fn sleep_until(deadline: Instant) {
    sleep_until_from(Instant::now(), deadline);
}

/// `sleep_until`, given the time now (so `sleep` reads the clock once).
fn sleep_until_from(now: Instant, deadline: Instant) {
    let Some(me) = task::current_key() else {
        std::thread::sleep(deadline.saturating_duration_since(now));
        return;
    };
    task::checkpoint();
    if now >= deadline {
        task::yield_now();
        return;
    }
    let Some(timer) = with_current(|reactor| reactor.add_timer(deadline, me)) else {
        // A scheduler without a reactor (a test driver): no timers here.
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        return;
    };
    struct RemoveTimer(crate::timer::TimerId);
    impl Drop for RemoveTimer {
        fn drop(&mut self) {
            with_current(|reactor| reactor.cancel_timer(self.0));
        }
    }
    let _remove = RemoveTimer(timer);
    // The reactor removes the timer only once its deadline has passed (it
    // fires timers due at its own reading of the clock), so "still set"
    // means "too early": spurious wake-ups park again, without a clock read.
    while with_current(|reactor| reactor.timer_is_set(timer)).unwrap_or(false) {
        if task::park().is_err() {
            return;
        }
    }
}

/// Parks the current task until it is unparked or `deadline` passes,
/// whichever comes first: the building block of blocking calls with a
/// timeout (a semaphore's `acquire_timeout`, a channel's `recv_timeout`).
/// Like [`park`](fibrio_core::task::park) it may return spuriously, so
/// callers re-check their condition and the clock in a loop. `None` parks
/// without a deadline. The deadline's timer is removed however this ends.
/// On a scheduler without a reactor (no timers), it yields and returns.
///
/// # Errors
///
/// As [`park`](fibrio_core::task::park): `ParkError::OutsideTask` outside a
/// task, `ParkError::Unwinding` during unwinding (neither suspends).
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// # use fibrio_reactor::{BackendKind, Reactor};
/// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// # let _enter = reactor.enter();
/// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
/// let deadline = Instant::now() + Duration::from_millis(10);
/// // Nobody unparks us: we wake at the deadline (or earlier, spuriously).
/// while Instant::now() < deadline {
///     fibrio_reactor::park_until(Some(deadline)).unwrap();
/// }
/// # }).unwrap();
/// ```
pub fn park_until(deadline: Option<Instant>) -> Result<(), task::ParkError> {
    let Some(deadline) = deadline else {
        return task::park();
    };
    let Some(me) = task::current_key() else {
        return Err(task::ParkError::OutsideTask);
    };
    if Instant::now() >= deadline {
        task::checkpoint();
        return Ok(());
    }
    let Some(timer) = with_current(|reactor| reactor.add_timer(deadline, me)) else {
        // A scheduler without a reactor (a test driver) has no timers: let
        // the others run and return, so the caller's loop re-checks the
        // clock. That spins through the run queue until the deadline, but
        // never waits past it.
        task::yield_now();
        return Ok(());
    };
    struct RemoveTimer(Option<crate::timer::TimerId>);
    impl Drop for RemoveTimer {
        fn drop(&mut self) {
            if let Some(id) = self.0 {
                with_current(|reactor| reactor.cancel_timer(id));
            }
        }
    }
    let _remove = RemoveTimer(Some(timer));
    task::park()
}

fn sleep_forever() {
    if task::current_key().is_none() {
        loop {
            std::thread::park();
        }
    }
    while task::park().is_ok() {}
}
