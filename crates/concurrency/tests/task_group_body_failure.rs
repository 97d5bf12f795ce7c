//! A panic in a `TaskGroup`'s body is reported with the children's
//! failures, as asyncio's `TaskGroup` gathers the body's exception and the
//! children's into one `ExceptionGroup` and trio's nursery into one
//! `MultiError`: nothing is lost when the body and a child both fail
//! (issue 13, fault 1), and every original payload stays reachable.

mod common;

use common::{park_until_cancelled, quiet_planned_panics, yield_n};

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use fibrio::task::Builder;
use fibrio::CancelScope;
use fibrio_concurrency::{TaskGroup, TaskGroupError};

struct Flag(Rc<Cell<u32>>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A payload that is not text, to check it comes back as it was.
#[derive(Debug, PartialEq)]
struct Planned {
    code: u32,
}

#[test]
fn a_child_failure_is_kept_when_the_body_then_panics() {
    quiet_planned_panics();
    fibrio::run(|| {
        let err = TaskGroup::scope(|g| {
            let child = g.spawn(|| -> () { panic!("planned: child") });
            // The child's panic is seen through its handle (shielded, so the
            // cancellation it causes does not cut the body short); the body
            // then fails in turn (asyncio: an exception in the `async with`
            // body after a child failed).
            let seen = CancelScope::shield(|| child.join()).unwrap_err();
            assert!(seen.is_panic());
            panic!("planned: body");
        })
        .unwrap_err();
        let TaskGroupError::BodyPanicked {
            message,
            payload,
            failures,
        } = &err
        else {
            panic!("expected BodyPanicked, got {err:?}");
        };
        assert_eq!(message, "planned: body");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"planned: body"));
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].index, 0);
        assert_eq!(failures[0].message, "planned: child");
        assert_eq!(err.failures().len(), 1);
        assert_eq!(
            err.body_panic().and_then(|p| p.downcast_ref::<&str>()),
            Some(&"planned: body")
        );
        let report = err.to_string();
        assert!(
            report.contains("the body of the task group panicked: planned: body"),
            "{report}"
        );
        assert!(report.contains("1 task of the group failed"), "{report}");
        assert!(report.contains("[0] task #"), "{report}");
        assert!(report.contains("panicked: planned: child"), "{report}");
    });
}

#[test]
fn a_body_panic_in_a_cleanup_after_cancellation_keeps_the_child_failure() {
    // The child's failure cancels the body; the body catches the
    // cancellation and its cleanup panics. The child's failure must still
    // be reported.
    quiet_planned_panics();
    fibrio::run(|| {
        let err = TaskGroup::scope(|g| {
            g.spawn(|| {
                fibrio::yield_now();
                panic!("planned: child first")
            });
            let cut = panic::catch_unwind(AssertUnwindSafe(park_until_cancelled));
            assert!(cut.is_err(), "the child's failure cancels the body");
            panic!("planned: body after");
        })
        .unwrap_err();
        assert_eq!(
            err.body_panic().and_then(|p| p.downcast_ref::<&str>()),
            Some(&"planned: body after")
        );
        let messages: Vec<_> = err.failures().iter().map(|f| f.message.as_str()).collect();
        assert_eq!(messages, ["planned: child first"]);
    });
}

#[test]
fn a_body_panic_cancels_running_children_and_waits_for_them() {
    quiet_planned_panics();
    fibrio::run(|| {
        let dropped = Rc::new(Cell::new(0));
        let d = dropped.clone();
        let err = TaskGroup::scope(move |g| {
            for _ in 0..3 {
                let d = d.clone();
                g.spawn(move || {
                    let _flag = Flag(d);
                    fibrio::sleep(Duration::from_secs(60));
                });
            }
            fibrio::yield_now();
            assert_eq!(g.running(), 3);
            panic!("planned: body alone");
        })
        .unwrap_err();
        assert_eq!(
            dropped.get(),
            3,
            "every child unwound before scope returned"
        );
        // Cancelled children are not failures.
        assert!(err.failures().is_empty());
        assert_eq!(
            err.body_panic().and_then(|p| p.downcast_ref::<&str>()),
            Some(&"planned: body alone")
        );
        assert_eq!(
            err.to_string(),
            "the body of the task group panicked: planned: body alone"
        );
    });
}

#[test]
fn a_child_that_fails_while_being_cancelled_is_reported_with_the_body() {
    // trio: a child raising from its cancellation handler is part of the
    // MultiError, next to the body's exception.
    quiet_planned_panics();
    fibrio::run(|| {
        let err = TaskGroup::scope(|g| {
            g.spawn_with(Builder::new().name("stubborn"), || {
                let cut = panic::catch_unwind(AssertUnwindSafe(park_until_cancelled));
                assert!(cut.is_err());
                panic!("planned: stubborn cleanup failed")
            })
            .unwrap();
            g.spawn(|| fibrio::sleep(Duration::from_secs(60)));
            fibrio::yield_now();
            panic!("planned: body");
        })
        .unwrap_err();
        assert!(err.body_panic().is_some());
        assert_eq!(err.failures().len(), 1);
        assert_eq!(err.failures()[0].name.as_deref(), Some("stubborn"));
        assert_eq!(
            err.failures()[0].message,
            "planned: stubborn cleanup failed"
        );
        assert!(err.to_string().contains("[0] task 'stubborn'"), "{err}");
    });
}

#[test]
fn several_child_failures_and_the_body_are_all_reported_with_their_payloads() {
    quiet_planned_panics();
    fibrio::run(|| {
        let err = TaskGroup::scope(|g| {
            let children: Vec<_> = (0..3u32)
                .map(|code| {
                    g.spawn(move || {
                        // All start, then fail in turn: the first failure
                        // cancels the group, but each is shielded.
                        CancelScope::shield(|| {
                            yield_n(1);
                            panic::panic_any(Planned { code })
                        })
                    })
                })
                .collect();
            g.spawn(|| -> () { panic::panic_any(format!("planned: text {}", 7)) });
            for child in children {
                assert!(CancelScope::shield(|| child.join()).unwrap_err().is_panic());
            }
            panic::panic_any(Planned { code: 99 });
        })
        .unwrap_err();
        assert_eq!(
            err.body_panic().and_then(|p| p.downcast_ref::<Planned>()),
            Some(&Planned { code: 99 })
        );
        let failures = err.failures();
        assert_eq!(failures.len(), 4);
        let mut indices: Vec<_> = failures.iter().map(|f| f.index).collect();
        indices.sort_unstable();
        assert_eq!(indices, [0, 1, 2, 3]);
        for failure in failures {
            if failure.index == 3 {
                assert_eq!(
                    failure.payload.downcast_ref::<String>().map(String::as_str),
                    Some("planned: text 7")
                );
            } else {
                assert_eq!(
                    failure.payload.downcast_ref::<Planned>(),
                    Some(&Planned {
                        code: failure.index as u32
                    })
                );
                assert_eq!(failure.message, "<non-string panic payload>");
            }
        }
        // The payloads can be taken back out, and the body's resumed.
        let TaskGroupError::BodyPanicked { payload, .. } = err else {
            unreachable!()
        };
        let resumed =
            panic::catch_unwind(AssertUnwindSafe(|| panic::resume_unwind(payload))).unwrap_err();
        assert_eq!(
            resumed.downcast_ref::<Planned>(),
            Some(&Planned { code: 99 })
        );
    });
}

#[test]
fn a_body_panic_after_a_group_cancel_is_still_reported() {
    quiet_planned_panics();
    fibrio::run(|| {
        let err = TaskGroup::scope(|g| {
            g.spawn(|| fibrio::sleep(Duration::from_secs(60)));
            g.cancel();
            panic!("planned: body after cancel");
        })
        .unwrap_err();
        assert!(
            matches!(err, TaskGroupError::BodyPanicked { .. }),
            "{err:?}"
        );
        assert!(err.failures().is_empty());
    });
}

#[test]
fn the_callers_cancellation_still_unwinds_and_is_not_an_error() {
    // The caller's cancellation unwinds the body like a panic would, but it
    // is not a failure: `scope` cancels and waits for the children, then
    // lets it go on, as before.
    fibrio::run(|| {
        let dropped = Rc::new(Cell::new(0));
        let returned = Rc::new(Cell::new(false));
        let (d, r) = (dropped.clone(), returned.clone());
        let parent = fibrio::spawn(move || {
            let got = TaskGroup::scope(move |g| {
                g.spawn(move || {
                    let _flag = Flag(d);
                    fibrio::sleep(Duration::from_secs(60));
                });
                park_until_cancelled();
            });
            r.set(true);
            drop(got);
        });
        fibrio::sleep(Duration::from_millis(5));
        parent.cancel();
        assert!(parent.join().unwrap_err().is_cancelled());
        assert!(!returned.get(), "scope unwound rather than returned");
        assert_eq!(dropped.get(), 1);
    });
}
