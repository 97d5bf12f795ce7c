//! Production deadlock detection: a certain deadlock is reported (a panic
//! when opted in, `log::error!` by default), and waits another thread can
//! end are never reported.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fibrio_core::scheduler::{DeadlockAction, NotifyDriver, Scheduler, SchedulerConfig};
use fibrio_core::task::{self, Builder, Unparker};

fn scheduler(action: DeadlockAction) -> Scheduler {
    let config = SchedulerConfig {
        deadlock: action,
        ..SchedulerConfig::default()
    };
    Scheduler::new(config, Box::new(NotifyDriver::new()))
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_join_cycle_panics_with_deadlock_and_the_dump() {
    task::test_support::quiet_planned_panics();
    let outcome = std::panic::catch_unwind(|| {
        scheduler(DeadlockAction::Panic).block_on(|| {
            let main = task::current();
            let child = Builder::new()
                .name("joins-main")
                .spawn(move || main.wait())
                .unwrap();
            let _ = child.join(); // main waits for the child, the child for main
        })
    });
    let message = panic_message(outcome.unwrap_err());
    assert!(message.starts_with("deadlock"), "{message}");
    assert!(message.contains("\"main\" [parked"), "{message}");
    assert!(message.contains("\"joins-main\" [parked"), "{message}");
    assert!(message.contains("a join of task"), "{message}");
}

#[test]
fn a_task_woken_by_a_plain_thread_is_not_reported() {
    let value = scheduler(DeadlockAction::Panic)
        .block_on(|| {
            let me = Unparker::current().unwrap();
            let thread = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                me.unpark();
            });
            task::park().unwrap(); // only the thread can wake it
            thread.join().unwrap();
            "woken"
        })
        .unwrap();
    assert_eq!(value, "woken");
}

#[test]
fn a_join_of_a_task_that_a_thread_will_wake_is_not_reported() {
    let value = scheduler(DeadlockAction::Panic)
        .block_on(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            let child = task::spawn(move || {
                tx.send(Unparker::current().unwrap()).unwrap();
                task::park().unwrap();
                7
            });
            task::yield_now();
            let unparker = rx.recv().unwrap();
            let thread = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                unparker.unpark();
            });
            let value = child.join().unwrap(); // main: join; child: park
            thread.join().unwrap();
            value
        })
        .unwrap();
    assert_eq!(value, 7);
}

/// A logger that keeps the errors it is given.
struct Keep(Mutex<Vec<String>>);

impl log::Log for Keep {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Error
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push(record.args().to_string());
    }
    fn flush(&self) {}
}

#[test]
fn by_default_a_deadlock_is_logged_once() {
    let logger: &'static Keep = Box::leak(Box::new(Keep(Mutex::new(Vec::new()))));
    log::set_logger(logger).unwrap();
    log::set_max_level(log::LevelFilter::Error);
    // The deadlocked runtime never returns: it runs on a thread that is
    // left behind when the test ends.
    let started = Arc::new(());
    let _left = std::thread::spawn(move || {
        let _started = started;
        scheduler(DeadlockAction::Log).block_on(|| {
            let main = task::current();
            let child = Builder::new()
                .name("cycle")
                .spawn(move || main.wait())
                .unwrap();
            let _ = child.join();
        })
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let logged = logger.0.lock().unwrap().clone();
        if let Some(first) = logged.first() {
            assert!(first.starts_with("deadlock"), "{first}");
            assert!(first.contains("\"cycle\" [parked"), "{first}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no deadlock report");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(logger.0.lock().unwrap().len(), 1, "reported once");
}
