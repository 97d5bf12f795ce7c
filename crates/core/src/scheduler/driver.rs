//! [`Driver`]: what the scheduler parks in when no task is runnable, and
//! [`DriverNotifier`], which wakes it from other threads.
//!
//! # Invariants
//!
//! * A driver wakes tasks only by handing their keys back to the scheduler
//!   (the `woken` list of [`Driver::park`]); it never calls into the
//!   scheduler while it parks. Timers are the scheduler's own: the
//!   `timeout` it passes already stops at the next deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::table::TaskKey;

/// Wakes a blocked [`Driver::park`] from any thread.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{Driver, NotifyDriver};
///
/// let driver = NotifyDriver::new();
/// let notifier = driver.notifier(); // Send + Sync: usable from any thread
/// std::thread::spawn(move || notifier.notify()).join().unwrap();
/// ```
pub trait DriverNotifier: Send + Sync {
    /// Makes the driver's current or next `park` return early.
    fn notify(&self);
}

/// What the scheduler parks in when no task is runnable: the reactor (I/O
/// readiness), or a fake in tests. `fibrio-core` knows nothing of I/O. The
/// scheduler owns the timers and passes a timeout that ends at the next
/// deadline; the driver reports the tasks that outside events woke by
/// pushing their keys onto `woken`.
///
/// # Examples
///
/// A driver with nothing to wait for, apart from notifications:
///
/// ```
/// use std::sync::{Arc, Condvar, Mutex};
/// use std::time::Duration;
/// use fibrio_core::scheduler::{Driver, DriverNotifier, Scheduler, SchedulerConfig, TaskKey};
///
/// #[derive(Default)]
/// struct Flag(Mutex<bool>, Condvar);
/// impl DriverNotifier for Flag {
///     fn notify(&self) {
///         *self.0.lock().unwrap() = true;
///         self.1.notify_one();
///     }
/// }
/// struct Idle(Arc<Flag>);
/// impl Driver for Idle {
///     fn name(&self) -> &'static str { "idle" }
///     fn park(&mut self, timeout: Option<Duration>, _woken: &mut Vec<TaskKey>) {
///         let mut set = self.0 .0.lock().unwrap();
///         if let Some(t) = timeout {
///             set = self.0 .1.wait_timeout_while(set, t, |s| !*s).unwrap().0;
///         } else {
///             while !*set { set = self.0 .1.wait(set).unwrap(); }
///         }
///         *set = false;
///     }
///     fn notifier(&self) -> Arc<dyn DriverNotifier> { self.0.clone() }
/// }
///
/// let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(Idle(Arc::default())));
/// let answer = scheduler.block_on(|| {
///     let child = fibrio_core::task::spawn(|| 6 * 7);
///     fibrio_core::task::sleep(Duration::from_millis(1)); // the scheduler's timer
///     child.join().unwrap()
/// });
/// assert_eq!(answer.unwrap(), 42);
/// ```
pub trait Driver {
    /// The driver's name, reported by the runtime (`"epoll"`, `"poll"`, ...).
    fn name(&self) -> &'static str;

    /// Waits for outside events for at most `timeout` (`None`: until one
    /// happens; `Some(ZERO)`: just look), and pushes onto `woken` the keys
    /// of the tasks they concern. Returns early when its [`DriverNotifier`]
    /// is notified.
    fn park(&mut self, timeout: Option<Duration>, woken: &mut Vec<TaskKey>);

    /// A handle that wakes `park` from other threads.
    fn notifier(&self) -> Arc<dyn DriverNotifier>;

    /// Virtual time only (a scheduler built with
    /// [`Scheduler::deterministic`](super::Scheduler::deterministic)): hand
    /// over, on `woken`, the keys of the tasks that events due at or before
    /// `now` woke, and return when the driver's next event is due (`None`:
    /// nothing in flight). It must not block, and must return a time after
    /// `now` (everything due by `now` has been delivered): the scheduler
    /// jumps its clock there when no task is runnable, and reports a
    /// deadlock when no timer is pending and this returns `None`.
    ///
    /// The default looks at outside events without blocking
    /// (`park(Some(ZERO))`) and reports nothing in flight: right for
    /// drivers with no virtual events of their own, such as
    /// [`NotifyDriver`](super::NotifyDriver).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Instant;
    /// use fibrio_core::scheduler::{Driver, NotifyDriver};
    ///
    /// let mut driver = NotifyDriver::new();
    /// let mut woken = Vec::new();
    /// assert_eq!(driver.poll_virtual(Instant::now(), &mut woken), None);
    /// assert!(woken.is_empty());
    /// ```
    fn poll_virtual(&mut self, now: Instant, woken: &mut Vec<TaskKey>) -> Option<Instant> {
        let _ = now;
        self.park(Some(Duration::ZERO), woken);
        None
    }

    /// The driver's figures for [`RuntimeMetrics`](super::RuntimeMetrics),
    /// read on the runtime's thread when metrics are taken. The default
    /// reports nothing (all zeros).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{Driver, NotifyDriver};
    ///
    /// assert_eq!(NotifyDriver::new().stats().fds_registered, 0);
    /// ```
    fn stats(&self) -> DriverStats {
        DriverStats::default()
    }
}

/// What a [`Driver`] reports for the runtime's metrics: the I/O and
/// blocking-pool figures the scheduler cannot see itself.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::DriverStats;
///
/// let stats = DriverStats { fds_registered: 3, ..DriverStats::default() };
/// assert_eq!(stats.blocking_threads, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// File descriptors registered with the driver now.
    pub fds_registered: usize,
    /// Threads of the blocking pool (process-wide).
    pub blocking_threads: usize,
    /// Of those, the idle ones.
    pub blocking_idle: usize,
    /// Jobs queued for the blocking pool, not yet picked up.
    pub blocking_queued: usize,
}
