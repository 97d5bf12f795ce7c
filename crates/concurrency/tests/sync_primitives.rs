//! Behaviour of the task-parking primitives in `fibrio_concurrency::sync`:
//! for each, the basic contract, FIFO service where promised, timeouts,
//! use from plain threads, and cancellation of a task parked in it (the
//! primitive stays consistent and nothing handed to the cancelled task is
//! lost). Plus mutual exclusion under many tasks that yield while holding
//! a lock, and waits in `Drop` during cancellation.

use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio::task::JoinError;
use fibrio_concurrency::sync::{
    Barrier, Condvar, Event, LockError, Mutex, Notify, RwLock, TryLockError, WaitError, WaitGroup,
};

fn yield_n(n: usize) {
    for _ in 0..n {
        fibrio::yield_now();
    }
}

/// Parks until the task is cancelled. (A cancelled task may return from
/// one `park`, as from any wake-up; the next one unwinds.)
fn park_until_cancelled() -> ! {
    loop {
        fibrio::task::park().unwrap();
    }
}

fn assert_cancelled<T: std::fmt::Debug>(result: Result<T, JoinError>) {
    match result {
        Err(e) => assert!(e.is_cancelled(), "expected a cancelled task, got {e:?}"),
        Ok(v) => panic!("expected a cancelled task, it returned {v:?}"),
    }
}

#[test]
fn primitives_are_send_and_sync_like_std() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Mutex<Vec<u8>>>();
    send_sync::<Mutex<std::cell::Cell<u8>>>(); // T: Send is enough, as in std
    send_sync::<RwLock<Vec<u8>>>();
    send_sync::<Condvar>();
    send_sync::<Event>();
    send_sync::<Notify>();
    send_sync::<WaitGroup>();
    send_sync::<Barrier>();
    send::<fibrio_concurrency::sync::WaitGroupGuard>();
    send_sync::<LockError>();
    send_sync::<WaitError>();
}

// ---------------------------------------------------------------- Mutex

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

// ---------------------------------------------------------------- RwLock

#[test]
fn rwlock_readers_share_and_a_writer_excludes() {
    let lock = RwLock::new(1);
    let a = lock.try_read().unwrap();
    let b = lock.try_read().unwrap();
    assert_eq!(*a + *b, 2);
    assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
    drop((a, b));
    let mut w = lock.try_write().unwrap();
    *w = 5;
    assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
    drop(w);
    let stats = lock.statistics();
    assert_eq!((stats.reads, stats.writes, stats.readers), (2, 1, 0));
    assert_eq!(lock.into_inner(), 5);
}

#[test]
fn rwlock_queued_writer_blocks_new_readers() {
    let order = fibrio::run(|| {
        let lock = Arc::new(RwLock::new(()));
        let order = Rc::new(RefCell::new(Vec::new()));
        let r1 = lock.read().unwrap();
        let (l, o) = (lock.clone(), order.clone());
        let writer = fibrio::spawn(move || {
            let _w = l.write().unwrap();
            o.borrow_mut().push("writer");
        });
        fibrio::yield_now(); // the writer queues behind `r1`
        assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
        let (l, o) = (lock.clone(), order.clone());
        let reader = fibrio::spawn(move || {
            let _r = l.read().unwrap();
            o.borrow_mut().push("reader");
        });
        fibrio::yield_now(); // the reader queues behind the writer
        let stats = lock.statistics();
        assert_eq!((stats.waiting_writers, stats.waiting_readers), (1, 1));
        drop(r1);
        writer.join().unwrap();
        reader.join().unwrap();
        let v = order.borrow().clone();
        v
    });
    assert_eq!(order, ["writer", "reader"]);
}

#[test]
fn rwlock_release_grants_the_readers_up_to_the_next_writer() {
    let (log, max_readers) = fibrio::run(|| {
        let lock = Arc::new(RwLock::new(()));
        let log = Rc::new(RefCell::new(Vec::new()));
        let readers = Rc::new(Cell::new(0));
        let max_readers = Rc::new(Cell::new(0));
        let w = lock.write().unwrap();
        let mut tasks = Vec::new();
        for (name, write) in [("r1", false), ("r2", false), ("w2", true), ("r3", false)] {
            let (lock, log, readers, max) = (
                lock.clone(),
                log.clone(),
                readers.clone(),
                max_readers.clone(),
            );
            tasks.push(fibrio::spawn(move || {
                if write {
                    let _g = lock.write().unwrap();
                    assert_eq!(readers.get(), 0);
                    log.borrow_mut().push(name);
                    yield_n(2);
                } else {
                    let _g = lock.read().unwrap();
                    readers.set(readers.get() + 1);
                    max.set(max.get().max(readers.get()));
                    log.borrow_mut().push(name);
                    yield_n(2);
                    readers.set(readers.get() - 1);
                }
            }));
            fibrio::yield_now(); // queue in this order
        }
        assert_eq!(lock.statistics().waiting_readers, 3);
        drop(w);
        for t in tasks {
            t.join().unwrap();
        }
        let v = log.borrow().clone();
        (v, max_readers.get())
    });
    assert_eq!(log, ["r1", "r2", "w2", "r3"]);
    assert_eq!(max_readers, 2, "r1 and r2 should have read together");
}

#[test]
fn rwlock_timeouts_give_up_and_leave_the_queue() {
    fibrio::run(|| {
        let lock = RwLock::new(0);
        let w = lock.write().unwrap();
        let start = Instant::now();
        assert_eq!(
            lock.read_timeout(Duration::from_millis(10)).err(),
            Some(LockError::Timeout)
        );
        assert_eq!(
            lock.write_timeout(Duration::from_millis(10)).err(),
            Some(LockError::Timeout)
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        let stats = lock.statistics();
        assert_eq!((stats.waiting_readers, stats.waiting_writers), (0, 0));
        assert_eq!(stats.abandoned, 2);
        drop(w);
        assert!(lock.read_timeout(Duration::ZERO).is_ok());
        assert!(lock.write_timeout(Duration::ZERO).is_ok());
    });
}

#[test]
fn cancelled_queued_writer_lets_the_readers_behind_it_in() {
    fibrio::run(|| {
        let lock = Arc::new(RwLock::new(()));
        let r1 = lock.read().unwrap();
        let l = lock.clone();
        let writer = fibrio::spawn(move || drop(l.write().unwrap()));
        fibrio::yield_now();
        let l = lock.clone();
        let reader = fibrio::spawn(move || {
            let _r = l.read().unwrap();
            park_until_cancelled(); // hold it until cancelled
        });
        fibrio::yield_now(); // queued behind the writer
        assert_eq!(lock.statistics().waiting_readers, 1);
        writer.cancel();
        assert_cancelled(writer.join());
        // With the writer gone, the reader joins `r1`.
        let stats = lock.statistics();
        assert_eq!(
            (stats.readers, stats.waiting_readers, stats.waiting_writers),
            (2, 0, 0)
        );
        drop(r1);
        reader.cancel();
        assert_cancelled(reader.join());
        let stats = lock.statistics();
        assert_eq!(
            (stats.readers, stats.writer, stats.abandoned),
            (0, false, 1)
        );
        assert!(lock.try_write().is_ok());
    });
}

#[test]
fn cancelled_rwlock_waiter_handed_the_write_lock_passes_it_on() {
    fibrio::run(|| {
        let lock = Arc::new(RwLock::new(Vec::new()));
        let w = lock.write().unwrap();
        let l = lock.clone();
        let writer = fibrio::spawn(move || {
            let mut g = l.write().unwrap();
            fibrio::yield_now(); // a checkpoint while holding the lock
            g.push("writer");
        });
        fibrio::yield_now();
        let l = lock.clone();
        let reader = fibrio::spawn(move || l.read().unwrap().len());
        fibrio::yield_now();
        drop(w); // hands the write lock to `writer` ...
        assert!(lock.statistics().writer);
        writer.cancel(); // ... which must pass it on to `reader`
        assert_cancelled(writer.join());
        assert_eq!(reader.join().unwrap(), 0);
        let stats = lock.statistics();
        assert_eq!((stats.readers, stats.writer, stats.reads), (0, false, 1));
        assert!(lock.try_read().unwrap().is_empty());
    });
}

#[test]
fn rwlock_writers_exclude_everyone_under_many_tasks() {
    fibrio::run(|| {
        let lock = Arc::new(RwLock::new(0u32));
        let readers = Rc::new(Cell::new(0u32));
        let writers = Rc::new(Cell::new(0u32));
        let tasks: Vec<_> = (0..60)
            .map(|i| {
                let (lock, readers, writers) = (lock.clone(), readers.clone(), writers.clone());
                fibrio::spawn(move || {
                    for round in 0..3 {
                        if (i + round) % 4 == 0 {
                            let mut g = lock.write().unwrap();
                            assert_eq!((readers.get(), writers.get()), (0, 0));
                            writers.set(1);
                            let before = *g;
                            yield_n(i % 2 + 1);
                            *g = before + 1;
                            writers.set(0);
                        } else {
                            let _g = lock.read().unwrap();
                            assert_eq!(writers.get(), 0);
                            readers.set(readers.get() + 1);
                            yield_n(i % 3);
                            readers.set(readers.get() - 1);
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        let writes = (0..60u32)
            .flat_map(|i| (0..3).map(move |r| (i + r) % 4 == 0))
            .filter(|&w| w)
            .count() as u32;
        assert_eq!(*lock.read().unwrap(), writes);
    });
}

#[test]
fn rwlock_task_waits_for_a_write_lock_held_by_a_thread() {
    let lock = Arc::new(RwLock::new(0));
    let taken = Arc::new(Event::new());
    let (l2, t2) = (lock.clone(), taken.clone());
    let thread = std::thread::spawn(move || {
        let mut w = l2.write().unwrap();
        t2.set();
        std::thread::sleep(Duration::from_millis(10));
        *w = 3;
    });
    taken.wait().unwrap();
    let l3 = lock.clone();
    let seen = fibrio::run(move || *l3.read().unwrap());
    thread.join().unwrap();
    assert_eq!(seen, 3);
}

// ---------------------------------------------------------------- Condvar

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

// ---------------------------------------------------------------- Event

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

// ---------------------------------------------------------------- Notify

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

// ---------------------------------------------------------------- WaitGroup

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

// ---------------------------------------------------------------- Barrier

#[test]
fn barrier_releases_each_generation_together_with_one_leader() {
    fibrio::run(|| {
        const PARTIES: usize = 3;
        const ROUNDS: usize = 4;
        let barrier = Arc::new(Barrier::new(PARTIES));
        let arrivals = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..PARTIES)
            .map(|i| {
                let (b, arrivals) = (barrier.clone(), arrivals.clone());
                fibrio::spawn(move || {
                    let mut leaderships = 0;
                    for round in 0..ROUNDS {
                        yield_n(i * 2 + round % 2);
                        arrivals.set(arrivals.get() + 1);
                        if b.wait().unwrap().is_leader() {
                            leaderships += 1;
                        }
                        // Nobody passes before everyone of this round arrived.
                        assert!(arrivals.get() >= PARTIES * (round + 1));
                    }
                    leaderships
                })
            })
            .collect();
        let leaders: usize = tasks.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(leaders, ROUNDS);
        let stats = barrier.statistics();
        assert_eq!((stats.generation, stats.waiting), (ROUNDS as u64, 0));
    });
}

#[test]
fn cancelled_barrier_waiter_withdraws_its_arrival() {
    fibrio::run(|| {
        let barrier = Arc::new(Barrier::new(2));
        let b2 = barrier.clone();
        let quitter = fibrio::spawn(move || b2.wait().map(|r| r.is_leader()));
        fibrio::yield_now();
        assert_eq!(barrier.statistics().waiting, 1);
        quitter.cancel();
        assert_cancelled(quitter.join());
        let stats = barrier.statistics();
        assert_eq!(
            (stats.waiting, stats.abandoned, stats.generation),
            (0, 1, 0)
        );
        // The generation still needs two live arrivals.
        let b3 = barrier.clone();
        let other = fibrio::spawn(move || b3.wait().map(|r| r.is_leader()));
        fibrio::yield_now();
        assert_eq!(barrier.statistics().generation, 0);
        assert!(barrier.wait().unwrap().is_leader());
        assert_eq!(other.join().unwrap(), Ok(false));
        assert_eq!(barrier.statistics().generation, 1);
    });
}

#[test]
fn barrier_joins_plain_threads_and_a_task() {
    let barrier = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || b.wait().unwrap().is_leader())
        })
        .collect();
    let b = barrier.clone();
    let task_leader = fibrio::run(move || b.wait().unwrap().is_leader());
    let leaders = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .chain([task_leader])
        .filter(|&l| l)
        .count();
    assert_eq!(leaders, 1);
    assert_eq!(barrier.statistics().generation, 1);
}

// ---------------------------------------------------------------- Unwinding

#[test]
fn blocking_in_drop_during_cancellation_returns_unwinding() {
    #[derive(Debug, PartialEq)]
    struct Outcomes {
        mutex: Option<LockError>,
        read: Option<LockError>,
        write: Option<LockError>,
        condvar: Option<WaitError>,
        event: Option<WaitError>,
        notify: Option<WaitError>,
        wait_group: Option<WaitError>,
        barrier: Option<WaitError>,
    }
    struct Prims {
        mutex: Arc<Mutex<()>>,
        free_mutex: Arc<Mutex<()>>,
        rwlock: Arc<RwLock<()>>,
        condvar: Arc<Condvar>,
        event: Arc<Event>,
        notify: Arc<Notify>,
        wg: WaitGroup,
        barrier: Arc<Barrier>,
    }
    struct BlockOnDrop(Rc<Prims>, Rc<RefCell<Option<Outcomes>>>);
    impl Drop for BlockOnDrop {
        fn drop(&mut self) {
            let p = &self.0;
            let condvar = {
                // A free mutex locks at once, even while unwinding; the
                // condvar wait cannot.
                let g = p.free_mutex.lock().unwrap();
                p.condvar.wait(g).err()
            };
            *self.1.borrow_mut() = Some(Outcomes {
                mutex: p.mutex.lock().err(),
                read: p.rwlock.read().err(),
                write: p.rwlock.write_timeout(Duration::from_secs(5)).err(),
                condvar,
                event: p.event.wait().err(),
                notify: p.notify.wait().err(),
                wait_group: p.wg.wait().err(),
                barrier: p.barrier.wait().err(),
            });
        }
    }
    fibrio::run(|| {
        let prims = Rc::new(Prims {
            mutex: Arc::new(Mutex::new(())),
            free_mutex: Arc::new(Mutex::new(())),
            rwlock: Arc::new(RwLock::new(())),
            condvar: Arc::new(Condvar::new()),
            event: Arc::new(Event::new()),
            notify: Arc::new(Notify::new()),
            wg: WaitGroup::new(),
            barrier: Arc::new(Barrier::new(2)),
        });
        let _held = prims.mutex.lock().unwrap();
        let _written = prims.rwlock.write().unwrap();
        let _job = prims.wg.guard();
        let outcomes = Rc::new(RefCell::new(None));
        let guard = BlockOnDrop(prims.clone(), outcomes.clone());
        let t = fibrio::spawn(move || {
            let _guard = guard;
            park_until_cancelled();
        });
        fibrio::yield_now();
        t.cancel();
        assert_cancelled(t.join());
        let u = Some(LockError::Unwinding);
        let w = Some(WaitError::Unwinding);
        assert_eq!(
            outcomes.borrow_mut().take(),
            Some(Outcomes {
                mutex: u,
                read: u,
                write: u,
                condvar: w,
                event: w,
                notify: w,
                wait_group: w,
                barrier: w,
            })
        );
        // Nothing was left queued, and the barrier did not count the call.
        assert_eq!(prims.mutex.statistics().waiters, 0);
        assert!(!prims.free_mutex.statistics().locked);
        let rw = prims.rwlock.statistics();
        assert_eq!((rw.waiting_readers, rw.waiting_writers), (0, 0));
        assert_eq!(prims.condvar.statistics().waiters, 0);
        assert_eq!(prims.event.statistics().waiters, 0);
        assert_eq!(prims.notify.statistics().waiters, 0);
        assert_eq!(prims.wg.statistics().waiters, 0);
        assert_eq!(prims.barrier.statistics().waiting, 0);
    });
}
