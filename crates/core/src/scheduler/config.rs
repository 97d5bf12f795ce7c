//! [`SchedulerConfig`]: the settings of a scheduler, and
//! [`DeadlockAction`].

use std::sync::Arc;
use std::time::Duration;

use super::observer::Observer;
use crate::stack::DEFAULT_STACK_SIZE;

/// The default of [`SchedulerConfig::remote_spawn_capacity`].
const DEFAULT_REMOTE_SPAWN_CAPACITY: usize = 65_536;

/// What a production scheduler does when it finds itself deadlocked:
/// nothing runnable, no timer pending, and every live task parked on
/// something only another parked task of the same runtime can release
/// (see `docs/operations.md`, "Deadlocks").
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{DeadlockAction, SchedulerConfig};
///
/// assert_eq!(SchedulerConfig::default().deadlock, DeadlockAction::Log);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeadlockAction {
    /// Do not look for deadlocks.
    Ignore,
    /// Report it once with `log::error!` (on stderr when no logger is
    /// installed), with a task dump, and keep waiting. The default.
    #[default]
    Log,
    /// Panic out of `block_on` with a message that starts with "deadlock"
    /// and holds the task dump.
    Panic,
}

/// Settings of a [`Scheduler`](super::Scheduler).
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
#[derive(Clone)]
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
    /// How many spawns from other threads may wait in the runtime's inbox
    /// before [`Handle::try_spawn`](super::Handle::try_spawn) refuses more
    /// ([`SpawnError::InboxFull`](super::SpawnError::InboxFull)).
    /// [`Handle::spawn`](super::Handle::spawn) is not bounded by it. 65,536
    /// by default.
    pub remote_spawn_capacity: usize,
    /// Trades CPU for timer precision: when the next timer is due within
    /// this, the scheduler stops blocking in the driver and keeps looking
    /// without waiting (at I/O, and at its cross-thread inbox, every turn)
    /// until the timer is due. A blocked wait wakes as late as the kernel
    /// and hypervisor make it (tens of microseconds, more on a busy VM);
    /// spinning the last stretch removes that, at the cost of up to this
    /// much busy CPU per timer wake-up. `Duration::ZERO` (the default)
    /// never spins.
    pub timer_spin: Duration,
    /// What to do on a deadlock; [`DeadlockAction::Log`] by default.
    pub deadlock: DeadlockAction,
    /// Receives every task event (created, started, parked, woken, ended).
    /// `None` (the default) costs nothing in `park` or the switch (one flag
    /// gates all the switch's optional work) and one branch at a spawn and
    /// at a task's end.
    pub observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for SchedulerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerConfig")
            .field("stack_size", &self.stack_size)
            .field("driver_interval", &self.driver_interval)
            .field("watchdog", &self.watchdog)
            .field("max_tasks", &self.max_tasks)
            .field("remote_spawn_capacity", &self.remote_spawn_capacity)
            .field("timer_spin", &self.timer_spin)
            .field("deadlock", &self.deadlock)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            stack_size: DEFAULT_STACK_SIZE,
            driver_interval: 61,
            watchdog: None,
            max_tasks: None,
            remote_spawn_capacity: DEFAULT_REMOTE_SPAWN_CAPACITY,
            timer_spin: Duration::ZERO,
            deadlock: DeadlockAction::Log,
            observer: None,
        }
    }
}
