//! Fairness (issue 13, fault 4, "barging"): a release with waiters queued
//! hands the permit or lock to the front waiter, so a fresh acquirer (the
//! releasing task acquiring again at once included, and `try_acquire` /
//! `try_lock`) queues behind it or fails; it never overtakes. Modelled on
//! asyncio's Semaphore and Lock FIFO tests.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use fibrio::task::JoinError;
use fibrio_concurrency::sync::{Mutex, RwLock, TryLockError};
use fibrio_concurrency::{Semaphore, TryAcquireError};

type Log = Rc<RefCell<Vec<u32>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

/// asyncio's `test_acquire_fifo_order_2`: `c1` holds, `c2` and `c3` queue,
/// two permits are added (both handed out at once, in queue order); `c2`
/// then releases and re-acquires at once. `c3` was handed its permit but
/// has not run yet, so `c2`'s second acquire queues behind it even though
/// the permit `c2` returned is free: [1, 2, 3, 4], as asyncio expects.
#[test]
fn semaphore_asyncio_fifo_order_2() {
    let order = fibrio::run(|| {
        let sem = Semaphore::new(1);
        let order = log();
        let c1 = {
            let (sem, order) = (sem.clone(), order.clone());
            fibrio::spawn(move || {
                sem.acquire().unwrap().forget();
                order.borrow_mut().push(1);
            })
        };
        let c2 = {
            let (sem, order) = (sem.clone(), order.clone());
            fibrio::spawn(move || {
                let p = sem.acquire().unwrap();
                order.borrow_mut().push(2);
                drop(p);
                sem.acquire().unwrap().forget();
                order.borrow_mut().push(4);
            })
        };
        let c3 = {
            let (sem, order) = (sem.clone(), order.clone());
            fibrio::spawn(move || {
                sem.acquire().unwrap().forget();
                order.borrow_mut().push(3);
            })
        };
        fibrio::yield_now();
        assert_eq!(sem.statistics().waiters, 2);
        sem.add_permits(1);
        sem.add_permits(1);
        // Both permits are owned by `c2` and `c3` now, before either runs.
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.waiters, stats.acquired), (0, 0, 1));
        for t in [c1, c2, c3] {
            t.join().unwrap();
        }
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.acquired), (0, 4));
        let v = order.borrow().clone();
        v
    });
    assert_eq!(order, [1, 2, 3, 4]);
}

/// asyncio's `test_acquire_cancel_before_awoken`: four waiters on an empty
/// semaphore, the first two cancelled, then one permit released: it goes
/// to the third, and the fourth still waits.
#[test]
fn semaphore_asyncio_cancel_before_awoken() {
    fibrio::run(|| {
        let sem = Semaphore::new(0);
        let order = log();
        let tasks: Vec<_> = (1..=4)
            .map(|i| {
                let (sem, order) = (sem.clone(), order.clone());
                let t = fibrio::spawn(move || {
                    sem.acquire().unwrap().forget();
                    order.borrow_mut().push(i);
                });
                fibrio::yield_now();
                t
            })
            .collect();
        tasks[0].cancel();
        tasks[1].cancel();
        sem.add_permits(1);
        for _ in 0..3 {
            fibrio::yield_now();
        }
        assert_eq!(*order.borrow(), [3]);
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.waiters), (0, 1));
        assert_eq!((stats.acquired, stats.abandoned), (1, 2));
        sem.add_permits(1);
        let mut tasks = tasks.into_iter();
        for _ in 0..2 {
            let t = tasks.next().unwrap();
            assert!(matches!(t.join(), Err(JoinError::Cancelled)));
        }
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(*order.borrow(), [3, 4]);
    });
}

/// Task 1 holds; 2 and 3 queue; 1 releases and re-acquires at once: it
/// must queue behind 3.
#[test]
fn semaphore_release_then_reacquire_queues_behind_waiters() {
    let order = fibrio::run(|| {
        let sem = Semaphore::new(1);
        let order = log();
        let p = sem.acquire().unwrap();
        order.borrow_mut().push(1);
        let tasks: Vec<_> = [2, 3]
            .into_iter()
            .map(|i| {
                let (sem, order) = (sem.clone(), order.clone());
                let t = fibrio::spawn(move || {
                    let _p = sem.acquire().unwrap();
                    order.borrow_mut().push(i);
                    fibrio::yield_now();
                });
                fibrio::yield_now();
                t
            })
            .collect();
        drop(p);
        let _p = sem.acquire().unwrap();
        order.borrow_mut().push(4);
        for t in tasks {
            t.join().unwrap();
        }
        let v = order.borrow().clone();
        v
    });
    assert_eq!(order, [1, 2, 3, 4]);
}

#[test]
fn mutex_release_then_relock_queues_behind_waiters() {
    let order = fibrio::run(|| {
        let m = Arc::new(Mutex::new(()));
        let order = log();
        let g = m.lock().unwrap();
        order.borrow_mut().push(1);
        let tasks: Vec<_> = [2, 3]
            .into_iter()
            .map(|i| {
                let (m, order) = (m.clone(), order.clone());
                let t = fibrio::spawn(move || {
                    let _g = m.lock().unwrap();
                    order.borrow_mut().push(i);
                    fibrio::yield_now();
                });
                fibrio::yield_now();
                t
            })
            .collect();
        drop(g);
        let g = m.lock().unwrap();
        order.borrow_mut().push(4);
        drop(g);
        for t in tasks {
            t.join().unwrap();
        }
        let v = order.borrow().clone();
        v
    });
    assert_eq!(order, [1, 2, 3, 4]);
}

#[test]
fn rwlock_release_then_relock_queues_behind_waiters() {
    for (first_write, again_write) in [(true, true), (true, false), (false, true)] {
        let order = fibrio::run(move || {
            let l = Arc::new(RwLock::new(()));
            let order = log();
            let w = first_write.then(|| l.write().unwrap());
            let r = (!first_write).then(|| l.read().unwrap());
            order.borrow_mut().push(1);
            let tasks: Vec<_> = [2, 3]
                .into_iter()
                .map(|i| {
                    let (l, order) = (l.clone(), order.clone());
                    let t = fibrio::spawn(move || {
                        let _g = l.write().unwrap();
                        order.borrow_mut().push(i);
                        fibrio::yield_now();
                    });
                    fibrio::yield_now();
                    t
                })
                .collect();
            drop((w, r));
            if again_write {
                let _g = l.write().unwrap();
                order.borrow_mut().push(4);
            } else {
                let _g = l.read().unwrap();
                order.borrow_mut().push(4);
            }
            for t in tasks {
                t.join().unwrap();
            }
            let v = order.borrow().clone();
            v
        });
        assert_eq!(order, [1, 2, 3, 4], "{first_write} {again_write}");
    }
}

/// try_acquire / try_lock fail while a waiter is queued, and while one has
/// been handed the permit or lock but has not run yet.
#[test]
fn try_fails_while_a_waiter_is_queued_or_handed() {
    fibrio::run(|| {
        let sem = Semaphore::new(1);
        let p = sem.acquire().unwrap();
        let s2 = sem.clone();
        let w = fibrio::spawn(move || s2.acquire().map(drop));
        fibrio::yield_now();
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        drop(p); // handed to `w`, which has not run
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.waiters), (0, 0));
        w.join().unwrap().unwrap();
        assert_eq!(sem.available_permits(), 1);

        let m = Arc::new(Mutex::new(0));
        let g = m.lock().unwrap();
        let m2 = m.clone();
        let w = fibrio::spawn(move || *m2.lock().unwrap() += 1);
        fibrio::yield_now();
        assert_eq!(m.try_lock().unwrap_err(), TryLockError::WouldBlock);
        drop(g);
        assert_eq!(m.try_lock().unwrap_err(), TryLockError::WouldBlock);
        let stats = m.statistics();
        assert!(stats.locked);
        assert_eq!(stats.waiters, 0);
        w.join().unwrap();
        assert_eq!(*m.try_lock().unwrap(), 1);

        let l = Arc::new(RwLock::new(0));
        let g = l.read().unwrap();
        let l2 = l.clone();
        let w = fibrio::spawn(move || *l2.write().unwrap() += 1);
        fibrio::yield_now();
        assert_eq!(l.try_read().unwrap_err(), TryLockError::WouldBlock);
        assert_eq!(l.try_write().unwrap_err(), TryLockError::WouldBlock);
        drop(g);
        assert_eq!(l.try_read().unwrap_err(), TryLockError::WouldBlock);
        assert_eq!(l.try_write().unwrap_err(), TryLockError::WouldBlock);
        assert!(l.statistics().writer);
        w.join().unwrap();
        assert_eq!(*l.try_read().unwrap(), 1);
    });
}

/// A waiter cancelled while queued, then handed the permit or lock before
/// it runs, passes it on to the next waiter; it never takes it.
#[test]
fn a_cancelled_handed_waiter_passes_it_on() {
    fibrio::run(|| {
        let order = log();
        // Semaphore.
        let sem = Semaphore::new(1);
        let p = sem.acquire().unwrap();
        let spawn = |i: u32| {
            let (sem, order) = (sem.clone(), order.clone());
            let t = fibrio::spawn(move || {
                let _p = sem.acquire().unwrap();
                order.borrow_mut().push(i);
            });
            fibrio::yield_now();
            t
        };
        let (a, b) = (spawn(1), spawn(2));
        a.cancel();
        drop(p);
        assert!(matches!(a.join(), Err(JoinError::Cancelled)));
        b.join().unwrap();
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.waiters), (1, 0));
        assert_eq!((stats.acquired, stats.abandoned), (2, 1));

        // Mutex.
        let m = Arc::new(Mutex::new(()));
        let g = m.lock().unwrap();
        let spawn = |i: u32| {
            let (m, order) = (m.clone(), order.clone());
            let t = fibrio::spawn(move || {
                let _g = m.lock().unwrap();
                order.borrow_mut().push(i);
            });
            fibrio::yield_now();
            t
        };
        let (a, b) = (spawn(3), spawn(4));
        a.cancel();
        drop(g);
        assert!(matches!(a.join(), Err(JoinError::Cancelled)));
        b.join().unwrap();
        let stats = m.statistics();
        assert!(!stats.locked);
        assert_eq!((stats.waiters, stats.acquisitions), (0, 2));
        assert_eq!((stats.contended, stats.abandoned), (2, 1));

        // RwLock.
        let l = Arc::new(RwLock::new(()));
        let g = l.write().unwrap();
        let spawn = |i: u32| {
            let (l, order) = (l.clone(), order.clone());
            let t = fibrio::spawn(move || {
                let _g = l.write().unwrap();
                order.borrow_mut().push(i);
            });
            fibrio::yield_now();
            t
        };
        let (a, b) = (spawn(5), spawn(6));
        a.cancel();
        drop(g);
        assert!(matches!(a.join(), Err(JoinError::Cancelled)));
        b.join().unwrap();
        let stats = l.statistics();
        assert!(!stats.writer);
        assert_eq!((stats.writes, stats.abandoned), (2, 1));

        assert_eq!(*order.borrow(), [2, 4, 6]);
    });
}
