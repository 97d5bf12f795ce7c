//! The task kernel: one thread, one run queue, tasks on their own stacks,
//! the timers, and the task record the kernel owns.
//!
//! A [`Scheduler`] owns a [`Driver`] (the reactor, or a fake one in tests)
//! and runs tasks until the task given to [`Scheduler::block_on`] ends.
//! Tasks run until they park or yield; every [`SchedulerConfig::driver_interval`]
//! task runs the driver is polled without blocking, so I/O and timers are
//! never starved by a busy run queue. When nothing is runnable, the driver
//! blocks until the next timer, I/O, or a notification from another
//! thread.
//!
//! The public task API (`crate::task`) is built on this module and
//! re-exports its types; nothing here uses it.
//!
//! # Inside the kernel (each file uses only those above it)
//!
//! | file | owns |
//! |---|---|
//! | `state.rs`, `stats.rs`, `error.rs`, `config.rs` | plain data: [`TaskState`], [`TaskStats`], the errors, [`SchedulerConfig`] |
//! | `clock.rs` | the runtime's clock: std's, or the virtual one of a deterministic scheduler |
//! | `table.rs` | [`TaskKey`] and the slot table of tasks |
//! | `driver.rs` | the [`Driver`] seam to the reactor |
//! | `remote.rs` | the cross-thread inbox and [`Unparker`]'s data |
//! | `timers.rs` | [`TimerQueue`], every deadline of the runtime |
//! | `run_queue.rs` | the runnable tasks and the scheduling-policy seam |
//! | `cancel.rs` | cancel-scope state and a task's scope frames |
//! | `record.rs` | the task record (`TaskHeader`): its fields and legal transitions |
//! | `det.rs` | the deterministic kernel's data: [`DetConfig`], [`PolicySpec`], [`DetStats`], [`DetFailure`], random streams, per-run ids, trace hash, the records of panicked tasks |
//! | `policy.rs` | the seeded schedule policies (random, PCT, deviations) |
//! | `prefetch.rs`, `watchdog.rs` | cache prefetching, the blocked-task watchdog |
//! | `inner.rs` | `SchedulerInner`'s fields and construction, the thread's current scheduler (`SCHEDULER`) |
//! | `spawn.rs`, `wake.rs`, `park.rs` | spawning; waking and cancelling (`unpark`, [`Unparker`]'s methods); parking and yielding the running task |
//! | `det_loop.rs` | the deterministic loop: virtual time, the step and time limits, the deadlock report, groups |
//! | `introspection.rs` | dumps, metrics, health, the production deadlock check |
//! | `main_slot.rs` | main's closure and value on `block_on`'s frame, and the guard that ends main |
//! | `run.rs` | the loop: `block_on`, running tasks, the driver's turn, the inbox, a task's end |
//! | `handle.rs`, `notify_driver.rs` | [`Handle`] (spawns, dumps, metrics, health from any thread), [`NotifyDriver`] |
//! | `dump.rs`, `metrics.rs`, `observer.rs` | [`TaskDump`], [`RuntimeMetrics`] and the counters behind them, [`Observer`] |
//!
//! # Invariants
//!
//! * While `block_on` runs, the thread-local `SCHEDULER` (`inner.rs`) points
//!   at its scheduler; it is null otherwise. Tasks only run inside
//!   `block_on`, so a task always finds its scheduler.
//! * `running` is the header of the task being run, or null while the
//!   scheduler's own loop runs. Only `run_task` sets it.
//! * Each wake-up has one path: whoever wakes a task (the driver through
//!   its `woken` list, a fired timer, an [`Unparker`], a finished task's
//!   joiners, a cancellation) ends in `SchedulerInner::unpark`, which
//!   queues the task if it is parked or leaves it a token.
//! * Every deadline (`sleep`, `park_until`, scope deadlines, every timeout
//!   above) is one entry in the scheduler's [`TimerQueue`], armed by the
//!   parking task and removed when it runs again.
//! * No `RefCell` borrow of the scheduler is held across a switch into a
//!   task or a call into the driver: tasks may call back into the
//!   scheduler (spawn, unpark).
//! * The clock is read once per driver turn (`now`), and task timestamps
//!   use that reading: they are at or before the event, by at most one
//!   turn (up to `driver_interval` task runs, or one task that runs long
//!   without parking).
//! * After the main task ends, every other task is cancelled and the loop
//!   runs until the table is empty: no task outlives `block_on`.
//! * A deterministic scheduler ([`Scheduler::deterministic`]) runs the
//!   same loop on virtual time: it never blocks; the clock (`clock.rs`)
//!   moves only when no task is runnable and the inbox is empty, straight
//!   to the next timer or driver event; nothing to move to is a deadlock.
//!   Its run queue is ordered by a seeded policy, chosen at every pop (the
//!   only scheduling points: no switch at spawn or wake-up). A production
//!   scheduler pays for this with one branch per `run_until` call, per
//!   spawn (the task id) and per task end (the unjoined-panic watch), and
//!   one thread-local load per clock read.
//! * Observability costs the switch path nothing it does not need: the
//!   metrics are `Cell` counters on this thread (`metrics.rs`), the
//!   observer is one branch per event site when unset, and the task a
//!   runtime runs is published with a relaxed store per switch in and out
//!   (and the time of each driver turn with one per turn), so that a
//!   [`Handle`] can name a task that blocks the thread.
//! * A production scheduler that finds nothing runnable, an empty inbox
//!   and no timer looks for a deadlock (`introspection.rs`,
//!   `check_deadlock`): it reports only a certain one (every task parked
//!   on a join or a lock that only another parked task can release), once.
//! * A [`TaskKey`] means nothing outside its runtime: task records carry
//!   their runtime's id, and handles kept from an earlier runtime never
//!   reach a task of a later one.

mod cancel;
mod clock;
mod config;
mod det;
mod det_loop;
mod driver;
mod dump;
mod error;
mod handle;
mod inner;
mod introspection;
mod main_slot;
mod metrics;
mod notify_driver;
mod observer;
mod park;
mod policy;
mod prefetch;
mod record;
mod remote;
mod run;
mod run_queue;
mod spawn;
mod state;
mod stats;
mod table;
mod timers;
mod wake;
mod watchdog;

pub use config::{DeadlockAction, SchedulerConfig};
pub use det::{DeadlockReport, DetConfig, DetFailure, DetStats, PolicySpec, Stream, TaskWait};
pub use driver::{Driver, DriverNotifier, DriverStats};
pub use dump::{DumpError, DumpOptions, SpawnLocation, TaskDump, TaskInfo, TaskStatus};
pub use error::{JoinError, ParkError, SchedulerError, SpawnError, TrySpawnError};
pub use handle::{dump, dump_with_stacks, metrics, Handle, RemoteJoinHandle};
pub use metrics::{Health, LatencyHistogram, RuntimeMetrics, LATENCY_BOUNDS_US, SAMPLE_EVERY};
pub use notify_driver::NotifyDriver;
pub use observer::{Observer, TaskEvent, TaskEventKind};
pub use remote::Unparker;
pub use state::{TaskState, WaitKind, WaitReason};
pub use stats::TaskStats;
pub use table::TaskKey;
pub use timers::{TimerId, TimerQueue};

pub(crate) use cancel::{FrameId, ScopeState};
pub(crate) use clock::now as clock_now;
pub(crate) use det::{is_active as det_active, tag as det_tag, with_active as with_det};
pub(crate) use det_loop::cancel_group;
pub(crate) use inner::{with_running, with_scheduler};
pub(crate) use park::{park_running, schedule_point, yield_running};
pub(crate) use record::{ErasedTask, Task, TaskHeader};
pub(crate) use spawn::spawn_here;
pub(crate) use wake::cancel_task;

/// A single-threaded scheduler and its driver.
///
/// # Examples
///
/// See [`Driver`] for a complete example with a minimal driver.
pub struct Scheduler {
    inner: std::rc::Rc<inner::SchedulerInner>,
}

impl Scheduler {
    /// A scheduler with `config` that parks in `driver`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
    ///
    /// let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    /// assert_eq!(scheduler.block_on(|| 2 + 2).unwrap(), 4);
    /// ```
    pub fn new(config: SchedulerConfig, driver: Box<dyn Driver>) -> Scheduler {
        Scheduler {
            inner: inner::SchedulerInner::new(config, driver),
        }
    }

    /// The driver's name.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
    ///
    /// let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    /// assert_eq!(scheduler.driver_name(), "notify");
    /// ```
    pub fn driver_name(&self) -> &'static str {
        self.inner.driver_name()
    }

    /// A handle that spawns onto this scheduler from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
    ///
    /// let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    /// let handle = scheduler.handle();
    /// let remote = std::thread::spawn(move || handle.spawn(|| "from a thread")).join().unwrap();
    /// assert_eq!(scheduler.block_on(move || remote.join()).unwrap().unwrap(), "from a thread");
    /// ```
    pub fn handle(&self) -> Handle {
        Handle::new(self.inner.remote())
    }

    /// Runs `main` as a task, with every task it spawns, until `main`
    /// returns; then cancels the tasks still alive and waits until they
    /// have unwound, and returns `main`'s value.
    ///
    /// `main` may borrow from its caller, and may return a borrowed value,
    /// as [`std::thread::scope`] allows: nothing of `main` runs after this
    /// call returns or unwinds. Tasks that `main` spawns must still be
    /// `'static`: only `main` can borrow.
    ///
    /// Why this is sound: main's task record, which [`TaskRef`]s and
    /// [`current`] can keep alive past this call, holds no borrow (main's
    /// closure and its value stay on this call's frame), and before this
    /// call is left on any path, main has ended or its stack has been
    /// unwound (or, during thread exit, leaked and never run again).
    ///
    /// [`TaskRef`]: crate::task::TaskRef
    /// [`current`]: crate::task::current
    ///
    /// # Errors
    ///
    /// [`SchedulerError::Nested`] inside another `block_on` on this thread,
    /// [`SchedulerError::Spawn`] if main's stack cannot be mapped, and
    /// [`SchedulerError::MainCancelled`] if main was cancelled.
    ///
    /// # Panics
    ///
    /// A panic in `main` is resumed here, after the other tasks have been
    /// cancelled and unwound. A panic of the scheduler's loop (its driver,
    /// say) comes out of here after main's stack has been unwound. On a
    /// [`deterministic`](Scheduler::deterministic) scheduler, a failure of
    /// the run other than main's panic (a deadlock, a limit, an unjoined
    /// panic) panics with its message; use
    /// [`block_on_deterministic`](Scheduler::block_on_deterministic) to get
    /// it as a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
    ///
    /// let mut words = vec!["fiber"];
    /// let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    /// let first: &str = scheduler
    ///     .block_on(|| {
    ///         words.push("task"); // borrows `words` mutably ...
    ///         words[0] // ... and returns a borrow of it
    ///     })
    ///     .unwrap();
    /// assert_eq!(first, "fiber");
    /// assert_eq!(words, ["fiber", "task"]);
    /// ```
    ///
    /// A task spawned inside cannot borrow the caller's locals:
    ///
    /// ```compile_fail,E0373
    /// use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
    ///
    /// let words = vec!["fiber"];
    /// let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    /// scheduler.block_on(|| {
    ///     fibrio_core::task::spawn(|| words.len()).join().unwrap()
    /// });
    /// ```
    pub fn block_on<'a, T: 'a>(self, main: impl FnOnce() -> T + 'a) -> Result<T, SchedulerError> {
        self.inner.block_on(main)
    }

    /// A deterministic scheduler for simulations: virtual time, the
    /// schedule chosen by `det`'s seeded policy, per-run task ids (1, 2,
    /// ... in spawn order), and no watchdog (`config.watchdog` is
    /// ignored: it measures real time). Run it with
    /// [`block_on_deterministic`](Scheduler::block_on_deterministic).
    ///
    /// Virtual time starts at the real instant `block_on_deterministic` is
    /// called and moves only when no task is runnable: then straight to
    /// the next timer, or to the driver's next event
    /// ([`Driver::poll_virtual`]). Every deadline of fibrio reads it
    /// ([`crate::time`]); `std::time::Instant::now()` does not.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::scheduler::{DetConfig, NotifyDriver, Scheduler, SchedulerConfig};
    /// use fibrio_core::time::Instant;
    ///
    /// let scheduler = Scheduler::deterministic(
    ///     SchedulerConfig::default(),
    ///     Box::new(NotifyDriver::new()),
    ///     DetConfig::new(7),
    /// );
    /// let (slept, stats) = scheduler.block_on_deterministic(|| {
    ///     let start = Instant::now();
    ///     fibrio_core::task::sleep(Duration::from_secs(3600)); // no real waiting
    ///     start.elapsed()
    /// });
    /// assert_eq!(slept.unwrap(), Duration::from_secs(3600));
    /// assert_eq!(stats.virtual_elapsed, Duration::from_secs(3600));
    /// ```
    pub fn deterministic(
        config: SchedulerConfig,
        driver: Box<dyn Driver>,
        det: DetConfig,
    ) -> Scheduler {
        Scheduler {
            inner: inner::SchedulerInner::new_deterministic(config, driver, det),
        }
    }

    /// Runs `main` on a deterministic scheduler (see
    /// [`deterministic`](Scheduler::deterministic)) as
    /// [`block_on`](Scheduler::block_on) does (`main` may borrow from the
    /// caller; the other tasks are cancelled and unwound when it returns),
    /// and returns its outcome with the run's [`DetStats`]. The same
    /// config, driver behaviour and program give the same result and the
    /// same stats.
    ///
    /// The run stops at its first failure, then cancels and unwinds every
    /// task as at the end of main; a second failure during that shutdown
    /// abandons it (the tasks left are unwound when the scheduler is
    /// dropped).
    ///
    /// # Errors
    ///
    /// The run's first failure: [`DetFailure::Deadlock`] (no task runnable,
    /// no timer pending, nothing in flight in the driver),
    /// [`DetFailure::TimeLimit`] ([`DetConfig::max_virtual_time`] or
    /// [`DetConfig::max_steps`]), [`DetFailure::UnjoinedPanic`] (a task
    /// panicked and its outcome was dropped untaken),
    /// [`DetFailure::MainPanicked`] (main's payload), or
    /// [`DetFailure::Scheduler`] (nested inside another scheduler, main
    /// cancelled, main's stack not mapped).
    ///
    /// # Panics
    ///
    /// Only if the scheduler's own loop panics (its driver, say), as
    /// [`block_on`](Scheduler::block_on) does; main's panic is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{DetConfig, DetFailure, NotifyDriver, Scheduler, SchedulerConfig};
    ///
    /// let run = |seed| {
    ///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(seed))
    ///         .block_on_deterministic(|| {
    ///             let children: Vec<_> = (0..4)
    ///                 .map(|i| fibrio_core::task::spawn(move || i))
    ///                 .collect();
    ///             children.into_iter().map(|c| c.join().unwrap()).sum::<i32>()
    ///         })
    /// };
    /// let (sum, stats) = run(5);
    /// assert_eq!(sum.unwrap(), 6);
    /// assert_eq!(run(5).1, stats); // same seed, same run
    ///
    /// // A detached task's panic fails the run.
    /// let (result, _) =
    ///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(1))
    ///         .block_on_deterministic(|| {
    ///             drop(fibrio_core::task::spawn(|| panic!("planned")));
    ///             // Parked until the child has run, whatever the schedule.
    ///             fibrio_core::task::sleep(std::time::Duration::from_secs(1));
    ///         });
    /// assert!(matches!(result, Err(DetFailure::UnjoinedPanic { .. })));
    /// ```
    pub fn block_on_deterministic<'a, T: 'a>(
        self,
        main: impl FnOnce() -> T + 'a,
    ) -> (Result<T, DetFailure>, DetStats) {
        self.inner.block_on_deterministic(main)
    }

    /// True on a thread that is inside [`block_on`](Scheduler::block_on).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!fibrio_core::scheduler::Scheduler::is_running_here());
    /// ```
    pub fn is_running_here() -> bool {
        inner::with_scheduler(|_| ()).is_some()
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("driver", &self.inner.driver_name())
            .finish_non_exhaustive()
    }
}
