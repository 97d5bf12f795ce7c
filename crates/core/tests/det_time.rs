//! The deterministic kernel on virtual time: sleeps and deadlines fire at
//! exact virtual instants, the clock never moves while a task is runnable,
//! deadlocks, limits and unjoined panics fail the run, and a seed replays.
//! No test here asserts a tight wall-clock bound: only the "an hour in
//! far less real time" test reads the real clock, with a wide margin.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use fibrio_core::scheduler::{
    DetConfig, DetFailure, DetStats, NotifyDriver, PolicySpec, Scheduler, SchedulerConfig,
    SchedulerError,
};
use fibrio_core::task::{self, det, Builder};
use fibrio_core::time::Instant;

fn run_with<T: 'static>(
    config: DetConfig,
    main: impl FnOnce() -> T + 'static,
) -> (Result<T, DetFailure>, DetStats) {
    Scheduler::deterministic(
        SchedulerConfig::default(),
        Box::new(NotifyDriver::new()),
        config,
    )
    .block_on_deterministic(main)
}

fn run<T: 'static>(
    seed: u64,
    main: impl FnOnce() -> T + 'static,
) -> (Result<T, DetFailure>, DetStats) {
    run_with(DetConfig::new(seed), main)
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn an_hour_of_virtual_sleeps_takes_far_less_real_time() {
    let real = std::time::Instant::now();
    let (result, stats) = run(1, || {
        let start = Instant::now();
        let sleepers: Vec<_> = (0..3)
            .map(|_| {
                task::spawn(|| {
                    for _ in 0..3600 {
                        task::sleep(Duration::from_secs(1));
                    }
                })
            })
            .collect();
        for sleeper in sleepers {
            sleeper.join().unwrap();
        }
        start.elapsed()
    });
    let real = real.elapsed();
    assert_eq!(result.unwrap(), HOUR);
    assert_eq!(stats.virtual_elapsed, HOUR);
    // Expected: well under a second, even unoptimized. The bound is a
    // minute: 60 times less than the virtual hour.
    assert!(real < HOUR / 60, "an hour of virtual sleeps took {real:?}");
}

#[test]
fn sleeps_and_deadlines_fire_at_exact_virtual_instants() {
    let (result, _) = run(2, || {
        let start = Instant::now();
        let at = |d: Duration| start + d;

        task::sleep(Duration::from_millis(250));
        assert_eq!(Instant::now(), at(Duration::from_millis(250)));

        task::sleep_until(at(Duration::from_secs(1)));
        assert_eq!(Instant::now(), at(Duration::from_secs(1)));

        // park_until with nobody unparking: wakes at its deadline.
        let deadline = at(Duration::from_secs(2)).into_std();
        while Instant::now().into_std() < deadline {
            task::park_until(Some(deadline)).unwrap();
        }
        assert_eq!(Instant::now(), at(Duration::from_secs(2)));

        let got = task::move_on_after(Duration::from_secs(3), || loop {
            task::park().unwrap();
        });
        assert_eq!(got, None::<()>);
        assert_eq!(Instant::now(), at(Duration::from_secs(5)));

        let err = task::fail_after(Duration::from_millis(1500), || loop {
            task::park().unwrap();
        })
        .unwrap_err();
        assert_eq!(err.timeout(), Duration::from_millis(1500));
        assert_eq!(Instant::now(), at(Duration::from_millis(6500)));

        // A deadline already passed fires at once, without moving time.
        assert_eq!(task::move_on_at(start, task::yield_now), None);
        assert_eq!(Instant::now(), at(Duration::from_millis(6500)));
        assert_eq!(det::elapsed(), Some(Duration::from_millis(6500)));
    });
    result.unwrap();
}

#[test]
fn the_clock_never_moves_while_a_task_is_runnable() {
    for seed in 0..16 {
        let (result, stats) = run(seed, || {
            let start = Instant::now();
            let sleeper = task::spawn(|| task::sleep(Duration::from_secs(1)));
            // A busy task: runnable at every step, so virtual time stands
            // still however long it runs.
            let busy = task::spawn(move || {
                for _ in 0..1000 {
                    assert_eq!(Instant::now(), start);
                    task::yield_now();
                }
            });
            busy.join().unwrap();
            assert_eq!(
                Instant::now(),
                start,
                "time moved while tasks were runnable"
            );
            sleeper.join().unwrap();
            assert_eq!(Instant::now(), start + Duration::from_secs(1));
        });
        result.unwrap();
        assert_eq!(stats.virtual_elapsed, Duration::from_secs(1));
    }
}

#[test]
fn a_deadlock_is_reported_with_every_task() {
    let (result, stats) = run(3, || {
        let _waiter = Builder::new()
            .name("waiter")
            .spawn(|| loop {
                task::park().unwrap();
            })
            .unwrap();
        task::sleep(Duration::from_secs(2));
        loop {
            task::park().unwrap();
        }
    });
    let Err(DetFailure::Deadlock(report)) = result else {
        panic!("expected a deadlock, got {result:?}");
    };
    assert_eq!(report.virtual_elapsed, Duration::from_secs(2));
    // main, the waiter, main after its sleep; the shutdown's steps come after.
    assert_eq!(report.steps, 3);
    assert!(stats.steps > report.steps);
    let tasks: Vec<_> = report
        .tasks
        .iter()
        .map(|t| (t.id, t.name.as_deref().map(str::to_owned), t.parked))
        .collect();
    assert_eq!(
        tasks,
        [
            (1, Some("main".to_owned()), true),
            (2, Some("waiter".to_owned()), true)
        ]
    );
    let text = report.to_string();
    assert!(
        text.starts_with("deadlock after 2s of virtual time"),
        "{text}"
    );
    assert!(
        text.contains("task 1 \"main\": waits for an unpark (task::park)"),
        "{text}"
    );
    assert!(
        text.contains("task 2 \"waiter\": waits for an unpark (task::park)"),
        "{text}"
    );
}

#[test]
fn the_virtual_time_limit_fails_the_run() {
    let config = DetConfig::new(4).max_virtual_time(Duration::from_secs(10));
    let (result, _) = run_with(config, || {
        for _ in 0..100 {
            task::sleep(Duration::from_secs(3));
        }
    });
    match result {
        Err(DetFailure::TimeLimit { elapsed, .. }) => {
            // The last instant reached within the limit.
            assert_eq!(elapsed, Duration::from_secs(9));
        }
        other => panic!("expected the time limit, got {other:?}"),
    }
}

#[test]
fn the_step_limit_stops_a_task_that_never_parks() {
    let config = DetConfig::new(5).max_steps(500);
    let (result, stats) = run_with(config, || loop {
        task::yield_now();
    });
    match result {
        Err(DetFailure::TimeLimit { elapsed, steps, .. }) => {
            assert_eq!(steps, 500);
            assert_eq!(elapsed, Duration::ZERO);
        }
        other => panic!("expected the step limit, got {other:?}"),
    }
    // The shutdown ran main once more to unwind it.
    assert!(stats.steps > 500);
}

#[test]
fn a_detached_panic_fails_the_run() {
    task::test_support::quiet_planned_panics();
    let (result, _) = run(6, || {
        drop(
            Builder::new()
                .name("detached")
                .spawn(|| panic!("planned: a detached assertion"))
                .unwrap(),
        );
        task::sleep(Duration::from_secs(1));
        "main finished"
    });
    match result {
        Err(DetFailure::UnjoinedPanic {
            task,
            name,
            message,
            ..
        }) => {
            assert_eq!(task, 2);
            assert_eq!(name.as_deref(), Some("detached"));
            assert_eq!(message, "planned: a detached assertion");
        }
        other => panic!("expected an unjoined panic, got {other:?}"),
    }
}

#[test]
fn a_panic_dropped_after_the_task_ended_fails_the_run_too() {
    task::test_support::quiet_planned_panics();
    let (result, _) = run(7, || {
        let handle = task::spawn(|| panic!("planned: ended before the drop"));
        while !handle.is_finished() {
            task::yield_now(); // until the child has run and failed
        }
        drop(handle);
        task::yield_now();
    });
    assert!(
        matches!(result, Err(DetFailure::UnjoinedPanic { task: 2, .. })),
        "{result:?}"
    );
}

#[test]
fn a_joined_panic_does_not_fail_the_run() {
    task::test_support::quiet_planned_panics();
    let (result, _) = run(8, || {
        let handle = task::spawn(|| panic!("planned: joined"));
        handle.join().unwrap_err().is_panic()
    });
    assert!(result.unwrap());
}

#[test]
fn a_panic_in_main_comes_back_with_its_payload() {
    task::test_support::quiet_planned_panics();
    let (result, _) = run(9, || -> () { panic!("planned: main") });
    let Err(DetFailure::MainPanicked(payload)) = result else {
        panic!("expected main's panic");
    };
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"planned: main"));
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let fixture = || {
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..5u64)
            .map(|i| {
                let log = log.clone();
                task::spawn(move || {
                    for round in 0..4 {
                        log.borrow_mut().push((i, round));
                        if (i + round) % 2 == 0 {
                            task::yield_now();
                        } else {
                            task::sleep(Duration::from_millis(10 * i));
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        log.take()
    };
    for seed in [0, 1, 42, u64::MAX] {
        let (first, first_stats) = run(seed, fixture);
        let first = first.unwrap();
        for _ in 0..5 {
            let (again, stats) = run(seed, fixture);
            assert_eq!(stats, first_stats, "seed {seed}");
            assert_eq!(again.unwrap(), first, "seed {seed}");
        }
    }
}

#[test]
fn task_ids_are_per_run_and_start_at_one() {
    let ids = || {
        run(10, || {
            let child = task::spawn(task::current_id);
            (task::current_id(), child.join().unwrap())
        })
        .0
        .unwrap()
    };
    assert_eq!(ids(), (Some(1), Some(2)));
    assert_eq!(ids(), (Some(1), Some(2))); // not shifted by the first run
}

#[test]
fn main_may_borrow_from_the_caller() {
    let mut seen = Vec::new();
    let (result, _) = Scheduler::deterministic(
        SchedulerConfig::default(),
        Box::new(NotifyDriver::new()),
        DetConfig::new(11),
    )
    .block_on_deterministic(|| {
        task::sleep(Duration::from_secs(1));
        seen.push("slept");
        seen.len()
    });
    assert_eq!(result.unwrap(), 1);
    assert_eq!(seen, ["slept"]);
}

#[test]
fn a_deterministic_run_inside_a_scheduler_is_refused() {
    let (result, _) = run(12, || run(13, || ()).0);
    assert!(matches!(
        result,
        Ok(Err(DetFailure::Scheduler(SchedulerError::Nested)))
    ));
}

#[test]
fn virtual_time_and_the_helpers_end_with_the_run() {
    let far = Rc::new(Cell::new(None));
    let (result, _) = run(14, {
        let far = far.clone();
        move || {
            task::sleep(HOUR * 24 * 30 / 31); // long, within the default limit
            far.set(Some(Instant::now()));
            det::active()
        }
    });
    assert!(result.unwrap());
    assert!(!det::active());
    assert_eq!(det::elapsed(), None);
    // Back on the real clock: far behind the virtual instant reached.
    assert!(Instant::now() < far.get().unwrap());
    let std_now = std::time::Instant::now();
    assert!(Instant::now().into_std() >= std_now);
}

#[test]
fn std_instant_is_not_virtual() {
    // Documented behaviour: std's clock keeps reading real time.
    let (result, _) = run(15, || {
        let std_start = std::time::Instant::now();
        let start = Instant::now();
        task::sleep(HOUR);
        (start.elapsed(), std_start.elapsed())
    });
    let (virtual_elapsed, std_elapsed) = result.unwrap();
    assert_eq!(virtual_elapsed, HOUR);
    assert!(std_elapsed < HOUR);
}

#[test]
fn fifo_deviations_policy_keeps_production_order() {
    let order = || {
        let config = DetConfig::new(0).policy(PolicySpec::Deviations(Vec::new()));
        run_with(config, || {
            let log = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    let log = log.clone();
                    task::spawn(move || log.borrow_mut().push(i))
                })
                .collect();
            for t in tasks {
                t.join().unwrap();
            }
            log.take()
        })
        .0
        .unwrap()
    };
    assert_eq!(order(), [0, 1, 2, 3]);
}

#[test]
fn the_user_stream_replays_and_differs_between_seeds() {
    let draws = |seed| {
        run(seed, || {
            (0..4)
                .map(|_| det::random_u64(det::Stream::User).unwrap())
                .collect::<Vec<_>>()
        })
        .0
        .unwrap()
    };
    assert_eq!(draws(1), draws(1));
    assert_ne!(draws(1), draws(2));
    assert_eq!(det::random_u64(det::Stream::User), None);
}

/// A driver with virtual events of its own: wake-ups scheduled at virtual
/// instants, as a simulated network delivers packets.
mod event_driver {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use fibrio_core::scheduler::{Driver, DriverNotifier, TaskKey};

    thread_local! {
        /// (deadline, sequence) -> the task to wake.
        pub static EVENTS: RefCell<BTreeMap<(std::time::Instant, u64), TaskKey>> =
            const { RefCell::new(BTreeMap::new()) };
    }

    struct Nothing;
    impl DriverNotifier for Nothing {
        fn notify(&self) {}
    }

    pub struct EventDriver;

    impl Driver for EventDriver {
        fn name(&self) -> &'static str {
            "events"
        }
        fn park(&mut self, _timeout: Option<Duration>, _woken: &mut Vec<TaskKey>) {}
        fn notifier(&self) -> Arc<dyn DriverNotifier> {
            Arc::new(Nothing)
        }
        fn poll_virtual(
            &mut self,
            now: std::time::Instant,
            woken: &mut Vec<TaskKey>,
        ) -> Option<std::time::Instant> {
            EVENTS.with(|events| {
                let mut events = events.borrow_mut();
                while let Some(entry) = events.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    woken.push(entry.remove());
                }
                events.keys().next().map(|(at, _)| *at)
            })
        }
    }
}

#[test]
fn driver_events_move_virtual_time_and_keep_the_run_alive() {
    use event_driver::{EventDriver, EVENTS};

    let (result, stats) = Scheduler::deterministic(
        SchedulerConfig::default(),
        Box::new(EventDriver),
        DetConfig::new(16),
    )
    .block_on_deterministic(|| {
        let start = Instant::now();
        let me = task::current_key().unwrap();
        // "A packet" due in 5 s: no timer is pending, yet this is no
        // deadlock, and time jumps to the event.
        EVENTS.with(|events| {
            events
                .borrow_mut()
                .insert(((start + Duration::from_secs(5)).into_std(), 0), me)
        });
        while start.elapsed() < Duration::from_secs(5) {
            task::park().unwrap();
        }
        let woke_at = start.elapsed();
        // A timer earlier than the next event fires first.
        EVENTS.with(|events| {
            events
                .borrow_mut()
                .insert(((start + Duration::from_secs(9)).into_std(), 1), me)
        });
        task::sleep(Duration::from_secs(1));
        let slept_to = start.elapsed();
        while start.elapsed() < Duration::from_secs(9) {
            task::park().unwrap();
        }
        (woke_at, slept_to, start.elapsed())
    });
    assert_eq!(
        result.unwrap(),
        (
            Duration::from_secs(5),
            Duration::from_secs(6),
            Duration::from_secs(9)
        )
    );
    assert_eq!(stats.virtual_elapsed, Duration::from_secs(9));
}
