//! Issue 13: `run`'s main may borrow from its caller, as
//! `std::thread::scope`'s threads may: nothing of main runs after `run`
//! has returned or unwound, whoever keeps a `TaskRef` to it.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fibrio::{Runtime, RuntimeError, TaskRef, TaskState};
use fibrio_core::scheduler::{
    Driver, DriverNotifier, NotifyDriver, Scheduler, SchedulerConfig, SchedulerError, TaskKey,
};
use fibrio_core::task;

std::thread_local! {
    /// Where main keeps a reference to itself, to be looked at after `run`.
    static KEPT: RefCell<Option<TaskRef>> = const { RefCell::new(None) };
}

fn keep_current() {
    KEPT.with(|kept| *kept.borrow_mut() = Some(task::current()));
}

fn take_kept() -> TaskRef {
    KEPT.with(|kept| kept.borrow_mut().take())
        .expect("main kept itself")
}

#[test]
fn main_borrows_a_local_immutably() {
    let numbers = vec![1, 2, 3];
    let sum: i32 = fibrio::run(|| {
        let doubled = fibrio::spawn(|| 2).join().unwrap();
        numbers.iter().sum::<i32>() * doubled
    });
    assert_eq!(sum, 12);
    assert_eq!(numbers, [1, 2, 3]);
}

#[test]
fn main_borrows_a_local_mutably_across_switches() {
    let mut log = vec![0];
    let len = fibrio::run(|| {
        for i in 1..=3 {
            let from_task = fibrio::spawn(move || i * 10).join().unwrap();
            fibrio::sleep(Duration::from_millis(1));
            log.push(from_task);
        }
        log.len()
    });
    assert_eq!(len, 4);
    log.push(40);
    assert_eq!(log, [0, 10, 20, 30, 40]);
}

#[test]
fn main_returns_a_borrowed_str() {
    let text = String::from("key=value");
    let value: &str = fibrio::run(|| {
        fibrio::yield_now();
        text.split_once('=').unwrap().1
    });
    assert_eq!(value, "value");
    let runtime_value: &str = Runtime::new().unwrap().run(|| &text[..3]);
    assert_eq!(runtime_value, "key");
    let try_value: Result<&str, RuntimeError> = Runtime::new().unwrap().try_run(|| &text[4..]);
    assert_eq!(try_value.unwrap(), "value");
}

#[test]
fn a_panic_of_main_while_borrowing_comes_out_and_the_local_is_usable() {
    task::test_support::quiet_planned_panics();
    let mut items = vec![1];
    let payload = catch_unwind(AssertUnwindSafe(|| {
        fibrio::run(|| {
            items.push(2);
            fibrio::yield_now();
            let _borrow = &mut items;
            std::panic::panic_any("planned panic of a borrowing main");
        })
    }))
    .unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"planned panic of a borrowing main")
    );
    items.push(3);
    assert_eq!(items, [1, 2, 3]);
}

#[test]
fn another_tasks_panic_leaves_the_borrowing_main_running() {
    task::test_support::quiet_planned_panics();
    let mut seen = Vec::new();
    let outcome = fibrio::run(|| {
        let failed = fibrio::spawn(|| -> u8 { panic!("planned panic of a task") });
        let err = failed.join().unwrap_err();
        seen.push(err.is_panic());
        fibrio::yield_now();
        seen.push(true);
        seen.len()
    });
    assert_eq!(outcome, 2);
    assert_eq!(seen, [true, true]);
}

/// Records in the caller's log, when dropped, that main's stack was
/// unwound, through the borrow main holds.
struct Unwound<'a>(&'a Log);

impl Drop for Unwound<'_> {
    fn drop(&mut self) {
        note(self.0, "unwound");
    }
}

/// What happened, in order; a `Mutex` so that a thread can hand it back.
type Log = Mutex<Vec<&'static str>>;

fn note(log: &Log, event: &'static str) {
    log.lock().unwrap().push(event);
}

fn events(log: &Log) -> Vec<&'static str> {
    log.lock().unwrap().clone()
}

#[test]
fn a_cancelled_borrowing_main_unwinds_inside_run() {
    let log = Log::default();
    let outcome = Runtime::new().unwrap().try_run(|| {
        let _unwound = Unwound(&log);
        keep_current();
        task::current().cancel();
        note(&log, "cancelled");
        fibrio::yield_now();
        note(&log, "went on");
    });
    assert!(matches!(
        outcome,
        Err(RuntimeError::Scheduler(SchedulerError::MainCancelled))
    ));
    assert_eq!(events(&log), ["cancelled", "unwound"]);
    let kept = take_kept();
    assert_eq!(kept.state(), TaskState::Cancelled);
    drop(kept);
    assert_eq!(events(&log), ["cancelled", "unwound"]);
}

#[test]
fn a_kept_task_ref_of_main_after_run_is_harmless() {
    let mut local = vec![1, 2];
    let joined = fibrio::run(|| {
        keep_current();
        let helper = fibrio::spawn(|| {
            // The helper hands main's reference on; it outlives the helper.
            let main = take_kept();
            KEPT.with(|kept| *kept.borrow_mut() = Some(main.clone()));
            main.id()
        });
        local.push(3);
        helper.join().unwrap()
    });
    let kept = take_kept();
    assert_eq!(kept.id(), joined);
    assert_eq!(kept.name(), Some("main"));
    assert_eq!(kept.state(), TaskState::Completed);
    assert!(kept.is_finished());
    // Main has ended: waiting for it returns at once, even outside a task.
    assert!(kept.wait().is_ok());
    kept.cancel();
    assert_eq!(kept.state(), TaskState::Completed);
    local.push(4);
    drop(kept);
    assert_eq!(local, [1, 2, 3, 4]);
}

/// A driver that panics when the scheduler would wait in it, so that
/// `block_on` unwinds while main is still parked.
struct PanickingDriver(NotifyDriver);

impl Driver for PanickingDriver {
    fn name(&self) -> &'static str {
        "panicking"
    }
    fn park(&mut self, _timeout: Option<Duration>, _woken: &mut Vec<TaskKey>) {
        panic!("planned failure of the driver");
    }
    fn notifier(&self) -> Arc<dyn DriverNotifier> {
        Driver::notifier(&self.0)
    }
}

/// Main borrows `log`, keeps a reference to itself, and parks; the driver
/// panics out of the scheduler's loop. Returns the panic's message.
fn panic_out_of_the_loop(log: &Log) -> String {
    let scheduler = Scheduler::new(
        SchedulerConfig::default(),
        Box::new(PanickingDriver(NotifyDriver::new())),
    );
    let payload = catch_unwind(AssertUnwindSafe(|| {
        scheduler.block_on(|| {
            let _unwound = Unwound(log);
            keep_current();
            note(log, "parked");
            let _ = task::park();
            note(log, "went on");
        })
    }))
    .unwrap_err();
    fibrio::fiber::payload_message(&payload).to_string()
}

/// Whether this target unwinds a parked task when its scheduler is left by
/// a panic (glibc, where fibrio can tell that it is not at thread exit);
/// elsewhere the task may be leaked instead, which is as sound.
const UNWINDS: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

#[test]
fn a_panic_out_of_the_loop_ends_the_borrowing_main_before_returning() {
    task::test_support::quiet_planned_panics();
    let log = Log::default();
    let message = panic_out_of_the_loop(&log);
    assert_eq!(message, "planned failure of the driver");
    let after_call = events(&log);
    if UNWINDS {
        assert_eq!(after_call, ["parked", "unwound"]);
    } else {
        assert!(after_call.starts_with(&["parked"]) && !after_call.contains(&"went on"));
    }
    let kept = take_kept();
    assert_eq!(kept.state(), TaskState::Cancelled);
    assert!(kept.is_finished());
    drop(kept);
    // Dropping the last reference ran nothing of main.
    assert_eq!(events(&log), after_call);
    note(&log, "usable");
    assert_eq!(events(&log).last(), Some(&"usable"));
}

#[test]
fn a_kept_reference_dropped_at_thread_exit_runs_nothing_of_main() {
    task::test_support::quiet_planned_panics();
    // Leaked, so that it outlives the thread and its thread-locals.
    let log: &'static Log = Box::leak(Box::default());
    let after_call = std::thread::spawn(move || {
        panic_out_of_the_loop(log);
        // `KEPT` still holds main's reference: it is dropped with the
        // thread's thread-locals, after this closure's frames are gone.
        events(log)
    })
    .join()
    .unwrap();
    assert!(after_call.starts_with(&["parked"]));
    assert_eq!(events(log), after_call);
    assert!(!events(log).contains(&"went on"));
}

#[test]
fn workers_run_borrows_the_callers_data() {
    let greeting = String::from("hello");
    let served = AtomicUsize::new(0);
    let outcomes = Runtime::builder().workers(3).run(|| {
        served.fetch_add(1, Ordering::Relaxed);
        fibrio::yield_now();
        &greeting[1..]
    });
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.iter().all(|o| matches!(o, Ok("ello"))));
    assert_eq!(served.load(Ordering::Relaxed), 3);
}

#[test]
fn workers_run_reports_a_borrowing_mains_panic_per_worker() {
    task::test_support::quiet_planned_panics();
    let calls = AtomicUsize::new(0);
    let outcomes = Runtime::builder().workers(2).run(|| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("planned panic of one worker");
        }
        7
    });
    let panicked = outcomes
        .iter()
        .filter(|o| matches!(o, Err(fibrio::WorkerError::Panicked { .. })))
        .count();
    assert_eq!(panicked, 1);
    assert_eq!(outcomes.iter().filter(|o| matches!(o, Ok(7))).count(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn main_shares_a_borrow_with_nothing_but_itself() {
    // Tasks share with main through `Rc`, the workaround for their `'static`.
    let total = Cell::new(0);
    let sum = fibrio::run(|| {
        let shared = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (1..=3)
            .map(|i| {
                let shared = shared.clone();
                fibrio::spawn(move || shared.set(shared.get() + i))
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        total.set(shared.get());
        shared.get()
    });
    assert_eq!(sum, 6);
    assert_eq!(total.get(), 6);
}
