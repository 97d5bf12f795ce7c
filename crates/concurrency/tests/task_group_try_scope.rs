//! `TaskGroup::try_scope` (issue 13): the body ends the group with an error
//! value, without panicking. The children are cancelled and waited for,
//! and the error comes back with every child's failure, as trio reports
//! an exception of the nursery's body together with its children's.

mod common;

use common::{park_until_cancelled, quiet_planned_panics, yield_n};

use std::cell::Cell;
use std::error::Error;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use fibrio::task::Builder;
use fibrio_concurrency::{TaskGroup, TaskGroupError};

/// Counts drops: proves a child's stack unwound.
struct Flag(Rc<Cell<u32>>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[derive(Debug, PartialEq)]
struct LookupFailed(&'static str);

impl fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no record for {}", self.0)
    }
}

#[test]
fn the_ok_path_returns_the_value_after_the_children() {
    fibrio::run(|| {
        let done = Rc::new(Cell::new(0));
        let d = done.clone();
        let got = TaskGroup::try_scope(move |g| {
            for _ in 0..3 {
                let d = d.clone();
                g.spawn(move || {
                    fibrio::sleep(Duration::from_millis(2));
                    d.set(d.get() + 1);
                });
            }
            Ok::<_, LookupFailed>(42)
        });
        assert_eq!(got.unwrap(), 42);
        assert_eq!(done.get(), 3, "every child ended normally, not cancelled");
    });
}

#[test]
fn an_error_of_the_body_cancels_and_awaits_the_children() {
    fibrio::run(|| {
        let unwound = Rc::new(Cell::new(0));
        let u = unwound.clone();
        let err = TaskGroup::try_scope(move |g| {
            for _ in 0..3 {
                let u = u.clone();
                g.spawn(move || {
                    let _flag = Flag(u);
                    fibrio::sleep(Duration::from_secs(60));
                });
            }
            fibrio::yield_now();
            Err::<(), _>(LookupFailed("alice"))
        })
        .unwrap_err();
        assert_eq!(
            unwound.get(),
            3,
            "every child unwound before try_scope returned"
        );
        assert_eq!(err.body_error(), Some(&LookupFailed("alice")));
        assert!(err.failures().is_empty());
        assert!(err.body_panic().is_none());
        let report = err.to_string();
        assert!(
            report.starts_with("the body of the task group returned an error"),
            "{report}"
        );
        assert!(report.contains("no record for alice"), "{report}");
        assert_eq!(err.into_body_error().unwrap(), LookupFailed("alice"));
    });
}

#[test]
fn the_error_comes_back_with_every_child_failure() {
    quiet_planned_panics();
    fibrio::run(|| {
        let err = TaskGroup::try_scope(|g| {
            // Fails while being cancelled (trio: an exception raised while
            // handling `Cancelled`).
            g.spawn_with(Builder::new().name("cleanup"), || {
                let cut = std::panic::catch_unwind(park_until_cancelled);
                assert!(cut.is_err());
                panic!("planned: failure in cleanup")
            })
            .unwrap();
            // Fails before the body returns, which cancels the group; the
            // body's checkpoints are shielded, so it goes on and returns
            // its error anyway.
            g.spawn_with(Builder::new().name("early"), || -> () {
                fibrio::yield_now();
                panic!("planned: early failure")
            })
            .unwrap();
            fibrio::CancelScope::shield(|| yield_n(3));
            Err::<u8, _>(LookupFailed("bob"))
        })
        .unwrap_err();
        let TaskGroupError::BodyFailed { error, failures } = &err else {
            panic!("expected BodyFailed, got {err}");
        };
        assert_eq!(error, &LookupFailed("bob"));
        let names: Vec<_> = failures.iter().map(|f| f.name.as_deref()).collect();
        assert_eq!(names, [Some("early"), Some("cleanup")]);
        assert_eq!(err.failures().len(), 2);
        let report = err.to_string();
        assert!(
            report.contains("and 2 tasks of the group failed"),
            "{report}"
        );
        assert!(report.contains("planned: early failure"), "{report}");
        assert!(report.contains("planned: failure in cleanup"), "{report}");
    });
}

#[test]
fn a_body_cut_short_by_a_child_failure_reports_failed() {
    quiet_planned_panics();
    fibrio::run(|| {
        let err = TaskGroup::try_scope(|g| {
            g.spawn(|| -> () { panic!("planned: child") });
            park_until_cancelled();
            #[allow(unreachable_code)]
            Err::<(), _>(LookupFailed("never returned"))
        })
        .unwrap_err();
        assert!(matches!(err, TaskGroupError::Failed(ref f) if f.len() == 1));
        assert!(err.body_error().is_none());
        assert!(err.into_body_error().is_err());
    });
}

#[test]
fn a_panic_of_a_fallible_body_is_still_body_panicked() {
    quiet_planned_panics();
    fibrio::run(|| {
        let err = TaskGroup::try_scope(|g| -> Result<(), LookupFailed> {
            g.spawn(park_until_cancelled);
            panic!("planned: body panic")
        })
        .unwrap_err();
        assert!(matches!(err, TaskGroupError::BodyPanicked { .. }));
        assert_eq!(
            err.body_panic().and_then(|p| p.downcast_ref::<&str>()),
            Some(&"planned: body panic")
        );
        assert!(err.body_error().is_none());
    });
}

#[test]
fn the_error_is_a_std_error_and_works_with_the_question_mark() {
    fn load(ok: bool) -> Result<u32, Box<dyn Error>> {
        let value = TaskGroup::try_scope(|g| {
            g.spawn(|| ());
            if ok {
                Ok(7)
            } else {
                Err(LookupFailed("carol"))
            }
        })?;
        Ok(value)
    }
    fibrio::run(|| {
        assert_eq!(load(true).unwrap(), 7);
        let err = load(false).unwrap_err();
        assert!(err.to_string().contains("no record for carol"), "{err}");
    });
}

#[test]
fn the_caller_cancellation_still_unwinds_through_try_scope() {
    fibrio::run(|| {
        let unwound = Rc::new(Cell::new(0));
        let u = unwound.clone();
        let parent = fibrio::spawn(move || {
            let _ = TaskGroup::try_scope(move |g| {
                g.spawn(move || {
                    let _flag = Flag(u);
                    park_until_cancelled()
                });
                park_until_cancelled();
                #[allow(unreachable_code)]
                Ok::<(), LookupFailed>(())
            });
            unreachable!("the parent was cancelled");
        });
        fibrio::yield_now();
        parent.cancel();
        assert!(parent.join().unwrap_err().is_cancelled());
        assert_eq!(unwound.get(), 1, "the child was cancelled and waited for");
    });
}
