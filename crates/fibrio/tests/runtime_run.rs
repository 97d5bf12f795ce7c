//! `fibrio::run` and `Runtime`: what PHP AsyncIO got wrong must be
//! impossible here. `run` returns main's value (it never exits the process),
//! a panic in main comes out of `run`, a nested `run` is a clear error, and
//! tasks still alive when main returns are cancelled and unwound.

mod common;

use common::quiet_planned_panics;

use std::cell::{Cell, RefCell};
use std::panic::{self, catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::{Backend, Runtime, TaskState};

#[test]
fn run_returns_mains_value_and_the_process_goes_on() {
    assert_eq!(fibrio::run(|| "first"), "first");
    // A second run on the same thread works too (PHP AsyncIO's
    // second run() never executed).
    assert_eq!(fibrio::run(|| 2), 2);
}

#[test]
fn three_tasks_sleeping_concurrently_take_the_time_of_one() {
    let (elapsed, log) = fibrio::run(|| {
        let start = Instant::now();
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let log = log.clone();
                fibrio::spawn(move || {
                    log.borrow_mut().push(("sleeps", i));
                    fibrio::sleep(Duration::from_millis(200));
                    log.borrow_mut().push(("wakes", i));
                })
            })
            .collect();
        for task in tasks {
            task.join().unwrap();
        }
        (start.elapsed(), log.take())
    });
    assert!(elapsed >= Duration::from_millis(200));
    // The sleeps overlapped: all three tasks were asleep before the first
    // one woke (sleeping one after another, the log would alternate). An
    // order, not a wall-clock bound, so a loaded machine cannot break it.
    assert_eq!(log.len(), 6, "{log:?}");
    assert_eq!(
        log[..3],
        [("sleeps", 0), ("sleeps", 1), ("sleeps", 2)],
        "{log:?}"
    );
}

#[test]
fn a_panic_in_main_comes_out_of_run() {
    quiet_planned_panics();
    let payload = catch_unwind(|| fibrio::run(|| panic!("planned failure of main"))).unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"planned failure of main")
    );
}

#[test]
fn run_inside_run_is_a_clear_error() {
    let message = fibrio::run(|| {
        let err = Runtime::new().unwrap().try_run(|| ()).unwrap_err();
        err.to_string()
    });
    assert!(message.contains("inside a running one"), "{message}");
    assert!(message.contains("spawn"), "{message}");

    // The nested run's panic message says "inside a running one": the
    // quiet hook knows it as planned.
    quiet_planned_panics();
    let payload = catch_unwind(|| fibrio::run(|| fibrio::run(|| ()))).unwrap_err();
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("inside a running one"), "{text}");
}

#[test]
fn tasks_alive_when_main_returns_are_cancelled_and_unwound() {
    let unwound = Rc::new(Cell::new(0));
    let u = unwound.clone();
    let (sleeper, ran, late) = fibrio::run(move || {
        struct Count(Rc<Cell<u32>>);
        impl Drop for Count {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let c1 = Count(u.clone());
        let sleeper = fibrio::spawn(move || {
            let _c = c1;
            fibrio::sleep(Duration::from_secs(3600));
        });
        let c2 = Count(u);
        let ran = fibrio::spawn(move || drop(c2));
        fibrio::yield_now(); // the sleeper starts and `ran` runs
        let late = fibrio::spawn(|| unreachable!("never runs"));
        (sleeper, ran, late)
    });
    assert_eq!(unwound.get(), 2);
    assert_eq!(sleeper.state(), TaskState::Cancelled);
    assert_eq!(ran.state(), TaskState::Completed);
    assert_eq!(late.state(), TaskState::Cancelled);
}

#[test]
fn backend_can_be_forced_and_is_reported() {
    let poll = Runtime::builder().backend(Backend::Poll).build().unwrap();
    assert_eq!(poll.backend_name(), "poll");
    assert_eq!(poll.run(|| 1), 1);
    let auto = Runtime::builder().backend(Backend::Auto).build().unwrap();
    if cfg!(target_os = "linux") && std::env::var_os("FIBRIO_BACKEND").is_none() {
        assert_eq!(auto.backend_name(), "epoll");
    }
    if cfg!(target_os = "linux") {
        let err = Runtime::builder()
            .backend(Backend::Kqueue)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("not available"), "{err}");
    }
}

#[test]
fn ten_thousand_tasks_with_ten_percent_panicking_all_report_once() {
    quiet_planned_panics();
    let (ok, failed) = Runtime::builder()
        .stack_size(32 * 1024)
        .build()
        .unwrap()
        .run(|| {
            let handles: Vec<_> = (0..10_000u32)
                .map(|i| {
                    fibrio::spawn(move || {
                        fibrio::yield_now();
                        if i % 10 == 0 {
                            panic!("planned failure of task {i}");
                        }
                        i
                    })
                })
                .collect();
            let mut ok = 0;
            let mut failed = 0;
            for (i, handle) in handles.into_iter().enumerate() {
                match handle.join() {
                    Ok(value) => {
                        assert_eq!(value as usize, i);
                        ok += 1;
                    }
                    Err(err) => {
                        assert!(err.is_panic());
                        assert_eq!(i % 10, 0);
                        failed += 1;
                    }
                }
            }
            (ok, failed)
        });
    assert_eq!((ok, failed), (9_000, 1_000));
}

#[test]
fn main_and_its_tasks_see_their_own_ids_and_names() {
    fibrio::run(|| {
        let handle = fibrio::task::Builder::new()
            .name("named")
            .spawn(|| fibrio::task::current_name().map(|n| n.to_string()))
            .unwrap();
        assert_eq!(handle.join().unwrap().as_deref(), Some("named"));
        assert_eq!(fibrio::task::current_name().as_deref(), Some("main"));
    });
}

#[test]
fn a_non_string_panic_payload_comes_out_of_run_intact() {
    let result = catch_unwind(AssertUnwindSafe(|| {
        fibrio::run(|| panic::resume_unwind(Box::new(5u8)))
    }));
    assert_eq!(result.unwrap_err().downcast_ref::<u8>(), Some(&5));
}

#[test]
fn driver_interval_bounds_how_long_busy_tasks_delay_io() {
    // With an interval of 1 the poller is looked at after every task run,
    // so a timer fires while two tasks yield to each other forever.
    let woke = fibrio::Runtime::builder()
        .driver_interval(1)
        .build()
        .unwrap()
        .run(|| {
            let spinner = fibrio::spawn(|| loop {
                fibrio::yield_now();
            });
            let start = std::time::Instant::now();
            fibrio::sleep(std::time::Duration::from_millis(5));
            spinner.cancel();
            start.elapsed()
        });
    assert!(woke >= std::time::Duration::from_millis(5));
    assert!(woke < std::time::Duration::from_secs(5));
}
