//! `fibrio_concurrency::sync::Event`: level-triggered, a `set` wakes every
//! waiter even if cleared before they run, timeouts, cancellation of a
//! waiter, and a plain thread waiting for a task.

mod common;

use common::assert_cancelled;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio_concurrency::sync::Event;

#[test]
fn event_is_level_triggered() {
    fibrio::run(|| {
        let event = Event::new();
        assert!(!event.wait_timeout(Duration::from_millis(5)).unwrap());
        event.set();
        event.set(); // no effect
        for _ in 0..3 {
            event.wait().unwrap(); // returns at once while set
        }
        event.clear();
        assert!(!event.is_set());
        assert!(!event.wait_timeout(Duration::ZERO).unwrap());
        let stats = event.statistics();
        assert_eq!((stats.sets, stats.abandoned), (1, 2));
    });
}

#[test]
fn event_set_wakes_every_waiter_even_if_cleared_before_they_run() {
    fibrio::run(|| {
        let event = Arc::new(Event::new());
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let e = event.clone();
                fibrio::spawn(move || e.wait())
            })
            .collect();
        fibrio::yield_now();
        assert_eq!(event.statistics().waiters, 3);
        event.set();
        event.clear();
        for t in tasks {
            t.join().unwrap().unwrap();
        }
        let stats = event.statistics();
        assert_eq!((stats.is_set, stats.waiters, stats.woken), (false, 0, 3));
    });
}

#[test]
fn event_wait_timeout_reports_whether_it_was_set() {
    fibrio::run(|| {
        let event = Arc::new(Event::new());
        let start = Instant::now();
        assert!(!event.wait_timeout(Duration::from_millis(20)).unwrap());
        assert!(start.elapsed() >= Duration::from_millis(20));
        let e2 = event.clone();
        fibrio::spawn(move || {
            fibrio::sleep(Duration::from_millis(5));
            e2.set();
        });
        assert!(event.wait_timeout(Duration::from_secs(5)).unwrap());
        assert_eq!(event.statistics().waiters, 0);
    });
}

#[test]
fn cancelled_event_waiter_leaves_the_queue() {
    fibrio::run(|| {
        let event = Arc::new(Event::new());
        let e2 = event.clone();
        let waiter = fibrio::spawn(move || e2.wait());
        let e3 = event.clone();
        let other = fibrio::spawn(move || e3.wait());
        fibrio::yield_now();
        waiter.cancel();
        assert_cancelled(waiter.join());
        let stats = event.statistics();
        assert_eq!((stats.waiters, stats.abandoned), (1, 1));
        event.set();
        other.join().unwrap().unwrap();
        assert_eq!(event.statistics().woken, 1);
    });
}

#[test]
fn event_plain_thread_waits_for_a_task() {
    let event = Arc::new(Event::new());
    let e2 = event.clone();
    let thread = std::thread::spawn(move || {
        let start = Instant::now();
        e2.wait().unwrap();
        start.elapsed()
    });
    let e3 = event.clone();
    fibrio::run(move || {
        fibrio::sleep(Duration::from_millis(20));
        e3.set();
    });
    assert!(thread.join().unwrap() >= Duration::from_millis(15));
}
