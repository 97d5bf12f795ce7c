//! `fibrio::sim::Schedule` with proptest (cargo feature `proptest`; CI
//! runs `cargo test -p fibrio --features proptest --test sim_schedule`):
//! generated schedules find a race that FIFO hides, proptest shrinks the
//! failing schedule to the decision that matters, and properties that
//! hold under every schedule pass.
#![cfg(feature = "proptest")]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use fibrio::sim::{self, Deviation, Schedule, Sim};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};

/// Two writers of one counter; A's read and write are split by a yield,
/// B's checkpoint puts it behind A under FIFO.
fn lost_update() -> u32 {
    let x = Rc::new(Cell::new(0));
    let a = fibrio::spawn({
        let x = x.clone();
        move || {
            let v = x.get();
            fibrio::yield_now();
            x.set(v + 1);
        }
    });
    let b = fibrio::spawn({
        let x = x.clone();
        move || {
            fibrio::task::checkpoint();
            let v = x.get();
            x.set(v + 1);
        }
    });
    a.join().unwrap();
    b.join().unwrap();
    x.get()
}

#[test]
fn fifo_hides_the_lost_update_and_proptest_finds_and_shrinks_it() {
    assert_eq!(sim::run_schedule(&Schedule::fifo(), lost_update), 2);
    let config = Config {
        cases: 1024,
        failure_persistence: None,
        ..Config::default()
    };
    let result = TestRunner::new(config).run(&sim::schedule(), |schedule| {
        let total = sim::try_run_schedule(&schedule, lost_update).unwrap();
        prop_assert_eq!(total, 2);
        Ok(())
    });
    let Err(TestError::Fail(_, shrunk)) = result else {
        panic!("no generated schedule lost the update: {result:?}");
    };
    assert!(
        !shrunk.deviations().is_empty() && shrunk.deviations().len() <= 2,
        "shrunk towards FIFO: {shrunk:?}"
    );
    // The shrunk schedule replays the failure, and its Debug says how.
    assert_eq!(sim::run_schedule(&shrunk, lost_update), 1);
    assert!(format!("{shrunk:?}").starts_with("Schedule [step "));
}

#[test]
fn a_schedule_replays_exactly_in_a_sim() {
    let run = |schedule: &Schedule| {
        let mut sim = Sim::builder().schedule(schedule.clone()).build();
        sim.client("a", || {
            for _ in 0..5 {
                fibrio::yield_now();
            }
        });
        sim.client("b", || fibrio::sleep(Duration::from_millis(3)));
        sim.run().unwrap()
    };
    let schedule = Schedule::new([
        Deviation { step: 2, pick: 1 },
        Deviation { step: 5, pick: 3 },
    ]);
    assert_eq!(run(&schedule), run(&schedule));
    assert_ne!(run(&schedule).trace_hash, run(&Schedule::fifo()).trace_hash);
}

proptest! {
    #![proptest_config(Config { cases: 128, failure_persistence: None, ..Config::default() })]

    /// A bounded channel delivers every message exactly once and in order,
    /// and every task ends, under every schedule.
    #[test]
    fn a_channel_delivers_exactly_once_under_every_schedule(schedule in sim::schedule_with(200, 4, 8)) {
        let received = sim::try_run_schedule(&schedule, || {
            let (tx, rx) = fibrio::channel::bounded::<u32>(2);
            let got = Rc::new(RefCell::new(Vec::new()));
            let producers: Vec<_> = (0..3u32)
                .map(|p| {
                    let tx = tx.clone();
                    fibrio::spawn(move || {
                        for i in 0..4 {
                            tx.send(p * 100 + i).unwrap();
                            fibrio::yield_now();
                        }
                    })
                })
                .collect();
            drop(tx);
            let consumer = fibrio::spawn({
                let got = got.clone();
                move || {
                    while let Ok(v) = rx.recv() {
                        got.borrow_mut().push(v);
                    }
                }
            });
            producers.into_iter().for_each(|p| p.join().unwrap());
            consumer.join().unwrap();
            got.take()
        });
        let received = received.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(received.len(), 12);
        for p in 0..3u32 {
            let mine: Vec<u32> = received.iter().copied().filter(|v| v / 100 == p).collect();
            prop_assert_eq!(mine, (0..4).map(|i| p * 100 + i).collect::<Vec<_>>());
        }
    }
}
