//! Property tests, under random schedules with random cancellations:
//! a semaphore never has more holders than permits and never loses a
//! permit, with single and multi-permit (`acquire_many`) requests mixed;
//! every message sent is received exactly once, or handed back (or dropped
//! with the queue) when the receivers go away.
//!
//! Each case runs on the deterministic runtime (`fibrio::sim::try_run`),
//! under a schedule seed that proptest draws with the rest of the case, on
//! virtual time. So a lost permit or message, which leaves a waiter parked
//! forever, fails the case as a reported deadlock (naming the waiter and
//! what it waits for) instead of hanging the test, and the case replays
//! exactly (proptest prints the seed with the case).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use fibrio_concurrency::channel::{self, SendError};
use fibrio_concurrency::Semaphore;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Runs `main` on the deterministic runtime under `seed`; any failure of
/// the run (a deadlock: something lost; a panic; the time limit) fails the
/// case with the simulation's report.
fn sim<T: 'static>(seed: u64, main: impl FnOnce() -> T + 'static) -> Result<T, TestCaseError> {
    fibrio::sim::try_run(seed, main).map_err(|err| TestCaseError::fail(err.to_string()))
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("FIBRIO_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(48),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn yield_n(n: usize) {
    for _ in 0..n {
        fibrio::yield_now();
    }
}

/// How a semaphore task tries to take its permit.
#[derive(Debug, Clone, Copy)]
enum How {
    Acquire,
    Timeout,
    Try,
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![Just(How::Acquire), Just(How::Timeout), Just(How::Try)]
}

struct Holding(Rc<Cell<usize>>);
impl Drop for Holding {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Counts `n` permits as no longer held when dropped.
struct HoldingMany(Rc<Cell<usize>>, usize);
impl Drop for HoldingMany {
    fn drop(&mut self) {
        self.0.set(self.0.get() - self.1);
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn semaphore_never_exceeds_its_permits(
        seed in any::<u64>(),
        permits in 1usize..4,
        tasks in proptest::collection::vec((how(), 0usize..4, 0usize..3), 1..12),
        cancels in proptest::collection::vec((0usize..6, 0usize..12), 0..4),
    ) {
        let (max, stats) = sim(seed, move || {
            let sem = Semaphore::new(permits);
            let holders = Rc::new(Cell::new(0usize));
            let max = Rc::new(Cell::new(0usize));
            let handles: Vec<_> = tasks
                .iter()
                .map(|&(how, hold, delay)| {
                    let (sem, holders, max) = (sem.clone(), holders.clone(), max.clone());
                    fibrio::spawn(move || {
                        yield_n(delay);
                        let permit = match how {
                            How::Acquire => sem.acquire().ok(),
                            How::Timeout => sem.acquire_timeout(Duration::from_millis(1)).ok(),
                            How::Try => sem.try_acquire().ok(),
                        };
                        if let Some(_permit) = permit {
                            holders.set(holders.get() + 1);
                            let _holding = Holding(holders.clone()); // dropped before the permit
                            max.set(max.get().max(holders.get()));
                            yield_n(hold);
                        }
                    })
                })
                .collect();
            for &(wait, target) in &cancels {
                yield_n(wait);
                if let Some(h) = handles.get(target) {
                    h.cancel();
                }
            }
            for h in handles {
                let _ = h.join(); // completed or cancelled
            }
            (max.get(), sem.statistics())
        })?;
        prop_assert!(max <= permits, "{max} holders of {permits} permits");
        prop_assert_eq!(stats.available, permits, "a permit was lost or leaked");
        prop_assert_eq!(stats.waiters, 0);
    }

    #[test]
    fn acquire_many_never_over_grants_nor_loses_permits(
        seed in any::<u64>(),
        permits in 1usize..5,
        tasks in proptest::collection::vec((how(), 0usize..5, 0usize..4, 0usize..3), 1..12),
        cancels in proptest::collection::vec((0usize..6, 0usize..12), 0..5),
    ) {
        let (max, stats, granted) = sim(seed, move || {
            let sem = Semaphore::new(permits);
            // Permits held by tasks now, and the most ever held at once.
            let holding = Rc::new(Cell::new(0usize));
            let max = Rc::new(Cell::new(0usize));
            let granted = Rc::new(Cell::new(0u64));
            let handles: Vec<_> = tasks
                .iter()
                .map(|&(how, want, hold, delay)| {
                    // Never more than the semaphore has, so every request
                    // can be served eventually (or cancelled).
                    let n = want.min(permits);
                    let (sem, holding, max, granted) =
                        (sem.clone(), holding.clone(), max.clone(), granted.clone());
                    fibrio::spawn(move || {
                        yield_n(delay);
                        let permit = match how {
                            How::Acquire => sem.acquire_many(n).ok(),
                            How::Timeout => {
                                sem.acquire_many_timeout(n, Duration::from_millis(1)).ok()
                            }
                            How::Try => sem.try_acquire_many(n).ok(),
                        };
                        if let Some(permit) = permit {
                            assert_eq!(permit.num_permits(), n);
                            granted.set(granted.get() + n as u64);
                            holding.set(holding.get() + n);
                            // Dropped before the permit, even when cancelled.
                            let _holding = HoldingMany(holding.clone(), n);
                            max.set(max.get().max(holding.get()));
                            yield_n(hold);
                        }
                    })
                })
                .collect();
            for &(wait, target) in &cancels {
                yield_n(wait);
                if let Some(h) = handles.get(target) {
                    h.cancel();
                }
            }
            for h in handles {
                let _ = h.join(); // completed or cancelled
            }
            (max.get(), sem.statistics(), granted.get())
        })?;
        prop_assert!(max <= permits, "{max} permits held of {permits}");
        prop_assert_eq!(stats.available, permits, "a permit was lost or leaked");
        prop_assert_eq!(stats.reserved, 0);
        prop_assert_eq!(stats.waiters, 0);
        // A task cancelled right after acquiring (before counting) may have
        // taken permits we did not count; it never counts permits it did
        // not get.
        prop_assert!(granted <= stats.acquired, "{granted} counted, {} acquired", stats.acquired);
    }

    #[test]
    fn every_message_is_received_exactly_once(
        seed in any::<u64>(),
        capacity in prop_oneof![Just(None), (0usize..4).prop_map(Some)],
        producers in proptest::collection::vec(proptest::collection::vec(0usize..3, 0..12), 1..4),
        consumers in proptest::collection::vec(0usize..3, 1..4),
        cancels in proptest::collection::vec((0usize..3, 0usize..8), 0..6),
    ) {
        let n_producers = producers.len();
        let n_consumers = consumers.len();
        let (attempted, sent, received, cancelled_producers, queued) = sim(seed, move || {
            let (tx, rx) = match capacity {
                Some(c) => channel::bounded::<usize>(c),
                None => channel::unbounded(),
            };
            let attempted = Rc::new(RefCell::new(Vec::new()));
            let sent = Rc::new(RefCell::new(Vec::new()));
            let received = Rc::new(RefCell::new(Vec::new()));
            let mut handles = Vec::new();
            for (p, yields) in producers.iter().enumerate() {
                let (tx, attempted, sent) = (tx.clone(), attempted.clone(), sent.clone());
                let yields = yields.clone();
                handles.push(fibrio::spawn(move || {
                    for (i, &y) in yields.iter().enumerate() {
                        let id = p * 100 + i;
                        attempted.borrow_mut().push(id);
                        tx.send(id).unwrap();
                        sent.borrow_mut().push(id);
                        yield_n(y);
                    }
                }));
            }
            drop(tx);
            for &y in &consumers {
                let (rx, received) = (rx.clone(), received.clone());
                handles.push(fibrio::spawn(move || {
                    while let Ok(m) = rx.recv() {
                        received.borrow_mut().push(m);
                        yield_n(y);
                    }
                }));
            }
            // Cancel producers and consumers other than the first consumer,
            // so someone is always left to drain the channel.
            let mut cancelled_producers = HashSet::new();
            for &(wait, target) in &cancels {
                yield_n(wait);
                if target != n_producers && target < handles.len() {
                    handles[target].cancel();
                    if target < n_producers {
                        cancelled_producers.insert(target);
                    }
                }
            }
            for h in handles {
                let _ = h.join();
            }
            let queued = rx.statistics().queued;
            let a = attempted.borrow().clone();
            let s = sent.borrow().clone();
            let r = received.borrow().clone();
            (a, s, r, cancelled_producers.len(), queued)
        })?;
        prop_assert_eq!(queued, 0, "a message was left in the queue");
        let received_set: HashSet<_> = received.iter().copied().collect();
        prop_assert_eq!(received_set.len(), received.len(), "a message was received twice");
        let attempted_set: HashSet<_> = attempted.iter().copied().collect();
        prop_assert!(received_set.is_subset(&attempted_set), "a message came from nowhere");
        for id in &sent {
            prop_assert!(received_set.contains(id), "message {} was sent but never received", id);
        }
        // Only a cancelled producer's send in flight may be neither.
        let in_flight = attempted_set
            .iter()
            .filter(|id| !received_set.contains(id) && !sent.contains(id))
            .count();
        prop_assert!(in_flight <= cancelled_producers);
        // Messages of one producer arrive in the order sent.
        for p in 0..n_producers {
            let mine: Vec<_> = received.iter().filter(|&&id| id / 100 == p).collect();
            let mut sorted = mine.clone();
            sorted.sort();
            // Several consumers may interleave, so order holds per consumer;
            // with one consumer it holds overall.
            if n_consumers == 1 {
                prop_assert_eq!(mine, sorted);
            }
        }
    }

    #[test]
    fn closing_hands_undelivered_messages_back(
        seed in any::<u64>(),
        capacity in prop_oneof![Just(None), (0usize..4).prop_map(Some)],
        n in 0usize..20,
        take in 0usize..20,
    ) {
        let take = take.min(n);
        let (received, dropped, returned) = sim(seed, move || {
            let (tx, rx) = match capacity {
                Some(c) => channel::bounded::<usize>(c),
                None => channel::unbounded(),
            };
            let producer = fibrio::spawn(move || {
                let mut returned = Vec::new();
                for id in 0..n {
                    match tx.send(id) {
                        Ok(()) => {}
                        Err(SendError::Disconnected(m)) => returned.push(m),
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
                returned
            });
            let received: Vec<usize> = (0..take).map(|_| rx.recv().unwrap()).collect();
            fibrio::yield_now();
            let dropped = rx.statistics().queued;
            drop(rx);
            (received, dropped, producer.join().unwrap())
        })?;
        // In order: received, then dropped with the queue, then handed back.
        prop_assert_eq!(&received, &(0..take).collect::<Vec<_>>());
        prop_assert_eq!(&returned, &(take + dropped..n).collect::<Vec<_>>());
    }
}
