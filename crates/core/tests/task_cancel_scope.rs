//! Cancel scopes on the scheduler alone (no timers): nesting, shields,
//! membership of spawned tasks, and which scope catches a cancellation.
//! Deadlines that must wake a parked task are tested with the reactor in
//! `crates/fibrio/tests/scope_deadlines.rs`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio_core::task::{
    self, fail_after, move_on_after, test_support::block_on, CancelScope, Unparker,
};

/// Sets its flag when dropped: proves unwinding ran `Drop`.
struct Flag(Rc<Cell<bool>>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn a_cancelled_scope_unwinds_its_body_and_the_task_goes_on() {
    block_on(|| {
        let dropped = Rc::new(Cell::new(false));
        let scope = CancelScope::new();
        let flag = dropped.clone();
        let got = scope.run(|| {
            let _flag = Flag(flag);
            scope.cancel();
            task::yield_now();
            unreachable!("the checkpoint unwinds");
        });
        assert_eq!(got, None::<()>);
        assert!(dropped.get());
        assert!(scope.cancelled_caught());
        // The task itself is not cancelled: it can park and go on.
        task::yield_now();
        assert!(!task::is_cancelled());
    });
}

#[test]
fn a_scope_cancelled_while_its_task_is_parked_wakes_it() {
    block_on(|| {
        let scope = CancelScope::new();
        let remote = scope.clone();
        let canceller = task::spawn(move || remote.cancel());
        let got = scope.run(|| loop {
            task::park().unwrap(); // nobody unparks: only the cancel wakes us
        });
        assert_eq!(got, None::<()>);
        canceller.join().unwrap();
    });
}

#[test]
fn a_scope_can_be_cancelled_from_another_thread() {
    block_on(|| {
        let scope = CancelScope::new();
        let remote = scope.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            remote.cancel();
        });
        let got = scope.run(|| loop {
            task::park().unwrap();
        });
        assert_eq!(got, None::<()>);
        thread.join().unwrap();
    });
}

#[test]
fn the_outermost_cancelled_scope_catches() {
    block_on(|| {
        let outer = CancelScope::new();
        let inner = CancelScope::new();
        let after_inner = Cell::new(false);
        let got = outer.run(|| {
            inner.run(|| {
                inner.cancel();
                outer.cancel();
                task::yield_now();
            });
            after_inner.set(true);
        });
        assert_eq!(got, None);
        assert!(
            !after_inner.get(),
            "the inner scope must not swallow the outer cancellation"
        );
        assert!(outer.cancelled_caught());
        assert!(!inner.cancelled_caught());
    });
}

#[test]
fn an_inner_cancellation_leaves_the_outer_scope_running() {
    block_on(|| {
        let outer = CancelScope::new();
        let got = outer.run(|| {
            let inner = CancelScope::new();
            let first = inner.run(|| {
                inner.cancel();
                task::yield_now();
            });
            task::yield_now(); // the outer scope is fine
            first
        });
        assert_eq!(got, Some(None));
        assert!(!outer.cancelled_caught());
    });
}

#[test]
fn a_shield_hides_outer_cancellation_until_it_ends() {
    block_on(|| {
        let scope = CancelScope::new();
        let steps = Cell::new(0);
        let got = scope.run(|| {
            scope.cancel();
            CancelScope::shield(|| {
                for _ in 0..3 {
                    task::yield_now();
                    steps.set(steps.get() + 1);
                }
                assert!(!task::is_cancelled());
            });
            assert!(task::is_cancelled());
            task::yield_now();
            steps.set(100);
        });
        assert_eq!(got, None);
        assert_eq!(steps.get(), 3);
    });
}

#[test]
fn a_shield_hides_the_tasks_own_cancellation() {
    block_on(|| {
        let finished_shield = Rc::new(Cell::new(false));
        let done = finished_shield.clone();
        let child = task::spawn(move || {
            CancelScope::shield(|| {
                task::yield_now();
                task::yield_now();
                done.set(true);
            });
            task::yield_now(); // cancelled here
            unreachable!("cancelled after the shield");
        });
        task::yield_now(); // child enters its shield
        child.cancel();
        assert!(child.join().unwrap_err().is_cancelled());
        assert!(finished_shield.get());
    });
}

#[test]
fn a_scope_inside_a_shield_can_still_be_cancelled() {
    block_on(|| {
        let outer = CancelScope::new();
        outer.cancel();
        let got = outer.run(|| {
            CancelScope::shield(|| {
                let inner = CancelScope::new();
                inner.cancel();
                inner.run(task::yield_now)
            })
        });
        // The shield's body finished (the inner scope caught its own
        // cancellation), and nothing after it checkpointed inside `outer`.
        assert_eq!(got, Some(None));
    });
}

#[test]
fn tasks_spawned_inside_a_scope_are_cancelled_with_it() {
    block_on(|| {
        let scope = CancelScope::new();
        let dropped = Rc::new(Cell::new(false));
        let flag = dropped.clone();
        let child = scope
            .run(|| {
                task::spawn(move || {
                    let _flag = Flag(flag);
                    loop {
                        task::park().unwrap();
                    }
                })
            })
            .unwrap();
        task::yield_now(); // the child parks
        assert!(!child.is_finished());
        scope.cancel();
        let err = child.join().unwrap_err();
        assert!(err.is_cancelled());
        assert!(dropped.get());
    });
}

#[test]
fn a_child_of_a_cancelled_scope_never_runs() {
    block_on(|| {
        let scope = CancelScope::new();
        let ran = Rc::new(Cell::new(false));
        let flag = ran.clone();
        let child = scope.run(|| task::spawn(move || flag.set(true))).unwrap();
        scope.cancel();
        assert!(child.join().unwrap_err().is_cancelled());
        assert!(!ran.get());
    });
}

#[test]
fn tasks_spawned_outside_the_scope_are_not_affected() {
    block_on(|| {
        let scope = CancelScope::new();
        let outsider = task::spawn(|| {
            for _ in 0..5 {
                task::yield_now();
            }
            7
        });
        scope.run(|| {
            scope.cancel();
            task::yield_now();
        });
        assert_eq!(outsider.join().unwrap(), 7);
    });
}

#[test]
fn a_task_cancellation_passes_through_every_scope() {
    block_on(|| {
        let reached_after_scope = Rc::new(Cell::new(false));
        let flag = reached_after_scope.clone();
        let child = task::spawn(move || {
            let scope = CancelScope::new();
            scope.run(|| loop {
                task::park().unwrap();
            });
            flag.set(true);
        });
        task::yield_now();
        child.cancel();
        assert!(child.join().unwrap_err().is_cancelled());
        assert!(!reached_after_scope.get());
    });
}

#[test]
fn a_passed_deadline_cancels_at_the_next_checkpoint() {
    block_on(|| {
        let scope = CancelScope::with_deadline(Instant::now());
        assert!(scope.is_cancelled());
        assert_eq!(scope.run(task::yield_now), None);
        // No checkpoint, no cancellation: the body's value comes back.
        assert_eq!(scope.run(|| 5), Some(5));
    });
}

#[test]
fn move_on_after_and_fail_after_on_the_scheduler_alone() {
    block_on(|| {
        // Without a reactor, a deadline is noticed at checkpoints.
        let start = Instant::now();
        let got = move_on_after(Duration::from_millis(20), || loop {
            task::yield_now();
        });
        assert_eq!(got, None::<()>);
        assert!(start.elapsed() >= Duration::from_millis(20));
        let err = fail_after(Duration::ZERO, task::yield_now).unwrap_err();
        assert_eq!(err.timeout(), Duration::ZERO);
        assert_eq!(fail_after(Duration::from_secs(60), || 3), Ok(3));
    });
}

#[test]
fn nested_deadlines_the_earlier_one_wins() {
    block_on(|| {
        let outer_caught = Cell::new(false);
        let got = move_on_after(Duration::from_secs(60), || {
            let inner = move_on_after(Duration::from_millis(5), || loop {
                task::yield_now();
            });
            outer_caught.set(true);
            inner
        });
        assert_eq!(got, Some(None::<()>));
        assert!(outer_caught.get());
    });
}

#[test]
fn run_outside_a_task_just_runs_the_body() {
    let scope = CancelScope::new();
    scope.cancel();
    assert_eq!(scope.run(|| 9), Some(9));
    assert_eq!(CancelScope::shield(|| 10), 10);
}

#[test]
fn a_real_panic_passes_through_a_scope() {
    block_on(|| {
        let outcome = task::spawn(|| {
            CancelScope::new().run(|| -> u8 { std::panic::panic_any("boom") });
        })
        .join();
        let payload = outcome.unwrap_err().into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    });
}

#[test]
fn cancel_wakes_only_once_and_leaves_no_member_behind() {
    block_on(|| {
        let scope = CancelScope::new();
        for _ in 0..100 {
            let got = scope.run(|| {
                let me = Unparker::current().unwrap();
                me.unpark();
                task::park().unwrap();
                1
            });
            assert_eq!(got, Some(1));
        }
        // Debug output shows the scope is not cancelled; a later cancel
        // with nobody inside wakes nobody and is harmless.
        scope.cancel();
        assert!(scope.is_cancelled());
        assert!(format!("{scope:?}").contains("cancelled: true"));
    });
}

#[test]
fn a_scope_cancelled_while_a_fiber_inside_it_waits_ends_the_fiber_and_the_scope() {
    use fibrio_core::fiber::Fiber;
    block_on(|| {
        let dropped = Rc::new(Cell::new(false));
        let flag = dropped.clone();
        let fiber: Fiber<(), (), ()> = Fiber::new(move |()| {
            let _flag = Flag(flag);
            loop {
                task::yield_now();
            }
        });
        let scope = CancelScope::new();
        let got = scope.run(|| {
            scope.cancel();
            // The cancellation unwinds the fiber's stack at its checkpoint,
            // then goes on from `start`; it is not the fiber's panic, so
            // `unwrap` never sees it.
            fiber.start(()).unwrap();
            unreachable!("the cancellation comes out of start");
        });
        assert_eq!(got, None::<()>);
        assert!(scope.cancelled_caught());
        assert!(dropped.get(), "the fiber's stack was unwound");
        assert!(fiber.is_terminated());
    });
}

#[test]
fn a_cancelled_scope_wakes_its_parked_members_in_the_order_they_joined() {
    block_on(|| {
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        let scope = CancelScope::new();
        let children: Vec<_> = scope
            .run(|| {
                (0..32)
                    .map(|i| {
                        let order = order.clone();
                        task::spawn(move || {
                            struct Record(u32, Rc<std::cell::RefCell<Vec<u32>>>);
                            impl Drop for Record {
                                fn drop(&mut self) {
                                    self.1.borrow_mut().push(self.0);
                                }
                            }
                            let _record = Record(i, order);
                            loop {
                                task::park().unwrap(); // only the cancel wakes us
                            }
                        })
                    })
                    .collect()
            })
            .expect("the scope is not cancelled yet");
        // Let every child start and park.
        task::yield_now();
        scope.cancel();
        for child in children {
            assert!(child.join().is_err());
        }
        // The wake order is the join order (member ids), not a hash order.
        assert_eq!(*order.borrow(), (0..32).collect::<Vec<_>>());
    });
}
