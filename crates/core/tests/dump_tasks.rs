//! Task dumps on a production scheduler: every wait reason named, spawn
//! locations and parents, stacks captured without changing any task, and
//! `Handle::dump` from another thread naming a task that blocks the
//! runtime.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fibrio_core::scheduler::{
    dump, dump_with_stacks, DumpError, DumpOptions, Handle, NotifyDriver, Scheduler,
    SchedulerConfig, TaskStatus,
};
use fibrio_core::task::{self, Builder, TaskState, Unparker, WaitKind};

fn block_on<T>(f: impl FnOnce() -> T) -> T {
    Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()))
        .block_on(f)
        .unwrap()
}

#[test]
fn a_dump_names_every_wait_and_where_each_task_was_spawned() {
    block_on(|| {
        let main_id = task::current_id().unwrap();
        let spawn_line = line!() + 1;
        let parked = Builder::new().name("parked").spawn(task::park).unwrap();
        let sleeper = task::spawn(|| task::sleep(Duration::from_secs(3600)));
        let parked_ref = parked.task_ref();
        let joiner = task::spawn(move || parked_ref.wait());
        let (a, b) = (parked.task_ref(), sleeper.task_ref());
        let any = task::spawn(move || task::wait_any(&[a, b]));
        let yielder = task::spawn(|| loop {
            task::yield_now();
        });
        task::yield_now(); // every child runs once and parks (or yields)
        let dump = dump();
        assert_eq!(dump.tasks.len(), 6);
        let me = dump.task(main_id).unwrap();
        assert_eq!(me.status, TaskStatus::Running);
        assert_eq!(me.name.as_deref(), Some("main"));
        assert_eq!(me.parent, None);

        let info = dump.task(parked.id()).unwrap();
        assert_eq!(info.status, TaskStatus::Parked);
        assert_eq!(info.wait.unwrap().kind, WaitKind::Park);
        assert_eq!(info.parent, Some(main_id));
        assert_eq!(info.state, TaskState::Running);
        assert!(info.parked_for.is_some());
        let at = info.spawned_at.unwrap();
        assert!(at.file.ends_with("dump_tasks.rs"), "{at}");
        assert_eq!(at.line, spawn_line);

        assert_eq!(
            dump.task(sleeper.id()).unwrap().wait.unwrap().kind,
            WaitKind::Sleep
        );
        let join = dump.task(joiner.id()).unwrap().wait.unwrap();
        assert_eq!((join.kind, join.object), (WaitKind::Join, parked.id()));
        assert_eq!(
            dump.task(any.id()).unwrap().wait.unwrap().kind,
            WaitKind::JoinAny
        );
        let y = dump.task(yielder.id()).unwrap();
        assert_eq!((y.status, y.wait), (TaskStatus::Runnable, None));

        let text = dump.to_string();
        assert!(
            text.starts_with("fibrio task dump: 6 tasks on runtime"),
            "{text}"
        );
        assert!(
            text.contains(&format!("task {} \"parked\" [parked", parked.id())),
            "{text}"
        );
        assert!(text.contains(": an unpark (task::park)]"), "{text}");
        assert!(
            text.contains(&format!("spawned by task {main_id} at ")),
            "{text}"
        );
        assert!(
            text.contains(&format!("a join of task {}", parked.id())),
            "{text}"
        );
        parked.cancel();
        joiner.cancel();
        sleeper.cancel();
        any.cancel();
        yielder.cancel();
    });
}

#[test]
fn ten_thousand_parked_tasks_are_all_in_the_dump() {
    block_on(|| {
        let tasks: Vec<_> = (0..10_000)
            .map(|i| {
                if i % 2 == 0 {
                    task::spawn(|| {
                        let _ = task::park();
                    })
                } else {
                    task::spawn(|| task::sleep(Duration::from_secs(3600)))
                }
            })
            .collect();
        task::yield_now();
        let dump = dump();
        assert_eq!(dump.tasks.len(), 10_001);
        assert_eq!(dump.waiting_for(WaitKind::Park).count(), 5_000);
        assert_eq!(dump.waiting_for(WaitKind::Sleep).count(), 5_000);
        for task in &tasks {
            task.cancel();
        }
    });
}

/// The function every parked task of the stack test waits in: it must
/// show in each backtrace.
#[inline(never)]
fn wait_here_for_the_dump() -> Result<(), task::ParkError> {
    let result = task::park();
    std::hint::black_box(());
    result
}

#[test]
fn stacks_show_the_parking_function_and_change_no_task() {
    block_on(|| {
        let runs = Arc::new(AtomicU64::new(0));
        let (wake_tx, wake_rx) = std::sync::mpsc::channel::<Unparker>();
        // Woken after the capture: it must resume normally.
        let woken = {
            let runs = runs.clone();
            task::spawn(move || {
                wake_tx.send(Unparker::current().unwrap()).unwrap();
                runs.fetch_add(1, Ordering::SeqCst);
                wait_here_for_the_dump().unwrap();
                runs.fetch_add(1, Ordering::SeqCst);
                "woken"
            })
        };
        // Cancelled after the capture: it must unwind.
        let cancelled = task::spawn(wait_here_for_the_dump);
        // Holds a wake-up token across the capture: its next park returns
        // at once.
        let (tx, rx) = std::sync::mpsc::channel::<Unparker>();
        let token = task::spawn(move || {
            let me = Unparker::current().unwrap();
            tx.send(me).unwrap();
            task::yield_now(); // suspended (queued), token delivered meanwhile
            task::park().unwrap(); // consumes the token
            "token kept"
        });
        task::yield_now();
        let me = rx.recv().unwrap();
        me.unpark(); // the token task is queued, not parked: a token
        let before = dump();
        let with = dump_with_stacks();
        let after = dump();
        for ((b, w), a) in before.tasks.iter().zip(&with.tasks).zip(&after.tasks) {
            assert_eq!(
                (b.id, b.status, b.wait, b.state),
                (a.id, a.status, a.wait, a.state)
            );
            assert_eq!((b.id, b.status, b.wait), (w.id, w.status, w.wait));
        }
        for id in [woken.id(), cancelled.id()] {
            let trace = with
                .task(id)
                .unwrap()
                .backtrace
                .as_ref()
                .unwrap()
                .to_string();
            assert!(trace.contains("wait_here_for_the_dump"), "{trace}");
        }
        assert!(with.task(token.id()).unwrap().backtrace.is_some());
        assert!(with.to_string().contains("wait_here_for_the_dump"));
        assert_eq!(runs.load(Ordering::SeqCst), 1, "capture ran no user code");

        wake_rx.recv().unwrap().unpark();
        cancelled.cancel();
        assert_eq!(woken.join().unwrap(), "woken");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(cancelled.join().unwrap_err().is_cancelled());
        assert_eq!(token.join().unwrap(), "token kept");
        // The runtime keeps working.
        assert_eq!(task::spawn(|| 42).join().unwrap(), 42);
    });
}

#[test]
fn a_handle_dumps_from_another_thread() {
    let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    let handle = scheduler.handle();
    let names = scheduler
        .block_on(move || {
            let child = Builder::new().name("waiter").spawn(task::park).unwrap();
            let from =
                std::thread::spawn(move || handle.dump_with(DumpOptions::new().stacks(true)));
            let dump = loop {
                if from.is_finished() {
                    break from.join().unwrap().unwrap();
                }
                task::sleep(Duration::from_millis(1));
            };
            child.cancel();
            let waiter = dump.tasks.iter().find(|t| t.id == child.id()).unwrap();
            assert!(waiter.backtrace.is_some());
            dump.tasks
                .iter()
                .map(|t| t.name.as_deref().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
        })
        .unwrap();
    assert_eq!(names, ["main", "waiter"]);
}

#[test]
fn a_dump_names_the_task_that_blocks_the_runtime() {
    let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    let handle = scheduler.handle();
    let blocking = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (blocking2, release2) = (blocking.clone(), release.clone());
    let asker = std::thread::spawn(move || {
        while !blocking2.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let answer = handle.dump_with(DumpOptions::new().deadline(Duration::from_millis(100)));
        release2.store(true, Ordering::SeqCst);
        answer
    });
    let blocker_id = scheduler
        .block_on(move || {
            let blocker = Builder::new()
                .name("blocker")
                .spawn(move || {
                    blocking.store(true, Ordering::SeqCst);
                    // A blocking call inside a task: the runtime's thread
                    // is stuck until the asker gives up.
                    while !release.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
                .unwrap();
            let id = blocker.id();
            blocker.join().unwrap();
            id
        })
        .unwrap();
    match asker.join().unwrap() {
        Err(
            err @ DumpError::Unresponsive {
                task, running_for, ..
            },
        ) => {
            assert_eq!(task, Some(blocker_id));
            assert!(running_for >= Duration::from_millis(100));
            assert!(
                err.to_string().contains(&format!("task {blocker_id}")),
                "{err}"
            );
        }
        other => panic!("expected Unresponsive, got {other:?}"),
    }
}

#[test]
fn a_dump_of_an_ended_runtime_fails() {
    let scheduler = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
    let handle: Handle = scheduler.handle();
    scheduler.block_on(|| ()).unwrap();
    assert_eq!(handle.dump().unwrap_err(), DumpError::Gone);
}
