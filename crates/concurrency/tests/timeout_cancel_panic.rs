//! A task that panics while it is being cancelled (it catches the
//! cancellation, then panics with its own message) keeps that panic as its
//! failure: `wait_for` reports it instead of a timeout (asyncio's
//! `test_wait_for_cancellation` family re-raises it), and `select`, `race`
//! and fail-fast `gather` report it for a loser or sibling they cancelled
//! (as trio reports an exception raised by a task it was cancelling)
//! instead of dropping it or calling it "cancelled".

mod common;

use common::{park_until_cancelled, quiet_planned_panics, yield_n};

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Duration;

use fibrio::task::JoinError;
use fibrio::JoinHandle;
use fibrio_concurrency::gather::{gather, gather_with, FailureKind, GatherStrategy};
use fibrio_concurrency::select::{race, select, RaceError, SelectError};
use fibrio_concurrency::{wait_for, WaitForError};

type Log = Rc<RefCell<Vec<&'static str>>>;

/// The message of a panic payload.
fn message(error: &JoinError) -> &str {
    match error {
        JoinError::Panicked(payload) => payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("<not a string>"),
        other => panic!("expected a panic, got {other:?}"),
    }
}

/// A task that parks until cancelled, catches the cancellation, logs
/// `"caught"`, and then panics with `msg` (which starts with "planned").
fn panics_when_cancelled<T: 'static>(log: &Log, msg: &'static str) -> JoinHandle<T> {
    let log = log.clone();
    fibrio::spawn(move || -> T {
        let caught = std::panic::catch_unwind(AssertUnwindSafe(|| -> () {
            park_until_cancelled();
        }));
        assert!(caught.is_err(), "the cancellation unwound the park");
        log.borrow_mut().push("caught");
        panic!("{msg}");
    })
}

#[test]
fn wait_for_reports_a_panic_raised_while_cancelled_instead_of_a_timeout() {
    quiet_planned_panics();
    fibrio::run(|| {
        let log = Log::default();
        let task = panics_when_cancelled::<u8>(&log, "planned panic while cancelled");
        let watcher = task.task_ref();

        let err = wait_for(task, Duration::from_millis(5)).unwrap_err();
        log.borrow_mut().push("wait_for returned");

        assert!(!err.is_elapsed(), "a failure is not a timeout: {err:?}");
        match &err {
            WaitForError::FailedWhileCancelled { elapsed, error } => {
                assert_eq!(elapsed.timeout(), Duration::from_millis(5));
                assert_eq!(message(error), "planned panic while cancelled");
            }
            other => panic!("expected FailedWhileCancelled, got {other:?}"),
        }
        assert!(err.task_error().is_some_and(JoinError::is_panic));
        let text = err.to_string();
        assert!(text.contains("planned panic while cancelled"), "{text}");
        assert!(text.contains("while being cancelled"), "{text}");
        // The task had ended (by panicking) before wait_for returned.
        assert!(watcher.is_finished());
        assert!(!watcher.state().is_cancelled());
        assert_eq!(*log.borrow(), ["caught", "wait_for returned"]);
    });
}

#[test]
fn wait_for_still_reports_a_plain_cancellation_as_elapsed() {
    fibrio::run(|| {
        let task = fibrio::spawn(|| -> u8 { park_until_cancelled() });
        let watcher = task.task_ref();
        let err = wait_for(task, Duration::from_millis(5)).unwrap_err();
        assert!(err.is_elapsed());
        assert!(err.task_error().is_none());
        assert!(matches!(err, WaitForError::Elapsed(_)));
        assert!(watcher.state().is_cancelled());
    });
}

#[test]
fn wait_for_keeps_a_value_returned_after_catching_the_cancellation() {
    fibrio::run(|| {
        let task = fibrio::spawn(|| -> u8 {
            let caught = std::panic::catch_unwind(AssertUnwindSafe(|| -> () {
                park_until_cancelled();
            }));
            assert!(caught.is_err());
            7
        });
        assert_eq!(wait_for(task, Duration::from_millis(5)).unwrap(), 7);
    });
}

#[test]
fn wait_for_reports_a_panic_before_the_timeout_as_failed() {
    quiet_planned_panics();
    fibrio::run(|| {
        let task = fibrio::spawn(|| -> u8 { panic!("planned early panic") });
        // A 10 s timeout: the panic comes long before it.
        let err = wait_for(task, Duration::from_secs(10)).unwrap_err();
        match &err {
            WaitForError::Failed(error) => assert_eq!(message(error), "planned early panic"),
            other => panic!("expected Failed, got {other:?}"),
        }
        assert!(!err.is_elapsed());
    });
}

#[test]
fn select_reports_a_loser_that_panics_while_cancelled() {
    quiet_planned_panics();
    fibrio::run(|| {
        let log = Log::default();
        let loser = panics_when_cancelled::<&str>(&log, "planned loser panic");
        let quiet_loser = fibrio::spawn(|| -> &str { park_until_cancelled() });
        let winner = fibrio::spawn(|| {
            yield_n(3);
            "won"
        });
        let refs: Vec<_> = [&loser, &quiet_loser, &winner]
            .iter()
            .map(|h| h.task_ref())
            .collect();

        let err = select(vec![loser, quiet_loser, winner]).unwrap_err();
        log.borrow_mut().push("select returned");

        assert!(
            refs.iter().all(|t| t.is_finished()),
            "no loser outlives select"
        );
        assert_eq!(*log.borrow(), ["caught", "select returned"]);
        let failures = err.failures();
        assert_eq!(failures.len(), 1, "only the panicking loser: {err}");
        assert_eq!(failures[0].index(), 0);
        assert_eq!(failures[0].kind(), FailureKind::Panicked);
        assert_eq!(failures[0].message(), "planned loser panic");
        let text = err.to_string();
        assert!(
            text.contains("input 2") && text.contains("planned loser panic"),
            "{text}"
        );
        assert!(matches!(err, SelectError::LoserFailed { winner: 2, .. }));
        let (index, outcome) = err.into_winner::<&str>().unwrap();
        assert_eq!((index, outcome.unwrap()), (2, "won"));
    });
}

#[test]
fn select_still_succeeds_when_the_losers_end_cancelled_or_with_a_value() {
    fibrio::run(|| {
        let cancelled = fibrio::spawn(|| -> u8 { park_until_cancelled() });
        let swallows = fibrio::spawn(|| -> u8 {
            let caught = std::panic::catch_unwind(AssertUnwindSafe(|| -> () {
                park_until_cancelled();
            }));
            assert!(caught.is_err());
            0
        });
        let winner = fibrio::spawn(|| {
            yield_n(3);
            9
        });
        let (index, outcome) = select(vec![cancelled, swallows, winner]).unwrap();
        assert_eq!((index, outcome.unwrap()), (2, 9));
    });
}

#[test]
fn race_reports_a_loser_that_panics_while_cancelled() {
    quiet_planned_panics();
    fibrio::run(|| {
        let log = Log::default();
        let early_failure = fibrio::spawn(|| -> u32 { panic!("planned early failure") });
        let loser = panics_when_cancelled::<u32>(&log, "planned racer panic");
        let winner = fibrio::spawn(|| {
            yield_n(3);
            42_u32
        });
        let loser_ref = loser.task_ref();

        let err = race(vec![early_failure, loser, winner]).unwrap_err();
        log.borrow_mut().push("race returned");

        assert!(loser_ref.is_finished());
        assert_eq!(*log.borrow(), ["caught", "race returned"]);
        // The failure before the win is dropped, as documented; the panic
        // raised while being cancelled is not.
        let failures = err.failures();
        assert_eq!(failures.len(), 1, "{err}");
        assert_eq!(failures[0].index(), 1);
        assert_eq!(failures[0].kind(), FailureKind::Panicked);
        assert_eq!(failures[0].message(), "planned racer panic");
        assert!(failures[0].error().is_panic());
        assert!(err.to_string().contains("planned racer panic"));
        assert!(matches!(err, RaceError::LoserFailed { winner: 2, .. }));
        assert_eq!(err.into_winner::<u32>(), Some((2, 42)));
    });
}

#[test]
fn race_into_winner_with_the_wrong_type_is_none() {
    quiet_planned_panics();
    fibrio::run(|| {
        let log = Log::default();
        let loser = panics_when_cancelled::<u32>(&log, "planned wrong type");
        let winner = fibrio::spawn(|| 1_u32);
        let err = race(vec![loser, winner]).unwrap_err();
        assert_eq!(err.into_winner::<u64>(), None);
    });
}

#[test]
fn fail_fast_gather_keeps_the_panic_of_a_sibling_it_cancelled() {
    quiet_planned_panics();
    fibrio::run(|| {
        let log = Log::default();
        let sibling = panics_when_cancelled::<u8>(&log, "planned sibling panic");
        let quiet = fibrio::spawn(|| -> u8 { park_until_cancelled() });
        let first = fibrio::spawn(|| -> u8 {
            yield_n(3);
            panic!("planned first failure")
        });
        let refs: Vec<_> = [&sibling, &quiet, &first]
            .iter()
            .map(|h| h.task_ref())
            .collect();

        let err = gather(vec![sibling, quiet, first]).unwrap_err();
        log.borrow_mut().push("gather returned");

        assert!(refs.iter().all(|t| t.is_finished()));
        assert_eq!(*log.borrow(), ["caught", "gather returned"]);
        assert_eq!(err.failed_count(), 3);
        let failures = err.failures();
        assert_eq!(failures[0].kind(), FailureKind::Panicked);
        assert_eq!(failures[0].message(), "planned sibling panic");
        assert!(!failures[0].cancelled_by_gather());
        assert_eq!(failures[1].kind(), FailureKind::CancelledByGather);
        assert_eq!(failures[2].kind(), FailureKind::Panicked);
        assert_eq!(failures[2].message(), "planned first failure");
        assert!(err.to_string().contains("planned sibling panic"));
    });
}

#[test]
fn fail_fast_gather_macro_keeps_the_panic_of_a_sibling_it_cancelled() {
    quiet_planned_panics();
    fibrio::run(|| {
        let log = Log::default();
        let sibling = panics_when_cancelled::<String>(&log, "planned macro sibling");
        let first = fibrio::spawn(|| -> u8 {
            yield_n(3);
            panic!("planned macro first")
        });
        let err = fibrio_concurrency::gather!(sibling, first).unwrap_err();
        let kinds: Vec<_> = err.failures().iter().map(|f| f.kind()).collect();
        assert_eq!(kinds, [FailureKind::Panicked, FailureKind::Panicked]);
        assert_eq!(err.failures()[0].message(), "planned macro sibling");
    });
}

#[test]
fn wait_all_gather_is_unchanged_by_the_rule() {
    quiet_planned_panics();
    fibrio::run(|| {
        let log = Log::default();
        // WaitAll cancels nobody: this task is cancelled from outside, by
        // the test, and its panic is reported as any panic is.
        let task = panics_when_cancelled::<u8>(&log, "planned outside cancel");
        let other = fibrio::spawn(|| 1_u8);
        let canceller = {
            let task = task.task_ref();
            fibrio::spawn(move || {
                yield_n(2);
                task.cancel();
            })
        };
        let err = gather_with(GatherStrategy::WaitAll, vec![task, other]).unwrap_err();
        canceller.join().unwrap();
        assert_eq!(err.failures()[0].kind(), FailureKind::Panicked);
        assert_eq!(err.successes(), &[(1, 1)]);
    });
}
