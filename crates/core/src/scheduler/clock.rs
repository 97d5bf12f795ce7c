//! The runtime's clock: std's monotonic clock, or a deterministic
//! scheduler's virtual clock while one runs on this thread.
//!
//! # Invariants
//!
//! * `VIRTUAL_NOW` is `Some` only while a deterministic scheduler's
//!   `block_on` runs on this thread; that scheduler alone writes it (at
//!   entry, to its origin, and on every advance of its virtual time), and
//!   its entry guard sets it back to `None` on every way out, a panic
//!   included. A production scheduler never touches it.
//! * A virtual instant is a real `std::time::Instant`: the simulation's
//!   origin (`Instant::now()` when it started) plus the virtual time
//!   elapsed. So every API that takes a `std::time::Instant` deadline works
//!   unchanged with a virtual one.
//! * Virtual time never goes backwards: the scheduler only moves it to a
//!   later timer or driver event.
//!
//! This module uses nothing else in the crate, so that every layer of the
//! scheduler (cancel scopes, timers, the loop) can read the clock.

use std::cell::Cell;
use std::time::Instant;

thread_local! {
    static VIRTUAL_NOW: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The runtime's clock: the virtual time of the deterministic scheduler
/// running on this thread, or [`Instant::now`] otherwise.
///
/// Cost outside a simulation: one thread-local load and a predictable
/// branch in front of `Instant::now()`.
#[inline(always)]
pub(crate) fn now() -> Instant {
    match VIRTUAL_NOW.try_with(Cell::get) {
        Ok(Some(now)) => now,
        _ => Instant::now(),
    }
}

/// Sets (or, with `None`, clears) this thread's virtual time. Called only
/// by a deterministic scheduler: see the invariants above.
pub(crate) fn set_virtual(now: Option<Instant>) {
    let _ = VIRTUAL_NOW.try_with(|cell| cell.set(now));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_real_clock_unless_a_virtual_time_is_set() {
        let before = Instant::now();
        assert!(now() >= before);
        let far = before + Duration::from_secs(3600);
        set_virtual(Some(far));
        assert_eq!(now(), far);
        set_virtual(None);
        assert!(now() < far);
    }
}
