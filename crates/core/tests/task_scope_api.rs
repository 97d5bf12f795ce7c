//! The trio-parity surface of cancel scopes (in the spirit of trio's
//! `test_cancel.py`): absolute deadlines (`move_on_at`, `fail_at`),
//! `current_effective_deadline`, a shield that can be raised and lowered
//! while code runs inside the scope, and the shielded short forms
//! (`move_on_after_shielded`, `fail_after_shielded`).
//!
//! Timing checks are orderings (a body ended no earlier than its deadline,
//! an hour-long sleep did not run out), never tight wall-clock bounds.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio_core::task::{
    self, current_effective_deadline, fail_after_shielded, fail_at, move_on_after_shielded,
    move_on_at, test_support::block_on, CancelScope, Elapsed, Unparker,
};

/// A deadline far beyond any test's run.
const FOREVER: Duration = Duration::from_secs(3600);

/// A wait that only a wake-up under test should end: far longer (1000x and
/// more) than the few milliseconds that wake-up takes, yet short enough
/// that a missed wake-up makes the test fail instead of hanging.
const LONG: Duration = Duration::from_secs(10);

/// Sets its flag when dropped: proves unwinding ran `Drop`.
struct Flag(Rc<Cell<bool>>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

// ---- move_on_at / fail_at -------------------------------------------------

#[test]
fn move_on_at_a_past_deadline_cuts_the_body_short_at_its_first_checkpoint() {
    block_on(|| {
        let before = Cell::new(false);
        let after = Cell::new(false);
        let got = move_on_at(Instant::now(), || {
            before.set(true);
            task::yield_now();
            after.set(true);
        });
        assert_eq!(got, None);
        assert!(before.get(), "the body starts even past its deadline");
        assert!(!after.get(), "the first checkpoint unwinds");
        // A body that reaches no checkpoint keeps its value.
        assert_eq!(move_on_at(Instant::now(), || 3), Some(3));
        // The task itself is not cancelled.
        task::yield_now();
        assert!(!task::is_cancelled());
    });
}

#[test]
fn move_on_at_a_future_deadline_lets_a_quick_body_finish() {
    block_on(|| {
        let deadline = Instant::now() + FOREVER;
        let got = move_on_at(deadline, || {
            task::yield_now();
            task::sleep(Duration::from_millis(1));
            "done"
        });
        assert_eq!(got, Some("done"));
    });
}

#[test]
fn move_on_at_a_future_deadline_stops_a_busy_body_once_it_passes() {
    block_on(|| {
        let deadline = Instant::now() + Duration::from_millis(5);
        let got = move_on_at(deadline, || loop {
            task::yield_now();
        });
        assert_eq!(got, None::<()>);
        assert!(Instant::now() >= deadline, "cut short before its deadline");
    });
}

#[test]
fn move_on_at_wakes_a_parked_body_at_the_deadline() {
    block_on(|| {
        let deadline = Instant::now() + Duration::from_millis(5);
        let got = move_on_at(deadline, || {
            // Nobody unparks us: only the scope's deadline ends this.
            loop {
                task::park().unwrap();
            }
        });
        assert_eq!(got, None::<()>);
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn fail_at_reports_elapsed_with_the_time_it_gave_the_body() {
    block_on(|| {
        // Already passed at the call: the body was given no time.
        let err = fail_at(Instant::now(), task::yield_now).unwrap_err();
        assert_eq!(err, Elapsed::new(Duration::ZERO));

        let start = Instant::now();
        let deadline = start + Duration::from_millis(20);
        let err = fail_at(deadline, || task::sleep(LONG)).unwrap_err();
        assert!(Instant::now() >= deadline);
        // The time from the call to the deadline: at most the 20ms from
        // `start`, since the call came after it.
        assert!(err.timeout() <= Duration::from_millis(20));
        assert!(err.to_string().contains("did not finish within"));

        assert_eq!(fail_at(Instant::now() + FOREVER, || 42), Ok(42));
    });
}

#[test]
fn fail_at_lets_an_outer_cancellation_pass_through() {
    block_on(|| {
        let outer = CancelScope::new();
        let inner_returned = Cell::new(false);
        let got = outer.run(|| {
            let inner = fail_at(Instant::now() + FOREVER, || {
                outer.cancel();
                task::yield_now();
            });
            inner_returned.set(true);
            inner
        });
        assert_eq!(got, None);
        assert!(!inner_returned.get());
        assert!(outer.cancelled_caught());
    });
}

// ---- current_effective_deadline ---------------------------------------------

#[test]
fn current_effective_deadline_is_none_outside_a_task() {
    assert_eq!(current_effective_deadline(), None);
    // Even inside a scope's `run`: outside a task there are no frames.
    let scope = CancelScope::with_deadline(Instant::now());
    assert_eq!(scope.run(current_effective_deadline), Some(None));
}

#[test]
fn current_effective_deadline_is_none_in_a_task_without_deadlines() {
    block_on(|| {
        assert_eq!(current_effective_deadline(), None);
        CancelScope::new().run(|| {
            assert_eq!(current_effective_deadline(), None);
        });
    });
}

#[test]
fn current_effective_deadline_is_the_earliest_of_nested_scopes() {
    block_on(|| {
        let near = Instant::now() + FOREVER;
        let far = near + FOREVER;
        // The outer one is earlier.
        CancelScope::with_deadline(near).run(|| {
            assert_eq!(current_effective_deadline(), Some(near));
            CancelScope::with_deadline(far).run(|| {
                assert_eq!(current_effective_deadline(), Some(near));
                CancelScope::new().run(|| {
                    assert_eq!(current_effective_deadline(), Some(near));
                });
            });
        });
        // The inner one is earlier.
        CancelScope::with_deadline(far).run(|| {
            assert_eq!(current_effective_deadline(), Some(far));
            CancelScope::with_deadline(near).run(|| {
                assert_eq!(current_effective_deadline(), Some(near));
            });
            assert_eq!(current_effective_deadline(), Some(far));
        });
        assert_eq!(current_effective_deadline(), None);
    });
}

#[test]
fn current_effective_deadline_follows_set_deadline() {
    block_on(|| {
        let scope = CancelScope::new();
        scope.run(|| {
            assert_eq!(current_effective_deadline(), None);
            let later = Instant::now() + FOREVER;
            scope.set_deadline(Some(later));
            assert_eq!(current_effective_deadline(), Some(later));
            scope.set_deadline(None);
            assert_eq!(current_effective_deadline(), None);
        });
    });
}

#[test]
fn a_shield_hides_outer_deadlines_but_not_its_own() {
    block_on(|| {
        let near = Instant::now() + FOREVER;
        let far = near + FOREVER;
        CancelScope::with_deadline(near).run(|| {
            CancelScope::shield(|| {
                assert_eq!(current_effective_deadline(), None);
            });
            let shielded = CancelScope::with_deadline(far).shielded();
            shielded.run(|| {
                // Its own (later) deadline only: the outer one is hidden.
                assert_eq!(current_effective_deadline(), Some(far));
                shielded.set_shield(false);
                assert_eq!(current_effective_deadline(), Some(near));
                shielded.set_shield(true);
                assert_eq!(current_effective_deadline(), Some(far));
            });
        });
    });
}

#[test]
fn a_cancelled_scope_gives_a_deadline_already_passed() {
    block_on(|| {
        let scope = CancelScope::new();
        scope.cancel();
        scope.run(|| {
            let deadline = current_effective_deadline().expect("a cancelled scope is visible");
            assert!(Instant::now() >= deadline);
        });
        // A cancelled scope with a deadline far ahead: still a past instant.
        let scope = CancelScope::with_deadline(Instant::now() + FOREVER);
        scope.cancel();
        scope.run(|| {
            let deadline = current_effective_deadline().unwrap();
            assert!(Instant::now() >= deadline);
        });
        // A deadline that has passed is reported as itself (it is earlier
        // than the call).
        let passed = Instant::now();
        CancelScope::with_deadline(passed).run(|| {
            assert_eq!(current_effective_deadline(), Some(passed));
        });
    });
}

#[test]
fn a_cancelled_scope_behind_a_shield_is_not_seen() {
    block_on(|| {
        let outer = CancelScope::new();
        outer.cancel();
        let got = outer.run(|| {
            CancelScope::shield(|| {
                assert_eq!(current_effective_deadline(), None);
                let inner = Instant::now() + FOREVER;
                CancelScope::with_deadline(inner).run(|| {
                    assert_eq!(current_effective_deadline(), Some(inner));
                });
            });
            let past = current_effective_deadline().unwrap();
            assert!(Instant::now() >= past);
            "no checkpoint after the shield"
        });
        assert_eq!(got, Some("no checkpoint after the shield"));
    });
}

#[test]
fn a_cancelled_task_gives_a_deadline_already_passed_unless_shielded() {
    block_on(|| {
        let seen = Rc::new(Cell::new((None, None)));
        let record = seen.clone();
        let child = task::spawn(move || {
            let inside = CancelScope::shield(|| {
                task::park().unwrap(); // the cancel wakes us; the shield holds
                current_effective_deadline()
            });
            let outside = current_effective_deadline();
            record.set((inside, outside));
            task::checkpoint();
            unreachable!("the task is cancelled");
        });
        task::yield_now(); // the child parks inside its shield
        child.cancel();
        assert!(child.join().unwrap_err().is_cancelled());
        let (inside, outside) = seen.get();
        assert_eq!(inside, None);
        let outside = outside.expect("a cancelled task sees a passed deadline");
        assert!(Instant::now() >= outside);
    });
}

// ---- set_shield / is_shielded -----------------------------------------------

#[test]
fn the_shield_flag_reads_back_and_shows_in_debug() {
    let scope = CancelScope::new();
    assert!(!scope.is_shielded());
    assert!(format!("{scope:?}").contains("shielded: false"));
    let clone = scope.clone().shielded();
    assert!(scope.is_shielded(), "clones share the shield");
    assert!(clone.is_shielded());
    assert!(format!("{scope:?}").contains("shielded: true"));
    scope.set_shield(false);
    assert!(!clone.is_shielded());
}

#[test]
fn a_shield_raised_while_running_blocks_an_outer_cancel_until_lowered() {
    block_on(|| {
        let outer = CancelScope::new();
        let inner = CancelScope::new();
        let steps = Cell::new(0);
        let got = outer.run(|| {
            inner.run(|| {
                task::yield_now();
                inner.set_shield(true);
                outer.cancel();
                for _ in 0..3 {
                    task::yield_now(); // shielded: goes on
                    steps.set(steps.get() + 1);
                }
                assert!(!task::is_cancelled());
                inner.set_shield(false);
                assert!(task::is_cancelled());
                task::yield_now(); // unwinds to `outer`
                steps.set(100);
            });
            unreachable!("the outer cancellation passes the inner scope");
        });
        assert_eq!(got, None::<()>);
        assert_eq!(steps.get(), 3);
        assert!(outer.cancelled_caught());
        assert!(!inner.cancelled_caught());
    });
}

#[test]
fn a_shield_raised_while_running_hides_a_cancellation_that_arrives_while_parked() {
    block_on(|| {
        let outer = CancelScope::new();
        let inner = CancelScope::new();
        let released = Rc::new(Cell::new(false));
        let me = Unparker::current().unwrap();
        // Spawned outside the scopes: not a member of them.
        let helper = {
            let outer = outer.clone();
            let released = released.clone();
            task::spawn(move || {
                outer.cancel(); // wakes the parked main task; the shield holds
                task::yield_now();
                released.set(true);
                me.unpark();
            })
        };
        let steps = Cell::new(0);
        let got = outer.run(|| {
            inner.run(|| {
                inner.set_shield(true);
                while !released.get() {
                    task::park().unwrap();
                }
                steps.set(1);
                inner.set_shield(false);
                task::checkpoint();
                steps.set(2);
            });
        });
        assert_eq!(got, None);
        assert_eq!(steps.get(), 1);
        helper.join().unwrap();
    });
}

#[test]
fn lowering_the_shield_wakes_a_parked_member_that_then_unwinds() {
    block_on(|| {
        let outer = CancelScope::new();
        let inner = CancelScope::new().shielded();
        let unwound = Rc::new(Cell::new(false));
        let fallback_used = Rc::new(Cell::new(false));
        let me = Unparker::current().unwrap();
        // Spawned before the scopes are entered: not a member of them.
        let helper = {
            let inner = inner.clone();
            let unwound = unwound.clone();
            let fallback_used = fallback_used.clone();
            task::spawn(move || {
                task::yield_now(); // the main task is parked by now
                inner.set_shield(false);
                task::yield_now(); // the main task runs (and unwinds) first
                if !unwound.get() {
                    // Not woken: unpark it so the test fails, not hangs.
                    fallback_used.set(true);
                    me.unpark();
                }
            })
        };
        let parks = Cell::new(0);
        let flag = unwound.clone();
        let got = outer.run(|| {
            inner.run(|| {
                let _flag = Flag(flag);
                outer.cancel();
                loop {
                    parks.set(parks.get() + 1);
                    task::park().unwrap(); // only lowering the shield wakes us
                }
            })
        });
        assert_eq!(got, None::<Option<()>>);
        assert!(unwound.get());
        assert!(outer.cancelled_caught());
        assert!(!inner.cancelled_caught());
        // Woken as a cancellation: it unwound from the park it was in.
        assert_eq!(parks.get(), 1);
        helper.join().unwrap();
        assert!(
            !fallback_used.get(),
            "lowering the shield did not wake the member"
        );
    });
}

#[test]
fn lowering_the_shield_from_another_task_ends_a_long_sleep() {
    block_on(|| {
        let outer = CancelScope::new();
        let inner = CancelScope::new().shielded();
        let helper = {
            let (outer, inner) = (outer.clone(), inner.clone());
            task::spawn(move || {
                outer.cancel(); // the shield holds: the sleep goes on
                for _ in 0..3 {
                    task::yield_now();
                }
                inner.set_shield(false);
            })
        };
        let start = Instant::now();
        let slept = Cell::new(false);
        let got = outer.run(|| {
            inner.run(|| {
                task::sleep(LONG);
                slept.set(true);
            })
        });
        assert_eq!(got, None);
        assert!(!slept.get());
        assert!(start.elapsed() < LONG);
        helper.join().unwrap();
    });
}

#[test]
fn lowering_the_shield_from_another_thread_ends_a_park() {
    block_on(|| {
        let outer = CancelScope::new();
        let inner = CancelScope::new().shielded();
        let remote = inner.clone();
        let got = outer.run(|| {
            inner.run(|| {
                outer.cancel();
                let thread = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(5));
                    remote.set_shield(false);
                });
                let _joined = JoinOnDrop(Some(thread));
                // Nobody unparks us: only lowering the shield ends this
                // (before `give_up`, or the scope's `run` returns `Some`).
                let give_up = Instant::now() + LONG;
                while Instant::now() < give_up {
                    task::park_until(Some(give_up)).unwrap();
                }
            })
        });
        assert_eq!(got, None);
        assert!(outer.cancelled_caught());
    });
}

/// Joins its thread when dropped, also while unwinding.
struct JoinOnDrop(Option<std::thread::JoinHandle<()>>);
impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            thread.join().unwrap();
        }
    }
}

#[test]
fn an_outer_deadline_that_passed_behind_the_shield_reaches_the_member_once_lowered() {
    block_on(|| {
        let outer_deadline = Instant::now() + Duration::from_millis(2);
        let outer = CancelScope::with_deadline(outer_deadline);
        let inner = CancelScope::new().shielded();
        let lowered_at = Rc::new(Cell::new(None));
        let helper = {
            let inner = inner.clone();
            let lowered_at = lowered_at.clone();
            task::spawn(move || {
                task::sleep(Duration::from_millis(20)); // past the outer deadline
                lowered_at.set(Some(Instant::now()));
                inner.set_shield(false);
            })
        };
        let got = outer.run(|| {
            inner.run(|| {
                task::sleep(LONG);
            })
        });
        assert_eq!(got, None);
        let lowered_at = lowered_at
            .get()
            .expect("ended only after the shield came down");
        assert!(lowered_at >= outer_deadline);
        helper.join().unwrap();
    });
}

#[test]
fn lowering_the_shield_rearms_a_parked_member_for_the_outer_deadline() {
    block_on(|| {
        let outer_deadline = Instant::now() + Duration::from_millis(20);
        let outer = CancelScope::with_deadline(outer_deadline);
        let inner = CancelScope::new().shielded();
        let helper = {
            let inner = inner.clone();
            task::spawn(move || {
                task::yield_now(); // the main task sleeps by now
                inner.set_shield(false); // before the outer deadline
            })
        };
        let got = outer.run(|| {
            inner.run(|| {
                task::sleep(LONG);
            })
        });
        assert_eq!(got, None);
        assert!(Instant::now() >= outer_deadline);
        assert!(outer.cancelled_caught());
        helper.join().unwrap();
    });
}

#[test]
fn a_shielded_scope_still_obeys_its_own_cancellation() {
    block_on(|| {
        let scope = CancelScope::new().shielded();
        let got = scope.run(|| {
            scope.cancel();
            task::yield_now();
            unreachable!("its own cancellation unwinds");
        });
        assert_eq!(got, None::<()>);
        assert!(scope.cancelled_caught());
    });
}

#[test]
fn lowering_the_shield_cancels_tasks_spawned_inside_it() {
    block_on(|| {
        let outer = CancelScope::new();
        let inner = CancelScope::new().shielded();
        let child = outer
            .run(|| {
                inner.run(|| {
                    task::spawn(|| {
                        // Nobody unparks it: only a cancellation ends this
                        // early (otherwise the child completes, and the
                        // test fails instead of hanging).
                        let give_up = Instant::now() + LONG;
                        while Instant::now() < give_up {
                            task::park_until(Some(give_up)).unwrap();
                        }
                    })
                })
            })
            .unwrap()
            .unwrap();
        task::yield_now(); // the child parks
        outer.cancel();
        for _ in 0..3 {
            task::yield_now();
        }
        assert!(!child.is_finished(), "the shield protects the child");
        inner.set_shield(false);
        assert!(child.join().unwrap_err().is_cancelled());
    });
}

// ---- move_on_after_shielded / fail_after_shielded ---------------------------

#[test]
fn move_on_after_shielded_survives_an_outer_cancel_and_stops_at_its_own_deadline() {
    block_on(|| {
        let outer = CancelScope::new();
        let turns = Cell::new(0u64);
        let inner_result = Cell::new(Some(Some(())));
        let start = Instant::now();
        let got = outer.run(|| {
            outer.cancel();
            let inner = move_on_after_shielded(Duration::from_millis(5), || loop {
                task::yield_now();
                turns.set(turns.get() + 1);
            });
            inner_result.set(Some(inner));
            task::checkpoint(); // the outer cancellation, at last
            unreachable!("cancelled after the shielded scope");
        });
        assert_eq!(got, None::<()>);
        assert_eq!(inner_result.get(), Some(None), "its own deadline ended it");
        assert!(turns.get() > 0, "the outer cancellation did not stop it");
        assert!(start.elapsed() >= Duration::from_millis(5));
        assert!(outer.cancelled_caught());
    });
}

#[test]
fn move_on_after_shielded_outlasts_an_earlier_outer_deadline() {
    block_on(|| {
        let start = Instant::now();
        let outer_deadline = start + Duration::from_millis(1);
        let inner_end = Cell::new(None);
        let got = move_on_at(outer_deadline, || {
            let inner = move_on_after_shielded(Duration::from_millis(20), || {
                task::sleep(LONG);
            });
            inner_end.set(Some(Instant::now()));
            assert_eq!(inner, None);
            task::yield_now();
            unreachable!("the outer deadline has passed");
        });
        assert_eq!(got, None::<()>);
        let inner_end = inner_end.get().unwrap();
        assert!(inner_end >= start + Duration::from_millis(20));
    });
}

#[test]
fn move_on_after_shielded_holds_off_the_tasks_own_cancellation() {
    block_on(|| {
        let finished_inside = Rc::new(Cell::new(false));
        let flag = finished_inside.clone();
        let child = task::spawn(move || {
            let got = move_on_after_shielded(FOREVER, || {
                for _ in 0..3 {
                    task::yield_now();
                }
                "cleaned up"
            });
            flag.set(got == Some("cleaned up"));
            task::yield_now();
            unreachable!("cancelled after the shielded scope");
        });
        task::yield_now(); // the child is inside its shielded scope
        child.cancel();
        assert!(child.join().unwrap_err().is_cancelled());
        assert!(finished_inside.get());
    });
}

#[test]
fn fail_after_shielded_reports_its_own_deadline_and_finishes_quick_bodies() {
    block_on(|| {
        let outer = CancelScope::new();
        outer.cancel();
        let got = outer.run(|| {
            let quick = fail_after_shielded(FOREVER, || {
                task::yield_now();
                7
            });
            let slow = fail_after_shielded(Duration::from_millis(5), || task::sleep(LONG));
            (quick, slow)
        });
        let (quick, slow) = got.expect("no checkpoint after the shielded scopes");
        assert_eq!(quick, Ok(7));
        assert_eq!(slow, Err(Elapsed::new(Duration::from_millis(5))));
    });
}
