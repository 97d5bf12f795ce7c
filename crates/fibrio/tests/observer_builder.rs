//! `Runtime::builder().observer(..)` and `.deadlock(..)` through the
//! facade: the observer sees a known workload's events in order, and a
//! deadlocked `run` panics when asked to.

use std::sync::{Arc, Mutex};

use fibrio::observer::{Observer, TaskEvent, TaskEventKind};
use fibrio::{DeadlockAction, Runtime};

#[derive(Default)]
struct Kinds(Mutex<Vec<(TaskEventKind, u64)>>);

impl Observer for Kinds {
    fn on_event(&self, event: &TaskEvent<'_>) {
        self.0.lock().unwrap().push((event.kind, event.task));
    }
}

#[test]
fn the_builder_installs_the_observer() {
    use TaskEventKind::*;
    let kinds = Arc::new(Kinds::default());
    let runtime = Runtime::builder().observer(kinds.clone()).build().unwrap();
    let (main, child) = runtime.run(|| {
        let child = fibrio::spawn(fibrio::yield_now);
        let id = child.id();
        child.join().unwrap();
        (fibrio::task::current_id().unwrap(), id)
    });
    let events = kinds.0.lock().unwrap().clone();
    let expected = [
        (Created, main),
        (Started, main),
        (Created, child),
        (Parked, main),
        (Started, child),
        (Completed, child),
        (Woken, main),
        (Completed, main),
    ];
    assert_eq!(events, expected);
}

#[test]
fn a_deadlocked_run_panics_when_asked_to() {
    fibrio_core::task::test_support::quiet_planned_panics();
    let outcome = std::panic::catch_unwind(|| {
        Runtime::builder()
            .deadlock(DeadlockAction::Panic)
            .build()
            .unwrap()
            .run(|| {
                let a = Arc::new(fibrio::sync::Mutex::new(()));
                let b = Arc::new(fibrio::sync::Mutex::new(()));
                let (a2, b2) = (a.clone(), b.clone());
                let one = fibrio::spawn(move || {
                    let _a = a2.lock().unwrap();
                    fibrio::yield_now();
                    let _b = b2.lock().unwrap();
                });
                let _b = b.lock().unwrap();
                fibrio::yield_now();
                let _a = a.lock().unwrap(); // main holds b, wants a
                drop(one);
            })
    });
    let payload = outcome.unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.starts_with("deadlock"), "{message}");
    assert!(message.contains("(mutex#2)"), "{message}");
}
