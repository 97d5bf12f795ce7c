//! [`SchedulerConfig`]: the settings of a scheduler.

use std::time::Duration;

use crate::stack::DEFAULT_STACK_SIZE;

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
    /// Trades CPU for timer precision: when the next timer is due within
    /// this, the scheduler stops blocking in the driver and keeps looking
    /// without waiting (at I/O, and at its cross-thread inbox, every turn)
    /// until the timer is due. A blocked wait wakes as late as the kernel
    /// and hypervisor make it (tens of microseconds, more on a busy VM);
    /// spinning the last stretch removes that, at the cost of up to this
    /// much busy CPU per timer wake-up. `Duration::ZERO` (the default)
    /// never spins.
    pub timer_spin: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            stack_size: DEFAULT_STACK_SIZE,
            driver_interval: 61,
            watchdog: None,
            max_tasks: None,
            timer_spin: Duration::ZERO,
        }
    }
}
