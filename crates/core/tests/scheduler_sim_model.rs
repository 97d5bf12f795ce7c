//! proptest: the scheduler model under random schedules. Random
//! `Deviations` from FIFO (the schedules a simulation explores) over a
//! model of spawn, park/unpark, yield and cancel:
//!
//! * every task reaches a terminal state (the run ends without a deadlock:
//!   the deterministic kernel reports one if a wake-up is lost);
//! * no lost wake-up: every worker consumes exactly the grants it waits
//!   for, unless it was cancelled;
//! * a cancelled worker ends `Cancelled` (or `Completed` if it finished
//!   first), and its `Drop`s run;
//! * the same deviations replay the same run.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use fibrio_core::scheduler::{DetConfig, NotifyDriver, PolicySpec, Scheduler, SchedulerConfig};
use fibrio_core::task::{self, JoinHandle, TaskState, Unparker};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One step of a worker's script.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Lets the others run.
    Yield,
    /// Waits (parking) until it has been granted one more time.
    Wait,
    /// Grants worker `n % workers` one more wake-up token.
    Grant(usize),
    /// Spawns a child that yields `n` times.
    Spawn(u8),
    /// Cancels its most recent child still unjoined.
    CancelChild,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Yield),
        Just(Op::Wait),
        (0usize..8).prop_map(Op::Grant),
        (0u8..4).prop_map(Op::Spawn),
        Just(Op::CancelChild),
    ]
}

/// What the model observed.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Per worker: its final state and, if it completed, the grants it
    /// consumed.
    workers: Vec<(TaskState, Option<usize>)>,
    /// Per worker: how many times its `Drop` guard ran.
    dropped: Vec<usize>,
    /// Children whose join gave neither a value nor a cancellation.
    children_failed: usize,
}

struct Shared {
    granted: Vec<Cell<usize>>,
    unparkers: RefCell<Vec<Option<Unparker>>>,
    dropped: Vec<Cell<usize>>,
}

impl Shared {
    fn grant(&self, worker: usize) {
        self.granted[worker].set(self.granted[worker].get() + 1);
        if let Some(unparker) = &self.unparkers.borrow()[worker] {
            unparker.unpark();
        }
    }
}

struct CountDrop(Rc<Shared>, usize);
impl Drop for CountDrop {
    fn drop(&mut self) {
        let cell = &self.0.dropped[self.1];
        cell.set(cell.get() + 1);
    }
}

fn model(scripts: Vec<Vec<Op>>, cancel: Vec<bool>) -> Outcome {
    let workers = scripts.len();
    let shared = Rc::new(Shared {
        granted: (0..workers).map(|_| Cell::new(0)).collect(),
        unparkers: RefCell::new(vec![None; workers]),
        dropped: (0..workers).map(|_| Cell::new(0)).collect(),
    });
    let waits: Vec<usize> = scripts
        .iter()
        .map(|s| s.iter().filter(|op| matches!(op, Op::Wait)).count())
        .collect();
    let children_failed = Rc::new(Cell::new(0));
    let handles: Vec<JoinHandle<usize>> = scripts
        .into_iter()
        .enumerate()
        .map(|(me, script)| {
            let shared = shared.clone();
            let children_failed = children_failed.clone();
            // Made here and moved in, so it drops even if the worker is
            // cancelled before it ever runs.
            let guard = CountDrop(shared.clone(), me);
            task::spawn(move || {
                let _guard = guard;
                shared.unparkers.borrow_mut()[me] = Unparker::current();
                let mut used = 0;
                let mut children: Vec<JoinHandle<()>> = Vec::new();
                for op in script {
                    match op {
                        Op::Yield => task::yield_now(),
                        Op::Wait => {
                            while shared.granted[me].get() <= used {
                                task::park().unwrap();
                            }
                            used += 1;
                        }
                        Op::Grant(n) => shared.grant(n % workers),
                        Op::Spawn(yields) => children.push(task::spawn(move || {
                            for _ in 0..yields {
                                task::yield_now();
                            }
                        })),
                        Op::CancelChild => {
                            if let Some(child) = children.last() {
                                child.cancel();
                            }
                        }
                    }
                }
                // Each join returns only once the child is terminal (a lost
                // wake-up would be reported as a deadlock instead).
                for child in children {
                    match child.join() {
                        Ok(()) => {}
                        Err(err) if err.is_cancelled() => {}
                        Err(_) => children_failed.set(children_failed.get() + 1),
                    }
                }
                used
            })
        })
        .collect();
    // The controller: cancels the chosen workers, and hands every worker
    // the grants it waits for (extra grants from scripts are harmless).
    for (worker, handle) in handles.iter().enumerate() {
        if cancel[worker] {
            handle.cancel();
        }
    }
    for (worker, &count) in waits.iter().enumerate() {
        for _ in 0..count {
            shared.grant(worker);
            task::yield_now();
        }
    }
    let workers_out = handles
        .into_iter()
        .map(|handle| {
            let result = handle.join();
            let state = match &result {
                Ok(_) => TaskState::Completed,
                Err(err) if err.is_cancelled() => TaskState::Cancelled,
                Err(_) => TaskState::Failed,
            };
            (state, result.ok())
        })
        .collect();
    Outcome {
        workers: workers_out,
        dropped: shared.dropped.iter().map(Cell::get).collect(),
        children_failed: children_failed.get(),
    }
}

fn run(
    scripts: Vec<Vec<Op>>,
    cancel: Vec<bool>,
    deviations: Vec<(u64, u32)>,
) -> (Outcome, fibrio_core::scheduler::DetStats) {
    let config = DetConfig::new(0).policy(PolicySpec::Deviations(deviations));
    let (result, stats) = Scheduler::deterministic(
        SchedulerConfig::default(),
        Box::new(NotifyDriver::new()),
        config,
    )
    .block_on_deterministic(move || model(scripts, cancel));
    match result {
        Ok(outcome) => (outcome, stats),
        Err(failure) => panic!("the run failed: {failure}"),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_task_ends_and_no_wake_up_is_lost_under_random_schedules(
        scripts in proptest::collection::vec(proptest::collection::vec(op(), 0..12), 1..6),
        cancel_bits in any::<u8>(),
        deviations in proptest::collection::vec((0u64..300, 0u32..8), 0..24),
    ) {
        let cancel: Vec<bool> = (0..scripts.len()).map(|i| cancel_bits & (1 << i) != 0).collect();
        let waits: Vec<usize> = scripts
            .iter()
            .map(|s| s.iter().filter(|op| matches!(op, Op::Wait)).count())
            .collect();
        let (outcome, stats) = run(scripts.clone(), cancel.clone(), deviations.clone());
        for (worker, (state, consumed)) in outcome.workers.iter().enumerate() {
            match state {
                TaskState::Completed => prop_assert_eq!(*consumed, Some(waits[worker])),
                TaskState::Cancelled => prop_assert!(cancel[worker], "worker {} cancelled unasked", worker),
                other => prop_assert!(false, "worker {} ended {:?}", worker, other),
            }
        }
        prop_assert!(outcome.dropped.iter().all(|&d| d == 1), "drops: {:?}", outcome.dropped);
        prop_assert_eq!(outcome.children_failed, 0);
        // The same deviations replay the same run.
        let (again, again_stats) = run(scripts, cancel, deviations);
        prop_assert_eq!(again, outcome);
        prop_assert_eq!(again_stats, stats);
    }
}
