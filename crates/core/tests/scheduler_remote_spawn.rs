//! Spawns from other threads through a `Handle`: a spawn the runtime
//! refuses is reported with its real reason, never as a cancellation.

use fibrio_core::scheduler::{NotifyDriver, Scheduler, SchedulerConfig};
use fibrio_core::task::{self, JoinError, SpawnError};

#[test]
fn a_remote_spawn_over_max_tasks_reports_too_many_tasks() {
    let config = SchedulerConfig {
        max_tasks: Some(1), // the main task takes the only place
        ..SchedulerConfig::default()
    };
    let scheduler = Scheduler::new(config, Box::new(NotifyDriver::new()));
    let handle = scheduler.handle();
    let err = scheduler
        .block_on(move || {
            let remote = std::thread::spawn(move || handle.spawn(|| 1))
                .join()
                .unwrap();
            remote.join().unwrap_err()
        })
        .unwrap();
    assert!(
        matches!(
            err,
            JoinError::NotSpawned(SpawnError::TooManyTasks { limit: 1 })
        ),
        "{err:?}"
    );
}

#[test]
fn a_remote_spawn_that_arrives_during_shutdown_reports_shutting_down() {
    let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    let handle = scheduler.handle();
    let remote = scheduler
        .block_on(move || {
            // Queued in the inbox; main returns before the runtime reads it,
            // so it is read while the runtime shuts down.
            let remote = handle.spawn(|| 1);
            task::yield_now();
            remote
        })
        .unwrap();
    let err = remote.join().unwrap_err();
    assert!(
        matches!(err, JoinError::NotSpawned(SpawnError::ShuttingDown)),
        "{err:?}"
    );
}
