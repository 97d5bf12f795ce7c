//! proptest: scheduler invariants on a fake driver with virtual time.
//!
//! * no lost wake-ups: random orders of park and unpark always finish, and
//!   every grant is consumed exactly once;
//! * FIFO fairness: runnable tasks run in the order they became runnable;
//! * timers fire in deadline order and never early;
//! * every spawned task reaches a terminal state;
//! * cancelling at random moments always ends the task and runs its Drops.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use fibrio_core::task::{self, JoinHandle, TaskState, Unparker};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Workers wait for grants with park; a controller grants and unparks in
    /// a random order, sometimes before the worker has parked. Every worker
    /// finishes, and consumes exactly the grants it was given.
    #[test]
    fn no_lost_wake_ups(rounds in 1usize..6, order in proptest::collection::vec((0usize..4, any::<bool>()), 0..40)) {
        let consumed = common::block_on(move || {
            let workers = 4;
            let grants: Rc<Vec<Cell<usize>>> = Rc::new((0..workers).map(|_| Cell::new(0)).collect());
            let unparkers: Rc<RefCell<Vec<Option<Unparker>>>> = Rc::new(RefCell::new(vec![None; workers]));
            let handles: Vec<JoinHandle<usize>> = (0..workers)
                .map(|i| {
                    let grants = grants.clone();
                    let unparkers = unparkers.clone();
                    task::spawn(move || {
                        unparkers.borrow_mut()[i] = Unparker::current();
                        let mut used = 0;
                        while used < rounds {
                            if grants[i].get() > used {
                                used += 1;
                            } else {
                                task::park().unwrap();
                            }
                        }
                        used
                    })
                })
                .collect();
            // The controller: grants in the random order, yielding or not.
            let mut given = vec![0usize; workers];
            let mut steps = order.into_iter();
            while given.iter().any(|&g| g < rounds) {
                let (i, yield_after) = steps.next().unwrap_or((0, true));
                let i = (i..i + workers).map(|j| j % workers).find(|&j| given[j] < rounds).unwrap();
                given[i] += 1;
                grants[i].set(given[i]);
                if let Some(unparker) = &unparkers.borrow()[i] {
                    unparker.unpark();
                }
                if yield_after {
                    task::yield_now();
                }
            }
            handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
        });
        prop_assert!(consumed.iter().all(|&c| c == rounds));
    }

    /// Each task yields a random number of times; in every round the tasks
    /// still running run in spawn order.
    #[test]
    fn runnable_tasks_run_in_fifo_order(yields in proptest::collection::vec(0usize..5, 1..12)) {
        let log = common::block_on(move || {
            let log = Rc::new(RefCell::new(Vec::new()));
            let handles: Vec<_> = yields
                .iter()
                .enumerate()
                .map(|(id, &n)| {
                    let log = log.clone();
                    task::spawn(move || {
                        for round in 0..=n {
                            log.borrow_mut().push((round, id));
                            task::yield_now();
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
            log.take()
        });
        let mut expected = log.clone();
        expected.sort(); // by round, then by spawn order
        prop_assert_eq!(log, expected);
    }

    /// Sleepers with random durations wake in deadline order (ties in the
    /// order they went to sleep), never before their deadline, and leave no
    /// timer behind.
    #[test]
    fn timers_fire_in_deadline_order_and_never_early(delays in proptest::collection::vec(0u64..50, 1..20)) {
        let (woken, timers_left) = common::block_on(move || {
            let woken = Rc::new(RefCell::new(Vec::new()));
            let handles: Vec<_> = delays
                .iter()
                .enumerate()
                .map(|(i, &ms)| {
                    let woken = woken.clone();
                    task::spawn(move || {
                        let deadline = common::now() + Duration::from_millis(ms);
                        common::sleep(Duration::from_millis(ms));
                        assert!(common::now() >= deadline, "woke early");
                        woken.borrow_mut().push((ms, i));
                    })
                })
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
            (woken.take(), common::pending_timers())
        });
        let mut sorted = woken.clone();
        sorted.sort();
        prop_assert_eq!(woken, sorted);
        prop_assert_eq!(timers_left, 0);
    }

    /// A random tree of tasks that return, panic, sleep, yield or get
    /// cancelled: every one of them ends in a terminal state, and its
    /// outcome matches what it did.
    #[test]
    fn every_spawned_task_reaches_a_terminal_state(plan in proptest::collection::vec((0u8..5, 0u64..20), 1..30)) {
        common::quiet_planned_panics();
        type Spawned = Rc<RefCell<Vec<(u8, JoinHandle<()>)>>>;
        let handles: Spawned = Rc::default();
        let h = handles.clone();
        common::block_on(move || {
            for (kind, ms) in plan {
                let handle = task::spawn(move || match kind {
                    0 => {}
                    1 => panic!("planned"),
                    2 => common::sleep(Duration::from_millis(ms)),
                    3 => task::yield_now(),
                    _ => loop { common::sleep(Duration::from_millis(ms + 1)) },
                });
                if kind == 4 || ms % 7 == 0 {
                    handle.cancel();
                }
                h.borrow_mut().push((kind, handle));
            }
            common::sleep(Duration::from_millis(25));
        });
        for (kind, handle) in handles.take() {
            let state = handle.state();
            prop_assert!(state.is_terminal(), "kind {} ended {:?}", kind, state);
            if kind == 1 {
                prop_assert!(matches!(state, TaskState::Failed | TaskState::Cancelled));
            }
            if kind == 4 {
                prop_assert_eq!(state, TaskState::Cancelled);
            }
        }
    }

    /// Tasks hold a guard and do random work; each is cancelled after a
    /// random delay. Every task ends, and every guard is dropped once.
    #[test]
    fn cancelling_at_random_moments_ends_the_task_and_runs_its_drops(
        work in proptest::collection::vec((0u64..10, 0u64..30), 1..16)
    ) {
        let (drops, states) = cancel_at_moments(work);
        prop_assert!(states.iter().all(|s| *s == TaskState::Cancelled), "{:?}", states);
        prop_assert_eq!(drops, states.len());
    }
}

/// Spawns a task per `(step, cancel_at)` of `work`, each holding a guard
/// and alternately sleeping `step + 1` ms and yielding forever, then
/// cancels them one by one, sleeping `cancel_at % 5` ms before each
/// cancel. Returns how many guards were dropped and how each task ended.
fn cancel_at_moments(work: Vec<(u64, u64)>) -> (usize, Vec<TaskState>) {
    common::block_on(move || {
        let drops = Rc::new(Cell::new(0usize));
        let mut handles = Vec::new();
        for &(step, _) in &work {
            struct Guard(Rc<Cell<usize>>);
            impl Drop for Guard {
                fn drop(&mut self) {
                    self.0.set(self.0.get() + 1);
                }
            }
            // Captured, so it drops whether or not the task ever runs.
            let guard = Guard(drops.clone());
            handles.push(task::spawn(move || {
                let _guard = guard;
                for i in 0.. {
                    if i % 2 == 0 {
                        common::sleep(Duration::from_millis(step + 1));
                    } else {
                        task::yield_now();
                    }
                }
            }));
        }
        for (handle, &(_, cancel_at)) in handles.iter().zip(&work) {
            common::sleep(Duration::from_millis(cancel_at % 5));
            handle.cancel();
        }
        let states: Vec<TaskState> = handles
            .into_iter()
            .map(|h| {
                let state_after = h.join().map(|_| TaskState::Completed);
                match state_after {
                    Ok(state) => state,
                    Err(e) if e.is_cancelled() => TaskState::Cancelled,
                    Err(_) => TaskState::Failed,
                }
            })
            .collect();
        (drops.get(), states)
    })
}

/// A shrunk failure of
/// `cancelling_at_random_moments_ends_the_task_and_runs_its_drops`, kept
/// as an ordinary test. Proptest saved it as `work = [(0, 5)]` (seed
/// `cc 9ad1762d…` in `scheduler_model.proptest-regressions`, a file this
/// test binary never read back, as it turns failure persistence off).
///
/// What it once caught: a task cancelled before it ever ran. With one task
/// and `cancel_at % 5 == 0`, main does not sleep before the cancel, so the
/// task's body never starts; the task must still end `Cancelled`, and the
/// closure it never ran must be dropped with the guard it captured. (That
/// is why the guard is captured by the closure, not made in the body: a
/// guard made in the body of an unrun task is never dropped, and the drop
/// count comes out 0, not 1.)
#[test]
fn a_task_cancelled_before_it_first_runs_ends_cancelled_and_drops_its_closure() {
    let (drops, states) = cancel_at_moments(vec![(0, 5)]);
    assert_eq!(states, [TaskState::Cancelled]);
    assert_eq!(
        drops, 1,
        "the unrun task's closure, and its guard, were not dropped"
    );
}
