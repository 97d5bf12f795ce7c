//! `fibrio_concurrency::sync::RwLock`: readers share and a writer
//! excludes, a queued writer holds off new readers, a release grants the
//! readers up to the next writer, timeouts, cancellation of a queued or
//! granted waiter, exclusion under many tasks, and use from plain threads.

mod common;

use common::{assert_cancelled, park_until_cancelled, yield_n};

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio_concurrency::sync::{Event, LockError, RwLock, TryLockError};

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
