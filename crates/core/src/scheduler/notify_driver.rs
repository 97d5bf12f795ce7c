//! [`NotifyDriver`]: a driver with no I/O.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::driver::{Driver, DriverNotifier};
use super::table::TaskKey;

#[derive(Default)]
struct Flag {
    set: Mutex<bool>,
    changed: Condvar,
}

impl DriverNotifier for Flag {
    fn notify(&self) {
        *self.set.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_one();
    }
}

/// A [`Driver`] with no I/O: `park` blocks on a condition variable until
/// the scheduler's timeout (its next timer) or until another thread
/// notifies it (through a [`Handle`](super::Handle) or an
/// [`Unparker`](super::Unparker)). Enough for CPU-bound task graphs,
/// timers, and tests of the scheduler.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
///
/// let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
/// assert_eq!(scheduler.driver_name(), "notify");
/// assert_eq!(scheduler.block_on(|| 1 + 1).unwrap(), 2);
/// ```
#[derive(Default)]
pub struct NotifyDriver {
    flag: Arc<Flag>,
}

impl NotifyDriver {
    /// A new driver.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::scheduler::{Driver, NotifyDriver};
    ///
    /// assert_eq!(NotifyDriver::new().name(), "notify");
    /// ```
    pub fn new() -> NotifyDriver {
        NotifyDriver::default()
    }
}

impl std::fmt::Debug for NotifyDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyDriver").finish_non_exhaustive()
    }
}

impl Driver for NotifyDriver {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn park(&mut self, timeout: Option<Duration>, _woken: &mut Vec<TaskKey>) {
        let flag = &*self.flag;
        let mut set = flag.set.lock().unwrap_or_else(|e| e.into_inner());
        match timeout {
            Some(timeout) if !*set && !timeout.is_zero() => {
                set = flag
                    .changed
                    .wait_timeout_while(set, timeout, |set| !*set)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            None => {
                while !*set {
                    set = flag.changed.wait(set).unwrap_or_else(|e| e.into_inner());
                }
            }
            _ => {}
        }
        *set = false;
    }

    fn notifier(&self) -> Arc<dyn DriverNotifier> {
        self.flag.clone()
    }
}
