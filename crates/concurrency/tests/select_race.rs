//! select and race: the first to end (select) or to succeed (race) wins,
//! every loser is cancelled and has ended before the call returns, ties
//! among ended tasks go to the lowest index, empty inputs are errors, and
//! cancelling the selecting task cancels the racers.

mod common;

use common::{quiet_planned_panics, yield_n};

use std::cell::Cell;
use std::rc::Rc;

use fibrio::JoinHandle;
use fibrio_concurrency::gather::FailureKind;
use fibrio_concurrency::select::{race, select, RaceError, SelectError};

/// Counts its drops.
struct Counted(Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A task that runs until cancelled, counting `drops` as it unwinds.
fn spin_until_cancelled<T: 'static>(drops: &Rc<Cell<usize>>) -> JoinHandle<T> {
    let guard = Counted(drops.clone());
    fibrio::spawn(move || -> T {
        let _guard = guard;
        loop {
            fibrio::yield_now();
        }
    })
}

#[test]
fn select_returns_the_first_to_end_and_waits_for_the_losers() {
    fibrio::run(|| {
        let drops = Rc::new(Cell::new(0));
        let a = spin_until_cancelled::<&str>(&drops);
        let b = fibrio::spawn(|| {
            yield_n(3);
            "b"
        });
        let c = spin_until_cancelled::<&str>(&drops);
        let refs: Vec<_> = [&a, &b, &c].iter().map(|h| h.task_ref()).collect();

        let (index, outcome) = select(vec![a, b, c]).unwrap();

        assert_eq!((index, outcome.unwrap()), (1, "b"));
        assert_eq!(drops.get(), 2, "both losers unwound before select returned");
        assert!(refs.iter().all(|t| t.is_finished()));
        assert!(refs[0].state().is_cancelled() && refs[2].state().is_cancelled());
    });
}

#[test]
fn select_lets_a_failure_win() {
    quiet_planned_panics();
    fibrio::run(|| {
        let drops = Rc::new(Cell::new(0));
        let slow = fibrio::spawn(|| {
            yield_n(10);
            1
        });
        let bad = fibrio::spawn(|| -> i32 { panic!("planned select") });
        let spinner = spin_until_cancelled::<i32>(&drops);
        let (index, outcome) = select(vec![slow, bad, spinner]).unwrap();
        assert_eq!(index, 1);
        let err = outcome.unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("planned select"));
        assert_eq!(drops.get(), 1);
    });
}

#[test]
fn among_ended_tasks_the_lowest_index_wins_and_loser_values_are_dropped() {
    fibrio::run(|| {
        let drops = Rc::new(Cell::new(0));
        let spinner = spin_until_cancelled::<Counted>(&drops);
        let first = fibrio::spawn({
            let drops = drops.clone();
            move || Counted(drops)
        });
        let second = fibrio::spawn({
            let drops = drops.clone();
            move || Counted(drops)
        });
        first.task_ref().wait().unwrap();
        second.task_ref().wait().unwrap();

        let (index, outcome) = select(vec![spinner, first, second]).unwrap();

        assert_eq!(index, 1);
        // The spinner's guard and the second task's value were dropped;
        // the winner's value is still ours.
        assert_eq!(drops.get(), 2);
        drop(outcome);
        assert_eq!(drops.get(), 3);
    });
}

#[test]
fn empty_inputs_are_errors() {
    let err = select(Vec::<JoinHandle<()>>::new()).unwrap_err();
    assert!(matches!(err, SelectError::Empty));
    assert!(err.to_string().contains("no tasks"));
    fibrio::run(|| {
        assert!(matches!(
            select(Vec::<JoinHandle<u8>>::new()),
            Err(SelectError::Empty)
        ));
        let err = race(Vec::<JoinHandle<u8>>::new()).unwrap_err();
        assert!(matches!(err, RaceError::Empty));
        assert!(err.failures().is_empty());
        assert!(err.to_string().contains("no tasks"));
    });
}

#[test]
fn race_returns_the_first_success_after_failures() {
    quiet_planned_panics();
    fibrio::run(|| {
        let drops = Rc::new(Cell::new(0));
        let bad = fibrio::spawn(|| -> u32 { panic!("planned race") });
        let gone = fibrio::spawn(|| 0_u32);
        gone.cancel();
        let winner = fibrio::spawn(|| {
            yield_n(2);
            7_u32
        });
        let spinner = spin_until_cancelled::<u32>(&drops);
        let spinner_ref = spinner.task_ref();

        assert_eq!(race(vec![bad, gone, winner, spinner]).unwrap(), (2, 7));
        assert_eq!(drops.get(), 1);
        assert!(spinner_ref.state().is_cancelled());
    });
}

#[test]
fn race_keeps_every_failure_when_all_fail() {
    quiet_planned_panics();
    fibrio::run(|| {
        let a = fibrio::task::Builder::new()
            .name("mirror-a")
            .spawn(|| panic!("planned down"))
            .unwrap();
        let b = fibrio::spawn(|| {
            yield_n(2);
            panic!("planned later")
        });
        let c = fibrio::spawn(|| ());
        c.cancel();
        let (a_id, c_id) = (a.id(), c.id());

        let err = race(vec![a, b, c]).unwrap_err();

        let failures = err.failures();
        let kinds: Vec<_> = failures.iter().map(|f| (f.index(), f.kind())).collect();
        assert_eq!(
            kinds,
            [
                (0, FailureKind::Panicked),
                (1, FailureKind::Panicked),
                (2, FailureKind::Cancelled),
            ]
        );
        assert_eq!(failures[1].message(), "planned later");
        let text = err.to_string();
        assert!(text.starts_with("all 3 racing tasks failed:\n"), "{text}");
        assert!(text.contains(&format!(
            "  [0] task 'mirror-a' (id {a_id}) panicked: planned down"
        )));
        assert!(text.ends_with(&format!("  [2] task #{c_id} was cancelled")));
    });
}

#[test]
fn cancelling_the_selecting_task_cancels_the_racers() {
    for use_race in [false, true] {
        fibrio::run(move || {
            let drops = Rc::new(Cell::new(0));
            let racers: Vec<JoinHandle<()>> =
                (0..3).map(|_| spin_until_cancelled(&drops)).collect();
            let refs: Vec<_> = racers.iter().map(|r| r.task_ref()).collect();
            let selector = fibrio::spawn(move || {
                if use_race {
                    drop(race(racers));
                } else {
                    drop(select(racers));
                }
            });
            yield_n(3);
            selector.cancel();
            assert!(selector.join().unwrap_err().is_cancelled());
            for task in &refs {
                task.wait().unwrap();
                assert!(task.state().is_cancelled());
            }
            assert_eq!(drops.get(), 3);
        });
    }
}

#[test]
fn select_in_drop_while_unwinding_cannot_wait_and_cancels() {
    quiet_planned_panics();
    struct SelectOnDrop(Option<Vec<JoinHandle<u8>>>, Rc<Cell<bool>>);
    impl Drop for SelectOnDrop {
        fn drop(&mut self) {
            let err = select(self.0.take().unwrap()).unwrap_err();
            self.1.set(matches!(
                err,
                SelectError::Wait(fibrio::JoinError::Unwinding)
            ));
        }
    }
    fibrio::run(|| {
        let drops = Rc::new(Cell::new(0));
        let racer = spin_until_cancelled::<u8>(&drops);
        let racer_ref = racer.task_ref();
        let saw_wait_error = Rc::new(Cell::new(false));
        let owner = {
            let saw = saw_wait_error.clone();
            fibrio::spawn(move || {
                let _guard = SelectOnDrop(Some(vec![racer]), saw);
                panic!("planned unwinding");
            })
        };
        assert!(owner.join().unwrap_err().is_panic());
        assert!(saw_wait_error.get());
        racer_ref.wait().unwrap();
        assert!(racer_ref.state().is_cancelled());
        assert_eq!(drops.get(), 1);
    });
}
