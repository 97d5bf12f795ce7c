//! Production deadlock detection with the concurrency primitives: two
//! tasks locking two mutexes in opposite order are reported, naming both
//! tasks and both locks; a task waiting on a channel that a plain thread
//! feeds later is not.

use std::sync::Arc;
use std::time::Duration;

use fibrio::channel;
use fibrio::sync::Mutex;
use fibrio_core::scheduler::{DeadlockAction, NotifyDriver, Scheduler, SchedulerConfig};
use fibrio_core::task::{self, Builder};

fn panicking_scheduler() -> Scheduler {
    let config = SchedulerConfig {
        deadlock: DeadlockAction::Panic,
        ..SchedulerConfig::default()
    };
    Scheduler::new(config, Box::new(NotifyDriver::new()))
}

#[test]
fn two_mutexes_locked_in_opposite_order_are_reported() {
    task::test_support::quiet_planned_panics();
    let outcome = std::panic::catch_unwind(|| {
        panicking_scheduler().block_on(|| {
            let first = Arc::new(Mutex::new("first"));
            let second = Arc::new(Mutex::new("second"));
            let (a1, a2) = (first.clone(), second.clone());
            let left = Builder::new()
                .name("left")
                .spawn(move || {
                    let _one = a1.lock().unwrap();
                    task::yield_now();
                    let _two = a2.lock().unwrap();
                })
                .unwrap();
            let right = Builder::new()
                .name("right")
                .spawn(move || {
                    let _two = second.lock().unwrap();
                    task::yield_now();
                    let _one = first.lock().unwrap();
                })
                .unwrap();
            let _ = left.join();
            let _ = right.join();
        })
    });
    let payload = outcome.unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.starts_with("deadlock"), "{message}");
    for needle in [
        "\"left\" [parked",
        "\"right\" [parked",
        "a Mutex held by task",
        "(mutex#1)",
        "(mutex#2)",
        "\"main\" [parked",
    ] {
        assert!(
            message.contains(needle),
            "{needle} missing from:\n{message}"
        );
    }
}

#[test]
fn a_channel_fed_by_a_plain_thread_later_is_not_reported() {
    let got = panicking_scheduler()
        .block_on(|| {
            let (tx, rx) = channel::unbounded::<u32>();
            let feeder = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                tx.send(7).unwrap();
            });
            let receiver = task::spawn(move || rx.recv().unwrap());
            let got = receiver.join().unwrap(); // main: join; task: recv
            feeder.join().unwrap();
            got
        })
        .unwrap();
    assert_eq!(got, 7);
}

#[test]
fn a_mutex_held_by_a_plain_thread_is_not_reported() {
    let lock = Arc::new(Mutex::new(0));
    let held = Arc::new(std::sync::Barrier::new(2));
    let (lock2, held2) = (lock.clone(), held.clone());
    let thread = std::thread::spawn(move || {
        let mut guard = lock2.lock().unwrap(); // a plain thread holds it
        held2.wait();
        std::thread::sleep(Duration::from_millis(50));
        *guard += 1;
    });
    held.wait();
    let value = panicking_scheduler()
        .block_on(move || {
            let waiter = task::spawn(move || *lock.lock().unwrap());
            waiter.join().unwrap()
        })
        .unwrap();
    thread.join().unwrap();
    assert_eq!(value, 1);
}
