//! Property test: for random mixes of tasks that return a value, panic, or
//! get cancelled, each after a random number of yields (some already ended
//! when gathered), every gather keeps the input indices and loses no
//! outcome: `successes + failures == n`, each outcome matches its task's
//! plan, and fail-fast leaves no task running.

mod common;

use common::{quiet_planned_panics, yield_n};

use fibrio::JoinHandle;
use fibrio_concurrency::gather::{
    gather_partial, gather_with, FailureKind, GatherError, GatherStrategy,
};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What a task does; the number is how many times it yields first (for
/// `Cancel`, how many times its canceller yields before cancelling it).
#[derive(Debug, Clone, Copy)]
enum Plan {
    Value(usize),
    Panic(usize),
    Cancel(usize),
}

fn plan() -> impl Strategy<Value = Plan> {
    prop_oneof![
        (0usize..5).prop_map(Plan::Value),
        (0usize..5).prop_map(Plan::Panic),
        (0usize..5).prop_map(Plan::Cancel),
    ]
}

fn value_of(index: usize) -> usize {
    index * 3 + 1
}

/// Spawns the tasks of `plans`, and a canceller task for each `Cancel`.
fn spawn_all(plans: &[Plan]) -> (Vec<JoinHandle<usize>>, Vec<JoinHandle<()>>) {
    let mut cancellers = Vec::new();
    let handles = plans
        .iter()
        .enumerate()
        .map(|(i, &plan)| match plan {
            Plan::Value(y) => fibrio::spawn(move || {
                yield_n(y);
                value_of(i)
            }),
            Plan::Panic(y) => fibrio::spawn(move || {
                yield_n(y);
                panic!("planned failure of task {i}")
            }),
            Plan::Cancel(y) => {
                let child = fibrio::spawn(|| -> usize {
                    loop {
                        fibrio::yield_now();
                    }
                });
                let target = child.task_ref();
                cancellers.push(fibrio::spawn(move || {
                    yield_n(y);
                    target.cancel();
                }));
                child
            }
        })
        .collect();
    (handles, cancellers)
}

/// The checks shared by both strategies: counts, sorted unique indices
/// covering the input, and the right value for every success.
fn check_error_shape(err: &GatherError<usize>, n: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(err.total(), n);
    prop_assert_eq!(err.success_count() + err.failed_count(), n);
    let mut indices: Vec<usize> = err.successes().iter().map(|(i, _)| *i).collect();
    indices.extend(err.failures().iter().map(|f| f.index()));
    indices.sort_unstable();
    prop_assert_eq!(indices, (0..n).collect::<Vec<_>>());
    for &(i, value) in err.successes() {
        prop_assert_eq!(value, value_of(i));
    }
    prop_assert!(err
        .failures()
        .windows(2)
        .all(|w| w[0].index() < w[1].index()));
    prop_assert!(err.successes().windows(2).all(|w| w[0].0 < w[1].0));
    Ok(())
}

fn check_partial(
    plans: &[Plan],
    outcomes: &[Result<usize, fibrio::JoinError>],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(outcomes.len(), plans.len());
    for (i, (plan, outcome)) in plans.iter().zip(outcomes).enumerate() {
        match (plan, outcome) {
            (Plan::Value(_), Ok(value)) => prop_assert_eq!(*value, value_of(i)),
            (Plan::Panic(_), Err(err)) => prop_assert!(err.is_panic(), "task {}: {:?}", i, err),
            (Plan::Cancel(_), Err(err)) => {
                prop_assert!(err.is_cancelled(), "task {}: {:?}", i, err)
            }
            (plan, outcome) => prop_assert!(false, "task {}: {:?} gave {:?}", i, plan, outcome),
        }
    }
    Ok(())
}

fn check_wait_all(
    plans: &[Plan],
    result: Result<Vec<usize>, GatherError<usize>>,
) -> Result<(), TestCaseError> {
    let n = plans.len();
    let err = match result {
        Ok(values) => {
            prop_assert!(plans.iter().all(|p| matches!(p, Plan::Value(_))));
            prop_assert_eq!(values, (0..n).map(value_of).collect::<Vec<_>>());
            return Ok(());
        }
        Err(err) => err,
    };
    check_error_shape(&err, n)?;
    for &(i, _) in err.successes() {
        prop_assert!(matches!(plans[i], Plan::Value(_)), "task {} succeeded", i);
    }
    for failure in err.failures() {
        let expected = match plans[failure.index()] {
            Plan::Value(_) => None,
            Plan::Panic(_) => Some(FailureKind::Panicked),
            Plan::Cancel(_) => Some(FailureKind::Cancelled),
        };
        prop_assert_eq!(Some(failure.kind()), expected, "task {}", failure.index());
    }
    Ok(())
}

fn check_fail_fast(
    plans: &[Plan],
    result: Result<Vec<usize>, GatherError<usize>>,
) -> Result<(), TestCaseError> {
    let n = plans.len();
    let err = match result {
        Ok(values) => {
            prop_assert!(plans.iter().all(|p| matches!(p, Plan::Value(_))));
            prop_assert_eq!(values, (0..n).map(value_of).collect::<Vec<_>>());
            return Ok(());
        }
        Err(err) => err,
    };
    check_error_shape(&err, n)?;
    prop_assert!(plans.iter().any(|p| !matches!(p, Plan::Value(_))));
    for &(i, _) in err.successes() {
        prop_assert!(matches!(plans[i], Plan::Value(_)), "task {} succeeded", i);
    }
    for failure in err.failures() {
        let own = match plans[failure.index()] {
            Plan::Value(_) => None,
            Plan::Panic(_) => Some(FailureKind::Panicked),
            Plan::Cancel(_) => Some(FailureKind::Cancelled),
        };
        let kind = failure.kind();
        prop_assert!(
            kind == FailureKind::CancelledByGather || Some(kind) == own,
            "task {}: {:?} for {:?}",
            failure.index(),
            kind,
            plans[failure.index()]
        );
    }
    // The failure that triggered the cancellation is a task's own.
    prop_assert!(err.failures().iter().any(|f| !f.cancelled_by_gather()));
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn gathers_keep_indices_and_lose_no_outcome(
        plans in proptest::collection::vec(plan(), 0..10),
        head_start in 0usize..4,
    ) {
        quiet_planned_panics();
        fibrio::run(move || -> Result<(), TestCaseError> {
            // gather_partial: every outcome, in input order.
            let (handles, cancellers) = spawn_all(&plans);
            yield_n(head_start);
            let outcomes = gather_partial(handles);
            check_partial(&plans, &outcomes)?;
            for canceller in cancellers {
                prop_assert!(canceller.join().is_ok());
            }

            // WaitAll: nothing cancelled by gather; every failure reported.
            let (handles, cancellers) = spawn_all(&plans);
            yield_n(head_start);
            check_wait_all(&plans, gather_with(GatherStrategy::WaitAll, handles))?;
            for canceller in cancellers {
                prop_assert!(canceller.join().is_ok());
            }

            // FailFast: no task still running when gather returns.
            let (handles, cancellers) = spawn_all(&plans);
            let refs: Vec<_> = handles.iter().map(|h| h.task_ref()).collect();
            yield_n(head_start);
            check_fail_fast(&plans, gather_with(GatherStrategy::FailFast, handles))?;
            prop_assert!(refs.iter().all(|t| t.is_finished()));
            for canceller in cancellers {
                prop_assert!(canceller.join().is_ok());
            }
            Ok(())
        })?;
    }
}
