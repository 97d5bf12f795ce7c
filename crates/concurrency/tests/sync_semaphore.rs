//! Semaphore behaviour: FIFO service, no barging, timeouts, close,
//! cancellation (a cancelled waiter never takes a permit), checkpoints,
//! statistics, and use from a plain thread.

use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::task::JoinError;
use fibrio_concurrency::{AcquireError, Semaphore, TryAcquireError};

#[test]
fn waiters_are_served_fifo() {
    let order = fibrio::run(|| {
        let sem = Semaphore::new(1);
        let held = sem.acquire().unwrap();
        let order = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let (sem, order) = (sem.clone(), order.clone());
                let t = fibrio::spawn(move || {
                    let _p = sem.acquire().unwrap();
                    order.borrow_mut().push(i);
                    fibrio::yield_now();
                });
                fibrio::yield_now(); // let it queue, in spawn order
                t
            })
            .collect();
        assert_eq!(sem.statistics().waiters, 5);
        drop(held);
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 1);
        let v = order.borrow().clone();
        v
    });
    assert_eq!(order, [0, 1, 2, 3, 4]);
}

#[test]
fn a_released_permit_goes_to_the_waiter_not_to_a_newcomer() {
    fibrio::run(|| {
        let sem = Semaphore::new(1);
        let held = sem.acquire().unwrap();
        let s2 = sem.clone();
        let waiter = fibrio::spawn(move || s2.acquire().map(drop));
        fibrio::yield_now();
        drop(held);
        // The waiter has not run yet, but the permit is already its own.
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        assert_eq!(sem.available_permits(), 0);
        waiter.join().unwrap().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn cancelled_waiter_never_takes_a_permit() {
    fibrio::run(|| {
        let sem = Semaphore::new(1);
        let held = sem.acquire().unwrap();
        let got = Rc::new(Cell::new(0));
        let spawn_waiter = |sem: &Semaphore| {
            let (sem, got) = (sem.clone(), got.clone());
            fibrio::spawn(move || {
                let _p = sem.acquire().unwrap();
                got.set(got.get() + 1);
            })
        };
        let a = spawn_waiter(&sem);
        let b = spawn_waiter(&sem);
        fibrio::yield_now();
        assert_eq!(sem.statistics().waiters, 2);
        // `a` (queued first) is cancelled, then the permit is handed to it
        // before it runs: it must pass the permit on to `b`.
        a.cancel();
        drop(held);
        assert!(matches!(a.join(), Err(JoinError::Cancelled)));
        b.join().unwrap();
        assert_eq!(got.get(), 1);
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.waiters), (1, 0));
        assert_eq!(stats.acquired, 2); // `held` and `b`

        // Handed a permit *before* its cancellation, a waiter's acquire has
        // completed (trio's rule): it holds the permit until it unwinds at
        // its next checkpoint, and the permit comes back.
        let held = sem.acquire().unwrap();
        let (s2, g2) = (sem.clone(), got.clone());
        let c = fibrio::spawn(move || {
            let _p = s2.acquire().unwrap();
            g2.set(g2.get() + 1);
            fibrio::yield_now(); // cancelled here, permit in hand
            unreachable!("cancelled at the checkpoint");
        });
        fibrio::yield_now();
        drop(held);
        c.cancel();
        assert!(matches!(c.join(), Err(JoinError::Cancelled)));
        assert_eq!(got.get(), 2);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn cancelled_waiter_leaves_the_queue() {
    fibrio::run(|| {
        let sem = Semaphore::new(0);
        let s2 = sem.clone();
        let waiter = fibrio::spawn(move || s2.acquire().map(drop));
        fibrio::yield_now();
        assert_eq!(sem.statistics().waiters, 1);
        waiter.cancel();
        assert!(matches!(waiter.join(), Err(JoinError::Cancelled)));
        let stats = sem.statistics();
        assert_eq!((stats.waiters, stats.abandoned), (0, 1));
        sem.add_permits(1);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn acquire_is_a_checkpoint_even_with_permits_free() {
    fibrio::run(|| {
        let sem = Semaphore::new(1);
        let returned = Rc::new(Cell::new(false));
        let (s2, r2) = (sem.clone(), returned.clone());
        let t = fibrio::spawn(move || {
            // Swallow the first cancellation; the acquire must unwind again.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(fibrio::task::park));
            let _p = s2.acquire();
            r2.set(true);
        });
        fibrio::yield_now();
        t.cancel();
        assert!(matches!(t.join(), Err(JoinError::Cancelled)));
        assert!(!returned.get());
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn acquire_timeout_gives_up_and_takes_nothing() {
    fibrio::run(|| {
        let sem = Semaphore::new(1);
        let held = sem.acquire().unwrap();
        let start = Instant::now();
        let err = sem.acquire_timeout(Duration::from_millis(20)).unwrap_err();
        assert_eq!(err, AcquireError::Timeout);
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(sem.statistics().waiters, 0);
        drop(held);
        assert_eq!(sem.available_permits(), 1);
        // With a permit free, a timeout acquire succeeds at once.
        assert!(sem.acquire_timeout(Duration::ZERO).is_ok());
    });
}

#[test]
fn acquire_timeout_succeeds_when_released_in_time() {
    fibrio::run(|| {
        let sem = Semaphore::new(1);
        let held = sem.acquire().unwrap();
        fibrio::spawn(move || {
            fibrio::sleep(Duration::from_millis(5));
            drop(held);
        });
        assert!(sem.acquire_timeout(Duration::from_secs(5)).is_ok());
    });
}

#[test]
fn close_wakes_waiters_and_refuses_new_acquires() {
    fibrio::run(|| {
        let sem = Semaphore::new(1);
        let held = sem.acquire().unwrap();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = sem.clone();
                fibrio::spawn(move || s.acquire().map(drop))
            })
            .collect();
        fibrio::yield_now();
        sem.close();
        for w in waiters {
            assert_eq!(w.join().unwrap(), Err(AcquireError::Closed));
        }
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
        drop(held); // still valid; goes back to the count
        let stats = sem.statistics();
        assert!(stats.closed);
        assert_eq!((stats.available, stats.waiters), (1, 0));
    });
}

#[test]
fn forget_and_add_permits() {
    let sem = Semaphore::new(2);
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.available_permits(), 1);
    sem.add_permits(3);
    assert_eq!(sem.available_permits(), 4);
}

#[test]
fn a_plain_thread_blocks_until_a_task_releases() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let s2 = sem.clone();
    let thread = std::thread::spawn(move || {
        let start = Instant::now();
        let _p = s2.acquire().unwrap();
        start.elapsed()
    });
    fibrio::run(move || {
        fibrio::sleep(Duration::from_millis(20));
        drop(held);
    });
    assert!(thread.join().unwrap() >= Duration::from_millis(15));
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn a_task_waits_for_a_permit_held_by_another_thread() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        drop(held);
    });
    let s2 = sem.clone();
    fibrio::run(move || {
        let _p = s2.acquire().unwrap();
    });
    thread.join().unwrap();
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn acquire_in_drop_during_cancellation_does_not_suspend() {
    struct AcquireOnDrop(Semaphore, Rc<Cell<Option<AcquireError>>>);
    impl Drop for AcquireOnDrop {
        fn drop(&mut self) {
            self.1.set(self.0.acquire().err());
        }
    }
    fibrio::run(|| {
        let sem = Semaphore::new(0);
        let err = Rc::new(Cell::new(None));
        let guard = AcquireOnDrop(sem.clone(), err.clone());
        let t = fibrio::spawn(move || {
            let _guard = guard;
            fibrio::task::park().unwrap();
        });
        fibrio::yield_now();
        t.cancel();
        assert!(matches!(t.join(), Err(JoinError::Cancelled)));
        assert_eq!(err.get(), Some(AcquireError::Unwinding));
        assert_eq!(sem.statistics().waiters, 0);
    });
}
