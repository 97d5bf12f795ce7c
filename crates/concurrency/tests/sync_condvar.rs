//! `fibrio_concurrency::sync::Condvar`: FIFO `notify_one`, `notify_all`,
//! timeouts that re-lock the mutex, `wait_while`, cancellation of a waiter
//! (its notification is passed on, the mutex stays free), and a plain
//! thread waiting for a task.

mod common;

use common::{assert_cancelled, yield_n};

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio_concurrency::sync::{Condvar, Mutex};

type Pair<T> = Arc<(Mutex<T>, Condvar)>;

/// A task that waits once on the pair's condvar and logs `i` when woken.
fn condvar_waiter(
    pair: &Pair<()>,
    log: &Rc<RefCell<Vec<usize>>>,
    i: usize,
) -> fibrio::JoinHandle<()> {
    let (pair, log) = (pair.clone(), log.clone());
    fibrio::spawn(move || {
        let (m, cv) = &*pair;
        let g = cv.wait(m.lock().unwrap()).unwrap();
        log.borrow_mut().push(i);
        drop(g);
    })
}

#[test]
fn condvar_notify_one_wakes_waiters_in_fifo_order() {
    fibrio::run(|| {
        let pair: Pair<()> = Arc::new((Mutex::new(()), Condvar::new()));
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let t = condvar_waiter(&pair, &log, i);
                fibrio::yield_now();
                t
            })
            .collect();
        assert_eq!(pair.1.statistics().waiters, 3);
        pair.1.notify_one();
        yield_n(3);
        assert_eq!(*log.borrow(), [0]);
        assert_eq!(pair.1.statistics().waiters, 2);
        pair.1.notify_one();
        pair.1.notify_one();
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(*log.borrow(), [0, 1, 2]);
        let stats = pair.1.statistics();
        assert_eq!((stats.waits, stats.woken, stats.abandoned), (3, 3, 0));
    });
}

#[test]
fn condvar_notify_all_wakes_everyone_and_nothing_is_stored() {
    fibrio::run(|| {
        let pair: Pair<()> = Arc::new((Mutex::new(()), Condvar::new()));
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..4).map(|i| condvar_waiter(&pair, &log, i)).collect();
        fibrio::yield_now();
        pair.1.notify_all();
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(log.borrow().len(), 4);
        // With nobody waiting, a notification is not remembered.
        pair.1.notify_one();
        let g = pair.0.lock().unwrap();
        let (_g, r) = pair.1.wait_timeout(g, Duration::from_millis(5)).unwrap();
        assert!(r.timed_out());
    });
}

#[test]
fn condvar_wait_timeout_times_out_then_relocks_the_mutex() {
    fibrio::run(|| {
        let pair = Arc::new((Mutex::new(0), Condvar::new()));
        let p2 = pair.clone();
        let holder = fibrio::spawn(move || {
            fibrio::sleep(Duration::from_millis(5));
            let mut g = p2.0.lock().unwrap(); // free: the waiter unlocked it
            fibrio::sleep(Duration::from_millis(30)); // past the timeout
            *g = 1;
        });
        let start = Instant::now();
        let g = pair.0.lock().unwrap();
        let (g, r) = pair.1.wait_timeout(g, Duration::from_millis(10)).unwrap();
        assert!(r.timed_out());
        // Re-locking waited for the holder.
        assert_eq!(*g, 1);
        assert!(start.elapsed() >= Duration::from_millis(30));
        drop(g);
        holder.join().unwrap();
        assert_eq!(pair.1.statistics().abandoned, 1);
    });
}

#[test]
fn condvar_wait_while_rechecks_the_condition() {
    fibrio::run(|| {
        let pair = Arc::new((Mutex::new(0), Condvar::new()));
        let p2 = pair.clone();
        let producer = fibrio::spawn(move || {
            for _ in 0..5 {
                *p2.0.lock().unwrap() += 1;
                p2.1.notify_all();
                fibrio::yield_now();
            }
        });
        let g = pair
            .1
            .wait_while(pair.0.lock().unwrap(), |n| *n < 5)
            .unwrap();
        assert_eq!(*g, 5);
        drop(g);
        producer.join().unwrap();
        let (g, r) = pair
            .1
            .wait_timeout_while(pair.0.lock().unwrap(), Duration::from_millis(5), |n| *n < 6)
            .unwrap();
        assert!(r.timed_out());
        assert_eq!(*g, 5);
    });
}

#[test]
fn cancelled_condvar_waiter_passes_its_notify_one_on() {
    fibrio::run(|| {
        let pair: Pair<()> = Arc::new((Mutex::new(()), Condvar::new()));
        let log = Rc::new(RefCell::new(Vec::new()));
        let a = condvar_waiter(&pair, &log, 0);
        let b = condvar_waiter(&pair, &log, 1);
        fibrio::yield_now();
        assert_eq!(pair.1.statistics().waiters, 2);
        pair.1.notify_one(); // handed to `a` ...
        a.cancel(); // ... which is cancelled before it runs
        assert_cancelled(a.join());
        b.join().unwrap(); // so `b` got it
        assert_eq!(*log.borrow(), [1]);
        assert!(pair.0.try_lock().is_ok());
    });
}

#[test]
fn cancelled_condvar_waiter_leaves_the_queue_and_the_mutex_free() {
    fibrio::run(|| {
        let pair: Pair<()> = Arc::new((Mutex::new(()), Condvar::new()));
        let log = Rc::new(RefCell::new(Vec::new()));
        let a = condvar_waiter(&pair, &log, 0);
        fibrio::yield_now();
        assert_eq!(pair.1.statistics().waiters, 1);
        a.cancel();
        assert_cancelled(a.join());
        let stats = pair.1.statistics();
        assert_eq!((stats.waiters, stats.abandoned), (0, 1));
        assert!(!pair.0.statistics().locked);
        assert!(log.borrow().is_empty());
    });
}

#[test]
fn condvar_plain_thread_waits_for_a_task() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let p2 = pair.clone();
    let thread = std::thread::spawn(move || {
        let g =
            p2.1.wait_while(p2.0.lock().unwrap(), |ready| !*ready)
                .unwrap();
        *g
    });
    let p3 = pair.clone();
    fibrio::run(move || {
        fibrio::sleep(Duration::from_millis(10));
        *p3.0.lock().unwrap() = true;
        p3.1.notify_all();
    });
    assert!(thread.join().unwrap());
}
