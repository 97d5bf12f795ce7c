//! Property tests for `fibrio_concurrency::sync`, under random schedules
//! with random cancellations: a mutex never has two holders and every
//! task that waits for it (and is not cancelled) gets it; a reader-writer
//! lock never lets a writer in with anyone else; a barrier releases
//! exactly `n` waits per generation, with one leader each.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use fibrio_concurrency::sync::{Barrier, Mutex, RwLock};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn yield_n(n: usize) {
    for _ in 0..n {
        fibrio::yield_now();
    }
}

/// How a task tries to take a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    Block,
    Timeout,
    Try,
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![Just(How::Block), Just(How::Timeout), Just(How::Try)]
}

/// Decrements a counter when dropped (including by cancellation).
struct Inside(Rc<Cell<usize>>);

impl Inside {
    fn enter(count: &Rc<Cell<usize>>) -> Inside {
        count.set(count.get() + 1);
        Inside(count.clone())
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Cancels `handles[target]` after `wait` yields, for each pair.
fn cancel_some<T>(handles: &[fibrio::JoinHandle<T>], cancels: &[(usize, usize)]) {
    for &(wait, target) in cancels {
        yield_n(wait);
        if let Some(h) = handles.get(target) {
            h.cancel();
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutex_has_one_holder_and_every_surviving_waiter_gets_it(
        tasks in proptest::collection::vec((how(), 0usize..4, 0usize..3), 1..12),
        cancels in proptest::collection::vec((0usize..6, 0usize..12), 0..4),
    ) {
        let hows: Vec<How> = tasks.iter().map(|t| t.0).collect();
        let (max, stats, outcomes) = fibrio::run(move || {
            let m = Arc::new(Mutex::new(0usize));
            let holders = Rc::new(Cell::new(0usize));
            let max = Rc::new(Cell::new(0usize));
            let handles: Vec<_> = tasks
                .iter()
                .map(|&(how, hold, delay)| {
                    let (m, holders, max) = (m.clone(), holders.clone(), max.clone());
                    fibrio::spawn(move || {
                        yield_n(delay);
                        let guard = match how {
                            How::Block => m.lock().ok(),
                            How::Timeout => m.lock_timeout(Duration::from_millis(1)).ok(),
                            How::Try => m.try_lock().ok(),
                        };
                        let Some(mut guard) = guard else { return false };
                        let _inside = Inside::enter(&holders); // dropped before the guard
                        max.set(max.get().max(holders.get()));
                        yield_n(hold);
                        *guard += 1;
                        true
                    })
                })
                .collect();
            cancel_some(&handles, &cancels);
            // Some(got the lock) for tasks that ran to the end, None if cancelled.
            let outcomes: Vec<Option<bool>> = handles.into_iter().map(|h| h.join().ok()).collect();
            let completed = outcomes.iter().filter(|&&o| o == Some(true)).count();
            assert_eq!(*m.lock().unwrap(), completed, "a completed critical section was lost");
            (max.get(), m.statistics(), outcomes)
        });
        prop_assert!(max <= 1, "{} tasks held the mutex at once", max);
        prop_assert!(!stats.locked || stats.acquisitions > 0);
        prop_assert_eq!(stats.waiters, 0);
        for (how, outcome) in hows.iter().zip(&outcomes) {
            if *how == How::Block && outcome.is_some() {
                prop_assert_eq!(*outcome, Some(true), "a blocking lock returned without the lock");
            }
        }
    }

    #[test]
    fn rwlock_never_lets_a_writer_in_with_anyone_else(
        tasks in proptest::collection::vec((any::<bool>(), how(), 0usize..4, 0usize..3), 1..12),
        cancels in proptest::collection::vec((0usize..6, 0usize..12), 0..4),
    ) {
        let kinds: Vec<(bool, How)> = tasks.iter().map(|t| (t.0, t.1)).collect();
        let (violations, stats, outcomes) = fibrio::run(move || {
            let lock = Arc::new(RwLock::new(()));
            let readers = Rc::new(Cell::new(0usize));
            let writers = Rc::new(Cell::new(0usize));
            let violations = Rc::new(Cell::new(0usize));
            let handles: Vec<_> = tasks
                .iter()
                .map(|&(write, how, hold, delay)| {
                    let (lock, readers, writers, violations) =
                        (lock.clone(), readers.clone(), writers.clone(), violations.clone());
                    fibrio::spawn(move || {
                        yield_n(delay);
                        let t = Duration::from_millis(1);
                        if write {
                            let guard = match how {
                                How::Block => lock.write().ok(),
                                How::Timeout => lock.write_timeout(t).ok(),
                                How::Try => lock.try_write().ok(),
                            };
                            let Some(_guard) = guard else { return false };
                            let _inside = Inside::enter(&writers);
                            for _ in 0..=hold {
                                if writers.get() != 1 || readers.get() != 0 {
                                    violations.set(violations.get() + 1);
                                }
                                fibrio::yield_now();
                            }
                        } else {
                            let guard = match how {
                                How::Block => lock.read().ok(),
                                How::Timeout => lock.read_timeout(t).ok(),
                                How::Try => lock.try_read().ok(),
                            };
                            let Some(_guard) = guard else { return false };
                            let _inside = Inside::enter(&readers);
                            for _ in 0..=hold {
                                if writers.get() != 0 {
                                    violations.set(violations.get() + 1);
                                }
                                fibrio::yield_now();
                            }
                        }
                        true
                    })
                })
                .collect();
            cancel_some(&handles, &cancels);
            let outcomes: Vec<Option<bool>> = handles.into_iter().map(|h| h.join().ok()).collect();
            (violations.get(), lock.statistics(), outcomes)
        });
        prop_assert_eq!(violations, 0);
        prop_assert_eq!((stats.readers, stats.writer), (0, false), "a lock was leaked");
        prop_assert_eq!((stats.waiting_readers, stats.waiting_writers), (0, 0));
        for ((_, how), outcome) in kinds.iter().zip(&outcomes) {
            if *how == How::Block && outcome.is_some() {
                prop_assert_eq!(*outcome, Some(true), "a blocking lock returned without the lock");
            }
        }
    }

    #[test]
    fn barrier_generations_release_exactly_n_with_one_leader(
        parties in 1usize..4,
        delays in proptest::collection::vec(0usize..4, 1..10),
        cancels in proptest::collection::vec((0usize..4, 0usize..10), 0..4),
    ) {
        let no_cancels = cancels.iter().all(|&(_, target)| target >= delays.len());
        let (arrived, released, stats) = fibrio::run(move || {
            let barrier = Arc::new(Barrier::new(parties));
            // The generation of every arrival, and (generation, leader) for
            // every wait that returned. A task released and then cancelled
            // before it ran arrived but never returned.
            let arrived = Rc::new(RefCell::new(Vec::new()));
            let released = Rc::new(RefCell::new(Vec::new()));
            let waiter = |delay: usize| {
                let (b, arrived, released) = (barrier.clone(), arrived.clone(), released.clone());
                fibrio::spawn(move || {
                    yield_n(delay);
                    // No yield between reading the generation and arriving.
                    let generation = b.statistics().generation;
                    arrived.borrow_mut().push(generation);
                    let result = b.wait().unwrap();
                    released.borrow_mut().push((generation, result.is_leader()));
                })
            };
            let handles: Vec<_> = delays.iter().map(|&d| waiter(d)).collect();
            cancel_some(&handles, &cancels);
            yield_n(8); // every task has arrived, returned or been cancelled
            // Fill the last generation so nobody is left waiting.
            let mut fillers = Vec::new();
            while barrier.statistics().waiting > 0 {
                fillers.push(waiter(0));
                fibrio::yield_now();
            }
            for h in handles.into_iter().chain(fillers) {
                let _ = h.join(); // returned or cancelled
            }
            let arrived = arrived.borrow().clone();
            let released = released.borrow().clone();
            (arrived, released, barrier.statistics())
        });
        prop_assert_eq!(stats.waiting, 0);
        // Every arrival was either withdrawn (a cancelled waiter) or part
        // of a released generation of exactly `parties`.
        prop_assert_eq!(
            arrived.len() as u64 - stats.abandoned,
            parties as u64 * stats.generation
        );
        for g in 0..stats.generation {
            let of_g: Vec<bool> = released
                .iter()
                .filter(|&&(gen, _)| gen == g)
                .map(|&(_, leader)| leader)
                .collect();
            prop_assert_eq!(of_g.iter().filter(|&&l| l).count(), 1, "generation {}", g);
            prop_assert!(of_g.len() <= parties, "generation {} released {:?}", g, of_g);
            if no_cancels {
                prop_assert_eq!(of_g.len(), parties, "generation {} released {:?}", g, of_g);
            }
        }
        prop_assert!(released.iter().all(|&(gen, _)| gen < stats.generation));
    }
}
