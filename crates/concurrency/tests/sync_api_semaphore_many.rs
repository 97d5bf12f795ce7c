//! `Semaphore::acquire_many` and friends: a multi-permit request is served
//! whole, in FIFO order, and holds up later smaller requests while permits
//! are set aside for it; `try_acquire_many` takes all or nothing;
//! `forget_permits` removes only free permits; a cancelled or timed-out
//! multi-permit waiter passes the permits set aside or handed to it on;
//! `n == 0` succeeds at once.

mod common;

use common::{assert_cancelled, yield_n};

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use fibrio_concurrency::{AcquireError, Semaphore, TryAcquireError};

/// Spawns a task that takes `n` permits, records `label` in `order`, and
/// holds the permits for a few yields.
fn spawn_taker(
    sem: &Semaphore,
    n: usize,
    label: &'static str,
    order: &Rc<RefCell<Vec<&'static str>>>,
) -> fibrio::task::JoinHandle<usize> {
    let (sem, order) = (sem.clone(), order.clone());
    fibrio::spawn(move || {
        let permit = sem.acquire_many(n).unwrap();
        order.borrow_mut().push(label);
        yield_n(2);
        permit.num_permits()
    })
}

#[test]
fn a_multi_permit_waiter_is_served_whole_and_holds_up_smaller_requests() {
    let order = fibrio::run(|| {
        let sem = Semaphore::new(3);
        let held = sem.acquire_many(3).unwrap();
        let order = Rc::new(RefCell::new(Vec::new()));
        let big = spawn_taker(&sem, 3, "big", &order);
        fibrio::yield_now(); // `big` queues first
        let small = spawn_taker(&sem, 1, "small", &order);
        fibrio::yield_now();
        assert_eq!(sem.statistics().waiters, 2);

        drop(held);
        // All three came back at once: `big` is served, `small` still waits.
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.reserved, stats.waiters), (0, 0, 1));
        assert_eq!(big.join().unwrap(), 3);
        assert_eq!(small.join().unwrap(), 1);
        assert_eq!(sem.available_permits(), 3);
        let v = order.borrow().clone();
        v
    });
    assert_eq!(order, ["big", "small"]);
}

#[test]
fn permits_released_one_by_one_are_set_aside_for_the_front_waiter() {
    fibrio::run(|| {
        let sem = Semaphore::new(3);
        let singles: Vec<_> = (0..3).map(|_| sem.acquire().unwrap()).collect();
        let order = Rc::new(RefCell::new(Vec::new()));
        let big = spawn_taker(&sem, 3, "big", &order);
        fibrio::yield_now();
        let small = spawn_taker(&sem, 1, "small", &order);
        fibrio::yield_now();

        let mut singles = singles.into_iter();
        drop(singles.next());
        drop(singles.next());
        yield_n(3); // `small` gets no chance to overtake
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.reserved, stats.waiters), (0, 2, 2));
        assert!(order.borrow().is_empty());
        // A newcomer cannot take a set-aside permit either.
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);

        drop(singles.next()); // the third: `big` is served whole
        assert_eq!(big.join().unwrap(), 3);
        assert_eq!(small.join().unwrap(), 1);
        assert_eq!(*order.borrow(), ["big", "small"]);
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.reserved, stats.waiters), (3, 0, 0));
        assert_eq!(stats.acquired, 3 + 3 + 1);
    });
}

#[test]
fn released_permits_serve_several_queued_requests_in_order() {
    let order = fibrio::run(|| {
        let sem = Semaphore::new(0);
        let order = Rc::new(RefCell::new(Vec::new()));
        let takers: Vec<_> = [("two", 2), ("one", 1), ("three", 3)]
            .into_iter()
            .map(|(label, n)| {
                let t = spawn_taker(&sem, n, label, &order);
                fibrio::yield_now(); // queue in this order
                t
            })
            .collect();
        // Enough for the first two, not for the third: one left reserved.
        sem.add_permits(4);
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.reserved, stats.waiters), (0, 1, 1));
        let served: Vec<usize> = takers.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(served, [2, 1, 3]);
        assert_eq!(sem.available_permits(), 4);
        let v = order.borrow().clone();
        v
    });
    assert_eq!(order, ["two", "one", "three"]);
}

#[test]
fn try_acquire_many_takes_all_or_nothing() {
    let sem = Semaphore::new(3);
    let two = sem.try_acquire_many(2).unwrap();
    assert_eq!(two.num_permits(), 2);
    assert_eq!(
        sem.try_acquire_many(2).unwrap_err(),
        TryAcquireError::NoPermits
    );
    assert_eq!(sem.available_permits(), 1, "a failed try took a permit");
    let one = sem.try_acquire_many(1).unwrap();
    drop(two);
    assert_eq!(sem.available_permits(), 2);
    drop(one);
    let all = sem.try_acquire_many(3).unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop(all);
    // More than the semaphore has: fails rather than waits.
    assert_eq!(
        sem.try_acquire_many(4).unwrap_err(),
        TryAcquireError::NoPermits
    );
    sem.close();
    assert_eq!(
        sem.try_acquire_many(1).unwrap_err(),
        TryAcquireError::Closed
    );
}

#[test]
fn try_acquire_many_does_not_overtake_a_waiter() {
    fibrio::run(|| {
        let sem = Semaphore::new(2);
        let held = sem.acquire().unwrap();
        let s2 = sem.clone();
        let big = fibrio::spawn(move || s2.acquire_many(2).map(|p| p.num_permits()));
        fibrio::yield_now();
        // One permit is free but set aside for `big`.
        assert_eq!(sem.statistics().reserved, 1);
        assert_eq!(
            sem.try_acquire_many(1).unwrap_err(),
            TryAcquireError::NoPermits
        );
        drop(held);
        assert_eq!(big.join().unwrap(), Ok(2));
    });
}

#[test]
fn zero_permits_succeed_at_once_even_behind_waiters() {
    fibrio::run(|| {
        let sem = Semaphore::new(1);
        let held = sem.acquire().unwrap();
        let s2 = sem.clone();
        let waiter = fibrio::spawn(move || s2.acquire().map(|p| p.num_permits()));
        fibrio::yield_now();
        let none = sem.acquire_many(0).unwrap();
        assert_eq!(none.num_permits(), 0);
        let none_try = sem.try_acquire_many(0).unwrap();
        let none_timeout = sem.acquire_many_timeout(0, Duration::ZERO).unwrap();
        drop((none, none_try, none_timeout)); // return nothing
        assert_eq!(sem.statistics().waiters, 1);
        drop(held);
        assert_eq!(waiter.join().unwrap(), Ok(1));
        assert_eq!(sem.available_permits(), 1);
        sem.close();
        assert_eq!(sem.acquire_many(0).unwrap_err(), AcquireError::Closed);
    });
}

#[test]
fn forget_permits_removes_only_free_permits() {
    fibrio::run(|| {
        let sem = Semaphore::new(5);
        let held = sem.acquire_many(2).unwrap();
        assert_eq!(sem.forget_permits(1), 1);
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(sem.forget_permits(10), 2, "only two were free");
        assert_eq!(sem.forget_permits(1), 0);
        drop(held);
        assert_eq!(sem.available_permits(), 2, "held permits come back");

        // Permits set aside for a waiter are not free: not forgotten.
        let one = sem.acquire().unwrap();
        let s2 = sem.clone();
        let big = fibrio::spawn(move || s2.acquire_many(2).map(|p| p.num_permits()));
        fibrio::yield_now();
        assert_eq!(sem.statistics().reserved, 1);
        assert_eq!(sem.forget_permits(1), 0);
        drop(one);
        assert_eq!(big.join().unwrap(), Ok(2));
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn permit_forget_shrinks_the_semaphore_by_all_its_permits() {
    let sem = Semaphore::new(4);
    let three = sem.try_acquire_many(3).unwrap();
    assert_eq!(three.num_permits(), 3);
    three.forget();
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(
        sem.try_acquire_many(2).unwrap_err(),
        TryAcquireError::NoPermits
    );
}

#[test]
fn cancelled_multi_permit_waiter_passes_set_aside_permits_on() {
    fibrio::run(|| {
        let sem = Semaphore::new(3);
        let singles: Vec<_> = (0..3).map(|_| sem.acquire().unwrap()).collect();
        let order = Rc::new(RefCell::new(Vec::new()));
        let big = spawn_taker(&sem, 3, "big", &order);
        fibrio::yield_now();
        let medium = spawn_taker(&sem, 2, "medium", &order);
        fibrio::yield_now();

        let mut singles = singles.into_iter();
        drop(singles.next());
        drop(singles.next());
        assert_eq!(sem.statistics().reserved, 2);
        // `big` leaves: the two permits set aside for it go to `medium`.
        big.cancel();
        assert_cancelled(big.join());
        assert_eq!(medium.join().unwrap(), 2);
        assert_eq!(*order.borrow(), ["medium"]);
        drop(singles.next());
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.reserved, stats.waiters), (3, 0, 0));
        assert_eq!(stats.abandoned, 1);
    });
}

#[test]
fn cancelled_multi_permit_waiter_passes_handed_permits_on() {
    fibrio::run(|| {
        let sem = Semaphore::new(3);
        let held = sem.acquire_many(3).unwrap();
        let order = Rc::new(RefCell::new(Vec::new()));
        let big = spawn_taker(&sem, 3, "big", &order);
        fibrio::yield_now();
        let small_a = spawn_taker(&sem, 1, "a", &order);
        let small_b = spawn_taker(&sem, 2, "b", &order);
        fibrio::yield_now();
        assert_eq!(sem.statistics().waiters, 3);
        // `big` is cancelled, then handed all three permits before it runs:
        // it must pass them on, to `a` and `b`.
        big.cancel();
        drop(held);
        assert_cancelled(big.join());
        assert_eq!(small_a.join().unwrap(), 1);
        assert_eq!(small_b.join().unwrap(), 2);
        assert_eq!(*order.borrow(), ["a", "b"]);
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.reserved, stats.waiters), (3, 0, 0));
    });
}

#[test]
fn timed_out_multi_permit_waiter_releases_the_queue() {
    fibrio::run(|| {
        let sem = Semaphore::new(2);
        let held = sem.acquire().unwrap();
        let s2 = sem.clone();
        // Asks for more than the semaphore will ever have.
        let greedy = fibrio::spawn(move || {
            s2.acquire_many_timeout(5, Duration::from_millis(20))
                .map(|p| p.num_permits())
        });
        fibrio::yield_now();
        let s3 = sem.clone();
        let small = fibrio::spawn(move || s3.acquire().map(|p| p.num_permits()));
        fibrio::yield_now();
        // One permit is free, but set aside for `greedy`: `small` waits.
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.reserved, stats.waiters), (0, 1, 2));
        assert_eq!(greedy.join().unwrap(), Err(AcquireError::Timeout));
        // The set-aside permit went on to `small`.
        assert_eq!(small.join().unwrap(), Ok(1));
        drop(held);
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn close_wakes_a_multi_permit_waiter_and_keeps_the_count() {
    fibrio::run(|| {
        let sem = Semaphore::new(2);
        let held = sem.acquire().unwrap();
        let s2 = sem.clone();
        let big = fibrio::spawn(move || s2.acquire_many(2).map(|p| p.num_permits()));
        fibrio::yield_now();
        assert_eq!(sem.statistics().reserved, 1);
        sem.close();
        assert_eq!(big.join().unwrap(), Err(AcquireError::Closed));
        drop(held);
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.reserved, stats.waiters), (2, 0, 0));
        assert_eq!(sem.acquire_many(1).unwrap_err(), AcquireError::Closed);
    });
}

#[test]
fn acquire_many_from_plain_threads() {
    let sem = Semaphore::new(4);
    let held = sem.try_acquire_many(3).unwrap();
    let s2 = sem.clone();
    let thread = std::thread::spawn(move || s2.acquire_many(4).map(|p| p.num_permits()));
    while sem.statistics().waiters == 0 {
        std::thread::yield_now();
    }
    drop(held);
    assert_eq!(thread.join().unwrap(), Ok(4));
    assert_eq!(sem.available_permits(), 4);
}

#[test]
fn adding_past_max_permits_panics_clearly_and_leaves_the_semaphore_usable() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS - 1);
    sem.add_permits(1);
    let err = std::panic::catch_unwind(|| sem.add_permits(1)).unwrap_err();
    let message = err.downcast_ref::<String>().unwrap();
    assert!(message.contains("MAX_PERMITS"), "{message}");
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
    let permit = sem.try_acquire_many(3).unwrap();
    drop(permit);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
    assert!(std::panic::catch_unwind(|| Semaphore::new(usize::MAX)).is_err());
}
