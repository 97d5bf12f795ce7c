//! The shutdown grace period (`Builder::shutdown_grace`, the same machinery
//! as `shutdown_on_signals`): in-flight work finishes within it, what is
//! left is cancelled when it ends and `run` returns, `force` cuts it short,
//! and `workers(2)` shut down together.
//!
//! Wall-clock bounds are kept 10x or more away from what is measured.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio::net::TcpListener;
use fibrio::{shutdown, Runtime, RuntimeError, WorkerError};

/// Sets a flag when dropped: a task's stack was unwound (cancelled).
struct Unwound(Rc<Cell<bool>>);

impl Drop for Unwound {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn in_flight_tasks_finish_within_the_grace_and_run_returns_main_value() {
    let start = Instant::now();
    let finished = Rc::new(Cell::new(0));
    let value = Runtime::builder()
        .shutdown_grace(Duration::from_secs(60))
        .build()
        .unwrap()
        .run(|| {
            for i in 0..5u64 {
                let finished = finished.clone();
                fibrio::spawn(move || {
                    fibrio::sleep(Duration::from_millis(20 + 10 * i));
                    finished.set(finished.get() + 1);
                });
            }
            shutdown::request().unwrap();
            "main's value"
        });
    assert_eq!(value, "main's value");
    assert_eq!(finished.get(), 5, "every in-flight task finished");
    // It waited for the tasks (about 60 ms), not for the whole grace.
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn grace_expiry_cancels_the_remaining_tasks_and_run_returns() {
    let start = Instant::now();
    let unwound = Rc::new(Cell::new(false));
    let finished = Rc::new(Cell::new(false));
    let value = Runtime::builder()
        .shutdown_grace(Duration::from_millis(200))
        .build()
        .unwrap()
        .run(|| {
            let (unwound, finished) = (unwound.clone(), finished.clone());
            fibrio::spawn(move || {
                let _guard = Unwound(unwound);
                fibrio::sleep(Duration::from_secs(3600)); // ignores shutdown
                finished.set(true);
            });
            fibrio::yield_now();
            shutdown::request().unwrap();
            7
        });
    let elapsed = start.elapsed();
    assert_eq!(value, 7);
    assert!(unwound.get(), "the task was cancelled and unwound");
    assert!(!finished.get());
    assert!(
        elapsed >= Duration::from_millis(200),
        "the grace was given: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
}

#[test]
fn main_still_running_at_grace_expiry_is_cancelled_with_its_tasks() {
    let unwound = Rc::new(Cell::new(false));
    let child_unwound = Rc::new(Cell::new(false));
    let start = Instant::now();
    let outcome = Runtime::builder()
        .shutdown_grace(Duration::from_millis(100))
        .build()
        .unwrap()
        .try_run(|| {
            let _guard = Unwound(unwound.clone());
            let child = child_unwound.clone();
            fibrio::spawn(move || {
                let _guard = Unwound(child);
                fibrio::sleep(Duration::from_secs(3600));
            });
            shutdown::request().unwrap();
            fibrio::sleep(Duration::from_secs(3600)); // main ignores shutdown
        });
    assert!(
        matches!(outcome, Err(RuntimeError::GraceExpired { grace }) if grace == Duration::from_millis(100)),
        "{outcome:?}"
    );
    assert!(outcome.unwrap_err().to_string().contains("grace period"));
    assert!(unwound.get() && child_unwound.get());
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn force_ends_the_grace_at_once() {
    let start = Instant::now();
    let unwound = Rc::new(Cell::new(false));
    Runtime::builder()
        .shutdown_grace(Duration::from_secs(3600))
        .build()
        .unwrap()
        .run(|| {
            let unwound = unwound.clone();
            fibrio::spawn(move || {
                let _guard = Unwound(unwound);
                fibrio::sleep(Duration::from_secs(3600));
            });
            let state = shutdown::current().unwrap();
            std::thread::spawn(move || {
                state.request();
                std::thread::sleep(Duration::from_millis(50));
                assert!(state.force());
            });
            shutdown::wait().unwrap();
        });
    assert!(unwound.get());
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn without_a_request_the_grace_changes_nothing() {
    let unwound = Rc::new(Cell::new(false));
    let start = Instant::now();
    let value = Runtime::builder()
        .shutdown_grace(Duration::from_secs(3600))
        .build()
        .unwrap()
        .run(|| {
            let unwound = unwound.clone();
            fibrio::spawn(move || {
                let _guard = Unwound(unwound);
                fibrio::sleep(Duration::from_secs(3600));
            });
            fibrio::yield_now();
            1
        });
    assert_eq!(value, 1);
    // As always: main returned, the rest was cancelled at once.
    assert!(unwound.get());
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_request_in_one_of_two_workers_shuts_both_down_with_their_grace() {
    let finished = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let outcomes = Runtime::builder()
        .shutdown_grace(Duration::from_secs(60))
        .workers(2)
        .run(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let finished = finished.clone();
            fibrio::spawn(move || {
                fibrio::sleep(Duration::from_millis(30)); // in flight
                finished.fetch_add(1, Ordering::SeqCst);
            });
            if fibrio::worker_index() == Some(1) {
                fibrio::spawn(|| {
                    fibrio::sleep(Duration::from_millis(20));
                    shutdown::request().unwrap();
                });
            }
            // Both accept loops end, on both workers.
            listener.incoming().count()
        });
    let accepted: Vec<usize> = outcomes.into_iter().map(Result::unwrap).collect();
    assert_eq!(accepted, [0, 0]);
    assert_eq!(finished.load(Ordering::SeqCst), 2);
    assert!(start.elapsed() < Duration::from_secs(6));
}

#[test]
fn workers_request_shutdown_from_outside_and_report_an_expired_grace() {
    let workers = Runtime::builder()
        .shutdown_grace(Duration::from_millis(100))
        .workers(2)
        .start(|| {
            shutdown::wait().unwrap();
            if fibrio::worker_index() == Some(1) {
                fibrio::sleep(Duration::from_secs(3600)); // overstays the grace
            }
            "done"
        });
    let state = workers.shutdown();
    assert!(!state.is_requested());
    assert!(workers.request_shutdown());
    assert!(state.is_requested());
    let outcomes = workers.join();
    assert!(matches!(outcomes[0], Ok("done")), "{:?}", outcomes[0]);
    assert!(
        matches!(outcomes[1], Err(WorkerError::GraceExpired { index: 1, .. })),
        "{:?}",
        outcomes[1]
    );
}

/// The grace period costs the tasks nothing until it ends: `main` and its
/// tasks belong to no cancel scope (whose frame every checkpoint would
/// walk); one `fibrio-shutdown-grace` task waits for the grace to end.
/// A `max_tasks(1)` runtime, with no room for that task, still enforces it.
#[test]
fn the_grace_puts_no_cancel_scope_around_main_or_its_tasks() {
    let outside = Runtime::builder()
        .shutdown_grace(Duration::from_secs(60))
        .build()
        .unwrap()
        .run(|| {
            let in_main = fibrio::task::ScopeContext::current().len();
            let in_task = fibrio::spawn(|| fibrio::task::ScopeContext::current().len())
                .join()
                .unwrap();
            let dump = fibrio::dump().to_string();
            (in_main, in_task, dump)
        });
    assert_eq!((outside.0, outside.1), (0, 0));
    assert!(
        outside.2.contains("\"fibrio-shutdown-grace\""),
        "{}",
        outside.2
    );

    let cramped = Runtime::builder()
        .max_tasks(1)
        .shutdown_grace(Duration::from_millis(100))
        .build()
        .unwrap()
        .try_run(|| {
            shutdown::request().unwrap();
            fibrio::sleep(Duration::from_secs(3600)); // overstays the grace
        });
    assert!(
        matches!(cramped, Err(RuntimeError::GraceExpired { .. })),
        "{cramped:?}"
    );
}
