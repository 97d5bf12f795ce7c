//! [`SimDriver`]: the [`Driver`] of a deterministic scheduler that runs a
//! simulated network.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio_core::scheduler::{Driver, DriverNotifier, TaskKey};

use super::SimNet;

/// Delivers a [`SimNet`]'s packets on virtual time: `poll_virtual(now)`
/// hands over the tasks woken by everything due by `now` and returns when
/// the next packet arrives. Made by [`SimNet::driver`].
///
/// It is meant for `Scheduler::deterministic`, which only calls
/// `poll_virtual`. Its `park` never blocks (a simulation has no outside
/// events): it delivers what is due on the runtime's clock and returns.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// use fibrio_core::scheduler::Driver;
/// use fibrio_reactor::sim::{SimNet, SimNetConfig};
///
/// let mut driver = SimNet::new(SimNetConfig::default()).driver();
/// let mut woken = Vec::new();
/// assert_eq!(driver.poll_virtual(Instant::now(), &mut woken), None); // nothing in flight
/// assert!(woken.is_empty());
/// ```
pub struct SimDriver {
    net: SimNet,
}

impl SimDriver {
    pub(super) fn new(net: SimNet) -> SimDriver {
        SimDriver { net }
    }
}

impl fmt::Debug for SimDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimDriver").field("net", &self.net).finish()
    }
}

/// Nothing outside a simulation can wake it: the notifier does nothing.
struct Unnotifiable;

impl DriverNotifier for Unnotifiable {
    fn notify(&self) {}
}

impl Driver for SimDriver {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn park(&mut self, _timeout: Option<Duration>, woken: &mut Vec<TaskKey>) {
        let now = fibrio_core::time::now_std();
        self.net.state().borrow_mut().deliver(now, woken);
    }

    fn notifier(&self) -> Arc<dyn DriverNotifier> {
        Arc::new(Unnotifiable)
    }

    fn poll_virtual(&mut self, now: Instant, woken: &mut Vec<TaskKey>) -> Option<Instant> {
        self.net.state().borrow_mut().deliver(now, woken)
    }
}
