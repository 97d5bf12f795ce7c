//! The deterministic kernel's data: its configuration ([`DetConfig`],
//! [`PolicySpec`]), its results ([`DetStats`], [`DetFailure`],
//! [`DeadlockReport`]) and the per-run state a deterministic scheduler
//! keeps (`DetState`): the seeded random streams, the per-run task ids,
//! the trace hash and the failure slot.
//!
//! The loop that uses it (virtual time, the step and time limits, the
//! deadlock check) is in `det_loop.rs`; the schedule policies are in
//! `policy.rs`.
//!
//! # Invariants
//!
//! * Everything a run does is a function of its [`DetConfig`] and of the
//!   program: the random streams are SplitMix64 generators seeded from
//!   the seed, one per [`Stream`], so draws on one stream never shift
//!   another (a user's extra `random_u64` does not change the schedule).
//! * Task ids of a deterministic scheduler are per run: 1, 2, 3, ... in
//!   spawn order, so a re-run of a seed sees the same ids, whatever ran
//!   before it in the process.
//! * The trace hash folds events as `h = splitmix64(h ^ word)` over `u64`
//!   words (stable across Rust versions and platforms). Only per-run data
//!   enters it: per-run task ids, virtual nanoseconds since the origin,
//!   counts and kinds; never addresses, real instants, process-global ids
//!   or names.
//! * The failure slot keeps the first failure of a run; later ones are
//!   only counted (`failures`), and each recorded failure stops the loop
//!   that was running when it was recorded (`det_loop.rs`).
//! * `failed` holds the record of every task that ended in a panic until
//!   its panic is taken (joined) or nothing else holds the record; in the
//!   latter case nobody can ever join it, and the run fails with
//!   [`DetFailure::UnjoinedPanic`]. The check runs after every task run
//!   and once at the end of the run, so production task records pay
//!   nothing for it (no `Drop` on the record).
//! * Groups partition a run's tasks (the hosts of a `fibrio::sim::Sim`):
//!   group 0 is the root; every task belongs to exactly one group for its
//!   whole life, the group that was current when it was spawned (its
//!   spawner's, or the one `task::det::with_group` chose). A group's live
//!   count is the number of its tasks spawned and not yet finished, and
//!   its waiters are woken exactly when that count reaches zero.
//! * The thread-local `ACTIVE` points at the `DetState` of the
//!   deterministic scheduler whose `block_on` runs on this thread, and is
//!   null otherwise; the guard that sets it clears it on every way out.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::SchedulerError;
use super::record::ErasedTask;
use super::state::{TaskState, WaitReason};
use super::table::TaskKey;

/// One step of SplitMix64 (Steele, Lea, Flood 2014): a bijective mixer of
/// `u64`s, used both as the random generator and as the trace hash's fold.
#[inline]
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A SplitMix64 random generator: tiny, fast, and the same on every
/// platform.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by Lemire's multiply-shift (the tiny
    /// bias is irrelevant for scheduling).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The independent random streams of a deterministic run. Each is seeded
/// from the run's seed alone, so drawing from one never changes what
/// another yields.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::Stream;
///
/// assert_ne!(Stream::Net, Stream::User);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Stream {
    /// Scheduling. The run-queue policy is seeded from this stream when
    /// the scheduler is built; draws through `task::det::random_u64` come
    /// from a sub-stream of its own, so they never shift the policy.
    Schedule,
    /// The simulated network: latencies, drops.
    Net,
    /// The program under test (`fibrio::sim::random_u64`, retry jitter).
    User,
}

impl Stream {
    const ALL: [Stream; 3] = [Stream::Schedule, Stream::Net, Stream::User];

    fn index(self) -> usize {
        match self {
            Stream::Schedule => 0,
            Stream::Net => 1,
            Stream::User => 2,
        }
    }

    /// The seed of this stream for a run seeded `seed`.
    pub(crate) fn seed_for(self, seed: u64) -> u64 {
        const KEYS: [u64; 3] = [
            0x243F_6A88_85A3_08D3, // pi
            0x1319_8A2E_0370_7344,
            0xA409_3822_299F_31D0,
        ];
        splitmix64(seed ^ KEYS[self.index()])
    }
}

/// Which schedule policy a deterministic scheduler uses to pick the next
/// runnable task at every pop of its run queue.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::PolicySpec;
///
/// // The seed alone picks the policy and its parameters.
/// assert_eq!(PolicySpec::from_seed(7), PolicySpec::from_seed(7));
/// let fifo = PolicySpec::Deviations(Vec::new()); // plain FIFO
/// assert_ne!(fifo, PolicySpec::Random);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicySpec {
    /// A uniformly random runnable task at every pop.
    Random,
    /// Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010):
    /// random task priorities, the highest-priority runnable task runs,
    /// and at `depth - 1` random pops (among the first `steps_hint`) the
    /// running task's priority drops below every other.
    Pct {
        /// The bug depth the policy targets: `depth - 1` change points.
        depth: u32,
        /// How many pops the change points are drawn from.
        steps_hint: u64,
    },
    /// FIFO, except at the listed pops: `(step, pick)` runs the runnable
    /// task at index `pick` (oldest first, clamped to the last) at pop
    /// number `step` (counted from 0). Steps past the run's end are
    /// ignored; an empty list is plain FIFO.
    Deviations(Vec<(u64, u32)>),
}

/// Limits and seed of a deterministic run.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_core::scheduler::DetConfig;
///
/// let config = DetConfig::new(42)
///     .max_virtual_time(Duration::from_secs(60))
///     .max_steps(1_000_000);
/// assert_eq!(config.seed, 42);
/// assert_eq!(config.max_virtual_time, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DetConfig {
    /// The seed of every random stream.
    pub seed: u64,
    /// The schedule policy; [`DetConfig::new`] derives it from the seed.
    pub policy: PolicySpec,
    /// The run fails with [`DetFailure::TimeLimit`] when virtual time would
    /// pass this much since the start. Default 24 hours.
    pub max_virtual_time: Duration,
    /// The run fails with [`DetFailure::TimeLimit`] after this many task
    /// runs (a livelock guard: a task that yields forever never lets
    /// virtual time move). Default 50,000,000.
    pub max_steps: u64,
}

impl DetConfig {
    /// The defaults for `seed`: the policy [`PolicySpec::from_seed`]`(seed)`,
    /// 24 hours of virtual time, 50,000,000 steps.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{DetConfig, PolicySpec};
    ///
    /// assert_eq!(DetConfig::new(3).policy, PolicySpec::from_seed(3));
    /// ```
    pub fn new(seed: u64) -> DetConfig {
        DetConfig {
            seed,
            policy: PolicySpec::from_seed(seed),
            max_virtual_time: Duration::from_secs(24 * 3600),
            max_steps: 50_000_000,
        }
    }

    /// Replaces the policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{DetConfig, PolicySpec};
    ///
    /// let config = DetConfig::new(3).policy(PolicySpec::Random);
    /// assert_eq!(config.policy, PolicySpec::Random);
    /// ```
    pub fn policy(mut self, policy: PolicySpec) -> DetConfig {
        self.policy = policy;
        self
    }

    /// Replaces the virtual-time limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::scheduler::DetConfig;
    ///
    /// let config = DetConfig::new(0).max_virtual_time(Duration::from_secs(1));
    /// assert_eq!(config.max_virtual_time, Duration::from_secs(1));
    /// ```
    pub fn max_virtual_time(mut self, limit: Duration) -> DetConfig {
        self.max_virtual_time = limit;
        self
    }

    /// Replaces the step limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::DetConfig;
    ///
    /// assert_eq!(DetConfig::new(0).max_steps(10).max_steps, 10);
    /// ```
    pub fn max_steps(mut self, limit: u64) -> DetConfig {
        self.max_steps = limit;
        self
    }
}

/// What a deterministic run did: the same seed and program give the same
/// figures.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DetConfig, NotifyDriver, Scheduler, SchedulerConfig};
///
/// let run = || {
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(9))
///         .block_on_deterministic(|| fibrio_core::task::spawn(|| 1).join().unwrap())
///         .1
/// };
/// let (a, b) = (run(), run());
/// assert_eq!(a, b);
/// assert_eq!(a.steps, 3); // main, the child, main again
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DetStats {
    /// Task runs (pops of the run queue that ran a task).
    pub steps: u64,
    /// Virtual time from the start to the end of the run.
    pub virtual_elapsed: Duration,
    /// A hash of the run's events (spawns, runs, parks, yields, ends, time
    /// advances): two runs with the same hash ran the same schedule.
    pub trace_hash: u64,
}

/// One task in a [`DeadlockReport`].
///
/// # Examples
///
/// See [`DeadlockReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskWait {
    /// The task's per-run id.
    pub id: u64,
    /// The task's name, if it has one.
    pub name: Option<Arc<str>>,
    /// The task's state (`Running`: it started; parked time counts as
    /// running).
    pub state: TaskState,
    /// True if the task is suspended in `park` waiting for a wake-up (the
    /// usual case in a deadlock); false if it is suspended otherwise.
    pub parked: bool,
    /// What the task waits for, as its parking call recorded it: `Some`
    /// exactly when `parked` is true.
    pub wait: Option<WaitReason>,
    /// True if a cancellation was requested for the task and has not
    /// reached it (it is shielded, or parked where cancellation does not
    /// wake it).
    pub cancel_requested: bool,
    /// The name of the task's group (a simulated host), `None` for the
    /// root group.
    pub group: Option<Arc<str>>,
}

/// Every task alive when a deterministic run deadlocked: nothing was
/// runnable, no timer was pending and the driver had nothing in flight.
/// Tasks are listed in the order of their slots in the task table.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DetConfig, DetFailure, NotifyDriver, Scheduler, SchedulerConfig};
/// use fibrio_core::task::WaitReason;
///
/// let (result, _) =
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(1))
///         .block_on_deterministic(|| fibrio_core::task::park().unwrap());
/// let Err(DetFailure::Deadlock(report)) = result else { panic!("expected a deadlock") };
/// assert_eq!(report.tasks.len(), 1);
/// assert_eq!(report.tasks[0].name.as_deref(), Some("main"));
/// assert_eq!(report.tasks[0].wait, Some(WaitReason::PARK));
/// assert!(report.to_string().contains("task 1 \"main\": waits for an unpark"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadlockReport {
    /// Virtual time from the start to the deadlock.
    pub virtual_elapsed: Duration,
    /// Task runs before the deadlock.
    pub steps: u64,
    /// Every live task.
    pub tasks: Vec<TaskWait>,
}

impl fmt::Display for DeadlockReport {
    /// One line per task: `task 5 "main": waits for a Mutex held by task 9
    /// (mutex#1)`. Primitives are numbered per kind in order of first
    /// appearance (`mutex#1`, `channel#2`), so the text does not depend on
    /// where the allocator put them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "deadlock after {:?} of virtual time ({} steps): every task is parked, \
             no timer is pending and nothing is in flight",
            self.virtual_elapsed, self.steps
        )?;
        // (label, object) in order of first appearance; a deadlock report
        // has few tasks, so a linear search is fine.
        let mut seen: Vec<(&'static str, u64)> = Vec::new();
        for task in &self.tasks {
            write!(f, "\n  task {}", task.id)?;
            if let Some(name) = &task.name {
                write!(f, " {name:?}")?;
            }
            if let Some(group) = &task.group {
                write!(f, " on {group}")?;
            }
            // A deadlock means no timer is pending: no task has a deadline.
            match task.wait {
                Some(reason) => {
                    write!(f, ": waits for {reason}")?;
                    if reason.kind.object_is_primitive() {
                        let label = reason.kind.object_label();
                        let number = match seen
                            .iter()
                            .filter(|(l, _)| *l == label)
                            .position(|&(_, o)| o == reason.object)
                        {
                            Some(i) => i + 1,
                            None => {
                                seen.push((label, reason.object));
                                seen.iter().filter(|(l, _)| *l == label).count()
                            }
                        };
                        write!(f, " ({label}#{number})")?;
                    }
                }
                None if task.parked => write!(f, ": parked")?,
                None => write!(f, ": suspended, not parked")?,
            }
            if task.cancel_requested {
                write!(f, ", cancellation requested but shielded")?;
            }
        }
        Ok(())
    }
}

/// Why a deterministic run failed.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DetConfig, DetFailure, NotifyDriver, Scheduler, SchedulerConfig};
///
/// let (result, _) =
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(1))
///         .block_on_deterministic(|| -> () { panic!("planned") });
/// let failure = result.unwrap_err();
/// assert!(matches!(failure, DetFailure::MainPanicked(_)));
/// assert_eq!(failure.to_string(), "the main task panicked: planned");
/// ```
#[non_exhaustive]
pub enum DetFailure {
    /// The main task panicked; the payload is kept.
    MainPanicked(Box<dyn Any + Send + 'static>),
    /// The scheduler failed: nested inside another, main's stack could not
    /// be mapped, or main was cancelled.
    Scheduler(SchedulerError),
    /// Every task was parked with nothing that could wake one.
    Deadlock(DeadlockReport),
    /// Virtual time would have passed [`DetConfig::max_virtual_time`], or
    /// the run took more than [`DetConfig::max_steps`] steps.
    #[non_exhaustive]
    TimeLimit {
        /// Virtual time when the limit was hit.
        elapsed: Duration,
        /// Task runs when the limit was hit.
        steps: u64,
    },
    /// A task panicked and nobody joined it: its outcome was dropped
    /// untaken (a detached task's failed assertion fails the run).
    #[non_exhaustive]
    UnjoinedPanic {
        /// The task's per-run id.
        task: u64,
        /// The task's name, if it has one.
        name: Option<Arc<str>>,
        /// The name of the task's group (a simulated host), `None` for the
        /// root group.
        group: Option<Arc<str>>,
        /// The panic's message.
        message: String,
    },
}

impl fmt::Debug for DetFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetFailure::MainPanicked(payload) => f
                .debug_tuple("MainPanicked")
                .field(&crate::fiber::payload_message(payload))
                .finish(),
            DetFailure::Scheduler(err) => f.debug_tuple("Scheduler").field(err).finish(),
            DetFailure::Deadlock(report) => f.debug_tuple("Deadlock").field(report).finish(),
            DetFailure::TimeLimit { elapsed, steps } => f
                .debug_struct("TimeLimit")
                .field("elapsed", elapsed)
                .field("steps", steps)
                .finish(),
            DetFailure::UnjoinedPanic {
                task,
                name,
                group,
                message,
            } => f
                .debug_struct("UnjoinedPanic")
                .field("task", task)
                .field("name", name)
                .field("group", group)
                .field("message", message)
                .finish(),
        }
    }
}

impl fmt::Display for DetFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetFailure::MainPanicked(payload) => write!(
                f,
                "the main task panicked: {}",
                crate::fiber::payload_message(payload)
            ),
            DetFailure::Scheduler(err) => write!(f, "the scheduler failed: {err}"),
            DetFailure::Deadlock(report) => write!(f, "{report}"),
            DetFailure::TimeLimit { elapsed, steps } => write!(
                f,
                "the run hit its limit after {elapsed:?} of virtual time and {steps} steps \
                 (max_virtual_time or max_steps; a task that never parks keeps virtual time from moving)"
            ),
            DetFailure::UnjoinedPanic {
                task,
                name,
                group,
                message,
            } => {
                write!(f, "task {task}")?;
                if let Some(name) = name {
                    write!(f, " {name:?}")?;
                }
                if let Some(group) = group {
                    write!(f, " on {group}")?;
                }
                write!(f, " panicked and nobody joined it: {message}")
            }
        }
    }
}

impl std::error::Error for DetFailure {}

/// Trace event tags (the first word of each event).
pub(crate) mod tag {
    pub(crate) const SPAWN: u64 = 1;
    pub(crate) const RUN: u64 = 2;
    pub(crate) const PARK: u64 = 3;
    pub(crate) const YIELD: u64 = 4;
    pub(crate) const FINISH: u64 = 5;
    pub(crate) const ADVANCE: u64 = 6;
    pub(crate) const FIRE: u64 = 7;
    pub(crate) const EXTERNAL: u64 = 8;
    /// Events from higher crates (`task::det::trace`) start here.
    pub(crate) const USER_BASE: u64 = 1 << 32;
}

/// The per-run state of a deterministic scheduler (see the module's
/// invariants).
pub(crate) struct DetState {
    pub(crate) config: DetConfig,
    origin: Cell<Instant>,
    /// The Net and User streams, and the sub-stream of Schedule that
    /// `random_u64(Stream::Schedule)` draws from.
    streams: RefCell<[SplitMix64; 3]>,
    trace: Cell<u64>,
    steps: Cell<u64>,
    next_id: Cell<u64>,
    failure: RefCell<Option<DetFailure>>,
    /// Failures recorded, the first included.
    failures: Cell<u64>,
    /// The records of tasks that panicked, kept until their outcome is
    /// taken or nothing else holds them (`check_unjoined`).
    failed: RefCell<Vec<Rc<dyn ErasedTask>>>,
    /// The groups, indexed by group id; 0 is the root.
    groups: RefCell<Vec<Group>>,
    /// Each task's group, indexed by per-run task id (index 0 unused).
    task_groups: RefCell<Vec<u32>>,
    /// The group new tasks join: the running task's, or the one
    /// `with_group` set.
    current_group: Cell<u32>,
    /// Unique per run in the process (not part of the trace).
    run_id: u64,
}

/// The next deterministic run's `run_id`.
static NEXT_RUN_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// A group of tasks (a simulated host).
struct Group {
    name: Option<Arc<str>>,
    /// Tasks spawned in the group and not yet finished.
    live: usize,
    /// Tasks waiting for `live` to reach zero.
    waiters: Vec<TaskKey>,
}

impl DetState {
    pub(crate) fn new(config: DetConfig) -> DetState {
        let streams = Stream::ALL.map(|stream| {
            // The Schedule stream's own seed goes to the policy; the
            // helpers draw from a distinct sub-stream.
            let seed = stream.seed_for(config.seed);
            SplitMix64::new(if stream == Stream::Schedule {
                splitmix64(!seed)
            } else {
                seed
            })
        });
        DetState {
            config,
            origin: Cell::new(Instant::now()),
            streams: RefCell::new(streams),
            trace: Cell::new(0),
            steps: Cell::new(0),
            next_id: Cell::new(1),
            failure: RefCell::new(None),
            failures: Cell::new(0),
            failed: RefCell::new(Vec::new()),
            groups: RefCell::new(vec![Group {
                name: None,
                live: 0,
                waiters: Vec::new(),
            }]),
            task_groups: RefCell::new(vec![0]),
            current_group: Cell::new(0),
            run_id: NEXT_RUN_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// This run's id, unique in the process.
    pub(crate) fn run_id(&self) -> u64 {
        self.run_id
    }

    /// Adds a group named `name`; returns its id (1, 2, ... in order).
    pub(crate) fn add_group(&self, name: &str) -> u32 {
        let mut groups = self.groups.borrow_mut();
        groups.push(Group {
            name: Some(Arc::from(name)),
            live: 0,
            waiters: Vec::new(),
        });
        (groups.len() - 1) as u32
    }

    /// The group new tasks join now.
    pub(crate) fn current_group(&self) -> u32 {
        self.current_group.get()
    }

    /// Sets the group new tasks join; returns the previous one.
    pub(crate) fn set_current_group(&self, group: u32) -> u32 {
        self.current_group.replace(group)
    }

    /// The group of the task with per-run id `id` (0 if unknown).
    pub(crate) fn group_of(&self, id: u64) -> u32 {
        let groups = self.task_groups.borrow();
        groups.get(id as usize).copied().unwrap_or(0)
    }

    /// The name of group `group`, `None` for the root (or an unknown id).
    pub(crate) fn group_name(&self, group: u32) -> Option<Arc<str>> {
        let groups = self.groups.borrow();
        groups.get(group as usize).and_then(|g| g.name.clone())
    }

    /// True if `group` names a group of this run.
    pub(crate) fn has_group(&self, group: u32) -> bool {
        (group as usize) < self.groups.borrow().len()
    }

    /// Tasks of `group` spawned and not yet finished.
    pub(crate) fn group_live(&self, group: u32) -> usize {
        let groups = self.groups.borrow();
        groups.get(group as usize).map_or(0, |g| g.live)
    }

    /// Makes `key` a waiter of `group`, woken when its live count reaches
    /// zero. The caller checked that it is not zero now.
    pub(crate) fn wait_group(&self, group: u32, key: TaskKey) {
        if let Some(g) = self.groups.borrow_mut().get_mut(group as usize) {
            if !g.waiters.contains(&key) {
                g.waiters.push(key);
            }
        }
    }

    /// Forgets `key` as a waiter of `group` (its wait ended otherwise).
    pub(crate) fn unwait_group(&self, group: u32, key: TaskKey) {
        if let Some(g) = self.groups.borrow_mut().get_mut(group as usize) {
            g.waiters.retain(|k| *k != key);
        }
    }

    /// Records that the task `id` was spawned in the current group.
    fn joined_group(&self, id: u64) {
        let group = self.current_group.get();
        let mut task_groups = self.task_groups.borrow_mut();
        if task_groups.len() <= id as usize {
            task_groups.resize(id as usize + 1, 0);
        }
        task_groups[id as usize] = group;
        if let Some(g) = self.groups.borrow_mut().get_mut(group as usize) {
            g.live += 1;
        }
    }

    /// Records that the task `id` finished; returns the waiters to wake if
    /// its group is now empty.
    pub(crate) fn left_group(&self, id: u64) -> Vec<TaskKey> {
        let group = self.group_of(id);
        let mut groups = self.groups.borrow_mut();
        match groups.get_mut(group as usize) {
            Some(g) => {
                g.live = g.live.saturating_sub(1);
                if g.live == 0 {
                    std::mem::take(&mut g.waiters)
                } else {
                    Vec::new()
                }
            }
            None => Vec::new(),
        }
    }

    pub(crate) fn origin(&self) -> Instant {
        self.origin.get()
    }

    pub(crate) fn set_origin(&self, origin: Instant) {
        self.origin.set(origin);
    }

    pub(crate) fn random_u64(&self, stream: Stream) -> u64 {
        self.streams.borrow_mut()[stream.index()].next_u64()
    }

    /// The next per-run task id; the task joins the current group.
    pub(crate) fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        self.joined_group(id);
        id
    }

    /// Folds one event into the trace hash.
    pub(crate) fn trace(&self, words: &[u64]) {
        let mut h = self.trace.get();
        for &word in words {
            h = splitmix64(h ^ word);
        }
        self.trace.set(h);
    }

    pub(crate) fn steps(&self) -> u64 {
        self.steps.get()
    }

    /// Counts one task run.
    pub(crate) fn step(&self) -> u64 {
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        steps
    }

    /// Records `failure` (kept only if it is the run's first).
    pub(crate) fn fail(&self, failure: DetFailure) {
        self.failures.set(self.failures.get() + 1);
        let mut slot = self.failure.borrow_mut();
        if slot.is_none() {
            *slot = Some(failure);
        }
    }

    /// Failures recorded so far.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.get()
    }

    /// Keeps the record of a task that ended in a panic, to see whether
    /// anyone takes the panic.
    pub(crate) fn watch_failed(&self, record: Rc<dyn ErasedTask>) {
        self.failed.borrow_mut().push(record);
    }

    /// Fails the run for every watched task whose record nobody else holds
    /// any more while its panic is still in it: nobody joined it, and now
    /// nobody can. Records whose panic was taken are let go.
    pub(crate) fn check_unjoined(&self) {
        if self.failed.borrow().is_empty() {
            return;
        }
        let watched = std::mem::take(&mut *self.failed.borrow_mut());
        let mut kept = Vec::new();
        for record in watched {
            let Some(message) = record.untaken_panic() else {
                continue; // joined
            };
            if Rc::strong_count(&record) > 1 {
                kept.push(record); // a handle may still join it
                continue;
            }
            let header = record.header();
            self.trace(&[tag::FINISH, header.id(), u64::MAX]);
            self.fail(DetFailure::UnjoinedPanic {
                task: header.id(),
                name: header.name().cloned(),
                group: self.group_name(self.group_of(header.id())),
                message,
            });
        }
        self.failed.borrow_mut().extend(kept);
    }

    pub(crate) fn take_failure(&self) -> Option<DetFailure> {
        self.failure.borrow_mut().take()
    }

    pub(crate) fn stats(&self, now: Instant) -> DetStats {
        DetStats {
            steps: self.steps.get(),
            virtual_elapsed: now.saturating_duration_since(self.origin.get()),
            trace_hash: self.trace.get(),
        }
    }
}

thread_local! {
    static ACTIVE: Cell<*const DetState> = const { Cell::new(std::ptr::null()) };
}

/// Makes `state` this thread's active deterministic state until dropped.
pub(crate) struct Activate {
    previous: *const DetState,
}

impl Activate {
    /// `state` must stay at its address, alive, until this guard is dropped
    /// (the scheduler keeps it boxed and holds it for the whole
    /// `block_on`).
    pub(crate) fn new(state: &DetState) -> Activate {
        let previous = ACTIVE.with(|active| active.replace(state));
        Activate { previous }
    }
}

impl Drop for Activate {
    fn drop(&mut self) {
        let _ = ACTIVE.try_with(|active| active.set(self.previous));
    }
}

/// Calls `f` with this thread's active deterministic state, if any.
#[inline]
pub(crate) fn with_active<R>(f: impl FnOnce(&DetState) -> R) -> Option<R> {
    let ptr = ACTIVE.try_with(Cell::get).ok()?;
    if ptr.is_null() {
        return None;
    }
    // SAFETY: a non-null ACTIVE was set by `Activate::new` from a
    // `DetState` that its owner keeps alive and in place until the guard
    // is dropped, which resets ACTIVE first; everything here runs on this
    // thread, inside that span.
    Some(f(unsafe { &*ptr }))
}

/// True while a deterministic scheduler runs on this thread.
#[inline]
pub(crate) fn is_active() -> bool {
    ACTIVE
        .try_with(|active| !active.get().is_null())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_values() {
        // The first outputs of SplitMix64 seeded 1234567 (Vigna's C code).
        let mut rng = SplitMix64::new(1234567);
        assert_eq!(rng.next_u64(), 6457827717110365317);
        assert_eq!(rng.next_u64(), 3203168211198807973);
    }

    #[test]
    fn streams_are_independent() {
        let a = DetState::new(DetConfig::new(5));
        let b = DetState::new(DetConfig::new(5));
        for _ in 0..10 {
            a.random_u64(Stream::User);
        }
        assert_eq!(a.random_u64(Stream::Net), b.random_u64(Stream::Net));
        assert_ne!(Stream::Net.seed_for(5), Stream::User.seed_for(5));
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = SplitMix64::new(9);
        for n in 1..50 {
            assert!(rng.below(n) < n);
        }
    }

    #[test]
    fn only_the_first_failure_is_kept() {
        let state = DetState::new(DetConfig::new(0));
        state.fail(DetFailure::TimeLimit {
            elapsed: Duration::ZERO,
            steps: 1,
        });
        state.fail(DetFailure::TimeLimit {
            elapsed: Duration::ZERO,
            steps: 2,
        });
        assert_eq!(state.failures(), 2);
        assert!(matches!(
            state.take_failure(),
            Some(DetFailure::TimeLimit { steps: 1, .. })
        ));
    }
}
