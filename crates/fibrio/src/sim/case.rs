//! One deterministic run of a seed: the code [`run`](super::run),
//! [`try_run`](super::try_run) and [`check`](super::check) share.

use fibrio_core::scheduler::{DetConfig, DetStats, Scheduler, SchedulerConfig};
use fibrio_core::task::det;
use fibrio_reactor::sim::{SimNet, SimNetConfig};

use super::error::SimError;

/// Panics if a simulation cannot start here: inside another simulation,
/// or inside a running fibrio runtime. `what` names the caller in the
/// message.
#[track_caller]
pub(crate) fn refuse_nested(what: &str) {
    if det::active() {
        panic!(
            "{what} inside a simulation (fibrio::sim): a simulation cannot start another one \
             on its thread; call the code directly, or spawn a task for it"
        );
    }
    if Scheduler::is_running_here() {
        panic!(
            "{what} inside a running fibrio runtime (fibrio::run): a simulation needs a thread \
             of its own; call it outside fibrio::run, for example directly in the #[test] fn"
        );
    }
}

/// Runs `main` as the main task of a deterministic scheduler seeded
/// `seed`, on this thread, with a simulated network of its own, and returns its value or its failure with the
/// run's figures. The caller has checked [`refuse_nested`].
pub(crate) fn run_case<'a, T: 'a>(
    seed: u64,
    main: impl FnOnce() -> T + 'a,
) -> (Result<T, SimError>, DetStats) {
    run_config(DetConfig::new(seed), main)
}

/// [`run_case`] with a whole configuration (a [`Schedule`](super::Schedule)'s policy).
pub(crate) fn run_config<'a, T: 'a>(
    config: DetConfig,
    main: impl FnOnce() -> T + 'a,
) -> (Result<T, SimError>, DetStats) {
    let seed = config.seed;
    // The run's own network: `fibrio::net` TCP sockets made in it are
    // simulated, and its driver delivers their packets on virtual time.
    // Entered before the scheduler starts and left after every task has
    // ended (the guard outlives `block_on_deterministic`), so no socket of
    // the run reaches the real network.
    let net = SimNet::new(SimNetConfig::default());
    let _enter = net.enter();
    let scheduler =
        Scheduler::deterministic(SchedulerConfig::default(), Box::new(net.driver()), config);
    let (result, stats) = scheduler.block_on_deterministic(main);
    (
        result.map_err(|failure| SimError::from_failure(seed, failure)),
        stats,
    )
}
