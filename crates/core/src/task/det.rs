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
