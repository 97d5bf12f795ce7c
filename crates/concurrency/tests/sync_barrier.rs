//! `fibrio_concurrency::sync::Barrier`: each generation is released
//! together with one leader, a cancelled waiter withdraws its arrival, and
//! plain threads and a task meet at one barrier.

mod common;

use common::{assert_cancelled, yield_n};

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use fibrio_concurrency::sync::Barrier;

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
