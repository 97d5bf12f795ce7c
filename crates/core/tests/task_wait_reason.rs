//! What a parked task waits for (issue 14's deadlock report, issue 15's
//! task dumps): every parking call of core records a `WaitReason` in the
//! task, a deterministic run's deadlock report prints it per task, and
//! `TaskRef::wait_reason` reads it while the task is parked.

use std::time::Duration;

use fibrio_core::scheduler::{
    DeadlockReport, DetConfig, DetFailure, NotifyDriver, Scheduler, SchedulerConfig,
};
use fibrio_core::task::{self, Builder, WaitKind, WaitReason};

/// Runs `main` deterministically and returns its deadlock report.
fn deadlock(main: impl FnOnce() + 'static) -> DeadlockReport {
    let (result, _) = Scheduler::deterministic(
        SchedulerConfig::default(),
        Box::new(NotifyDriver::new()),
        DetConfig::new(7),
    )
    .block_on_deterministic(main);
    match result {
        Err(DetFailure::Deadlock(report)) => report,
        other => panic!("expected a deadlock, got {other:?}"),
    }
}

#[test]
fn a_plain_park_is_reported_as_waiting_for_an_unpark() {
    let report = deadlock(|| task::park().unwrap());
    assert_eq!(report.tasks.len(), 1);
    assert!(report.tasks[0].parked);
    assert_eq!(report.tasks[0].wait, Some(WaitReason::PARK));
    let text = report.to_string();
    assert!(
        text.contains("task 1 \"main\": waits for an unpark (task::park)"),
        "{text}"
    );
}

#[test]
fn park_for_records_the_given_reason() {
    let reason = WaitReason::new(WaitKind::Accept, 12);
    let report = deadlock(move || task::park_for(reason, None).unwrap());
    assert_eq!(report.tasks[0].wait, Some(reason));
    assert!(
        report.to_string().contains("waits for an accept on fd 12"),
        "{report}"
    );
}

#[test]
fn a_join_cycle_names_the_joined_task() {
    let report = deadlock(|| {
        let main = task::current();
        let child = Builder::new()
            .name("child")
            .spawn(move || main.wait().unwrap())
            .unwrap();
        child.join().unwrap();
    });
    let waits: Vec<_> = report.tasks.iter().map(|t| (t.id, t.wait)).collect();
    assert_eq!(
        waits,
        [
            (1, Some(WaitReason::new(WaitKind::Join, 2))),
            (2, Some(WaitReason::new(WaitKind::Join, 1))),
        ]
    );
    let text = report.to_string();
    assert!(
        text.contains("task 1 \"main\": waits for a join of task 2"),
        "{text}"
    );
    assert!(
        text.contains("task 2 \"child\": waits for a join of task 1"),
        "{text}"
    );
}

#[test]
fn wait_any_names_the_first_unfinished_task() {
    let report = deadlock(|| {
        let done = task::spawn(|| ());
        let stuck = task::spawn(|| task::park().unwrap());
        task::yield_now(); // `done` ends, `stuck` parks
        let refs = [stuck.task_ref(), done.task_ref()];
        // `done` has ended, so this returns at once ...
        assert_eq!(task::wait_any(&refs).unwrap(), Some(1));
        // ... and this one parks: neither task ever ends.
        let never = task::spawn(|| task::park().unwrap());
        task::wait_any(&[stuck.task_ref(), never.task_ref()]).unwrap();
    });
    let main = &report.tasks[0];
    assert_eq!(main.wait, Some(WaitReason::new(WaitKind::JoinAny, 3)));
    assert!(
        report
            .to_string()
            .contains("waits for a join of any of several tasks (task 3, ...)"),
        "{report}"
    );
}

#[test]
fn wait_reason_reads_sleeps_joins_and_parks_and_is_none_otherwise() {
    task::test_support::block_on(|| {
        let sleeper = task::spawn(|| task::sleep(Duration::from_millis(5))).task_ref();
        let parker = task::spawn(|| task::park().unwrap());
        let parker_ref = parker.task_ref();
        let joiner_target = parker.task_ref();
        let joiner = task::spawn(move || joiner_target.wait().unwrap()).task_ref();
        assert_eq!(sleeper.wait_reason(), None, "not started");
        task::yield_now(); // all three run and park
        assert_eq!(sleeper.wait_reason().map(|r| r.kind), Some(WaitKind::Sleep));
        assert_eq!(parker_ref.wait_reason(), Some(WaitReason::PARK));
        assert_eq!(
            joiner.wait_reason(),
            Some(WaitReason::new(WaitKind::Join, parker_ref.id()))
        );
        assert_eq!(task::current().wait_reason(), None, "running");
        parker_ref.cancel();
        joiner.wait().unwrap();
        sleeper.wait().unwrap();
        assert_eq!(sleeper.wait_reason(), None, "ended");
        assert_eq!(joiner.wait_reason(), None, "ended");
    });
}

#[test]
fn reasons_display_as_a_report_prints_them() {
    let cases = [
        (
            WaitReason::new(WaitKind::Mutex, 1).with_holder(9),
            "a Mutex held by task 9",
        ),
        (WaitReason::new(WaitKind::Mutex, 1), "a Mutex"),
        (WaitReason::new(WaitKind::Join, 4), "a join of task 4"),
        (WaitReason::new(WaitKind::Read, 7), "a read on fd 7"),
        (WaitReason::new(WaitKind::Write, 8), "a write on fd 8"),
        (WaitReason::new(WaitKind::Recv, 1), "a channel receive"),
        (WaitReason::new(WaitKind::Send, 1), "a channel send"),
        (WaitReason::new(WaitKind::Sleep, 0), "a sleep"),
        (
            WaitReason::new(WaitKind::Blocking, 0),
            "a spawn_blocking job",
        ),
        (WaitReason::new(WaitKind::Semaphore, 1), "a Semaphore"),
    ];
    for (reason, text) in cases {
        assert_eq!(reason.to_string(), text);
    }
}
