//! The smaller sync API additions: `Notify::notify_last` (LIFO, stores a
//! permit when nobody waits, passed on to the now most recent waiter when
//! the woken one is cancelled), `Condvar::notify(n)` (wakes exactly
//! `min(n, waiters)` in FIFO order and says how many), `Mutex::is_locked`
//! (true while handed to a waiter that has not run: `try_lock` does not
//! barge), and `Barrier` (exactly one leader per generation).

mod common;

use common::{assert_cancelled, yield_n};

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use fibrio_concurrency::sync::{Barrier, Condvar, Mutex, Notify, TryLockError};

/// Spawns `n` tasks that wait on `notify` one after another (each parks
/// before the next is spawned) and log their index when woken.
fn queue_notify_waiters(
    notify: &Arc<Notify>,
    n: usize,
    log: &Rc<RefCell<Vec<usize>>>,
) -> Vec<fibrio::task::JoinHandle<()>> {
    (0..n)
        .map(|i| {
            let (notify, log) = (notify.clone(), log.clone());
            let t = fibrio::spawn(move || {
                notify.wait().unwrap();
                log.borrow_mut().push(i);
            });
            fibrio::yield_now(); // it parks, in spawn order
            t
        })
        .collect()
}

#[test]
fn notify_last_wakes_the_most_recent_waiter_first() {
    let log = fibrio::run(|| {
        let notify = Arc::new(Notify::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks = queue_notify_waiters(&notify, 4, &log);
        assert_eq!(notify.statistics().waiters, 4);
        for remaining in (0..4).rev() {
            notify.notify_last();
            yield_n(2); // the woken task runs and logs
            assert_eq!(notify.statistics().waiters, remaining);
        }
        for t in tasks {
            t.join().unwrap();
        }
        assert!(!notify.statistics().permit);
        let v = log.borrow().clone();
        v
    });
    assert_eq!(log, [3, 2, 1, 0]);
}

#[test]
fn notify_last_and_notify_one_serve_opposite_ends() {
    let log = fibrio::run(|| {
        let notify = Arc::new(Notify::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks = queue_notify_waiters(&notify, 3, &log);
        notify.notify_last(); // the back: 2
        yield_n(2);
        notify.notify_one(); // the front: 0
        yield_n(2);
        notify.notify_last(); // the only one left: 1
        for t in tasks {
            t.join().unwrap();
        }
        let v = log.borrow().clone();
        v
    });
    assert_eq!(log, [2, 0, 1]);
}

#[test]
fn notify_last_stores_one_permit_when_nobody_waits() {
    fibrio::run(|| {
        let notify = Notify::new();
        notify.notify_last();
        notify.notify_last();
        assert!(notify.statistics().permit);
        notify.wait().unwrap(); // takes the permit at once
        assert!(!notify
            .wait_timeout(std::time::Duration::from_millis(5))
            .unwrap());
        let stats = notify.statistics();
        assert_eq!((stats.permit, stats.notified), (false, 1));
    });
}

#[test]
fn notify_last_handed_to_a_cancelled_waiter_goes_to_the_next_most_recent() {
    let log = fibrio::run(|| {
        let notify = Arc::new(Notify::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = queue_notify_waiters(&notify, 3, &log);
        let last = tasks.pop().unwrap();
        // The most recent waiter is cancelled, then handed the
        // notification before it runs: it passes it on to waiter 1.
        last.cancel();
        notify.notify_last();
        assert_cancelled(last.join());
        yield_n(2);
        assert_eq!(*log.borrow(), [1]);
        let stats = notify.statistics();
        assert_eq!(
            (stats.waiters, stats.permit, stats.abandoned),
            (1, false, 1)
        );
        notify.notify_last();
        for t in tasks {
            t.join().unwrap();
        }
        let v = log.borrow().clone();
        v
    });
    assert_eq!(log, [1, 0]);
}

/// Spawns `n` tasks that wait on the condition variable one after another
/// (each parks before the next is spawned) and log their index when woken.
fn queue_condvar_waiters(
    pair: &Arc<(Mutex<()>, Condvar)>,
    n: usize,
    log: &Rc<RefCell<Vec<usize>>>,
) -> Vec<fibrio::task::JoinHandle<()>> {
    (0..n)
        .map(|i| {
            let (pair, log) = (pair.clone(), log.clone());
            let t = fibrio::spawn(move || {
                let (m, cv) = &*pair;
                let guard = cv.wait(m.lock().unwrap()).unwrap();
                log.borrow_mut().push(i);
                drop(guard);
            });
            fibrio::yield_now(); // it parks, in spawn order
            t
        })
        .collect()
}

#[test]
fn condvar_notify_wakes_exactly_n_in_fifo_order() {
    let log = fibrio::run(|| {
        let pair = Arc::new((Mutex::new(()), Condvar::new()));
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks = queue_condvar_waiters(&pair, 5, &log);
        let cv = &pair.1;
        assert_eq!(cv.statistics().waiters, 5);

        assert_eq!(cv.notify(2), 2);
        yield_n(4);
        assert_eq!(*log.borrow(), [0, 1], "woke other than the first two");
        assert_eq!(cv.statistics().waiters, 3);

        assert_eq!(cv.notify(0), 0);
        yield_n(4);
        assert_eq!(log.borrow().len(), 2, "notify(0) woke someone");

        // More than wait: wakes the three left, and says so.
        assert_eq!(cv.notify(10), 3);
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(cv.notify(1), 0, "nobody waits");
        let stats = cv.statistics();
        assert_eq!((stats.waiters, stats.woken), (0, 5));
        let v = log.borrow().clone();
        v
    });
    assert_eq!(log, [0, 1, 2, 3, 4]);
}

#[test]
fn condvar_notify_passes_a_cancelled_waiters_wakeup_on() {
    let log = fibrio::run(|| {
        let pair = Arc::new((Mutex::new(()), Condvar::new()));
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = queue_condvar_waiters(&pair, 3, &log);
        let first = tasks.remove(0);
        first.cancel();
        // Two wake-ups: the first goes to the cancelled waiter, which
        // passes it on to waiter 2, so both survivors wake.
        assert_eq!(pair.1.notify(2), 2);
        assert_cancelled(first.join());
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(pair.1.statistics().waiters, 0);
        let v = log.borrow().clone();
        v
    });
    assert_eq!(log, [1, 2]);
}

#[test]
fn mutex_is_locked_tracks_holding_and_hand_off() {
    fibrio::run(|| {
        let m = Arc::new(Mutex::new(0));
        assert!(!m.is_locked());
        let guard = m.lock().unwrap();
        assert!(m.is_locked());
        let m2 = m.clone();
        let waiter = fibrio::spawn(move || *m2.lock().unwrap() += 1);
        fibrio::yield_now(); // the waiter queues
        drop(guard);
        // Handed to the waiter, which has not run yet: still locked, and
        // try_lock does not barge past it.
        assert!(m.is_locked());
        assert_eq!(m.try_lock().unwrap_err(), TryLockError::WouldBlock);
        waiter.join().unwrap();
        assert!(!m.is_locked());
        assert_eq!(*m.try_lock().unwrap(), 1);
        assert!(!m.is_locked());
    });
}

#[test]
fn mutex_is_locked_outside_any_task() {
    let m = Mutex::new(());
    let guard = m.try_lock().unwrap();
    assert!(m.is_locked());
    assert!(m.statistics().locked);
    drop(guard);
    assert!(!m.is_locked());
}

#[test]
fn barrier_has_exactly_one_leader_per_generation() {
    const PARTIES: usize = 4;
    const ROUNDS: usize = 5;
    let leaders_per_round = fibrio::run(|| {
        let barrier = Arc::new(Barrier::new(PARTIES));
        let leaders = Rc::new(RefCell::new(vec![0usize; ROUNDS]));
        let tasks: Vec<_> = (0..PARTIES)
            .map(|i| {
                let (barrier, leaders) = (barrier.clone(), leaders.clone());
                fibrio::spawn(move || {
                    for round in 0..ROUNDS {
                        // Arrive in a different order every round.
                        yield_n((i + round) % PARTIES);
                        if barrier.wait().unwrap().is_leader() {
                            leaders.borrow_mut()[round] += 1;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(barrier.statistics().generation, ROUNDS as u64);
        let v = leaders.borrow().clone();
        v
    });
    assert_eq!(leaders_per_round, [1; ROUNDS]);
}

#[test]
fn barrier_leader_is_the_last_arrival() {
    fibrio::run(|| {
        let barrier = Arc::new(Barrier::new(3));
        let early: Vec<_> = (0..2)
            .map(|_| {
                let b = barrier.clone();
                let t = fibrio::spawn(move || b.wait().unwrap().is_leader());
                fibrio::yield_now(); // it arrives and waits
                t
            })
            .collect();
        assert_eq!(barrier.statistics().waiting, 2);
        assert!(barrier.wait().unwrap().is_leader());
        for t in early {
            assert!(!t.join().unwrap());
        }
    });
}
