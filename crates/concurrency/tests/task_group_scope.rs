//! TaskGroup and wait_for/timeout behaviour, in the spirit of asyncio's
//! TaskGroup tests and trio's nursery tests: no child outlives the call,
//! the first failure cancels the rest, every failure is reported, and the
//! caller's cancellation reaches the children.

mod common;

use common::quiet_planned_panics;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::task::Builder;
use fibrio_concurrency::{timeout, wait_for, TaskGroup, TaskGroupError};

struct Flag(Rc<Cell<u32>>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn no_child_outlives_the_scope() {
    fibrio::run(|| {
        let ended = Rc::new(Cell::new(0));
        let got = TaskGroup::scope(|g| {
            for i in 0..10u64 {
                let ended = ended.clone();
                g.spawn(move || {
                    fibrio::sleep(Duration::from_millis(i));
                    ended.set(ended.get() + 1);
                });
            }
            "body done"
        });
        assert_eq!(got.unwrap(), "body done");
        assert_eq!(ended.get(), 10);
    });
}

#[test]
fn the_first_failure_cancels_siblings_and_the_body() {
    quiet_planned_panics();
    fibrio::run(|| {
        let dropped = Rc::new(Cell::new(0));
        let body_went_on = Rc::new(Cell::new(false));
        let d = dropped.clone();
        let went_on = body_went_on.clone();
        let err = TaskGroup::scope(move |g| {
            for _ in 0..3 {
                let d = d.clone();
                g.spawn(move || {
                    let _flag = Flag(d);
                    fibrio::sleep(Duration::from_secs(60));
                });
            }
            g.spawn(|| {
                fibrio::sleep(Duration::from_millis(5));
                panic!("planned: child failed")
            });
            fibrio::sleep(Duration::from_secs(60));
            went_on.set(true);
        })
        .unwrap_err();
        assert_eq!(err.failures().len(), 1);
        assert_eq!(err.failures()[0].index, 3);
        assert_eq!(err.failures()[0].message, "planned: child failed");
        assert_eq!(
            dropped.get(),
            3,
            "every sibling unwound before scope returned"
        );
        assert!(!body_went_on.get());
        assert!(err.to_string().contains("1 task of the group failed"));
    });
}

#[test]
fn two_children_failing_together_are_both_reported() {
    quiet_planned_panics();
    fibrio::run(|| {
        // Both wake in the same reactor turn. The first to run panics and
        // cancels the group, but the second's sleep had completed: it is not
        // undone, so the second runs on and panics too.
        let at = Instant::now() + Duration::from_millis(5);
        let err = TaskGroup::scope(|g| {
            g.spawn_with(Builder::new().name("left"), move || {
                fibrio::sleep_until(at);
                panic!("planned: left")
            })
            .unwrap();
            g.spawn_with(Builder::new().name("right"), move || {
                fibrio::sleep_until(at);
                panic!("planned: right")
            })
            .unwrap();
        })
        .unwrap_err();
        let TaskGroupError::Failed(failures) = &err else {
            panic!("not a failure: {err}");
        };
        assert_eq!(failures.len(), 2);
        let names: Vec<_> = failures.iter().map(|f| f.name.clone().unwrap()).collect();
        assert_eq!(names, ["left", "right"]);
        let report = err.to_string();
        assert!(report.contains("2 tasks of the group failed"), "{report}");
        assert!(report.contains("[0] task 'left'"), "{report}");
        assert!(report.contains("[1] task 'right'"), "{report}");
        assert_eq!(
            failures[0].payload.downcast_ref::<&str>(),
            Some(&"planned: left")
        );
    });
}

#[test]
fn handles_collect_results_and_see_failures() {
    quiet_planned_panics();
    fibrio::run(|| {
        let sum = TaskGroup::scope(|g| {
            let hs: Vec<_> = (0..5).map(|i| g.spawn(move || i)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
        });
        assert_eq!(sum.unwrap(), 10);
        let _ = TaskGroup::scope(|g| {
            let h = g.spawn(|| -> u8 { panic!("planned: via handle") });
            let err = h.join().unwrap_err();
            let payload = err.into_panic();
            assert_eq!(
                payload.downcast_ref::<String>().map(String::as_str),
                Some("planned: via handle")
            );
        });
    });
}

#[test]
fn a_panicking_body_cancels_children_then_is_reported() {
    quiet_planned_panics();
    fibrio::run(|| {
        let dropped = Rc::new(Cell::new(0));
        let d = dropped.clone();
        let outcome = fibrio::spawn(move || {
            TaskGroup::scope(move |g| {
                let d = d.clone();
                g.spawn(move || {
                    let _flag = Flag(d);
                    fibrio::sleep(Duration::from_secs(60));
                });
                fibrio::yield_now();
                panic!("planned: body");
            })
        })
        .join();
        // The body's panic is returned in the error (issue 13), not resumed.
        let err = outcome.unwrap().unwrap_err();
        assert!(
            matches!(err, TaskGroupError::BodyPanicked { .. }),
            "{err:?}"
        );
        assert_eq!(
            err.body_panic().and_then(|p| p.downcast_ref::<&str>()),
            Some(&"planned: body")
        );
        assert_eq!(dropped.get(), 1);
    });
}

#[test]
fn cancelling_the_caller_cancels_and_awaits_the_children() {
    fibrio::run(|| {
        let dropped = Rc::new(Cell::new(0));
        let d = dropped.clone();
        let parent = fibrio::spawn(move || {
            let _ = TaskGroup::scope(move |g| {
                for _ in 0..4 {
                    let d = d.clone();
                    g.spawn(move || {
                        let _flag = Flag(d);
                        fibrio::sleep(Duration::from_secs(60));
                    });
                }
            });
            unreachable!("the parent was cancelled");
        });
        fibrio::sleep(Duration::from_millis(5));
        parent.cancel();
        assert!(parent.join().unwrap_err().is_cancelled());
        assert_eq!(dropped.get(), 4);
    });
}

#[test]
fn group_cancel_without_failure_is_reported_as_cancelled() {
    fibrio::run(|| {
        let got = TaskGroup::scope(|g| {
            g.spawn(|| fibrio::sleep(Duration::from_secs(60)));
            assert_eq!(g.running(), 1);
            g.cancel();
            fibrio::sleep(Duration::from_secs(60));
        });
        let err = got.unwrap_err();
        assert!(matches!(err, TaskGroupError::Cancelled));
        assert!(err.failures().is_empty());
    });
}

#[test]
fn an_empty_group_returns_the_body_value() {
    fibrio::run(|| {
        let got = TaskGroup::scope(|g| {
            assert!(g.is_empty());
            assert!(format!("{g:?}").contains("children: 0"));
            7
        });
        assert_eq!(got.unwrap(), 7);
    });
}

#[test]
fn wait_for_returns_the_value_or_cancels_on_expiry() {
    fibrio::run(|| {
        let quick = fibrio::spawn(|| {
            fibrio::sleep(Duration::from_millis(1));
            3
        });
        assert_eq!(wait_for(quick, Duration::from_secs(5)).unwrap(), 3);

        let stopped = Rc::new(Cell::new(0));
        let s = stopped.clone();
        let slow = fibrio::spawn(move || {
            let _flag = Flag(s);
            fibrio::sleep(Duration::from_secs(60));
        });
        let start = Instant::now();
        let err = wait_for(slow, Duration::from_millis(10)).unwrap_err();
        assert!(err.is_elapsed());
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(
            stopped.get(),
            1,
            "the body stopped before wait_for returned"
        );
        assert!(err.to_string().contains("the task was cancelled"));
        assert_eq!(fibrio_core::task::pending_timers(), Some(0));
    });
}

#[test]
fn wait_for_reports_a_failed_task() {
    quiet_planned_panics();
    fibrio::run(|| {
        let bad = fibrio::spawn(|| -> u8 { panic!("planned: bad") });
        let err = wait_for(bad, Duration::from_secs(5)).unwrap_err();
        assert!(!err.is_elapsed());
        assert!(err.to_string().contains("failed before the timeout"));
    });
}

#[test]
fn cancelling_a_wait_for_caller_cancels_the_awaited_task() {
    fibrio::run(|| {
        let inner = fibrio::spawn(|| fibrio::sleep(Duration::from_secs(60)));
        let watcher = inner.task_ref();
        let caller = fibrio::spawn(move || wait_for(inner, Duration::from_secs(60)));
        fibrio::sleep(Duration::from_millis(5));
        caller.cancel();
        assert!(caller.join().unwrap_err().is_cancelled());
        watcher.wait().unwrap();
        assert!(watcher.state().is_cancelled());
    });
}

#[test]
fn timeout_cuts_a_closure_short() {
    fibrio::run(|| {
        let err = timeout(Duration::from_millis(5), || {
            fibrio::sleep(Duration::from_secs(60))
        })
        .unwrap_err();
        assert_eq!(err.timeout(), Duration::from_millis(5));
        assert_eq!(timeout(Duration::from_secs(1), || "fast"), Ok("fast"));
    });
}
