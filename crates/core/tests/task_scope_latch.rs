//! A cancel scope, once cancelled, stays cancelled (trio's rule): a
//! deadline that has passed is a cancellation, and moving the deadline
//! later (or removing it) does not undo it, for any member of the scope.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio_core::task::{self, test_support::block_on, CancelScope};

const LONG: Duration = Duration::from_secs(3600);

#[test]
fn a_passed_deadline_moved_later_leaves_the_scope_cancelled() {
    let scope = CancelScope::with_deadline(Instant::now());
    assert!(scope.is_cancelled());
    scope.set_deadline(Some(Instant::now() + LONG));
    assert!(scope.is_cancelled());
    scope.set_deadline(None);
    assert!(scope.is_cancelled());
}

#[test]
fn a_passed_deadline_nobody_looked_at_still_cancels_when_it_is_replaced() {
    let scope = CancelScope::with_deadline(Instant::now());
    // Nobody asked `is_cancelled` before the deadline is moved: replacing
    // a deadline that has passed cancels the scope all the same.
    scope.set_deadline(Some(Instant::now() + LONG));
    assert!(scope.is_cancelled());
}

#[test]
fn a_deadline_still_ahead_can_be_moved_without_cancelling() {
    let scope = CancelScope::with_deadline(Instant::now() + LONG);
    scope.set_deadline(Some(Instant::now() + 2 * LONG));
    scope.set_deadline(None);
    assert!(!scope.is_cancelled());
}

#[test]
fn once_a_member_is_cut_short_another_member_is_too() {
    block_on(|| {
        let deadline = Instant::now() + Duration::from_millis(1);
        let scope = CancelScope::with_deadline(deadline);
        let second_ran = Rc::new(Cell::new(false));
        let mut second = None;
        let outcome = scope.run(|| {
            // Spawned inside the scope: a member of it, queued, not run yet.
            let ran = second_ran.clone();
            second = Some(task::spawn(move || ran.set(true)));
            // Pass the deadline without a checkpoint, then reach one.
            while Instant::now() <= deadline {
                std::hint::spin_loop();
            }
            task::checkpoint();
            unreachable!("the deadline cut the first member short");
        });
        assert_eq!(outcome, None::<()>);
        // Moving the deadline later must not let the other member start.
        scope.set_deadline(Some(Instant::now() + LONG));
        assert!(scope.is_cancelled());
        let second = second.unwrap();
        assert!(second.join().unwrap_err().is_cancelled());
        assert!(!second_ran.get(), "the second member ran");
    });
}
