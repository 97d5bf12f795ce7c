//! `JoinSet` (tokio's `JoinSet`, issue 13): results come back in the exact
//! order the tasks ended, also for tasks that end in the same turn; a
//! cancelled or panicked task reports its `JoinError`; dropping the set
//! cancels and waits for what is left, except while unwinding, where it
//! cancels without waiting (and does not hang).

mod common;

use common::{park_until_cancelled, quiet_planned_panics, yield_n};

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::task::{Builder, TaskRef};
use fibrio::CancelScope;
use fibrio_concurrency::JoinSet;

/// Sets its flag when dropped: proves a task's stack unwound.
struct Flag(Rc<Cell<bool>>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn results_come_back_in_completion_order() {
    fibrio::run(|| {
        let mut set = JoinSet::new();
        // Spawn order 0, 1, 2, 3; they end after 3, 0, 2, 1 yields.
        for (i, yields) in [3usize, 0, 2, 1].into_iter().enumerate() {
            set.spawn(move || {
                yield_n(yields);
                i
            });
        }
        let mut order = Vec::new();
        while let Some(result) = set.join_next() {
            order.push(result.unwrap());
        }
        assert_eq!(order, [1, 3, 2, 0]);
        assert!(set.is_empty());
    });
}

#[test]
fn tasks_ending_in_the_same_turn_come_back_in_the_order_they_ended() {
    fibrio::run(|| {
        // Every task wakes from the same deadline, in the same turn; each
        // then yields a different number of times, so the order in which
        // they end is not the spawn order, and several have ended by the
        // time the joiner runs again.
        let at = Instant::now() + Duration::from_millis(5);
        let ended: Rc<RefCell<Vec<usize>>> = Rc::default();
        let mut set = JoinSet::new();
        let yields = [4usize, 1, 3, 0, 2, 0, 1];
        for (i, &n) in yields.iter().enumerate() {
            let ended = ended.clone();
            set.spawn(move || {
                fibrio::sleep_until(at);
                yield_n(n);
                ended.borrow_mut().push(i);
                i
            });
        }
        let mut joined = Vec::new();
        while let Some(result) = set.join_next() {
            joined.push(result.unwrap());
        }
        assert_eq!(joined.len(), yields.len());
        assert_eq!(joined, *ended.borrow(), "join order is completion order");
    });
}

#[test]
fn a_later_task_that_ends_first_is_not_overtaken_by_an_earlier_one() {
    fibrio::run(|| {
        // `late` (spawned first) and `early` wake in the same turn; `early`
        // ends at once, `late` after one yield. Both have ended when the
        // joiner looks: a scan in spawn order would say `late` first.
        let at = Instant::now() + Duration::from_millis(5);
        let mut set = JoinSet::new();
        set.spawn(move || {
            fibrio::sleep_until(at);
            fibrio::yield_now();
            "late"
        });
        set.spawn(move || {
            fibrio::sleep_until(at);
            "early"
        });
        fibrio::sleep_until(at);
        yield_n(3);
        assert_eq!(set.try_join_next().unwrap().unwrap(), "early");
        assert_eq!(set.try_join_next().unwrap().unwrap(), "late");
        assert!(set.try_join_next().is_none());
    });
}

#[test]
fn an_empty_set_gives_none() {
    fibrio::run(|| {
        let mut set = JoinSet::<u8>::new();
        assert!(set.join_next().is_none());
        assert!(set.try_join_next().is_none());
        assert!(set.join_all().is_empty());
    });
}

#[test]
fn try_join_next_does_not_wait() {
    fibrio::run(|| {
        let mut set = JoinSet::new();
        set.spawn(|| fibrio::sleep(Duration::from_millis(5)));
        assert!(set.try_join_next().is_none());
        assert_eq!(set.len(), 1);
        assert!(set.join_next().unwrap().is_ok());
    });
}

#[test]
fn cancel_all_keeps_the_tasks_and_join_next_yields_their_cancellation() {
    fibrio::run(|| {
        let unwound = Rc::new(Cell::new(false));
        let mut set = JoinSet::new();
        let u = unwound.clone();
        set.spawn(move || {
            let _flag = Flag(u);
            park_until_cancelled()
        });
        fibrio::yield_now(); // it starts and parks
        let never_ran = Rc::new(Cell::new(true));
        let n = never_ran.clone();
        set.spawn(move || n.set(false)); // not started yet
        set.cancel_all();
        assert_eq!(set.len(), 2, "cancelled tasks stay in the set");
        let first = set.join_next().unwrap().unwrap_err();
        let second = set.join_next().unwrap().unwrap_err();
        assert!(first.is_cancelled() && second.is_cancelled());
        assert!(set.join_next().is_none());
        assert!(unwound.get());
        assert!(
            never_ran.get(),
            "a task cancelled before it started never runs"
        );
    });
}

#[test]
fn a_panic_comes_back_as_panicked_and_the_others_go_on() {
    quiet_planned_panics();
    fibrio::run(|| {
        let mut set = JoinSet::new();
        set.spawn(|| -> u32 { panic!("planned: bad row") });
        set.spawn(|| {
            fibrio::sleep(Duration::from_millis(2));
            5
        });
        let err = set.join_next().unwrap().unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("planned: bad row"), "{err}");
        assert_eq!(set.join_next().unwrap().unwrap(), 5, "not cancelled");
    });
}

#[test]
fn spawn_returns_a_task_ref_of_the_task() {
    fibrio::run(|| {
        let mut set = JoinSet::new();
        let task = set
            .spawn_with(Builder::new().name("named"), || {
                fibrio::sleep(Duration::from_secs(60))
            })
            .unwrap();
        assert_eq!(task.name(), Some("named"));
        task.cancel();
        assert!(set.join_next().unwrap().unwrap_err().is_cancelled());
        assert!(task.state().is_cancelled());
    });
}

#[test]
fn dropping_the_set_cancels_and_waits_for_the_tasks() {
    fibrio::run(|| {
        let unwound = Rc::new(Cell::new(false));
        let u = unwound.clone();
        let mut set = JoinSet::new();
        let sleeper = set.spawn(move || {
            let _flag = Flag(u);
            fibrio::sleep(Duration::from_secs(60));
        });
        let quick = set.spawn(|| ());
        fibrio::yield_now(); // the sleeper parks, `quick` ends
        let not_started_yet = set.spawn(|| ());
        drop(set);
        assert!(
            unwound.get(),
            "the task's Drop ran before the set's drop returned"
        );
        assert!(sleeper.state().is_cancelled());
        assert!(quick.state().is_success());
        assert!(not_started_yet.state().is_cancelled());
    });
}

#[test]
fn dropping_the_set_waits_even_if_the_owner_is_cancelled() {
    fibrio::run(|| {
        let unwound = Rc::new(Cell::new(false));
        let after_drop = Rc::new(Cell::new(None));
        let scope = CancelScope::new();
        let (u, a, s) = (unwound.clone(), after_drop.clone(), scope.clone());
        let cut = scope.run(move || {
            let mut set = JoinSet::new();
            let flag = Flag(u.clone());
            set.spawn(move || {
                let _flag = flag;
                fibrio::sleep(Duration::from_secs(60));
            });
            fibrio::yield_now();
            s.cancel();
            // The owner is cancelled, yet the drop's wait is shielded.
            drop(set);
            a.set(Some(u.get()));
            fibrio::yield_now(); // the owner's cancellation takes effect here
            unreachable!("the scope was cancelled");
        });
        assert_eq!(cut, None::<()>);
        assert_eq!(after_drop.get(), Some(true));
        assert!(unwound.get());
    });
}

#[test]
fn dropping_the_set_while_unwinding_cancels_without_hanging() {
    quiet_planned_panics();
    fibrio::run(|| {
        let task: Rc<RefCell<Option<TaskRef>>> = Rc::default();
        let t = task.clone();
        let owner = fibrio::spawn(move || {
            let mut set = JoinSet::new();
            *t.borrow_mut() = Some(set.spawn(|| fibrio::sleep(Duration::from_secs(3600))));
            fibrio::yield_now();
            panic!("planned: owner panics with the set alive");
        });
        // The owner ends (the drop did not park, so nothing hangs).
        assert!(owner.join().unwrap_err().is_panic());
        let task = task.borrow_mut().take().unwrap();
        // The task was cancelled, and ends at its next checkpoint.
        task.wait().unwrap();
        assert!(task.state().is_cancelled());
    });
}

#[test]
fn a_cancelled_join_next_leaves_the_task_in_the_set() {
    fibrio::run(|| {
        let mut set = JoinSet::new();
        set.spawn(|| {
            fibrio::sleep(Duration::from_millis(20));
            9
        });
        let scope = CancelScope::new();
        let canceller = scope.clone();
        fibrio::spawn(move || canceller.cancel());
        let got = scope.run(|| set.join_next());
        assert!(got.is_none(), "join_next was cut short");
        assert_eq!(set.len(), 1, "the task is still in the set");
        assert_eq!(set.join_next().unwrap().unwrap(), 9);
    });
}

#[test]
fn join_all_returns_every_result_in_completion_order() {
    quiet_planned_panics();
    fibrio::run(|| {
        let mut set = JoinSet::new();
        set.spawn(|| {
            yield_n(2);
            Ok(0)
        });
        set.spawn(|| -> Result<u8, ()> { panic!("planned: in join_all") });
        set.spawn(|| Err(()));
        let results = set.join_all();
        assert_eq!(results.len(), 3);
        assert!(results[0].as_ref().unwrap_err().is_panic());
        assert_eq!(*results[1].as_ref().unwrap(), Err(()));
        assert_eq!(*results[2].as_ref().unwrap(), Ok(0));
    });
}

#[test]
fn a_cancelled_join_all_waits_for_the_tasks() {
    fibrio::run(|| {
        let unwound = Rc::new(Cell::new(false));
        let started = Rc::new(Cell::new(false));
        let (u, s) = (unwound.clone(), started.clone());
        let owner = fibrio::spawn(move || {
            let mut set = JoinSet::new();
            set.spawn(move || {
                let _flag = Flag(u);
                s.set(true);
                fibrio::sleep(Duration::from_secs(60));
            });
            set.join_all();
            unreachable!("the owner was cancelled");
        });
        // The task starts after the owner has parked in `join_all`.
        while !started.get() {
            fibrio::yield_now();
        }
        owner.cancel();
        assert!(owner.join().unwrap_err().is_cancelled());
        assert!(
            unwound.get(),
            "join_all waited for the task before unwinding"
        );
    });
}

#[test]
fn shutdown_cancels_and_empties_the_set() {
    fibrio::run(|| {
        let unwound = Rc::new(Cell::new(false));
        let u = unwound.clone();
        let mut set = JoinSet::new();
        set.spawn(move || {
            let _flag = Flag(u);
            fibrio::sleep(Duration::from_secs(60));
        });
        set.spawn(|| ());
        fibrio::yield_now();
        set.shutdown();
        assert!(set.is_empty());
        assert!(unwound.get());
        // The set is usable again.
        set.spawn(|| ());
        assert!(set.join_next().unwrap().is_ok());
    });
}

#[test]
fn the_set_reports_itself_in_debug() {
    fibrio::run(|| {
        let mut set = JoinSet::new();
        set.spawn(|| ());
        assert!(format!("{set:?}").contains("len: 1"));
    });
}

#[test]
fn a_task_cancelled_before_it_ran_wakes_a_waiting_join_next() {
    fibrio::run(|| {
        let mut set = JoinSet::new();
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        set.spawn(move || r.set(true));
        set.cancel_all();
        // The only task never runs: the scheduler drops its closure, which
        // records its end and wakes this parked `join_next`.
        assert!(set.join_next().unwrap().unwrap_err().is_cancelled());
        assert!(!ran.get());
        assert!(set.join_next().is_none());
    });
}

#[test]
fn an_owner_cancelled_in_join_next_drops_the_set_without_hanging() {
    fibrio::run(|| {
        let task: Rc<RefCell<Option<TaskRef>>> = Rc::default();
        let t = task.clone();
        let owner = fibrio::spawn(move || {
            let mut set = JoinSet::new();
            *t.borrow_mut() = Some(set.spawn(|| fibrio::sleep(Duration::from_secs(3600))));
            set.join_next();
            unreachable!("the owner was cancelled");
        });
        while task.borrow().is_none() {
            fibrio::yield_now();
        }
        owner.cancel();
        // The set is dropped as the owner unwinds: it cannot park there.
        assert!(owner.join().unwrap_err().is_cancelled());
        let task = task.borrow_mut().take().unwrap();
        task.wait().unwrap();
        assert!(task.state().is_cancelled());
    });
}
