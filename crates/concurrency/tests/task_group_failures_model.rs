//! proptest: whatever the body does (finish, panic, return early, return
//! an error value through `try_scope`, cancel the group) and whatever the
//! children do (return, panic after some yields, sleep long), a
//! `TaskGroup` reports every panic that happened, the body's included,
//! exactly once, with its original payload, and the body's error value
//! with them; and no child outlives the group (issue 13, fault 1).

mod common;

use common::quiet_planned_panics;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use fibrio::task::TaskRef;
use std::fmt::Display;

use fibrio_concurrency::{TaskGroup, TaskGroupError};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Child {
    Return,
    Panic,
    SleepLong,
    /// Parks until cancelled, then panics in its cleanup (trio: an
    /// exception raised while handling `Cancelled`).
    PanicWhenCancelled,
}

#[derive(Debug, Clone, Copy)]
enum Body {
    /// Yields `steps` times, then returns.
    Finish,
    /// Panics at this step (if it gets there).
    Panic(usize),
    /// Returns at this step (if it gets there), children still running.
    ReturnEarly(usize),
    /// Returns an error value at this step (if it gets there), through
    /// `try_scope`.
    Fail(usize),
}

fn child() -> impl Strategy<Value = Child> {
    prop_oneof![
        Just(Child::Return),
        Just(Child::Panic),
        Just(Child::SleepLong),
        Just(Child::PanicWhenCancelled),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::Finish),
        (0usize..6).prop_map(Body::Panic),
        (0usize..6).prop_map(Body::ReturnEarly),
        (0usize..6).prop_map(Body::Fail),
    ]
}

/// Decrements the live count when the child's stack is gone.
struct Alive(Rc<Cell<usize>>);
impl Drop for Alive {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Sets the flag when the body ends, by returning or unwinding.
struct Ended(Rc<Cell<bool>>);
impl Drop for Ended {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// What `scope` returned, reduced to what the model checks.
#[derive(Debug, PartialEq)]
enum Seen {
    Value(usize),
    Cancelled,
    /// The children's panic payloads (as text), by index, sorted.
    Failed(Vec<(usize, String)>),
    /// The body's payload, and the children's as for `Failed`.
    BodyPanicked(String, Vec<(usize, String)>),
    /// The body's error value, and the children's as for `Failed`.
    BodyFailed(String, Vec<(usize, String)>),
}

fn children_of<E>(err: &TaskGroupError<E>) -> Vec<(usize, String)> {
    let mut seen: Vec<_> = err
        .failures()
        .iter()
        .map(|f| {
            let text = f
                .payload
                .downcast_ref::<String>()
                .expect("a String payload");
            assert_eq!(&f.message, text);
            (f.index, text.clone())
        })
        .collect();
    seen.sort();
    seen
}

/// What `scope` or `try_scope` returned, checked and reduced.
fn seen_of<E: Display>(outcome: Result<usize, TaskGroupError<E>>) -> Seen {
    match outcome {
        Ok(value) => Seen::Value(value),
        Err(TaskGroupError::Cancelled) => Seen::Cancelled,
        Err(e @ TaskGroupError::Failed(_)) => Seen::Failed(children_of(&e)),
        Err(e @ TaskGroupError::BodyPanicked { .. }) => {
            let TaskGroupError::BodyPanicked {
                message, payload, ..
            } = &e
            else {
                unreachable!()
            };
            let text = payload.downcast_ref::<String>().expect("a String payload");
            assert_eq!(message, text);
            assert!(e.body_panic().is_some());
            assert!(e.body_error().is_none());
            Seen::BodyPanicked(text.clone(), children_of(&e))
        }
        Err(e @ TaskGroupError::BodyFailed { .. }) => {
            let error = e.body_error().expect("a BodyFailed has the body's error");
            assert!(e.body_panic().is_none());
            let report = e.to_string();
            let children = children_of(&e);
            // The report names the body's error and every child's failure.
            assert!(report.contains(&error.to_string()), "{report}");
            for (_, message) in &children {
                assert!(report.contains(message.as_str()), "{report}");
            }
            Seen::BodyFailed(error.to_string(), children)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_failure_body_included_is_reported_exactly_once(
        children in proptest::collection::vec((child(), 0usize..4), 0..7),
        body in body(),
        steps in 0usize..6,
        cancel_at in proptest::option::of(0usize..8),
        shielded in any::<bool>(),
        through_try_scope in any::<bool>(),
    ) {
        quiet_planned_panics();
        let n = children.len();
        let (alive_after, all_finished, seen, expected) = fibrio::run(move || {
            let alive = Rc::new(Cell::new(0usize));
            let refs: Rc<RefCell<Vec<TaskRef>>> = Rc::default();
            let panicked: Rc<RefCell<Vec<(usize, String)>>> = Rc::default();
            let body_panic: Rc<RefCell<Option<String>>> = Rc::default();
            let body_error: Rc<RefCell<Option<String>>> = Rc::default();
            let body_ended = Rc::new(Cell::new(false));

            // Long sleepers end only by cancellation: once the body has
            // ended (it may return early, leaving them running), cancel
            // any left, so that the scope can return.
            let watchdog = {
                let (refs, ended) = (refs.clone(), body_ended.clone());
                fibrio::spawn(move || {
                    while !ended.get() {
                        fibrio::sleep(Duration::from_millis(1));
                    }
                    for r in refs.borrow().iter() {
                        r.cancel();
                    }
                })
            };

            let (a, r, p, bp, berr, be) = (
                alive.clone(),
                refs.clone(),
                panicked.clone(),
                body_panic.clone(),
                body_error.clone(),
                body_ended.clone(),
            );
            let run_body = move |g: &TaskGroup| -> Result<usize, String> {
                let _ended = Ended(be);
                for (index, &(plan, yields)) in children.iter().enumerate() {
                    a.set(a.get() + 1);
                    let guard = Alive(a.clone());
                    let p = p.clone();
                    let child = g.spawn(move || {
                        let _guard = guard;
                        for _ in 0..yields {
                            fibrio::yield_now();
                        }
                        match plan {
                            Child::Return => {}
                            Child::Panic => {
                                let text = format!("planned failure {index}");
                                p.borrow_mut().push((index, text.clone()));
                                std::panic::panic_any(text);
                            }
                            Child::SleepLong => fibrio::sleep(Duration::from_secs(60)),
                            Child::PanicWhenCancelled => {
                                let cut = std::panic::catch_unwind(|| {
                                    fibrio::sleep(Duration::from_secs(60))
                                });
                                assert!(cut.is_err(), "only a cancellation ends the sleep");
                                let text = format!("planned failure {index} in cleanup");
                                p.borrow_mut().push((index, text.clone()));
                                std::panic::panic_any(text);
                            }
                        }
                    });
                    r.borrow_mut().push(child.task_ref());
                }
                for step in 0..=steps {
                    if cancel_at == Some(step) {
                        g.cancel();
                    }
                    match body {
                        Body::Panic(at) if at == step => {
                            let text = format!("planned body panic at {step}");
                            *bp.borrow_mut() = Some(text.clone());
                            std::panic::panic_any(text);
                        }
                        Body::ReturnEarly(at) if at == step => return Ok(n + step),
                        Body::Fail(at) if at == step => {
                            let text = format!("planned body error at {step}");
                            *berr.borrow_mut() = Some(text.clone());
                            return Err(text);
                        }
                        _ => {}
                    }
                    if step < steps {
                        // Shielded, a failing child does not cut the body
                        // short: it goes on, and may panic or return too.
                        if shielded {
                            fibrio::CancelScope::shield(fibrio::yield_now);
                        } else {
                            fibrio::yield_now();
                        }
                    }
                }
                Ok(n + 100)
            };
            // Only a `Fail` body returns `Err`; the others go through
            // either entry point.
            let seen = if through_try_scope || matches!(body, Body::Fail(_)) {
                seen_of(TaskGroup::try_scope(run_body))
            } else {
                seen_of(TaskGroup::scope(run_body).map(|returned| {
                    returned.expect("only a Fail body returns an error value")
                }))
            };
            watchdog.join().unwrap();
            let all_finished = refs.borrow().iter().all(TaskRef::is_finished);
            let mut children_panics = panicked.borrow().clone();
            children_panics.sort();
            let body_panic = body_panic.borrow().clone();
            let body_error = body_error.borrow().clone();
            (alive.get(), all_finished, seen, (body_panic, body_error, children_panics))
        });
        prop_assert_eq!(alive_after, 0, "a child's stack outlived the group");
        prop_assert!(all_finished);
        let (body_panic, body_error, children_panics) = expected;
        if let Some(error) = body_error {
            // The body returned its error (so it did not panic).
            prop_assert!(body_panic.is_none());
            match seen {
                Seen::BodyFailed(reported, children) => {
                    prop_assert_eq!(reported, error);
                    prop_assert_eq!(children, children_panics, "every child panic, once");
                }
                other => prop_assert!(false, "body error {error:?} lost: {other:?}"),
            }
            return Ok(());
        }
        match (body_panic, seen) {
            (Some(body), Seen::BodyPanicked(reported, children)) => {
                prop_assert_eq!(reported, body);
                prop_assert_eq!(children, children_panics, "every child panic, once");
            }
            (Some(body), other) => prop_assert!(false, "body panic {body:?} lost: {other:?}"),
            (None, Seen::Failed(children)) => {
                prop_assert!(!children_panics.is_empty());
                prop_assert_eq!(children, children_panics, "every child panic, once");
            }
            (None, Seen::Value(value)) => {
                prop_assert!(children_panics.is_empty(), "{children_panics:?} lost");
                let expected = match body {
                    Body::ReturnEarly(at) if at <= steps => n + at,
                    _ => n + 100,
                };
                prop_assert_eq!(value, expected);
            }
            (None, Seen::Cancelled) => {
                prop_assert!(children_panics.is_empty(), "{children_panics:?} lost");
            }
            (None, other @ Seen::BodyPanicked(..)) => {
                prop_assert!(false, "a body panic that did not happen: {other:?}");
            }
            (None, other @ Seen::BodyFailed(..)) => {
                prop_assert!(false, "a body error that was not returned: {other:?}");
            }
        }
    }
}
