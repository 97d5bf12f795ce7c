//! Timers at scale through the runtime (issue 18): 10,000 tasks park with
//! deadlines in a scrambled order; half of them are woken before theirs,
//! which removes their timers, and park again without one until every
//! deadline has passed. No task wakes before its deadline, no removed timer
//! wakes its task later, and the scheduler ends with no timer pending. The
//! million-deadline case runs on the `TimerQueue` itself (the runtime's
//! queue), in its unit tests.
//!
//! Real time: the deadlines lie 1.0-1.2 s after the tasks are released for
//! the half that is woken early (woken right after arming, which takes
//! milliseconds) and 0-200 ms after for the rest. A task whose early wake
//! comes after its deadline on a very slow machine is left out of the
//! check, and at least half of them must be checked: a 10x+ margin.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio_core::scheduler::{self, NotifyDriver, Scheduler, SchedulerConfig};
use fibrio_core::task::{self, Unparker};

const TASKS: usize = 10_000;

#[derive(Default)]
struct Shared {
    base: Cell<Option<Instant>>,
    armed: Cell<usize>,
    unparkers: RefCell<Vec<Option<Unparker>>>,
    /// Tasks that woke before their deadline.
    early: Cell<usize>,
    /// Woken-early tasks woken again while waiting without a timer.
    stale_wakes: Cell<usize>,
    /// Set when the woken-early tasks may finish.
    released: Cell<bool>,
    /// Per task: woken early, and it was before its deadline.
    cancelled_in_time: RefCell<Vec<bool>>,
}

/// The offset of task `i`'s deadline from `base`: scrambled, so most go to
/// the queue's heap; odd tasks (the ones woken early) 1 s later.
fn offset(i: usize) -> Duration {
    let scrambled = (i * 7919) % 200_000;
    let micros = scrambled as u64 + if i % 2 == 1 { 1_000_000 } else { 0 };
    Duration::from_micros(micros)
}

#[test]
fn ten_thousand_deadlines_half_removed_none_early_none_stale_none_left() {
    let shared = Rc::new(Shared {
        cancelled_in_time: RefCell::new(vec![false; TASKS]),
        unparkers: RefCell::new(vec![None; TASKS]),
        ..Shared::default()
    });
    let driver = Box::new(NotifyDriver::new());
    let state = shared.clone();
    Scheduler::new(SchedulerConfig::default(), driver)
        .block_on(move || {
            let shared = state;
            let mut tasks = Vec::with_capacity(TASKS);
            for i in 0..TASKS {
                let shared = shared.clone();
                tasks.push(
                    task::Builder::new()
                        .stack_size(16 * 1024)
                        .spawn(move || {
                            shared.unparkers.borrow_mut()[i] = Unparker::current();
                            // Wait for the start, then arm this task's timer.
                            while shared.base.get().is_none() {
                                task::park().unwrap();
                            }
                            let deadline = shared.base.get().unwrap() + offset(i);
                            shared.armed.set(shared.armed.get() + 1);
                            task::park_until(Some(deadline)).unwrap();
                            if Instant::now() < deadline && !shared.cancelled_in_time.borrow()[i] {
                                shared.early.set(shared.early.get() + 1);
                            }
                            if i % 2 == 1 {
                                // Its timer is gone: only `released` may
                                // wake it now.
                                while !shared.released.get() {
                                    task::park().unwrap();
                                    if !shared.released.get()
                                        && shared.cancelled_in_time.borrow()[i]
                                    {
                                        shared.stale_wakes.set(shared.stale_wakes.get() + 1);
                                    }
                                }
                            }
                        })
                        .unwrap(),
                );
            }
            // Let every task park, then release them all at once.
            while shared.unparkers.borrow().iter().any(Option::is_none) {
                task::yield_now();
            }
            let unparkers: Vec<Unparker> = shared.unparkers.take().into_iter().flatten().collect();
            let base = Instant::now();
            shared.base.set(Some(base));
            for unparker in &unparkers {
                unparker.unpark();
            }
            while shared.armed.get() < TASKS {
                task::yield_now();
            }
            // Wake the odd half early: their timers are removed.
            for (i, unparker) in unparkers.iter().enumerate().skip(1).step_by(2) {
                shared.cancelled_in_time.borrow_mut()[i] = Instant::now() < base + offset(i);
                unparker.unpark();
            }
            // Sleep past every deadline: a removed timer would fire now.
            task::sleep(
                (base + Duration::from_millis(1400)).saturating_duration_since(Instant::now()),
            );
            assert_eq!(
                scheduler::metrics().timers_pending,
                0,
                "every timer fired or was removed"
            );
            shared.released.set(true);
            for unparker in unparkers.iter().skip(1).step_by(2) {
                unparker.unpark();
            }
            for task in tasks {
                task.join().unwrap();
            }
        })
        .unwrap();
    let checked = shared
        .cancelled_in_time
        .borrow()
        .iter()
        .filter(|&&c| c)
        .count();
    assert_eq!(shared.early.get(), 0, "tasks woke before their deadline");
    assert_eq!(
        shared.stale_wakes.get(),
        0,
        "removed timers woke their tasks"
    );
    assert!(
        checked >= TASKS / 4,
        "only {checked} of {} early wakes came before the deadline",
        TASKS / 2
    );
}
