//! The scheduler: one thread, one FIFO run queue, tasks on fibers.
//!
//! A [`Scheduler`] owns a [`Driver`] (the reactor, or a fake one in tests)
//! and runs tasks until the task given to [`Scheduler::block_on`] ends.
//! Tasks run until they park or yield; every [`SchedulerConfig::driver_interval`]
//! task runs the driver is polled without blocking, so I/O and timers are
//! never starved by a busy run queue. When nothing is runnable, the driver
//! blocks until a timer, I/O, or a notification from another thread.
//!
//! # Invariants
//!
//! * While `block_on` runs, the thread-local `SCHEDULER` points at its
//!   scheduler; it is null otherwise. Tasks only run inside `block_on`, so a
//!   task always finds its scheduler.
//! * `current` is the header of the task being run, or null while the
//!   scheduler's own loop runs. Only `run_task` sets it.
//! * A key is in `run_queue` iff its task's `queued` flag is set, so a task
//!   is never queued twice.
//! * No `RefCell` borrow of the scheduler is held across a switch into a
//!   task or a call into the driver: tasks and the driver may call back
//!   into the scheduler (spawn, unpark).
//! * After the main task ends, every other task is cancelled and the loop
//!   runs until the table is empty: no task outlives `block_on`.

mod notify_driver;
mod prefetch;
mod remote;
mod run;
mod table;
mod watchdog;

pub use notify_driver::NotifyDriver;
pub use remote::{Handle, RemoteJoinHandle};
pub use table::TaskKey;

pub(crate) use remote::{Remote, RemoteMsg};
pub(crate) use run::{overflowed_task, suspend_task, with_current, SchedulerInner};

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stack::DEFAULT_STACK_SIZE;

/// Wakes a blocked [`Driver::park`] from any thread.
pub trait DriverNotifier: Send + Sync {
    /// Makes the driver's current or next `park` return early.
    fn notify(&self);
}

/// What the scheduler parks in when no task is runnable: the reactor, or a
/// fake with virtual time in tests. `fibrio-core` knows nothing of I/O; the
/// driver wakes tasks by calling [`Unparker::unpark`](crate::task::Unparker::unpark)
/// or [`task::unpark_local`](crate::task::unpark_local) for the keys whose
/// events fired.
///
/// # Examples
///
/// A driver with nothing to wait for, apart from notifications:
///
/// ```
/// use std::sync::{Arc, Condvar, Mutex};
/// use std::time::Duration;
/// use fibrio_core::scheduler::{Driver, DriverNotifier, Scheduler, SchedulerConfig};
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
///     fn park(&mut self, timeout: Option<Duration>) {
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
///     child.join().unwrap()
/// });
/// assert_eq!(answer.unwrap(), 42);
/// ```
pub trait Driver {
    /// The driver's name, reported by the runtime (`"epoll"`, `"poll"`, ...).
    fn name(&self) -> &'static str;

    /// Waits for outside events for at most `timeout` (`None`: until one
    /// happens; `Some(ZERO)`: just look), waking the tasks they concern.
    /// Returns early when its [`DriverNotifier`] is notified.
    fn park(&mut self, timeout: Option<Duration>);

    /// A handle that wakes `park` from other threads.
    fn notifier(&self) -> Arc<dyn DriverNotifier>;

    /// Arms a one-shot wake-up: once `deadline` has passed, the driver
    /// unparks `task` (as [`task::unpark_local`](crate::task::unpark_local)
    /// does) from its `park`. The scheduler uses it for the deadlines of
    /// [`CancelScope`](crate::task::CancelScope)s. Returns `None` when the
    /// driver has no timers (the default); deadlines are then only noticed
    /// at checkpoints.
    fn add_timer(&mut self, deadline: Instant, task: TaskKey) -> Option<DriverTimer> {
        let _ = (deadline, task);
        None
    }

    /// Disarms a wake-up from [`Driver::add_timer`]. Disarming one that has
    /// fired already does nothing.
    fn cancel_timer(&mut self, timer: DriverTimer) {
        let _ = timer;
    }
}

/// A wake-up armed by [`Driver::add_timer`]: its deadline and the
/// driver's own identifier for it, opaque to the scheduler.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// use fibrio_core::scheduler::DriverTimer;
///
/// let timer = DriverTimer { deadline: Instant::now(), id: 7 };
/// assert_eq!(timer.id, 7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DriverTimer {
    /// When the wake-up fires.
    pub deadline: Instant,
    /// The driver's identifier for it.
    pub id: u64,
}

/// Settings of a [`Scheduler`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_core::scheduler::SchedulerConfig;
///
/// let config = SchedulerConfig {
///     stack_size: 64 * 1024,
///     watchdog: Some(Duration::from_millis(100)),
///     ..SchedulerConfig::default()
/// };
/// assert_eq!(config.driver_interval, 61);
/// ```
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The stack size of tasks spawned without one.
    pub stack_size: usize,
    /// Poll the driver without blocking after this many task runs.
    pub driver_interval: u32,
    /// Warn through `log` when a task runs longer than this without parking.
    /// `None` (the default) turns the watchdog off.
    pub watchdog: Option<Duration>,
    /// The most tasks alive at once; `spawn` fails past it. `None`: no limit.
    pub max_tasks: Option<usize>,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            stack_size: DEFAULT_STACK_SIZE,
            driver_interval: 61,
            watchdog: None,
            max_tasks: None,
        }
    }
}

/// Why [`Scheduler::block_on`] could not run its task to the end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchedulerError {
    /// `block_on` was called on a thread that is already running a
    /// scheduler (for example from inside a task). Spawn a task instead.
    #[error("cannot start a fibrio runtime inside a running one: spawn a task with fibrio::spawn instead of calling run again")]
    Nested,
    /// The main task could not be spawned.
    #[error("cannot spawn the main task: {0}")]
    Spawn(#[from] crate::task::SpawnError),
    /// The main task was cancelled before it returned a value.
    #[error("the main task was cancelled before it returned")]
    MainCancelled,
}

/// A single-threaded scheduler and its driver.
///
/// # Examples
///
/// See [`Driver`] for a complete example with a minimal driver.
pub struct Scheduler {
    inner: std::rc::Rc<SchedulerInner>,
}

impl Scheduler {
    /// A scheduler with `config` that parks in `driver`.
    pub fn new(config: SchedulerConfig, driver: Box<dyn Driver>) -> Scheduler {
        Scheduler {
            inner: SchedulerInner::new(config, driver),
        }
    }

    /// The driver's name.
    pub fn driver_name(&self) -> &'static str {
        self.inner.driver_name()
    }

    /// A handle that spawns onto this scheduler from any thread.
    pub fn handle(&self) -> Handle {
        Handle::new(self.inner.remote())
    }

    /// Runs `main` as a task, with every task it spawns, until `main`
    /// returns; then cancels the tasks still alive and waits until they
    /// have unwound, and returns `main`'s value.
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
    /// cancelled and unwound.
    pub fn block_on<T: 'static>(
        self,
        main: impl FnOnce() -> T + 'static,
    ) -> Result<T, SchedulerError> {
        self.inner.block_on(main)
    }

    /// True on a thread that is inside [`block_on`](Scheduler::block_on).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!fibrio_core::scheduler::Scheduler::is_running_here());
    /// ```
    pub fn is_running_here() -> bool {
        with_current(|_| ()).is_some()
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("driver", &self.inner.driver_name())
            .finish_non_exhaustive()
    }
}
