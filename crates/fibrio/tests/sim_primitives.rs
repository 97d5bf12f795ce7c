//! Issue 14, step 7: every primitive of `fibrio-concurrency` under virtual
//! time. Each test runs under 64 seeds (`sim::check_with`), asserts the
//! exact virtual instants at which things happen (a timeout fires at its
//! deadline, a hand-off happens when the holder lets go), and the
//! primitive's invariant: mutual exclusion, FIFO where it is promised,
//! exactly-once delivery, permits conserved, cancellation ending the task.
//!
//! Virtual time makes the instants exact: the clock only moves when every
//! task is parked, and then jumps to the next deadline, so "the waiter got
//! the lock at 10 ms" holds to the nanosecond under every schedule.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use fibrio::channel::{self, RecvError, RecvTimeoutError, SendError, SendTimeoutError};
use fibrio::sim::{self, Config, SimError};
use fibrio::sync::{Barrier, Condvar, Event, LockError, Mutex, Notify, RwLock, WaitGroup};
use fibrio::task::Builder;
use fibrio::time::Instant;
use fibrio::{
    fail_after, fail_at, gather, move_on_after, move_on_at, retry, select, wait_for, AcquireError,
    RetryPolicy, Semaphore, TaskGroup, TaskGroupError, WaitForError,
};

/// 64 seeds per test, as issue 14 asks.
fn seeds() -> Config {
    Config::new().cases(64)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Virtual time since the start of the run, in whole milliseconds when it
/// is one (every instant in these tests is).
#[track_caller]
fn now_ms() -> u64 {
    let elapsed = sim::elapsed();
    assert_eq!(elapsed.subsec_nanos() % 1_000_000, 0, "{elapsed:?}");
    elapsed.as_millis() as u64
}

/// Sets a flag when dropped: proves a cancelled task unwound.
struct DropFlag(Rc<Cell<bool>>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Counts the tasks inside a critical section, and fails if there are
/// more than `max`.
#[derive(Clone, Default)]
struct Occupancy {
    now: Rc<Cell<usize>>,
    peak: Rc<Cell<usize>>,
}

impl Occupancy {
    fn enter(&self, max: usize) -> Inside {
        self.now.set(self.now.get() + 1);
        self.peak.set(self.peak.get().max(self.now.get()));
        assert!(
            self.now.get() <= max,
            "{} inside, at most {max}",
            self.now.get()
        );
        Inside(self.now.clone())
    }
}

struct Inside(Rc<Cell<usize>>);
impl Drop for Inside {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

// ---- Mutex ---------------------------------------------------------------

#[test]
fn mutex_excludes_serves_in_arrival_order_and_hands_off_at_the_release() {
    sim::check_with(seeds(), || {
        let m = Rc::new(Mutex::new(Vec::new()));
        let inside = Occupancy::default();
        let held = m.lock().unwrap();
        // Task i arrives at i ms, while main holds the lock until 10 ms.
        let tasks: Vec<_> = (1..=5u64)
            .map(|i| {
                let (m, inside) = (m.clone(), inside.clone());
                fibrio::spawn(move || {
                    fibrio::sleep(ms(i));
                    let mut g = m.lock().unwrap();
                    let _in = inside.enter(1);
                    g.push((i, now_ms()));
                    fibrio::sleep(ms(1)); // held across a park
                })
            })
            .collect();
        fibrio::sleep(ms(10));
        assert_eq!(m.statistics().waiters, 5);
        drop(held);
        tasks.into_iter().for_each(|t| t.join().unwrap());
        // FIFO, each handed the lock the instant the previous let go.
        let order = m.lock().unwrap().clone();
        assert_eq!(order, [(1, 10), (2, 11), (3, 12), (4, 13), (5, 14)]);
        assert_eq!(now_ms(), 15);
        let stats = m.statistics();
        assert_eq!(
            (stats.acquisitions, stats.contended, stats.abandoned),
            (7, 5, 0)
        );
        assert!(!stats.locked);
    });
}

#[test]
fn mutex_lock_timeout_fires_at_the_deadline_and_leaves_the_queue() {
    sim::check_with(seeds(), || {
        let m = Rc::new(Mutex::new(0));
        let held = m.lock().unwrap();
        let m2 = m.clone();
        let waiter = fibrio::spawn(move || {
            fibrio::sleep(ms(2));
            let err = m2.lock_timeout(ms(7)).unwrap_err();
            (err, now_ms())
        });
        assert_eq!(waiter.join().unwrap(), (LockError::Timeout, 9));
        assert_eq!(m.statistics().waiters, 0);
        assert_eq!(m.statistics().abandoned, 1);
        drop(held);
        // A timeout on a free mutex succeeds at once, at any instant.
        assert!(m.lock_timeout(Duration::ZERO).is_ok());
        assert_eq!(now_ms(), 9);
    });
}

#[test]
fn a_cancelled_mutex_waiter_ends_and_never_owns_the_lock() {
    sim::check_with(seeds(), || {
        let m = Rc::new(Mutex::new(()));
        let held = m.lock().unwrap();
        let unwound = Rc::new(Cell::new(false));
        let (m2, flag) = (m.clone(), DropFlag(unwound.clone()));
        let waiter = fibrio::spawn(move || {
            let _flag = flag;
            let _g = m2.lock().unwrap();
            unreachable!("a cancelled waiter never gets the lock");
        });
        fibrio::sleep(ms(3));
        waiter.cancel();
        assert!(waiter.join().unwrap_err().is_cancelled());
        assert!(unwound.get());
        assert_eq!(now_ms(), 3);
        drop(held);
        assert!(m.try_lock().is_ok(), "the lock is free, nobody queued");
    });
}

/// The holder named in a deadlock report is the task that holds the lock
/// now, also after hand-offs (and waiters parked before them).
#[test]
fn the_deadlock_report_names_the_current_holder_after_a_hand_off() {
    for seed in 0..64 {
        let err = sim::try_run(seed, || {
            let m = Rc::new(Mutex::new(()));
            let never = Rc::new(Event::new());
            let first = m.lock().unwrap();
            let (m2, never2) = (m.clone(), never.clone());
            // Task 2 queues first, gets the lock at the hand-off and then
            // waits forever while holding it.
            let b = Builder::new()
                .name("b")
                .spawn(move || {
                    let _g = m2.lock().unwrap();
                    never2.wait().unwrap();
                })
                .unwrap();
            let m3 = m.clone();
            let c = Builder::new()
                .name("c")
                .spawn(move || {
                    fibrio::sleep(ms(1)); // queues behind b
                    drop(m3.lock().unwrap());
                })
                .unwrap();
            fibrio::sleep(ms(2));
            drop(first); // hands the lock to b; c stays queued
            b.join().unwrap();
            c.join().unwrap();
        })
        .unwrap_err();
        let SimError::Deadlock { .. } = &err else {
            panic!("seed {seed}: expected a deadlock, got {err}");
        };
        let text = err.to_string();
        let c_line = text.lines().find(|l| l.contains("\"c\"")).unwrap();
        assert!(
            c_line.contains("waits for a Mutex held by task 2 (mutex#"),
            "seed {seed}: c must name b (task 2), the holder after the hand-off:\n{text}"
        );
    }
}

// ---- RwLock --------------------------------------------------------------

#[test]
fn rwlock_readers_share_a_queued_writer_blocks_later_readers_fifo() {
    sim::check_with(seeds(), || {
        let lock = Rc::new(RwLock::new(0u32));
        let readers = Rc::new(Cell::new(0usize));
        let log = Rc::new(RefCell::new(Vec::new()));
        let first = lock.read().unwrap();
        // A second reader shares at once, at 0 ms.
        assert!(lock.try_read().is_ok());
        let spawn = |delay: u64, write: bool, hold: u64| {
            let (lock, readers, log) = (lock.clone(), readers.clone(), log.clone());
            fibrio::spawn(move || {
                fibrio::sleep(ms(delay));
                if write {
                    let mut g = lock.write().unwrap();
                    assert_eq!(readers.get(), 0, "a writer while reading");
                    log.borrow_mut().push(("w", delay, now_ms()));
                    fibrio::sleep(ms(hold));
                    *g += 1;
                } else {
                    let g = lock.read().unwrap();
                    readers.set(readers.get() + 1);
                    log.borrow_mut().push(("r", delay, now_ms()));
                    fibrio::sleep(ms(hold));
                    readers.set(readers.get() - 1);
                    drop(g);
                }
            })
        };
        let tasks = vec![
            spawn(1, true, 2),  // queues behind main's read lock
            spawn(2, false, 3), // queues behind the writer
            spawn(3, false, 1), // and shares with the reader before it
            spawn(4, true, 1),  // behind both readers
        ];
        fibrio::sleep(ms(5));
        drop(first);
        tasks.into_iter().for_each(|t| t.join().unwrap());
        // The writer at 5 (main let go), the two readers together at 7,
        // the last writer when the longer read ends, at 10.
        let mut log = log.borrow().clone();
        log.sort_by_key(|&(_, delay, _)| delay);
        assert_eq!(log, [("w", 1, 5), ("r", 2, 7), ("r", 3, 7), ("w", 4, 10)]);
        assert_eq!(now_ms(), 11);
        assert_eq!(*lock.read().unwrap(), 2);
        let stats = lock.statistics();
        assert_eq!(
            (stats.readers, stats.writer, stats.contended),
            (0, false, 4)
        );
    });
}

#[test]
fn rwlock_timeouts_fire_at_the_deadline() {
    sim::check_with(seeds(), || {
        let lock = Rc::new(RwLock::new(()));
        let w = lock.write().unwrap();
        let l2 = lock.clone();
        let t = fibrio::spawn(move || {
            let r = l2.read_timeout(ms(4)).unwrap_err();
            let at_read = now_ms();
            let w = l2.write_timeout(ms(6)).unwrap_err();
            (r, at_read, w, now_ms())
        });
        assert_eq!(
            t.join().unwrap(),
            (LockError::Timeout, 4, LockError::Timeout, 10)
        );
        drop(w);
        assert_eq!(lock.statistics().abandoned, 2);
        assert!(lock.try_write().is_ok());
    });
}

#[test]
fn the_deadlock_report_names_the_rwlock_writer() {
    for seed in 0..64 {
        let err = sim::try_run(seed, || {
            let lock = Rc::new(RwLock::new(()));
            let l2 = lock.clone();
            let writer = Builder::new()
                .name("writer")
                .spawn(move || {
                    let _w = l2.write().unwrap();
                    fibrio::task::park().unwrap(); // forever, holding it
                })
                .unwrap();
            fibrio::sleep(ms(1));
            drop(lock.write().unwrap());
            writer.join().unwrap();
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("task 1 \"main\": waits for a RwLock write lock held by task 2 (rwlock#"),
            "seed {seed}:\n{text}"
        );
    }
}

// ---- Semaphore -----------------------------------------------------------

#[test]
fn semaphore_bounds_holders_serves_fifo_and_conserves_permits() {
    sim::check_with(seeds(), || {
        let sem = Semaphore::new(2);
        let inside = Occupancy::default();
        let arrivals = Rc::new(RefCell::new(Vec::new()));
        let grants = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let (sem, inside) = (sem.clone(), inside.clone());
                let (arrivals, grants) = (arrivals.clone(), grants.clone());
                fibrio::spawn(move || {
                    // No schedule point between the push and the queueing.
                    arrivals.borrow_mut().push(i);
                    let _permit = sem.acquire().unwrap();
                    grants.borrow_mut().push((i, now_ms()));
                    let _in = inside.enter(2);
                    fibrio::sleep(ms(3));
                })
            })
            .collect();
        tasks.into_iter().for_each(|t| t.join().unwrap());
        // Permits go out in arrival order: the first two arrivals at 0 ms,
        // the next two when those let go at 3 ms, the last two at 6 ms.
        // (Two tasks granted at one instant run in either order.)
        let arrivals = arrivals.borrow().clone();
        let grants = grants.borrow().clone();
        for (k, pair) in arrivals.chunks(2).enumerate() {
            let mut granted: Vec<_> = grants
                .iter()
                .filter(|&&(_, t)| t == 3 * k as u64)
                .map(|&(i, _)| i)
                .collect();
            let mut expected = pair.to_vec();
            granted.sort_unstable();
            expected.sort_unstable();
            assert_eq!(granted, expected, "{arrivals:?} {grants:?}");
        }
        assert_eq!(inside.peak.get(), 2);
        assert_eq!(now_ms(), 9);
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(sem.statistics().waiters, 0);
    });
}

#[test]
fn semaphore_acquire_many_is_fifo_without_barging() {
    sim::check_with(seeds(), || {
        let sem = Semaphore::new(3);
        let two = sem.acquire_many(2).unwrap(); // 1 left
        let (s1, s2) = (sem.clone(), sem.clone());
        let big = fibrio::spawn(move || {
            fibrio::sleep(ms(1));
            let p = s1.acquire_many(2).unwrap(); // must wait: 1 left
            (p.num_permits(), now_ms())
        });
        let small = fibrio::spawn(move || {
            fibrio::sleep(ms(2));
            // A permit is free, but `big` queued first: no barging.
            let _p = s2.acquire().unwrap();
            now_ms()
        });
        fibrio::sleep(ms(4));
        // The free permit is set aside for `big`, the front waiter, and
        // `small` does not take it: 2 held + 1 reserved = 3, conserved.
        let stats = sem.statistics();
        assert_eq!((stats.available, stats.reserved, stats.waiters), (0, 1, 2));
        drop(two);
        assert_eq!(big.join().unwrap(), (2, 4));
        assert_eq!(small.join().unwrap(), 4);
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn semaphore_timeouts_and_close_end_waits_at_the_exact_instant() {
    sim::check_with(seeds(), || {
        let sem = Semaphore::new(0);
        let s = sem.clone();
        let timed = fibrio::spawn(move || {
            let a = s.acquire_timeout(ms(7)).unwrap_err();
            let at = now_ms();
            let b = s.acquire_many_timeout(2, ms(3)).unwrap_err();
            (a, at, b, now_ms())
        });
        assert_eq!(
            timed.join().unwrap(),
            (AcquireError::Timeout, 7, AcquireError::Timeout, 10)
        );
        let s = sem.clone();
        let blocked = fibrio::spawn(move || (s.acquire().unwrap_err(), now_ms()));
        fibrio::sleep(ms(5));
        sem.close();
        assert_eq!(blocked.join().unwrap(), (AcquireError::Closed, 15));
        assert_eq!(sem.statistics().waiters, 0);
    });
}

// ---- Condvar, Event, Notify ----------------------------------------------

#[test]
fn condvar_wakes_at_the_notify_and_times_out_at_the_deadline() {
    sim::check_with(seeds(), || {
        let pair = Rc::new((Mutex::new(false), Condvar::new()));
        let p = pair.clone();
        let waiter = fibrio::spawn(move || {
            let (m, cv) = &*p;
            let g = cv.wait_while(m.lock().unwrap(), |ready| !*ready).unwrap();
            assert!(*g);
            now_ms()
        });
        let p = pair.clone();
        let timed = fibrio::spawn(move || {
            let (m, cv) = &*p;
            let (_g, result) = cv.wait_timeout(m.lock().unwrap(), ms(2)).unwrap();
            (result.timed_out(), now_ms())
        });
        fibrio::sleep(ms(5));
        *pair.0.lock().unwrap() = true;
        pair.1.notify_all();
        assert_eq!(waiter.join().unwrap(), 5);
        assert_eq!(timed.join().unwrap(), (true, 2));
    });
}

#[test]
fn event_releases_every_waiter_at_the_set() {
    sim::check_with(seeds(), || {
        let event = Rc::new(Event::new());
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let e = event.clone();
                fibrio::spawn(move || {
                    e.wait().unwrap();
                    now_ms()
                })
            })
            .collect();
        let e = event.clone();
        let timed = fibrio::spawn(move || (e.wait_timeout(ms(2)).unwrap(), now_ms()));
        fibrio::sleep(ms(3));
        event.set();
        for w in waiters {
            assert_eq!(w.join().unwrap(), 3);
        }
        assert_eq!(timed.join().unwrap(), (false, 2));
        // Once set, a wait returns at once.
        assert!(event.wait_timeout(Duration::ZERO).unwrap());
        assert_eq!(now_ms(), 3);
    });
}

#[test]
fn notify_one_is_delivered_exactly_once_and_stored_when_nobody_waits() {
    sim::check_with(seeds(), || {
        let notify = Rc::new(Notify::new());
        let woken = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (n, woken) = (notify.clone(), woken.clone());
                fibrio::spawn(move || {
                    if n.wait_timeout(ms(10)).unwrap() {
                        woken.set(woken.get() + 1);
                        Some(now_ms())
                    } else {
                        assert_eq!(now_ms(), 10, "the timeout fires at its deadline");
                        None
                    }
                })
            })
            .collect();
        fibrio::sleep(ms(4));
        notify.notify_one();
        let got: Vec<_> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(woken.get(), 1, "one notify_one, one waiter: {got:?}");
        assert!(got.contains(&Some(4)));
        // Nobody waits: the permit is stored, and the next wait takes it.
        notify.notify_one();
        assert!(notify.wait_timeout(ms(1)).unwrap());
        assert_eq!(now_ms(), 10);
        // notify_waiters wakes those waiting now, and stores nothing.
        let n = notify.clone();
        let w = fibrio::spawn(move || (n.wait().unwrap(), now_ms()));
        fibrio::sleep(ms(1));
        notify.notify_waiters();
        assert_eq!(w.join().unwrap(), ((), 11));
        assert!(!notify.wait_timeout(ms(1)).unwrap());
        assert_eq!(now_ms(), 12);
    });
}

// ---- Barrier, WaitGroup --------------------------------------------------

#[test]
fn barrier_releases_everyone_when_the_last_arrives_with_one_leader() {
    sim::check_with(seeds(), || {
        let barrier = Rc::new(Barrier::new(3));
        let tasks: Vec<_> = (1..=3u64)
            .map(|i| {
                let b = barrier.clone();
                fibrio::spawn(move || {
                    let mut out = Vec::new();
                    for generation in 0..2u64 {
                        fibrio::sleep(ms(i));
                        let r = b.wait().unwrap();
                        out.push((r.is_leader(), now_ms(), generation));
                    }
                    out
                })
            })
            .collect();
        let results: Vec<_> = tasks.into_iter().flat_map(|t| t.join().unwrap()).collect();
        // Arrivals at 1, 2, 3 ms; all leave at 3. Then at 4, 5, 6: leave at 6.
        for &(_, at, generation) in &results {
            assert_eq!(at, if generation == 0 { 3 } else { 6 });
        }
        for generation in 0..2 {
            let leaders = results
                .iter()
                .filter(|&&(leader, _, g)| leader && g == generation)
                .count();
            assert_eq!(leaders, 1);
        }
    });
}

#[test]
fn wait_group_wait_returns_at_the_last_done() {
    sim::check_with(seeds(), || {
        let wg = WaitGroup::new();
        for i in 1..=3u64 {
            let token = wg.guard();
            fibrio::spawn(move || {
                let _token = token;
                fibrio::sleep(ms(2 * i));
            });
        }
        assert!(!wg.wait_timeout(ms(3)).unwrap());
        assert_eq!(now_ms(), 3);
        assert_eq!(wg.count(), 2);
        wg.wait().unwrap();
        assert_eq!(now_ms(), 6);
        assert_eq!(wg.count(), 0);
    });
}

// ---- Channels ------------------------------------------------------------

#[test]
fn bounded_channel_delivers_exactly_once_in_order_with_backpressure() {
    sim::check_with(seeds(), || {
        let (tx, rx) = channel::bounded::<u32>(2);
        let send_times = Rc::new(RefCell::new(Vec::new()));
        let st = send_times.clone();
        let producer = fibrio::spawn(move || {
            for i in 0..6 {
                tx.send(i).unwrap();
                st.borrow_mut().push(now_ms());
            }
        });
        let mut got = Vec::new();
        // The consumer takes one message per ms, from 1 ms on.
        loop {
            fibrio::sleep(ms(1));
            match rx.recv() {
                Ok(m) => got.push((m, now_ms())),
                Err(RecvError::Disconnected) => break,
                Err(e) => panic!("{e}"),
            }
        }
        producer.join().unwrap();
        assert_eq!(
            got,
            (0..6).map(|i| (i, u64::from(i) + 1)).collect::<Vec<_>>()
        );
        // Two fit at once; each later send waits for a receive.
        assert_eq!(*send_times.borrow(), [0, 0, 1, 2, 3, 4]);
        assert_eq!(now_ms(), 7);
    });
}

#[test]
fn unbounded_channel_many_producers_many_consumers_exactly_once() {
    sim::check_with(seeds(), || {
        let (tx, rx) = channel::unbounded::<u32>();
        for p in 0..3u32 {
            let tx = tx.clone();
            fibrio::spawn(move || {
                for i in 0..10 {
                    tx.send(p * 100 + i).unwrap();
                    if i % 3 == 0 {
                        fibrio::sleep(ms(1));
                    }
                }
            });
        }
        drop(tx);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                fibrio::spawn(move || rx.iter().collect::<Vec<_>>())
            })
            .collect();
        let per_consumer: Vec<Vec<u32>> =
            consumers.into_iter().map(|c| c.join().unwrap()).collect();
        // Each consumer sees each producer's messages in the order sent.
        for seen in &per_consumer {
            for p in 0..3 {
                let mine: Vec<_> = seen.iter().filter(|&&m| m / 100 == p).collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
            }
        }
        let mut all: Vec<u32> = per_consumer.concat();
        all.sort_unstable();
        let expected: Vec<u32> = (0..3)
            .flat_map(|p| (0..10).map(move |i| p * 100 + i))
            .collect();
        assert_eq!(all, expected, "every message exactly once");
        assert_eq!(now_ms(), 4);
    });
}

#[test]
fn channel_timeouts_fire_at_the_deadline_and_hand_the_message_back() {
    sim::check_with(seeds(), || {
        let (tx, rx) = channel::bounded::<&str>(1);
        assert_eq!(rx.recv_timeout(ms(5)), Err(RecvTimeoutError::Timeout));
        assert_eq!(now_ms(), 5);
        tx.send("queued").unwrap();
        match tx.send_timeout("late", ms(3)) {
            Err(SendTimeoutError::Timeout(m)) => assert_eq!(m, "late"),
            other => panic!("{other:?}"),
        }
        assert_eq!(now_ms(), 8);
        assert_eq!(rx.recv_timeout(ms(1)), Ok("queued"));
        assert_eq!(now_ms(), 8, "a ready message is taken at once");
    });
}

#[test]
fn closing_a_channel_fails_blocked_senders_at_the_close_and_drains() {
    sim::check_with(seeds(), || {
        let (tx, rx) = channel::bounded::<u32>(1);
        tx.send(1).unwrap();
        let t2 = tx.clone();
        let blocked = fibrio::spawn(move || (t2.send(2), now_ms()));
        fibrio::sleep(ms(4));
        rx.close();
        assert_eq!(
            blocked.join().unwrap(),
            (Err(SendError::Disconnected(2)), 4)
        );
        assert_eq!(tx.send(3), Err(SendError::Disconnected(3)));
        assert_eq!(rx.recv(), Ok(1), "the queue drains after the close");
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
    });
}

// ---- TaskGroup, gather, select, wait_for ---------------------------------

#[test]
fn task_group_scope_waits_for_every_child() {
    sim::check_with(seeds(), || {
        let done = Rc::new(Cell::new(0));
        let value = TaskGroup::scope(|g| {
            for i in 1..=3u64 {
                let done = done.clone();
                g.spawn(move || {
                    fibrio::sleep(ms(i));
                    done.set(done.get() + 1);
                });
            }
            "body"
        })
        .unwrap();
        assert_eq!((value, done.get(), now_ms()), ("body", 3, 3));
    });
}

#[test]
fn task_group_body_error_cancels_children_at_that_instant() {
    sim::check_with(seeds(), || {
        let unwound = Rc::new(Cell::new(0));
        let err = TaskGroup::try_scope(|g| {
            for _ in 0..3 {
                let unwound = unwound.clone();
                g.spawn(move || {
                    struct Count(Rc<Cell<u32>>);
                    impl Drop for Count {
                        fn drop(&mut self) {
                            self.0.set(self.0.get() + 1);
                        }
                    }
                    let _count = Count(unwound);
                    fibrio::sleep(ms(100));
                    unreachable!("cancelled at 2 ms");
                });
            }
            fibrio::sleep(ms(2));
            Err::<(), _>("body failed")
        })
        .unwrap_err();
        assert!(matches!(
            err,
            TaskGroupError::BodyFailed {
                error: "body failed",
                ..
            }
        ));
        assert!(
            err.failures().is_empty(),
            "cancelled children are not failures"
        );
        assert_eq!(unwound.get(), 3);
        assert_eq!(now_ms(), 2);
    });
}

#[test]
fn gather_returns_every_result_in_order_when_the_slowest_ends() {
    sim::check_with(seeds(), || {
        let handles = [3u64, 1, 2]
            .map(|d| {
                fibrio::spawn(move || {
                    fibrio::sleep(ms(d));
                    d * 10
                })
            })
            .into();
        assert_eq!(gather(handles).unwrap(), [30, 10, 20]);
        assert_eq!(now_ms(), 3);
    });
}

#[test]
fn select_returns_the_first_and_cancels_the_losers_at_once() {
    sim::check_with(seeds(), || {
        let flags: Vec<_> = (0..3).map(|_| Rc::new(Cell::new(false))).collect();
        let handles = [3u64, 1, 2]
            .iter()
            .zip(&flags)
            .map(|(&d, flag)| {
                let flag = DropFlag(flag.clone());
                fibrio::spawn(move || {
                    let _flag = flag;
                    fibrio::sleep(ms(d));
                    d
                })
            })
            .collect();
        let (index, outcome) = select(handles).unwrap();
        assert_eq!((index, outcome.unwrap()), (1, 1));
        assert!(flags.iter().all(|f| f.get()), "every task has ended");
        assert_eq!(now_ms(), 1, "the losers were cancelled, not waited out");
    });
}

#[test]
fn wait_for_times_out_at_the_deadline_and_cancels_the_task() {
    sim::check_with(seeds(), || {
        let unwound = Rc::new(Cell::new(false));
        let flag = DropFlag(unwound.clone());
        let slow = fibrio::spawn(move || {
            let _flag = flag;
            fibrio::sleep(ms(10));
        });
        match wait_for(slow, ms(4)) {
            Err(WaitForError::Elapsed(_)) => {}
            other => panic!("{other:?}"),
        }
        assert!(unwound.get());
        assert_eq!(now_ms(), 4);
        let quick = fibrio::spawn(|| {
            fibrio::sleep(ms(2));
            7
        });
        assert_eq!(wait_for(quick, ms(4)).unwrap(), 7);
        assert_eq!(now_ms(), 6);
    });
}

// ---- Cancel scopes -------------------------------------------------------

#[test]
fn scopes_cut_blocking_calls_at_the_exact_deadline() {
    sim::check_with(seeds(), || {
        let start = Instant::now();
        assert_eq!(move_on_after(ms(5), || fibrio::sleep(ms(50))), None);
        assert_eq!(now_ms(), 5);
        let err = fail_after(ms(3), || fibrio::sleep(ms(50))).unwrap_err();
        assert_eq!(err.timeout(), ms(3));
        assert_eq!(now_ms(), 8);
        assert_eq!(move_on_at(start + ms(20), || fibrio::sleep(ms(50))), None);
        assert_eq!(now_ms(), 20);
        assert!(fail_at(start + ms(21), || fibrio::sleep(ms(50))).is_err());
        assert_eq!(now_ms(), 21);
        // A body that ends first keeps its value.
        assert_eq!(move_on_after(ms(5), || 1), Some(1));
        assert_eq!(start.elapsed(), ms(21));

        // A lock, a receive, an acquire, a wait: each is cut at the
        // deadline, leaves its queue, and loses nothing.
        let m = Mutex::new(());
        let held = m.lock().unwrap();
        assert!(move_on_after(ms(1), || drop(m.lock())).is_none());
        assert_eq!(m.statistics().waiters, 0);
        drop(held);
        let (tx, rx) = channel::unbounded::<u8>();
        assert!(move_on_after(ms(1), || rx.recv()).is_none());
        tx.send(1).unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        let sem = Semaphore::new(0);
        assert!(move_on_after(ms(1), || drop(sem.acquire())).is_none());
        sem.add_permits(1);
        assert_eq!(sem.available_permits(), 1);
        let event = Event::new();
        assert!(move_on_after(ms(1), || event.wait()).is_none());
        assert_eq!(now_ms(), 25);
    });
}

// ---- RetryPolicy ---------------------------------------------------------

#[test]
fn retry_backoff_sleeps_exactly_the_policy_delays() {
    sim::check_with(seeds(), || {
        let policy = RetryPolicy::<&str>::builder()
            .max_retries(3)
            .initial_delay(ms(100))
            .multiplier(2.0)
            .jitter(0.0)
            .build()
            .unwrap();
        let attempts = RefCell::new(Vec::new());
        let err = retry(&policy, || {
            attempts.borrow_mut().push(now_ms());
            Err::<(), _>("down")
        })
        .unwrap_err();
        assert_eq!(err.attempts(), 4);
        assert_eq!(*attempts.borrow(), [0, 100, 300, 700]);
        assert_eq!(now_ms(), 700, "no sleep after the last attempt");
    });
}

#[test]
fn retry_jitter_stays_in_range_and_replays_from_the_seed() {
    let policy = || {
        RetryPolicy::<u8>::builder()
            .max_retries(4)
            .initial_delay(ms(10))
            .multiplier(3.0)
            .max_delay(ms(200))
            .jitter(0.5)
            .build()
            .unwrap()
    };
    let run = |seed| {
        sim::run(seed, || {
            let policy = policy();
            let mut gaps = Vec::new();
            let mut last = Instant::now();
            let _ = retry(&policy, || {
                let now = Instant::now();
                gaps.push(now.duration_since(last));
                last = now;
                Err::<(), _>(0)
            });
            gaps.remove(0); // the first attempt comes at once
            gaps
        })
    };
    let p = policy();
    for seed in 0..64 {
        let gaps = run(seed);
        assert_eq!(gaps.len(), 4);
        for (retry_no, gap) in (1..).zip(&gaps) {
            assert!(
                p.delay_range(retry_no).contains(gap),
                "seed {seed}: {gaps:?}"
            );
        }
        assert_eq!(run(seed), gaps, "seed {seed} replays its jitter");
    }
}
