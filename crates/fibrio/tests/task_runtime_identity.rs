//! Handles and scope guards that outlive their task or their runtime never
//! reach an unrelated task: a task key means nothing outside its runtime,
//! and a cancel scope's guard removes only its own frame.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use fibrio::fiber::{suspend, Fiber};
use fibrio::CancelScope;

#[test]
fn a_handle_from_an_earlier_runtime_cancels_nothing_in_a_later_one() {
    let stale = fibrio::run(|| fibrio::spawn(|| ()));
    fibrio::run(move || {
        let victim = fibrio::spawn(|| ());
        stale.cancel(); // the same slot and generation as `victim`
        assert!(victim.join().is_ok());
    });
}

#[test]
fn a_task_ref_from_an_earlier_runtime_cancels_nothing_in_a_later_one() {
    let stale = fibrio::run(|| fibrio::spawn(|| ()).task_ref());
    fibrio::run(move || {
        let victim = fibrio::spawn(|| fibrio::sleep(Duration::from_millis(1)));
        stale.cancel();
        assert!(stale.is_finished());
        assert!(victim.join().is_ok());
    });
}

/// A fiber suspended inside `CancelScope::run` outlives its runtime; the
/// scope's guard runs when the fiber is resumed later, outside any
/// runtime. It must not touch the freed task (this was a use-after-free).
#[test]
fn a_scope_left_by_a_fiber_after_its_runtime_ended_touches_nothing() {
    let fiber = fibrio::run(|| {
        let fiber: Fiber<(), (), ()> = Fiber::new(|()| {
            let done = CancelScope::new().run(|| suspend::<(), ()>(()).unwrap());
            assert_eq!(done, Some(()));
        });
        assert_eq!(fiber.start(()).unwrap(), Some(()));
        fiber
    });
    // Reuse the freed heap, as a long-running program would: a guard that
    // still read the task's record would now read these bytes.
    let filler: Vec<Vec<u8>> = (0..4096).map(|i| vec![0xff; 64 + (i % 64) * 8]).collect();
    assert_eq!(fiber.resume(()).unwrap(), None);
    drop(filler);
    assert!(fiber.is_terminated());
}

/// A fiber enters a scope in task A, suspends, and is resumed by task B
/// inside B's own scope. Leaving the fiber's scope must remove A's frame,
/// not B's: cancelling B's scope afterwards still reaches B.
#[test]
fn a_scope_left_in_another_task_removes_its_own_frame() {
    fibrio::run(|| {
        let slot: Rc<RefCell<Option<Fiber<(), (), ()>>>> = Rc::default();
        let a_scope = CancelScope::new();
        let a = {
            let slot = slot.clone();
            let a_scope = a_scope.clone();
            fibrio::spawn(move || {
                let fiber: Fiber<(), (), ()> = Fiber::new(move |()| {
                    a_scope.run(|| suspend::<(), ()>(()).unwrap());
                });
                assert_eq!(fiber.start(()).unwrap(), Some(()));
                *slot.borrow_mut() = Some(fiber);
            })
        };
        a.join().unwrap();

        let b_scope = CancelScope::new();
        let b = {
            let b_scope = b_scope.clone();
            fibrio::spawn(move || {
                b_scope.run(|| {
                    let fiber = slot.borrow_mut().take().unwrap();
                    // The fiber's scope guard drops in here, in task B.
                    assert_eq!(fiber.resume(()).unwrap(), None);
                    // B is still inside its own scope: cancelling it
                    // reaches this checkpoint.
                    b_scope.cancel();
                    fibrio::yield_now();
                    unreachable!("b_scope's cancellation unwinds the yield");
                })
            })
        };
        assert_eq!(b.join().unwrap(), None);
        assert!(b_scope.cancelled_caught());
        assert!(!a_scope.cancelled_caught());
    });
}

/// A scope's frame stays with the task that entered it while a fiber is
/// suspended inside the scope: a second scope entered by that task and
/// left normally removes its own frame, and nothing else.
#[test]
fn scopes_left_out_of_order_through_a_fiber_keep_the_other_frames() {
    fibrio::run(|| {
        let outer = CancelScope::new();
        let fiber: Fiber<(), (), ()> = Fiber::new({
            let outer = outer.clone();
            move |()| {
                outer.run(|| suspend::<(), ()>(()).unwrap());
            }
        });
        assert_eq!(fiber.start(()).unwrap(), Some(()));
        let inner = CancelScope::new();
        let got = inner.run(|| {
            // Leaves `outer` (deeper in this task's stack) while `inner`
            // stays the innermost frame.
            assert_eq!(fiber.resume(()).unwrap(), None);
            inner.cancel();
            fibrio::yield_now();
        });
        assert_eq!(got, None);
        assert!(inner.cancelled_caught());
        // And the task is in no scope any more.
        assert!(!fibrio::task::is_cancelled());
        fibrio::yield_now();
    });
}
