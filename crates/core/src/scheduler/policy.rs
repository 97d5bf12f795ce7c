//! The seeded schedule policies of a deterministic scheduler, behind the
//! run queue's [`SchedulePolicy`] seam: [`RandomPolicy`], [`PctPolicy`]
//! and [`DeviationPolicy`], and [`PolicySpec::from_seed`].
//!
//! # Invariants
//!
//! * A policy is consulted at every pop of the run queue (a scheduling
//!   point: after a park, a yield, or a task's end) and at no other time;
//!   spawns and wake-ups only change the set it chooses from. fibrio never
//!   switches tasks at a spawn or a wake-up: "a task runs until it parks
//!   or yields" is a guarantee programs rely on.
//! * Every choice is a function of the policy's seed and of the sequence
//!   of runnable sets it was shown, so a run replays from its seed.
//! * A policy needs no notice of spawns or ends: [`PctPolicy`] gives a key
//!   it has not seen (a new task, or a new task in a reused slot: keys
//!   carry the slot's generation) its priority the first time the key is
//!   runnable.

use std::collections::VecDeque;

use super::det::{splitmix64, PolicySpec, SplitMix64};
use super::run_queue::SchedulePolicy;
use super::table::TaskKey;

impl PolicySpec {
    /// The policy for `seed`: half the seeds (by a hash of the seed) get
    /// [`PolicySpec::Random`], the others [`PolicySpec::Pct`] with a depth
    /// of 2 to 4 and a `steps_hint` of 64 to 16,384. The seed alone
    /// decides, so a run with `DetConfig::new(seed)` replays any case of a
    /// search over seeds.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::PolicySpec;
    ///
    /// let kinds: Vec<_> = (0..64).map(PolicySpec::from_seed).collect();
    /// assert!(kinds.iter().any(|p| *p == PolicySpec::Random));
    /// assert!(kinds.iter().any(|p| matches!(p, PolicySpec::Pct { .. })));
    /// for policy in kinds {
    ///     if let PolicySpec::Pct { depth, steps_hint } = policy {
    ///         assert!((2..=4).contains(&depth));
    ///         assert!((64..=16_384).contains(&steps_hint));
    ///     }
    /// }
    /// ```
    pub fn from_seed(seed: u64) -> PolicySpec {
        let m = splitmix64(seed ^ 0x005E_ED0F_5C4E_D01E);
        if m & 1 == 0 {
            PolicySpec::Random
        } else {
            PolicySpec::Pct {
                depth: 2 + ((m >> 1) % 3) as u32,
                steps_hint: 1 << (6 + (m >> 3) % 9),
            }
        }
    }

    /// The policy object this spec describes, seeded with `seed`.
    pub(crate) fn build(&self, seed: u64) -> Box<dyn SchedulePolicy> {
        match self {
            PolicySpec::Random => Box::new(RandomPolicy::new(seed)),
            PolicySpec::Pct { depth, steps_hint } => {
                Box::new(PctPolicy::new(seed, *depth, *steps_hint))
            }
            PolicySpec::Deviations(deviations) => {
                Box::new(DeviationPolicy::new(deviations.clone()))
            }
        }
    }
}

/// A uniformly random runnable task at every pop.
pub(crate) struct RandomPolicy {
    rng: SplitMix64,
}

impl RandomPolicy {
    pub(crate) fn new(seed: u64) -> RandomPolicy {
        RandomPolicy {
            rng: SplitMix64::new(seed),
        }
    }
}

impl SchedulePolicy for RandomPolicy {
    fn choose(&mut self, runnable: &VecDeque<TaskKey>) -> usize {
        self.rng.below(runnable.len() as u64) as usize
    }
}

/// PCT (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS 2010): every
/// task gets a random priority above `depth` when it first becomes
/// runnable; the runnable task with the highest priority runs; at each of
/// `depth - 1` change points (distinct pops drawn from `1..=steps_hint`)
/// the task chosen there drops to priority `i` (the i-th change point),
/// below every initial priority. O(runnable) per pop.
pub(crate) struct PctPolicy {
    rng: SplitMix64,
    depth: u32,
    /// Pops so far.
    step: u64,
    /// The change points, ascending, and the next one to hit.
    change_points: Vec<u64>,
    next_change: usize,
    /// By slot index: the key whose priority is stored, and the priority.
    priorities: Vec<Option<(TaskKey, u64)>>,
}

impl PctPolicy {
    pub(crate) fn new(seed: u64, depth: u32, steps_hint: u64) -> PctPolicy {
        let mut rng = SplitMix64::new(seed);
        let depth = depth.max(1);
        let steps_hint = steps_hint.max(1);
        let wanted = ((depth - 1) as u64).min(steps_hint) as usize;
        let mut change_points = Vec::with_capacity(wanted);
        while change_points.len() < wanted {
            let point = 1 + rng.below(steps_hint);
            if !change_points.contains(&point) {
                change_points.push(point);
            }
        }
        change_points.sort_unstable();
        PctPolicy {
            rng,
            depth,
            step: 0,
            change_points,
            next_change: 0,
            priorities: Vec::new(),
        }
    }

    /// The change points, ascending (for tests).
    #[cfg(test)]
    fn change_points(&self) -> &[u64] {
        &self.change_points
    }

    /// The priority of `key`, assigned on first sight: a random value above
    /// `depth`, so that every change-point priority (1..depth) is lower.
    fn priority(&mut self, key: TaskKey) -> u64 {
        let index = key.index() as usize;
        if self.priorities.len() <= index {
            self.priorities.resize(index + 1, None);
        }
        match self.priorities[index] {
            Some((known, priority)) if known == key => priority,
            _ => {
                let priority = u64::from(self.depth) + 1 + (self.rng.next_u64() >> 1);
                self.priorities[index] = Some((key, priority));
                priority
            }
        }
    }
}

impl SchedulePolicy for PctPolicy {
    fn choose(&mut self, runnable: &VecDeque<TaskKey>) -> usize {
        self.step += 1;
        let mut best = 0;
        let mut best_priority = 0;
        for (index, &key) in runnable.iter().enumerate() {
            let priority = self.priority(key);
            // Ties (vanishingly rare) go to the oldest.
            if index == 0 || priority > best_priority {
                best = index;
                best_priority = priority;
            }
        }
        if self.change_points.get(self.next_change) == Some(&self.step) {
            self.next_change += 1;
            let key = runnable[best];
            self.priorities[key.index() as usize] = Some((key, self.next_change as u64));
        }
        best
    }
}

/// FIFO except at the listed pops (see [`PolicySpec::Deviations`]).
pub(crate) struct DeviationPolicy {
    /// `(step, pick)`, sorted by step.
    deviations: Vec<(u64, u32)>,
    next: usize,
    step: u64,
}

impl DeviationPolicy {
    pub(crate) fn new(mut deviations: Vec<(u64, u32)>) -> DeviationPolicy {
        deviations.sort_by_key(|&(step, _)| step);
        DeviationPolicy {
            deviations,
            next: 0,
            step: 0,
        }
    }
}

impl SchedulePolicy for DeviationPolicy {
    fn choose(&mut self, runnable: &VecDeque<TaskKey>) -> usize {
        let step = self.step;
        self.step += 1;
        let mut pick = 0;
        // Several entries for one step: the last one listed wins.
        while let Some(&(at, index)) = self.deviations.get(self.next) {
            if at > step {
                break;
            }
            if at == step {
                pick = index as usize;
            }
            self.next += 1;
        }
        pick.min(runnable.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u32) -> VecDeque<TaskKey> {
        (0..n).map(|i| TaskKey::new(i, 0)).collect()
    }

    #[test]
    fn pct_draws_depth_minus_one_distinct_change_points_in_range() {
        for seed in 0..200 {
            let policy = PctPolicy::new(seed, 4, 10);
            let points = policy.change_points();
            assert_eq!(points.len(), 3);
            assert!(points.windows(2).all(|w| w[0] < w[1]), "{points:?}");
            assert!(points.iter().all(|p| (1..=10).contains(p)), "{points:?}");
        }
        // Depth 1: no change point; more points wanted than steps: all steps.
        assert!(PctPolicy::new(1, 1, 100).change_points().is_empty());
        assert_eq!(PctPolicy::new(1, 9, 3).change_points(), [1, 2, 3]);
    }

    #[test]
    fn pct_runs_the_highest_priority_until_a_change_point_demotes_it() {
        // Depth 2, one change point, always at step 1 (steps_hint 1).
        let mut policy = PctPolicy::new(7, 2, 1);
        let runnable = keys(3);
        let first = policy.choose(&runnable); // step 1: the change point
        let second = policy.choose(&runnable);
        assert_ne!(first, second, "the task chosen at the change point drops");
        // Without a change point the same task keeps winning.
        let mut steady = PctPolicy::new(7, 1, 1);
        let pick = steady.choose(&runnable);
        for _ in 0..10 {
            assert_eq!(steady.choose(&runnable), pick);
        }
    }

    #[test]
    fn pct_gives_a_reused_slot_a_fresh_priority() {
        let mut policy = PctPolicy::new(3, 1, 1);
        let old = TaskKey::new(0, 0);
        let reused = TaskKey::new(0, 1);
        let p_old = policy.priority(old);
        let p_new = policy.priority(reused);
        assert_ne!(p_old, p_new);
        assert_eq!(policy.priority(reused), p_new);
    }

    #[test]
    fn deviations_pick_as_told_and_fifo_otherwise() {
        let mut policy = DeviationPolicy::new(vec![(3, 9), (1, 2)]);
        let runnable = keys(4);
        assert_eq!(policy.choose(&runnable), 0); // step 0
        assert_eq!(policy.choose(&runnable), 2); // step 1
        assert_eq!(policy.choose(&runnable), 0); // step 2
        assert_eq!(policy.choose(&runnable), 3); // step 3: 9 clamped
        assert_eq!(policy.choose(&runnable), 0);
    }

    #[test]
    fn random_covers_every_index() {
        let mut policy = RandomPolicy::new(11);
        let runnable = keys(4);
        let mut seen = [false; 4];
        for _ in 0..200 {
            seen[policy.choose(&runnable)] = true;
        }
        assert_eq!(seen, [true; 4]);
    }
}
