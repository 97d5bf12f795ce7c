//! Issue 14: a simulation's deadlock report names, for every task, its name
//! and what it waits for (a lock and who holds it, a channel, a join, a
//! semaphore, a condition variable, an event, a barrier, ...), under every
//! seed tried.

use std::rc::Rc;
use std::time::Duration;

use fibrio::channel;
use fibrio::sim::{self, SimError};
use fibrio::sync::{Barrier, Condvar, Event, Mutex, Notify, RwLock, WaitGroup};
use fibrio::task::{Builder, WaitKind};
use fibrio::Semaphore;

const SEEDS: std::ops::Range<u64> = 0..8;

/// The deadlock report of `main` under `seed`, as text; fails on any other
/// outcome.
fn deadlock_text(seed: u64, main: impl FnOnce() + 'static) -> String {
    match sim::try_run(seed, main) {
        Err(err @ SimError::Deadlock { .. }) => {
            let SimError::Deadlock { report, .. } = &err else {
                unreachable!()
            };
            // Every task is parked and says why.
            assert!(
                report.tasks.iter().all(|t| t.parked && t.wait.is_some()),
                "{report}"
            );
            let text = err.to_string();
            println!("{text}"); // shown with --nocapture
            assert!(text.contains("deadlock"), "{text}");
            assert!(text.contains(&format!("FIBRIO_SIM_SEED={seed}")), "{text}");
            text
        }
        Err(other) => panic!("seed {seed}: expected a deadlock, got {other}"),
        Ok(()) => panic!("seed {seed}: expected a deadlock, the run ended"),
    }
}

fn assert_has(text: &str, part: &str) {
    assert!(text.contains(part), "missing {part:?} in:\n{text}");
}

#[test]
fn two_mutexes_locked_in_opposite_order_name_both_tasks_locks_and_holders() {
    for seed in SEEDS {
        let text = deadlock_text(seed, || {
            let first = Rc::new(Mutex::new(()));
            let second = Rc::new(Mutex::new(()));
            let (a1, a2) = (first.clone(), second.clone());
            let a = Builder::new()
                .name("a")
                .spawn(move || {
                    let _one = a1.lock().unwrap();
                    fibrio::sleep(Duration::from_millis(1));
                    let _two = a2.lock().unwrap();
                })
                .unwrap();
            let b = Builder::new()
                .name("b")
                .spawn(move || {
                    let _two = second.lock().unwrap();
                    fibrio::sleep(Duration::from_millis(1));
                    let _one = first.lock().unwrap();
                })
                .unwrap();
            a.join().unwrap();
            b.join().unwrap();
        });
        assert_has(&text, "task 1 \"main\": waits for a join of task 2");
        // a (task 2) holds the first mutex and waits for the second, which
        // b (task 3) holds, and the other way round.
        let a_line = text.lines().find(|l| l.contains("\"a\"")).unwrap();
        let b_line = text.lines().find(|l| l.contains("\"b\"")).unwrap();
        assert!(
            a_line.contains("task 2 \"a\": waits for a Mutex held by task 3 (mutex#"),
            "{text}"
        );
        assert!(
            b_line.contains("task 3 \"b\": waits for a Mutex held by task 2 (mutex#"),
            "{text}"
        );
        // Two different locks.
        assert_has(&text, "(mutex#1)");
        assert_has(&text, "(mutex#2)");
    }
}

#[test]
fn a_receive_with_an_idle_live_sender_names_the_channel_receive() {
    for seed in SEEDS {
        let text = deadlock_text(seed, || {
            let (tx, rx) = channel::unbounded::<u32>();
            let receiver = Builder::new()
                .name("receiver")
                .spawn(move || rx.recv().map(drop))
                .unwrap();
            receiver.join().unwrap().unwrap();
            drop(tx); // alive, and idle, until the join returns
        });
        assert_has(
            &text,
            "task 2 \"receiver\": waits for a channel receive (channel#1)",
        );
        assert_has(&text, "task 1 \"main\": waits for a join of task 2");
    }
}

#[test]
fn a_full_channel_names_the_send() {
    let text = deadlock_text(1, || {
        let (tx, _rx) = channel::bounded::<u32>(1);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
    });
    assert_has(
        &text,
        "task 1 \"main\": waits for a channel send (channel#1)",
    );
}

#[test]
fn a_join_cycle_names_both_joins() {
    for seed in SEEDS {
        let text = deadlock_text(seed, || {
            let main = fibrio::task::current();
            let child = Builder::new()
                .name("child")
                .spawn(move || main.wait().unwrap())
                .unwrap();
            child.join().unwrap();
        });
        assert_has(&text, "task 1 \"main\": waits for a join of task 2");
        assert_has(&text, "task 2 \"child\": waits for a join of task 1");
    }
}

/// The expected text, the kind, and a main that deadlocks on one primitive.
type Case = (&'static str, WaitKind, Box<dyn FnOnce()>);

#[test]
fn each_primitive_is_named() {
    let cases: Vec<Case> = vec![
        (
            "a Semaphore (semaphore#1)",
            WaitKind::Semaphore,
            Box::new(|| drop(Semaphore::new(0).acquire().unwrap())),
        ),
        (
            "a Condvar notification (condvar#1)",
            WaitKind::Condvar,
            Box::new(|| {
                let (lock, cvar) = (Mutex::new(false), Condvar::new());
                let guard = lock.lock().unwrap();
                drop(cvar.wait(guard).unwrap());
            }),
        ),
        (
            "an Event (event#1)",
            WaitKind::Event,
            Box::new(|| Event::new().wait().unwrap()),
        ),
        (
            "a Barrier (barrier#1)",
            WaitKind::Barrier,
            Box::new(|| {
                Barrier::new(2).wait().unwrap();
            }),
        ),
        (
            "a Notify notification (notify#1)",
            WaitKind::Notify,
            Box::new(|| Notify::new().wait().unwrap()),
        ),
        (
            "a WaitGroup (waitgroup#1)",
            WaitKind::WaitGroup,
            Box::new(|| {
                let group = WaitGroup::new();
                group.add(1);
                group.wait().unwrap();
            }),
        ),
        (
            "a RwLock write lock (rwlock#1)",
            WaitKind::RwLockWrite,
            Box::new(|| {
                let lock = RwLock::new(0);
                let _read = lock.read().unwrap();
                drop(lock.write().unwrap());
            }),
        ),
        (
            "a RwLock read lock (rwlock#1)",
            WaitKind::RwLockRead,
            Box::new(|| {
                let lock = RwLock::new(0);
                let _write = lock.write().unwrap();
                drop(lock.read().unwrap());
            }),
        ),
    ];
    for (expected, kind, main) in cases {
        let err = sim::try_run(3, main).unwrap_err();
        let SimError::Deadlock { report, .. } = &err else {
            panic!("expected a deadlock for {expected}, got {err}");
        };
        assert_eq!(report.tasks[0].wait.map(|w| w.kind), Some(kind), "{err}");
        assert_has(
            &err.to_string(),
            &format!("task 1 \"main\": waits for {expected}"),
        );
    }
}
