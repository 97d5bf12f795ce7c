//! `fibrio_concurrency::sync::WaitGroup`: waits for every job, `done` at
//! zero panics, a guard counts out a cancelled job, timeouts, cancellation
//! of a waiter, and a task waiting for plain threads.

mod common;

use common::{assert_cancelled, park_until_cancelled, yield_n};

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fibrio_concurrency::sync::WaitGroup;

#[test]
fn wait_group_waits_for_every_job() {
    fibrio::run(|| {
        let wg = WaitGroup::new();
        let finished = Rc::new(Cell::new(0));
        for i in 0..5 {
            wg.add(1);
            let (wg, finished) = (wg.clone(), finished.clone());
            fibrio::spawn(move || {
                yield_n(i);
                finished.set(finished.get() + 1);
                wg.done();
            });
        }
        assert_eq!(wg.count(), 5);
        wg.wait().unwrap();
        assert_eq!(finished.get(), 5);
        let stats = wg.statistics();
        assert_eq!((stats.count, stats.added, stats.woken), (0, 5, 1));
    });
}

#[test]
#[should_panic(expected = "count of zero")]
fn wait_group_done_at_zero_panics() {
    let wg = WaitGroup::new();
    wg.add(1);
    wg.done();
    wg.done();
}

#[test]
fn wait_group_guard_counts_out_a_cancelled_job() {
    fibrio::run(|| {
        let wg = WaitGroup::new();
        let job = wg.guard();
        let t = fibrio::spawn(move || {
            let _job = job;
            park_until_cancelled();
        });
        fibrio::yield_now();
        assert_eq!(wg.count(), 1);
        t.cancel();
        wg.wait().unwrap();
        assert_cancelled(t.join());
        assert_eq!(wg.count(), 0);
    });
}

#[test]
fn wait_group_wait_timeout_reports_whether_it_reached_zero() {
    fibrio::run(|| {
        let wg = WaitGroup::new();
        let job = wg.guard();
        assert!(!wg.wait_timeout(Duration::from_millis(10)).unwrap());
        fibrio::spawn(move || {
            fibrio::sleep(Duration::from_millis(5));
            drop(job);
        });
        assert!(wg.wait_timeout(Duration::from_secs(5)).unwrap());
        assert_eq!(wg.statistics().abandoned, 1);
    });
}

#[test]
fn cancelled_wait_group_waiter_leaves_the_queue() {
    fibrio::run(|| {
        let wg = WaitGroup::new();
        let job = wg.guard();
        let wg2 = wg.clone();
        let waiter = fibrio::spawn(move || wg2.wait());
        fibrio::yield_now();
        assert_eq!(wg.statistics().waiters, 1);
        waiter.cancel();
        assert_cancelled(waiter.join());
        let stats = wg.statistics();
        assert_eq!((stats.waiters, stats.abandoned, stats.count), (0, 1, 1));
        drop(job);
        wg.wait().unwrap();
    });
}

#[test]
fn wait_group_task_waits_for_plain_threads() {
    let wg = WaitGroup::new();
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let (job, done) = (wg.guard(), done.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5 * (i + 1)));
                done.fetch_add(1, Ordering::SeqCst);
                drop(job);
            })
        })
        .collect();
    let (wg2, done2) = (wg.clone(), done.clone());
    let seen = fibrio::run(move || {
        wg2.wait().unwrap();
        done2.load(Ordering::SeqCst)
    });
    assert_eq!(seen, 3);
    for t in threads {
        t.join().unwrap();
    }
}
