//! gather behaviour: fail-fast cancels the rest and waits for them,
//! wait-all reports every failure, gather_partial keeps every outcome in
//! input order, tasks already ended are taken at once, the report names
//! every failure, the gather! macro, and cancelling the gathering task
//! cancels its children.

mod common;

use common::{quiet_planned_panics, yield_n};

use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::task::{Builder, JoinError};
use fibrio::JoinHandle;
use fibrio_concurrency::gather::{
    gather, gather_partial, gather_with, AnyGatherError, FailureKind, GatherStrategy,
};

/// Sets its flag when dropped: proves a task's stack was unwound.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A task that runs until cancelled, setting `flag` as it unwinds.
fn spin_until_cancelled<T: 'static>(flag: &Rc<Cell<bool>>) -> JoinHandle<T> {
    let guard = DropFlag(flag.clone());
    fibrio::spawn(move || -> T {
        let _guard = guard;
        loop {
            fibrio::yield_now();
        }
    })
}

#[test]
fn fail_fast_cancels_the_rest_and_waits_for_them() {
    quiet_planned_panics();
    fibrio::run(|| {
        let spinner_dropped = Rc::new(Cell::new(false));
        let sleeper_dropped = Rc::new(Cell::new(false));
        let spinner = spin_until_cancelled::<u32>(&spinner_dropped);
        let bad = fibrio::spawn(|| -> u32 {
            yield_n(2);
            panic!("planned boom")
        });
        let guard = DropFlag(sleeper_dropped.clone());
        let sleeper = fibrio::spawn(move || {
            let _guard = guard;
            fibrio::sleep(Duration::from_secs(60));
            3
        });
        let quick = fibrio::spawn(|| 4);
        let refs = [&spinner, &bad, &sleeper, &quick].map(|h| h.task_ref());
        let started = Instant::now();

        let err = gather(vec![spinner, bad, sleeper, quick]).unwrap_err();

        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the sleeper was not stopped"
        );
        // The cancelled siblings have ended, their stacks unwound, before
        // gather returned.
        assert!(spinner_dropped.get() && sleeper_dropped.get());
        assert!(refs.iter().all(|task| task.is_finished()));
        assert_eq!(
            (err.total(), err.failed_count(), err.success_count()),
            (4, 3, 1)
        );
        assert_eq!(err.successes(), &[(3, 4)]);
        let kinds: Vec<_> = err
            .failures()
            .iter()
            .map(|f| (f.index(), f.kind()))
            .collect();
        assert_eq!(
            kinds,
            [
                (0, FailureKind::CancelledByGather),
                (1, FailureKind::Panicked),
                (2, FailureKind::CancelledByGather),
            ]
        );
        assert!(err.failures()[0].cancelled_by_gather());
        assert!(!err.failures()[1].cancelled_by_gather());
        assert_eq!(err.failures()[1].message(), "planned boom");
        assert!(err.failures()[2].error().is_cancelled());
    });
}

#[test]
fn fail_fast_treats_a_cancelled_child_as_a_failure() {
    fibrio::run(|| {
        let flag = Rc::new(Cell::new(false));
        let spinner = spin_until_cancelled::<()>(&flag);
        let victim = fibrio::spawn(|| yield_n(3));
        let victim_ref = victim.task_ref();
        let canceller = fibrio::spawn(move || {
            fibrio::yield_now();
            victim_ref.cancel();
        });
        let err = gather(vec![spinner, victim]).unwrap_err();
        canceller.join().unwrap();
        assert!(flag.get());
        let kinds: Vec<_> = err.failures().iter().map(|f| f.kind()).collect();
        // Cancelled by someone else: a failure of its own, which made
        // gather cancel the spinner.
        assert_eq!(
            kinds,
            [FailureKind::CancelledByGather, FailureKind::Cancelled]
        );
        assert_eq!(err.failures()[1].index(), 1);
    });
}

#[test]
fn wait_all_reports_two_failures_at_once() {
    quiet_planned_panics();
    fibrio::run(|| {
        let a = fibrio::spawn(|| 10);
        let b = Builder::new()
            .name("fetch-b")
            .spawn(|| -> i32 { panic!("planned boom") })
            .unwrap();
        let c = fibrio::spawn(|| {
            yield_n(5); // still running when `b` fails: not cancelled
            30
        });
        let d = fibrio::spawn(|| 40);
        let e = fibrio::spawn(|| 50);
        d.cancel();
        let (b_id, d_id) = (b.id(), d.id());

        let err = gather_with(GatherStrategy::WaitAll, vec![a, b, c, d, e]).unwrap_err();

        assert_eq!(
            (err.failed_count(), err.success_count(), err.total()),
            (2, 3, 5)
        );
        assert_eq!(err.successes(), &[(0, 10), (2, 30), (4, 50)]);
        let failures = err.failures();
        assert_eq!(
            (failures[0].index(), failures[0].kind()),
            (1, FailureKind::Panicked)
        );
        assert_eq!(
            (failures[1].index(), failures[1].kind()),
            (3, FailureKind::Cancelled)
        );
        assert_eq!(
            err.to_string(),
            format!(
                "2 of 5 tasks failed:\n  [1] task 'fetch-b' (id {b_id}) panicked: planned boom\n  \
                 [3] task #{d_id} was cancelled"
            )
        );
        assert_eq!(err.report().to_string(), err.to_string());
        let (successes, failures) = err.into_parts();
        assert_eq!(successes.len() + failures.len(), 5);
        assert_eq!(
            failures
                .into_iter()
                .next()
                .unwrap()
                .into_error()
                .into_panic()
                .downcast_ref::<&str>(),
            Some(&"planned boom")
        );
    });
}

#[test]
fn wait_all_returns_values_in_input_order() {
    let values = fibrio::run(|| {
        // Task i ends after 5 - i yields: they end in reverse order.
        let handles = (0..5)
            .map(|i| {
                fibrio::spawn(move || {
                    yield_n(5 - i);
                    i * 2
                })
            })
            .collect();
        gather_with(GatherStrategy::WaitAll, handles).unwrap()
    });
    assert_eq!(values, [0, 2, 4, 6, 8]);
}

#[test]
fn partial_keeps_input_order_and_every_outcome() {
    quiet_planned_panics();
    fibrio::run(|| {
        let slow_ok = fibrio::spawn(|| {
            yield_n(6);
            "slow"
        });
        let bad = fibrio::spawn(|| -> &str { panic!("planned partial") });
        let gone = fibrio::spawn(|| "never");
        gone.cancel();
        let quick = fibrio::spawn(|| "quick");

        let outcomes = gather_partial(vec![slow_ok, bad, gone, quick]);

        assert_eq!(outcomes.len(), 4);
        assert_eq!(*outcomes[0].as_ref().unwrap(), "slow"); // not cancelled
        let panic = outcomes[1].as_ref().unwrap_err();
        assert!(panic.is_panic());
        assert!(panic.to_string().contains("planned partial"));
        assert!(outcomes[2].as_ref().unwrap_err().is_cancelled());
        assert_eq!(*outcomes[3].as_ref().unwrap(), "quick");
    });
}

#[test]
fn already_finished_tasks_are_gathered_at_once() {
    fibrio::run(|| {
        let handles: Vec<_> = (0..4).map(|i| fibrio::spawn(move || i)).collect();
        for handle in &handles {
            handle.task_ref().wait().unwrap();
        }
        // A task queued now runs only if gather parks.
        let parked = Rc::new(Cell::new(false));
        let witness = {
            let parked = parked.clone();
            fibrio::spawn(move || parked.set(true))
        };
        assert_eq!(gather(handles).unwrap(), [0, 1, 2, 3]);
        assert!(!parked.get(), "gather parked although every task had ended");
        witness.join().unwrap();

        // A mix of ended and running tasks: the ended ones are taken by the
        // first sweep, the others waited for.
        let done = fibrio::spawn(|| 1);
        done.task_ref().wait().unwrap();
        let later = fibrio::spawn(|| {
            yield_n(3);
            2
        });
        assert_eq!(
            gather_partial(vec![done, later])
                .into_iter()
                .map(Result::unwrap)
                .sum::<i32>(),
            3
        );
    });
}

#[test]
fn report_names_indices_and_ids() {
    fibrio::run(|| {
        let named = Builder::new().name("fetch-a").spawn(|| ()).unwrap();
        let unnamed = fibrio::spawn(|| ());
        let ok = fibrio::spawn(|| ());
        named.cancel();
        unnamed.cancel();
        let (named_id, unnamed_id) = (named.id(), unnamed.id());

        let err = gather_with(GatherStrategy::WaitAll, vec![ok, named, unnamed]).unwrap_err();

        let first = &err.failures()[0];
        assert_eq!(
            (first.index(), first.name(), first.id()),
            (1, Some("fetch-a"), named_id)
        );
        let second = &err.failures()[1];
        assert_eq!(
            (second.index(), second.name(), second.id()),
            (2, None, unnamed_id)
        );
        assert_eq!(
            second.to_string(),
            format!("task #{unnamed_id} was cancelled")
        );
        let report = err.report();
        assert_eq!(
            (report.total, report.success_count, report.failed_count),
            (3, 1, 2)
        );
        assert_eq!(report.succeeded, [0]);
        assert_eq!(report.failures[0].name.as_deref(), Some("fetch-a"));
        assert_eq!(report.failures[1].id, unnamed_id);
        assert_eq!(report.failures[1].message, "the task was cancelled");
    });
}

#[test]
fn display_of_a_single_failure_and_of_gather_cancellation() {
    quiet_planned_panics();
    fibrio::run(|| {
        let flag = Rc::new(Cell::new(false));
        let spinner = spin_until_cancelled::<()>(&flag);
        let spinner_id = spinner.id();
        let bad = Builder::new()
            .name("worker")
            .spawn(|| panic!("planned {}", 42))
            .unwrap();
        let bad_id = bad.id();
        let err = gather(vec![spinner, bad]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "2 of 2 tasks failed:\n  [0] task #{spinner_id} was cancelled by gather after \
                 another task failed\n  [1] task 'worker' (id {bad_id}) panicked: planned 42"
            )
        );
        let only = fibrio::spawn(|| ());
        only.cancel();
        let err = gather(vec![only]).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("1 of 1 task failed:\n  [0] task #"));
        let as_error: &dyn std::error::Error = &err;
        assert!(as_error.to_string().ends_with("was cancelled"));
    });
}

#[test]
fn macro_gathers_three_different_types() {
    quiet_planned_panics();
    fibrio::run(|| {
        let (n, s, v) = fibrio_concurrency::gather!(
            fibrio::spawn(|| 1_u8),
            fibrio::spawn(|| {
                fibrio::yield_now();
                String::from("two")
            }),
            fibrio::spawn(|| vec![3_i64]),
        )
        .unwrap();
        assert_eq!((n, s.as_str(), v), (1, "two", vec![3]));

        let (one,) = fibrio_concurrency::gather!(fibrio::spawn(|| 'x')).unwrap();
        assert_eq!(one, 'x');
        let eight = fibrio_concurrency::gather!(
            fibrio::spawn(|| 1_u8),
            fibrio::spawn(|| 2_u16),
            fibrio::spawn(|| 3_u32),
            fibrio::spawn(|| 4_u64),
            fibrio::spawn(|| 5_i8),
            fibrio::spawn(|| 6_i16),
            fibrio::spawn(|| 7_i32),
            fibrio::spawn(|| 8_i64)
        )
        .unwrap();
        assert_eq!(eight, (1, 2, 3, 4, 5, 6, 7, 8));

        // Fail-fast, with the successes kept as `Box<dyn Any>`.
        let flag = Rc::new(Cell::new(false));
        let result: Result<(u32, String, ()), AnyGatherError> = fibrio_concurrency::gather!(
            fibrio::spawn(|| 5_u32),
            spin_until_cancelled::<String>(&flag),
            fibrio::spawn(|| {
                fibrio::yield_now();
                panic!("planned macro")
            }),
        );
        let err = result.unwrap_err();
        assert!(flag.get());
        assert_eq!(err.successes().len(), 1);
        assert_eq!(err.successes()[0].0, 0);
        assert_eq!(err.successes()[0].1.downcast_ref::<u32>(), Some(&5));
        let kinds: Vec<_> = err
            .failures()
            .iter()
            .map(|f| (f.index(), f.kind()))
            .collect();
        assert_eq!(
            kinds,
            [
                (1, FailureKind::CancelledByGather),
                (2, FailureKind::Panicked)
            ]
        );
    });
}

#[test]
fn gathering_nothing() {
    fibrio::run(|| {
        assert_eq!(
            gather(Vec::<JoinHandle<u8>>::new()).unwrap(),
            Vec::<u8>::new()
        );
        let all = gather_with(GatherStrategy::WaitAll, Vec::<JoinHandle<u8>>::new()).unwrap();
        assert!(all.is_empty());
        assert!(gather_partial(Vec::<JoinHandle<u8>>::new()).is_empty());
    });
    // No task is needed to gather nothing.
    assert!(gather(Vec::<JoinHandle<()>>::new()).unwrap().is_empty());
}

#[test]
fn cancelling_the_gathering_task_cancels_the_children() {
    type Gather = fn(Vec<JoinHandle<()>>);
    let gathers: [(&str, Gather); 4] = [
        ("gather", |h| drop(gather(h))),
        ("wait_all", |h| {
            drop(gather_with(GatherStrategy::WaitAll, h))
        }),
        ("fail_fast", |h| {
            drop(gather_with(GatherStrategy::FailFast, h))
        }),
        ("partial", |h| drop(gather_partial(h))),
    ];
    for (what, gather_fn) in gathers {
        fibrio::run(move || {
            let flags: Vec<_> = (0..3).map(|_| Rc::new(Cell::new(false))).collect();
            let children: Vec<JoinHandle<()>> = flags.iter().map(spin_until_cancelled).collect();
            let refs: Vec<_> = children.iter().map(|c| c.task_ref()).collect();
            let gatherer = fibrio::spawn(move || gather_fn(children));
            yield_n(3); // the gatherer is parked in gather
            gatherer.cancel();
            assert!(gatherer.join().unwrap_err().is_cancelled(), "{what}");
            for task in &refs {
                task.wait().unwrap();
                assert!(task.state().is_cancelled(), "{what}");
            }
            assert!(flags.iter().all(|f| f.get()), "{what}");
        });
    }
}

#[test]
fn a_cancel_scope_around_gather_cancels_the_children() {
    fibrio::run(|| {
        let flag = Rc::new(Cell::new(false));
        let child = spin_until_cancelled::<()>(&flag);
        let child_ref = child.task_ref();
        let outcome = fibrio_core::task::move_on_after(Duration::from_millis(20), move || {
            gather(vec![child])
        });
        assert!(outcome.is_none(), "the scope's deadline stopped gather");
        child_ref.wait().unwrap();
        assert!(child_ref.state().is_cancelled());
        assert!(flag.get());
    });
}

#[test]
fn gather_in_drop_while_unwinding_reports_every_unfinished_task() {
    quiet_planned_panics();
    type Seen = Rc<RefCell<Option<(usize, usize, Vec<FailureKind>)>>>;
    struct GatherOnDrop(Option<Vec<JoinHandle<u8>>>, Seen);
    impl Drop for GatherOnDrop {
        fn drop(&mut self) {
            let handles = self.0.take().unwrap();
            let err = gather(handles).unwrap_err();
            let unwinding = err
                .failures()
                .iter()
                .filter(|f| matches!(f.error(), JoinError::Unwinding))
                .count();
            let kinds = err.failures().iter().map(|f| f.kind()).collect();
            *self.1.borrow_mut() = Some((err.success_count(), unwinding, kinds));
        }
    }
    fibrio::run(|| {
        let flag = Rc::new(Cell::new(false));
        let done = fibrio::spawn(|| 1_u8);
        done.task_ref().wait().unwrap();
        let running = spin_until_cancelled::<u8>(&flag);
        let running_ref = running.task_ref();
        let seen: Seen = Rc::default();
        let owner = {
            let seen = seen.clone();
            fibrio::spawn(move || {
                let _guard = GatherOnDrop(Some(vec![done, running]), seen);
                panic!("planned unwinding");
            })
        };
        assert!(owner.join().unwrap_err().is_panic());
        // The ended task was gathered; the running one could not be waited
        // for, so it was reported and cancelled.
        assert_eq!(*seen.borrow(), Some((1, 1, vec![FailureKind::Other])));
        running_ref.wait().unwrap();
        assert!(running_ref.state().is_cancelled() && flag.get());
    });
}

#[test]
fn catching_a_child_panic_does_not_disturb_gather() {
    quiet_planned_panics();
    let values = fibrio::run(|| {
        let handles = (0..3)
            .map(|i| {
                fibrio::spawn(move || {
                    // A panic caught inside the task is not a failure.
                    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        if i == 1 {
                            panic!("planned and caught");
                        }
                        i
                    }));
                    caught.unwrap_or(-1)
                })
            })
            .collect();
        gather(handles).unwrap()
    });
    assert_eq!(values, [0, -1, 2]);
}

#[cfg(feature = "serde")]
#[test]
fn the_report_serialises_to_json() {
    quiet_planned_panics();
    fibrio::run(|| {
        let ok = fibrio::spawn(|| 1);
        let bad = Builder::new()
            .name("fetch-b")
            .spawn(|| -> i32 { panic!("planned json") })
            .unwrap();
        let gone = fibrio::spawn(|| 3);
        gone.cancel();
        let (bad_id, gone_id) = (bad.id(), gone.id());
        let err = gather_with(GatherStrategy::WaitAll, vec![ok, bad, gone]).unwrap_err();

        let json: serde_json::Value = serde_json::from_str(&err.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "total": 3,
                "success_count": 1,
                "failed_count": 2,
                "succeeded": [0],
                "failures": [
                    {"index": 1, "name": "fetch-b", "id": bad_id, "kind": "panicked",
                     "message": "planned json"},
                    {"index": 2, "name": null, "id": gone_id, "kind": "cancelled",
                     "message": "the task was cancelled"},
                ],
            })
        );
        assert_eq!(serde_json::to_string(&err.report()).unwrap(), err.to_json());
    });
}
