//! `fibrio_concurrency::sync::Mutex`: FIFO service and hand-off to the
//! waiter, mutual exclusion under many tasks that yield while holding the
//! lock, timeouts, cancellation of a waiter or of the holder, unsized
//! values, and use from plain threads.

mod common;

use common::{assert_cancelled, park_until_cancelled, yield_n};

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio_concurrency::sync::{Event, LockError, Mutex, TryLockError};

#[test]
fn mutex_waiters_are_served_fifo() {
    let order = fibrio::run(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let held = m.lock().unwrap();
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let m = m.clone();
                let t = fibrio::spawn(move || m.lock().unwrap().push(i));
                fibrio::yield_now(); // let it queue, in spawn order
                t
            })
            .collect();
        let stats = m.statistics();
        assert_eq!((stats.waiters, stats.contended), (5, 5));
        drop(held);
        for t in tasks {
            t.join().unwrap();
        }
        let v = m.lock().unwrap().clone();
        v
    });
    assert_eq!(order, [0, 1, 2, 3, 4]);
}

#[test]
fn mutex_unlock_hands_the_lock_to_the_waiter_not_to_a_newcomer() {
    fibrio::run(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.lock().unwrap();
        let m2 = m.clone();
        let waiter = fibrio::spawn(move || *m2.lock().unwrap() += 1);
        fibrio::yield_now();
        drop(held);
        // The waiter has not run yet, but the lock is already its own.
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        assert!(m.statistics().locked);
        waiter.join().unwrap();
        assert!(!m.statistics().locked);
        assert_eq!(*m.try_lock().unwrap(), 1);
    });
}

#[test]
fn mutex_excludes_100_tasks_that_yield_while_holding_it() {
    fibrio::run(|| {
        let m = Arc::new(Mutex::new(0u32));
        let inside = Rc::new(Cell::new(0u32));
        let max_inside = Rc::new(Cell::new(0u32));
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let (m, inside, max_inside) = (m.clone(), inside.clone(), max_inside.clone());
                fibrio::spawn(move || {
                    for _ in 0..3 {
                        let mut guard = m.lock().unwrap();
                        inside.set(inside.get() + 1);
                        max_inside.set(max_inside.get().max(inside.get()));
                        let before = *guard;
                        yield_n(i % 3 + 1);
                        *guard = before + 1; // a lost update if two held it
                        inside.set(inside.get() - 1);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(max_inside.get(), 1);
        let stats = m.statistics();
        assert_eq!(stats.acquisitions, 300);
        assert!(stats.contended > 0);
        assert_eq!((stats.waiters, stats.locked), (0, false));
        assert_eq!(*m.lock().unwrap(), 300);
    });
}

#[test]
fn mutex_lock_timeout_gives_up_and_leaves_the_queue() {
    fibrio::run(|| {
        let m = Mutex::new(());
        let held = m.lock().unwrap();
        let start = Instant::now();
        assert_eq!(
            m.lock_timeout(Duration::from_millis(20)).err(),
            Some(LockError::Timeout)
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        let stats = m.statistics();
        assert_eq!((stats.waiters, stats.abandoned), (0, 1));
        drop(held);
        assert!(!m.statistics().locked);
        assert!(m.lock_timeout(Duration::ZERO).is_ok());
    });
}

#[test]
fn mutex_lock_timeout_succeeds_when_released_in_time() {
    fibrio::run(|| {
        let m = Arc::new(Mutex::new(0));
        let m2 = m.clone();
        let holder = fibrio::spawn(move || {
            let mut g = m2.lock().unwrap();
            fibrio::sleep(Duration::from_millis(5));
            *g = 7;
        });
        fibrio::yield_now(); // the holder locks
        assert_eq!(*m.lock_timeout(Duration::from_secs(5)).unwrap(), 7);
        holder.join().unwrap();
    });
}

#[test]
fn cancelled_mutex_waiter_passes_the_lock_on() {
    fibrio::run(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let held = m.lock().unwrap();
        let spawn_waiter = |name: &'static str| {
            let m = m.clone();
            fibrio::spawn(move || {
                let mut g = m.lock().unwrap();
                fibrio::yield_now(); // a checkpoint while holding the lock
                g.push(name);
            })
        };
        let a = spawn_waiter("a");
        let b = spawn_waiter("b");
        fibrio::yield_now();
        assert_eq!(m.statistics().waiters, 2);
        // The lock is handed to `a` (queued first), then `a` is cancelled
        // before it runs. Whether `a` unwinds in `lock` (its node passes
        // the lock on) or at its next checkpoint (its guard does), the
        // lock reaches `b` and `a` never uses it.
        drop(held);
        a.cancel();
        assert_cancelled(a.join());
        b.join().unwrap();
        let stats = m.statistics();
        assert_eq!((stats.locked, stats.waiters), (false, 0));
        assert_eq!(*m.lock().unwrap(), ["b"]);
    });
}

#[test]
fn cancelled_mutex_waiter_leaves_the_queue() {
    fibrio::run(|| {
        let m = Arc::new(Mutex::new(()));
        let held = m.lock().unwrap();
        let m2 = m.clone();
        let waiter = fibrio::spawn(move || drop(m2.lock().unwrap()));
        fibrio::yield_now();
        assert_eq!(m.statistics().waiters, 1);
        waiter.cancel();
        assert_cancelled(waiter.join());
        assert_eq!(m.statistics().waiters, 0);
        drop(held);
        assert!(!m.statistics().locked);
        assert!(m.try_lock().is_ok());
    });
}

#[test]
fn cancelling_a_task_that_holds_the_lock_unlocks_it_without_poisoning() {
    fibrio::run(|| {
        let m = Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let holder = fibrio::spawn(move || {
            let mut g = m2.lock().unwrap();
            *g = 2;
            park_until_cancelled(); // parked with the lock held
        });
        fibrio::yield_now();
        assert!(m.statistics().locked);
        holder.cancel();
        assert_cancelled(holder.join());
        assert_eq!(*m.lock().unwrap(), 2);
    });
}

#[test]
fn mutex_lock_is_a_checkpoint_even_when_free() {
    fibrio::run(|| {
        let m = Arc::new(Mutex::new(()));
        let returned = Rc::new(Cell::new(false));
        let (m2, r2) = (m.clone(), returned.clone());
        let t = fibrio::spawn(move || {
            // Swallow the first cancellation; the lock must unwind again.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(fibrio::task::park));
            let _g = m2.lock();
            r2.set(true);
        });
        fibrio::yield_now();
        t.cancel();
        assert_cancelled(t.join());
        assert!(!returned.get());
        assert!(!m.statistics().locked);
    });
}

#[test]
fn unsized_mutex_derefs_to_the_slice() {
    let m: Arc<Mutex<[i32]>> = Arc::new(Mutex::new([1, 2, 3]));
    m.try_lock().unwrap()[0] = 5;
    assert_eq!(&*m.try_lock().unwrap(), &[5, 2, 3]);
}

#[test]
fn mutex_plain_thread_blocks_until_a_task_unlocks() {
    let m = Arc::new(Mutex::new(0));
    let m2 = m.clone();
    let started = Arc::new(Event::new());
    let s2 = started.clone();
    let thread = std::thread::spawn(move || {
        s2.wait().unwrap(); // the task holds the lock now
        let start = Instant::now();
        let mut g = m2.lock().unwrap();
        *g += 1;
        start.elapsed()
    });
    let m3 = m.clone();
    fibrio::run(move || {
        let mut g = m3.lock().unwrap();
        started.set();
        fibrio::sleep(Duration::from_millis(20));
        *g += 10;
    });
    assert!(thread.join().unwrap() >= Duration::from_millis(10));
    assert_eq!(*m.try_lock().unwrap(), 11);
}

#[test]
fn mutex_task_waits_for_a_lock_held_by_a_thread() {
    let m = Arc::new(Mutex::new(0));
    let guard_taken = Arc::new(Event::new());
    let (m2, g2) = (m.clone(), guard_taken.clone());
    let thread = std::thread::spawn(move || {
        let mut g = m2.lock().unwrap();
        g2.set();
        std::thread::sleep(Duration::from_millis(10));
        *g = 1;
    });
    guard_taken.wait().unwrap();
    let m3 = m.clone();
    let seen = fibrio::run(move || *m3.lock().unwrap());
    thread.join().unwrap();
    assert_eq!(seen, 1);
    assert!(!m.statistics().locked);
}
