//! Helpers for the crates above core (the reactor's simulated network,
//! `fibrio::sim`, retry jitter) to take part in a deterministic run. Not a
//! public API: hidden from the docs, and free to change with fibrio's
//! internals.
//!
//! # Invariants
//!
//! * Each helper costs one thread-local check outside a deterministic run
//!   and then does nothing (or returns `None`/`false`), so production code
//!   may call them on any path.
//! * Inside a run, every helper's effect is a function of the run's seed
//!   and of the program, so calling them keeps the run replayable.

use std::time::Duration;

pub use crate::scheduler::Stream;
use crate::scheduler::{clock_now, det_active, det_tag, with_det};

/// True while a deterministic scheduler runs on this thread.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DetConfig, NotifyDriver, Scheduler, SchedulerConfig};
/// use fibrio_core::task::det;
///
/// assert!(!det::active());
/// let (inside, _) =
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(0))
///         .block_on_deterministic(det::active);
/// assert!(inside.unwrap());
/// ```
#[inline]
pub fn active() -> bool {
    det_active()
}

/// The next number of the run's random `stream`, or `None` outside a
/// deterministic run. The same seed gives the same sequence per stream,
/// whatever is drawn from the others.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DetConfig, NotifyDriver, Scheduler, SchedulerConfig};
/// use fibrio_core::task::det::{self, Stream};
///
/// assert_eq!(det::random_u64(Stream::User), None);
/// let draw = || {
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(8))
///         .block_on_deterministic(|| det::random_u64(Stream::User).unwrap())
///         .0
///         .unwrap()
/// };
/// assert_eq!(draw(), draw());
/// ```
pub fn random_u64(stream: Stream) -> Option<u64> {
    with_det(|state| state.random_u64(stream))
}

/// Virtual time since the deterministic run started, or `None` outside
/// one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_core::scheduler::{DetConfig, NotifyDriver, Scheduler, SchedulerConfig};
/// use fibrio_core::task::det;
///
/// assert_eq!(det::elapsed(), None);
/// let (elapsed, _) =
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(0))
///         .block_on_deterministic(|| {
///             fibrio_core::task::sleep(Duration::from_secs(5));
///             det::elapsed().unwrap()
///         });
/// assert_eq!(elapsed.unwrap(), Duration::from_secs(5));
/// ```
pub fn elapsed() -> Option<Duration> {
    with_det(|state| clock_now().saturating_duration_since(state.origin()))
}

/// Folds an event of a higher crate (`tag` and two words) into the run's
/// trace hash; does nothing outside a deterministic run. Tags of higher
/// crates live in their own range, so they never collide with the
/// kernel's events. Pass only per-run data (per-run task ids, virtual
/// nanoseconds, counts), never addresses or real instants.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DetConfig, NotifyDriver, Scheduler, SchedulerConfig};
/// use fibrio_core::task::det;
///
/// let hash = |word| {
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(0))
///         .block_on_deterministic(|| det::trace(1, word, 0))
///         .1
///         .trace_hash
/// };
/// assert_eq!(hash(1), hash(1));
/// assert_ne!(hash(1), hash(2));
/// ```
pub fn trace(tag: u64, a: u64, b: u64) {
    with_det(|state| state.trace(&[det_tag::USER_BASE | tag, a, b]));
}

/// In a deterministic run, a scheduling point: the running task goes to
/// the back of the run queue and the schedule policy picks who runs next.
/// Unlike [`yield_now`](super::yield_now) it is no cancellation
/// checkpoint, so a completed operation is not undone by a cancellation
/// (`spawn_blocking` run inline uses it). Does nothing outside a
/// deterministic run, outside a task, or while unwinding.
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use fibrio_core::scheduler::{DetConfig, NotifyDriver, PolicySpec, Scheduler, SchedulerConfig};
/// use fibrio_core::task::{self, det};
///
/// det::schedule_point(); // outside a run: nothing
/// let fifo = DetConfig::new(0).policy(PolicySpec::Deviations(Vec::new()));
/// let (order, _) = Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), fifo)
///     .block_on_deterministic(|| {
///         let order = Rc::new(RefCell::new(Vec::new()));
///         let child = task::spawn({
///             let order = order.clone();
///             move || order.borrow_mut().push("child")
///         });
///         det::schedule_point(); // FIFO: the child runs first
///         order.borrow_mut().push("main");
///         child.join().unwrap();
///         order.take()
///     });
/// assert_eq!(order.unwrap(), ["child", "main"]);
/// ```
pub fn schedule_point() {
    if det_active() {
        crate::scheduler::schedule_point();
    }
}

/// Adds a group of tasks (a simulated host) named `name` to the running
/// deterministic run and returns its id (1, 2, ... in order; 0 is the
/// root group every task starts in). `None` outside a run.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DetConfig, NotifyDriver, Scheduler, SchedulerConfig};
/// use fibrio_core::task::{self, det};
///
/// assert_eq!(det::add_group("server"), None);
/// let (groups, _) =
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(0))
///         .block_on_deterministic(|| {
///             let server = det::add_group("server").unwrap();
///             let child = det::with_group(server, || task::spawn(|| det::current_group()));
///             (det::current_group(), child.join().unwrap(), det::group_name(server))
///         });
/// let (main, child, name) = groups.unwrap();
/// assert_eq!((main, child), (Some(0), Some(1)));
/// assert_eq!(name.as_deref(), Some("server"));
/// ```
pub fn add_group(name: &str) -> Option<u32> {
    with_det(|state| state.add_group(name))
}

/// The group that tasks spawned now join: the running task's own group,
/// or the one [`with_group`] set. `None` outside a deterministic run.
///
/// # Examples
///
/// See [`add_group`].
pub fn current_group() -> Option<u32> {
    with_det(|state| state.current_group())
}

/// The name given to `group` by [`add_group`]; `None` for the root group,
/// an unknown id, or outside a deterministic run.
///
/// # Examples
///
/// See [`add_group`].
pub fn group_name(group: u32) -> Option<std::sync::Arc<str>> {
    with_det(|state| state.group_name(group)).flatten()
}

/// Runs `f` with `group` as the group that tasks spawned meanwhile join
/// (and that [`current_group`] reports), then restores the previous one,
/// also when `f` panics. Outside a deterministic run, or for an unknown
/// group, it just runs `f`.
///
/// # Examples
///
/// See [`add_group`].
pub fn with_group<R>(group: u32, f: impl FnOnce() -> R) -> R {
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            with_det(|state| state.set_current_group(self.0));
        }
    }
    let previous = with_det(|state| {
        if state.has_group(group) {
            Some(state.set_current_group(group))
        } else {
            None
        }
    })
    .flatten();
    let _restore = previous.map(Restore);
    f()
}

/// Tasks of `group` spawned and not yet finished (0 outside a
/// deterministic run).
///
/// # Examples
///
/// See [`cancel_group`].
pub fn group_len(group: u32) -> usize {
    with_det(|state| state.group_live(group)).unwrap_or(0)
}

/// Requests cancellation of every live task of `group`, the caller
/// included if it belongs to it (it unwinds at its next checkpoint).
/// Returns false outside a deterministic run.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DetConfig, NotifyDriver, Scheduler, SchedulerConfig};
/// use fibrio_core::task::{self, det};
///
/// let (result, _) =
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(0))
///         .block_on_deterministic(|| {
///             let host = det::add_group("host").unwrap();
///             let tasks: Vec<_> =
///                 (0..3).map(|_| det::with_group(host, || task::spawn(|| task::park()))).collect();
///             task::yield_now(); // they start and park
///             assert_eq!(det::group_len(host), 3);
///             assert!(det::cancel_group(host));
///             det::wait_group_empty(host).unwrap();
///             tasks.into_iter().all(|t| t.join().is_err())
///         });
/// assert!(result.unwrap());
/// ```
pub fn cancel_group(group: u32) -> bool {
    crate::scheduler::cancel_group(group)
}

/// Parks the current task until `group` has no live task; returns at once
/// if it has none (or outside a deterministic run). A task of `group`
/// itself would wait for its own end: a deadlock the run reports.
///
/// # Errors
///
/// [`ParkError`](crate::scheduler::ParkError) outside a task or while
/// unwinding, as [`park`](super::park).
///
/// # Cancellation
///
/// A checkpoint while it waits.
///
/// # Examples
///
/// See [`cancel_group`].
pub fn wait_group_empty(group: u32) -> Result<(), crate::scheduler::ParkError> {
    use crate::scheduler::{WaitKind, WaitReason};
    loop {
        if group_len(group) == 0 {
            return Ok(());
        }
        let Some(key) = super::current_key() else {
            return Err(crate::scheduler::ParkError::OutsideTask);
        };
        with_det(|state| state.wait_group(group, key));
        struct Unwait(u32, crate::scheduler::TaskKey);
        impl Drop for Unwait {
            fn drop(&mut self) {
                with_det(|state| state.unwait_group(self.0, self.1));
            }
        }
        let _unwait = Unwait(group, key);
        super::park_for(WaitReason::new(WaitKind::SimKeeper, u64::from(group)), None)?;
    }
}

/// The seed of the running deterministic run, or `None` outside one.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DetConfig, NotifyDriver, Scheduler, SchedulerConfig};
/// use fibrio_core::task::det;
///
/// assert_eq!(det::seed(), None);
/// let (seed, _) =
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(77))
///         .block_on_deterministic(det::seed);
/// assert_eq!(seed.unwrap(), Some(77));
/// ```
pub fn seed() -> Option<u64> {
    with_det(|state| state.config.seed)
}

/// The run's figures so far (steps, virtual time, trace hash), or `None`
/// outside a deterministic run.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DetConfig, NotifyDriver, Scheduler, SchedulerConfig};
/// use fibrio_core::task::det;
///
/// assert!(det::stats().is_none());
/// let (steps, _) =
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(1))
///         .block_on_deterministic(|| det::stats().unwrap().steps);
/// assert_eq!(steps.unwrap(), 1); // main is running its first step
/// ```
pub fn stats() -> Option<crate::scheduler::DetStats> {
    with_det(|state| state.stats(clock_now()))
}

/// An id of the running deterministic run, unique in the process (two
/// runs of one seed get different ids), or `None` outside a run: a key
/// for state a higher crate keeps per run. Never part of the trace.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DetConfig, NotifyDriver, Scheduler, SchedulerConfig};
/// use fibrio_core::task::det;
///
/// assert_eq!(det::run_id(), None);
/// let id = || {
///     Scheduler::deterministic(SchedulerConfig::default(), Box::new(NotifyDriver::new()), DetConfig::new(1))
///         .block_on_deterministic(|| det::run_id().unwrap())
///         .0
///         .unwrap()
/// };
/// assert_ne!(id(), id());
/// ```
pub fn run_id() -> Option<u64> {
    with_det(|state| state.run_id())
}
