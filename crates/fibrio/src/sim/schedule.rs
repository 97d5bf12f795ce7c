//! [`Schedule`]: a schedule written down as its deviations from FIFO, so
//! that proptest can generate schedules ([`schedule`], with the
//! `proptest` feature) and shrink a failing one towards plain FIFO.
//!
//! At every pop of the run queue a deterministic run picks one of the
//! runnable tasks, oldest first. A schedule lists the pops where it does
//! not take the oldest: `step 12: pick 1` runs the second-oldest runnable
//! task at the 13th pop. Everything else (virtual time, latencies, the
//! random numbers) comes from seed 0, so a schedule alone replays a run.
//!
//! # Invariants
//!
//! * A schedule with no deviation is FIFO, the production order.
//! * A pick past the last runnable task runs the last one; a step past the
//!   run's end does nothing. So every schedule is valid for every
//!   program, which is what lets proptest generate and shrink them
//!   freely.
//! * Shrinking removes deviations and moves each towards `step 0, pick 0`
//!   (a pick of 0 is no deviation at all): towards FIFO.

use std::fmt;

use fibrio_core::scheduler::{DetConfig, PolicySpec};

use super::case;
use super::error::SimError;

/// The seed of every schedule run: the schedule replaces the seed's
/// choice of policy, and the seed still feeds latencies and random
/// numbers.
pub(crate) const SCHEDULE_SEED: u64 = 0;

/// One pop where the schedule does not run the oldest runnable task.
///
/// # Examples
///
/// ```
/// use fibrio::sim::Deviation;
///
/// let d = Deviation { step: 3, pick: 1 };
/// assert_eq!(format!("{d:?}"), "step 3: pick 1");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Deviation {
    /// Which pop of the run queue, counted from 0.
    pub step: u64,
    /// Which runnable task runs there, oldest first (0 is FIFO's choice;
    /// past the last runnable task means the last).
    pub pick: u32,
}

impl fmt::Debug for Deviation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: pick {}", self.step, self.pick)
    }
}

/// A schedule for a deterministic run: FIFO except at its
/// [`Deviation`]s. Run one with [`run_schedule`],
/// [`try_run_schedule`] or [`SimBuilder::schedule`](super::SimBuilder::schedule);
/// generate them with `schedule()` (cargo feature `proptest`).
///
/// Its `Debug` lists the deviations that remain, sorted: after proptest
/// has shrunk a failing schedule, the few scheduling decisions the
/// failure needs.
///
/// # Examples
///
/// ```
/// use fibrio::sim::{Deviation, Schedule};
///
/// assert_eq!(format!("{:?}", Schedule::fifo()), "Schedule(FIFO)");
/// let s = Schedule::new([Deviation { step: 9, pick: 2 }, Deviation { step: 4, pick: 0 }]);
/// assert_eq!(format!("{s:?}"), "Schedule [step 9: pick 2]"); // pick 0 is no deviation
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Schedule {
    /// Sorted by step; no pick is 0; one entry per step (the last given
    /// wins).
    deviations: Vec<Deviation>,
}

impl Schedule {
    /// Plain FIFO: the order production runs tasks in.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(fibrio::sim::Schedule::fifo().deviations().is_empty());
    /// ```
    pub fn fifo() -> Schedule {
        Schedule::default()
    }

    /// FIFO except at `deviations`. Picks of 0 are dropped (FIFO takes
    /// the oldest anyway); of several deviations at one step, the last
    /// given wins.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::sim::{Deviation, Schedule};
    ///
    /// let s = Schedule::new([Deviation { step: 1, pick: 1 }, Deviation { step: 1, pick: 3 }]);
    /// assert_eq!(s.deviations(), [Deviation { step: 1, pick: 3 }]);
    /// ```
    pub fn new(deviations: impl IntoIterator<Item = Deviation>) -> Schedule {
        let mut list: Vec<Deviation> = Vec::new();
        for d in deviations {
            list.retain(|e| e.step != d.step);
            if d.pick != 0 {
                list.push(d);
            }
        }
        list.sort();
        Schedule { deviations: list }
    }

    /// The deviations, sorted by step.
    ///
    /// # Examples
    ///
    /// See [`Schedule::new`].
    pub fn deviations(&self) -> &[Deviation] {
        &self.deviations
    }

    /// The deterministic run's configuration for this schedule.
    pub(crate) fn config(&self) -> DetConfig {
        let list = self.deviations.iter().map(|d| (d.step, d.pick)).collect();
        DetConfig::new(SCHEDULE_SEED).policy(PolicySpec::Deviations(list))
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.deviations.is_empty() {
            return f.write_str("Schedule(FIFO)");
        }
        f.write_str("Schedule ")?;
        f.debug_list().entries(&self.deviations).finish()
    }
}

/// Runs `main` as [`run`](super::run) does, with `schedule` choosing the
/// task at every pop of the run queue (and seed 0 for everything else).
///
/// # Panics
///
/// As [`run`](super::run), with the schedule in the message.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use fibrio::sim::{self, Deviation, Schedule};
///
/// let order = |schedule: &Schedule| {
///     sim::run_schedule(schedule, || {
///         let first = Rc::new(Cell::new(""));
///         let a = fibrio::spawn({ let f = first.clone(); move || if f.get().is_empty() { f.set("a") } });
///         let b = fibrio::spawn({ let f = first.clone(); move || if f.get().is_empty() { f.set("b") } });
///         fibrio::yield_now();
///         a.join().unwrap();
///         b.join().unwrap();
///         first.get()
///     })
/// };
/// assert_eq!(order(&Schedule::fifo()), "a");
/// assert_eq!(order(&Schedule::new([Deviation { step: 1, pick: 1 }])), "b");
/// ```
#[track_caller]
pub fn run_schedule<'a, T: 'a>(schedule: &Schedule, main: impl FnOnce() -> T + 'a) -> T {
    match try_run_schedule(schedule, main) {
        Ok(value) => value,
        Err(err) => panic!("{err}\nschedule: {schedule:?}"),
    }
}

/// [`run_schedule`], with the failure returned: what a proptest property
/// checks with `prop_assert!`.
///
/// # Errors
///
/// As [`try_run`](super::try_run).
///
/// # Panics
///
/// Inside a simulation or inside a running `fibrio::run`.
///
/// # Examples
///
/// ```
/// use fibrio::sim::{self, Schedule};
///
/// assert!(sim::try_run_schedule(&Schedule::fifo(), || fibrio::task::park()).is_err()); // deadlock
/// ```
#[track_caller]
pub fn try_run_schedule<'a, T: 'a>(
    schedule: &Schedule,
    main: impl FnOnce() -> T + 'a,
) -> Result<T, SimError> {
    case::refuse_nested("fibrio::sim::run_schedule");
    case::run_config(schedule.config(), main).0
}

/// A proptest strategy of [`Schedule`]s: up to 8 deviations among the
/// first 1,000 pops, picking among the first 4 runnable tasks. Shrinking
/// goes towards FIFO. [`schedule_with`] sets the bounds.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use proptest::test_runner::{Config, TestError, TestRunner};
/// use fibrio::sim;
///
/// // A reads, yields, writes; B yields, reads, writes. FIFO runs B's read
/// // after A's write; one deviation lets B in between: a lost update.
/// let lost_update = || {
///     let x = Rc::new(Cell::new(0));
///     let a = fibrio::spawn({
///         let x = x.clone();
///         move || {
///             let v = x.get();
///             fibrio::yield_now();
///             x.set(v + 1);
///         }
///     });
///     let b = fibrio::spawn({
///         let x = x.clone();
///         move || {
///             fibrio::yield_now();
///             let v = x.get();
///             x.set(v + 1);
///         }
///     });
///     a.join().unwrap();
///     b.join().unwrap();
///     x.get()
/// };
/// assert_eq!(sim::run_schedule(&sim::Schedule::fifo(), lost_update), 2);
///
/// let config = Config { cases: 512, failure_persistence: None, ..Config::default() };
/// let result = TestRunner::new(config).run(&sim::schedule_with(20, 3, 4), |schedule| {
///     let total = sim::try_run_schedule(&schedule, lost_update).unwrap();
///     proptest::prop_assert_eq!(total, 2);
///     Ok(())
/// });
/// let Err(TestError::Fail(_, shrunk)) = result else { panic!("no schedule lost the update") };
/// assert_eq!(shrunk.deviations().len(), 1, "shrunk to the one decision that matters: {shrunk:?}");
/// ```
#[cfg(feature = "proptest")]
pub fn schedule() -> impl proptest::strategy::Strategy<Value = Schedule> {
    schedule_with(1_000, 4, 8)
}

/// A proptest strategy of [`Schedule`]s with up to `max_deviations`
/// deviations among the first `steps` pops, each picking one of the first
/// `picks` runnable tasks (pick 0, FIFO's choice, included).
///
/// # Panics
///
/// If `steps` or `picks` is 0.
///
/// # Examples
///
/// See [`schedule`].
#[cfg(feature = "proptest")]
pub fn schedule_with(
    steps: u64,
    picks: u32,
    max_deviations: usize,
) -> impl proptest::strategy::Strategy<Value = Schedule> {
    use proptest::strategy::Strategy;
    assert!(
        steps > 0 && picks > 0,
        "fibrio::sim::schedule_with: steps and picks must be at least 1"
    );
    proptest::collection::vec(
        (0..steps, 0..picks).prop_map(|(step, pick)| Deviation { step, pick }),
        0..=max_deviations,
    )
    .prop_map(Schedule::new)
}
