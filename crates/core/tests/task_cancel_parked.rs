//! A task cancelled while parked, in each way a task parks (a plain park, a
//! park with a deadline, a sleep, a park inside a cancel scope): the unwind
//! runs every `Drop` on the task's stack, a `catch_unwind` around the park
//! sees the cancellation payload, and `join` reports `Cancelled`. Since
//! issue 18 the unwind is raised in the parking call's own frame rather
//! than in helpers of its own; these pin down that it still behaves as
//! every cancellation does.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio_core::task::{self, test_support::block_on, CancelScope, JoinError};

/// Counts its drops: proves the unwind ran `Drop`.
struct Guard(Rc<Cell<u32>>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Spawns a task that parks with `park` between two guards, inside a
/// `catch_unwind` that records what it caught and resumes it; cancels the
/// parked task and checks the outcome.
fn cancel_while_parked(park: fn()) {
    block_on(move || {
        let drops = Rc::new(Cell::new(0));
        let saw_cancellation = Rc::new(Cell::new(false));
        let (counter, seen) = (drops.clone(), saw_cancellation.clone());
        let handle = task::spawn(move || {
            let _outer = Guard(counter.clone());
            let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                let _inner = Guard(counter.clone());
                park();
            }));
            let payload = caught.expect_err("the cancelled park unwinds");
            seen.set(task::is_cancellation(&*payload));
            panic::resume_unwind(payload);
        });
        task::yield_now(); // the task runs to its park
        assert_eq!(drops.get(), 0, "parked, nothing dropped yet");
        handle.cancel();
        assert!(matches!(handle.join(), Err(JoinError::Cancelled)));
        assert_eq!(drops.get(), 2, "both guards dropped");
        assert!(saw_cancellation.get(), "catch_unwind saw the payload");
    });
}

#[test]
fn a_task_cancelled_in_park_unwinds_through_its_drops() {
    cancel_while_parked(|| {
        let _ = task::park();
    });
}

#[test]
fn a_task_cancelled_in_park_until_unwinds_through_its_drops() {
    cancel_while_parked(|| {
        let _ = task::park_until(Some(Instant::now() + Duration::from_secs(3600)));
    });
}

#[test]
fn a_task_cancelled_in_sleep_unwinds_through_its_drops() {
    cancel_while_parked(|| task::sleep(Duration::from_secs(3600)));
}

#[test]
fn a_task_cancelled_in_sleep_inside_a_scope_unwinds_through_its_drops() {
    // Inside a scope the park arms its timer for the scope too (the path
    // with a timer even without a deadline of its own).
    cancel_while_parked(|| {
        CancelScope::new().run(|| {
            let _ = task::park();
        });
    });
}

#[test]
fn a_scope_cancelled_while_its_task_sleeps_is_caught_by_its_run() {
    block_on(|| {
        let drops = Rc::new(Cell::new(0));
        let scope = Rc::new(CancelScope::new());
        let (counter, inner_scope) = (drops.clone(), scope.clone());
        let handle = task::spawn(move || {
            let got = inner_scope.run(|| {
                let _guard = Guard(counter.clone());
                task::sleep(Duration::from_secs(3600));
            });
            // The scope caught it; the task goes on and returns normally.
            (got.is_none(), counter.get())
        });
        task::yield_now(); // the task runs to its sleep
        scope.cancel();
        assert_eq!(handle.join().unwrap(), (true, 1));
        assert_eq!(drops.get(), 1);
        assert!(scope.cancelled_caught());
    });
}
