//! `fibrio_concurrency::sync::Notify`: at most one stored permit, FIFO
//! `notify_one`, `notify_waiters` storing nothing, a notification handed to
//! a cancelled waiter is neither lost nor duplicated, and a plain thread
//! waiting for a task.

mod common;

use common::{assert_cancelled, yield_n};

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use fibrio_concurrency::sync::Notify;

#[test]
fn notify_one_stores_at_most_one_permit() {
    fibrio::run(|| {
        let notify = Notify::new();
        notify.notify_one();
        notify.notify_one();
        assert!(notify.statistics().permit);
        notify.wait().unwrap();
        assert!(!notify.wait_timeout(Duration::from_millis(5)).unwrap());
        let stats = notify.statistics();
        assert_eq!(
            (stats.permit, stats.notified, stats.abandoned),
            (false, 1, 1)
        );
    });
}

#[test]
fn notify_one_wakes_waiters_in_fifo_order() {
    fibrio::run(|| {
        let notify = Arc::new(Notify::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (n, log) = (notify.clone(), log.clone());
                let t = fibrio::spawn(move || {
                    n.wait().unwrap();
                    log.borrow_mut().push(i);
                });
                fibrio::yield_now();
                t
            })
            .collect();
        notify.notify_one();
        yield_n(2);
        assert_eq!(*log.borrow(), [0]);
        notify.notify_one();
        notify.notify_one();
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(*log.borrow(), [0, 1, 2]);
        assert!(!notify.statistics().permit);
    });
}

#[test]
fn notify_waiters_wakes_the_current_waiters_and_stores_nothing() {
    fibrio::run(|| {
        let notify = Arc::new(Notify::new());
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let n = notify.clone();
                fibrio::spawn(move || n.wait())
            })
            .collect();
        fibrio::yield_now();
        notify.notify_waiters();
        for t in tasks {
            t.join().unwrap().unwrap();
        }
        assert!(!notify.statistics().permit);
        assert!(!notify.wait_timeout(Duration::from_millis(5)).unwrap());
        assert_eq!(notify.statistics().notified, 3);
    });
}

#[test]
fn notify_one_handed_to_a_cancelled_waiter_is_not_lost() {
    fibrio::run(|| {
        let notify = Arc::new(Notify::new());
        let seen = Rc::new(RefCell::new(Vec::new()));
        let spawn_waiter = |i: usize| {
            let (n, seen) = (notify.clone(), seen.clone());
            fibrio::spawn(move || {
                let r = n.wait();
                if r.is_ok() {
                    seen.borrow_mut().push(i); // no checkpoint before this
                }
                fibrio::yield_now();
                r
            })
        };
        let a = spawn_waiter(0);
        let b = spawn_waiter(1);
        fibrio::yield_now();
        // Handed to `a`, which is cancelled before it runs. Either `a`'s
        // wait still returns (the notification was delivered before the
        // cancellation) or `a` unwinds in `wait` and passes it to `b`:
        // exactly one of them sees it.
        notify.notify_one();
        a.cancel();
        assert_cancelled(a.join());
        yield_n(3);
        let seen_now = seen.borrow().clone();
        assert_eq!(seen_now.len(), 1, "seen by {seen_now:?}");
        if seen_now == [0] {
            assert_eq!(notify.statistics().waiters, 1);
            b.cancel();
            assert_cancelled(b.join());
        } else {
            b.join().unwrap().unwrap();
        }
        assert_eq!(notify.statistics().waiters, 0);
        // Alone, a cancelled waiter either saw it or put it back as the
        // stored permit.
        seen.borrow_mut().clear();
        let c = spawn_waiter(2);
        fibrio::yield_now();
        notify.notify_one();
        c.cancel();
        assert_cancelled(c.join());
        let stats = notify.statistics();
        assert_eq!(stats.waiters, 0);
        assert!(
            stats.permit != (seen.borrow().as_slice() == [2]),
            "the notification was lost or duplicated"
        );
    });
}

#[test]
fn cancelled_notify_waiters_waiter_stores_nothing() {
    fibrio::run(|| {
        let notify = Arc::new(Notify::new());
        let n2 = notify.clone();
        let a = fibrio::spawn(move || {
            let r = n2.wait();
            fibrio::yield_now();
            r
        });
        fibrio::yield_now();
        notify.notify_waiters();
        a.cancel();
        assert_cancelled(a.join());
        let stats = notify.statistics();
        assert_eq!((stats.permit, stats.waiters), (false, 0));
        assert!(!notify.wait_timeout(Duration::ZERO).unwrap());
    });
}

#[test]
fn notify_plain_thread_waits_for_a_task() {
    let notify = Arc::new(Notify::new());
    let n2 = notify.clone();
    let thread = std::thread::spawn(move || n2.wait_timeout(Duration::from_secs(10)).unwrap());
    let n3 = notify.clone();
    fibrio::run(move || {
        // Wait until the thread is queued, so the notification wakes it
        // rather than being stored.
        while n3.statistics().waiters == 0 {
            fibrio::sleep(Duration::from_millis(1));
        }
        n3.notify_one();
    });
    assert!(thread.join().unwrap());
    assert!(!notify.statistics().permit);
}
