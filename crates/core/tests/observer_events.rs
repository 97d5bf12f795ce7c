//! The observer receives a known workload's task events, in order.

use std::sync::{Arc, Mutex};

use fibrio_core::scheduler::{
    NotifyDriver, Observer, Scheduler, SchedulerConfig, TaskEvent, TaskEventKind,
};
use fibrio_core::task::{self, WaitKind};

/// One event: kind, task, parent, name, wait kind.
type Seen = (TaskEventKind, u64, u64, Option<String>, Option<WaitKind>);

#[derive(Default)]
struct Record(Mutex<Vec<Seen>>);

impl Observer for Record {
    fn on_event(&self, e: &TaskEvent<'_>) {
        self.0.lock().unwrap().push((
            e.kind,
            e.task,
            e.parent,
            e.name.map(str::to_owned),
            e.wait.map(|w| w.kind),
        ));
    }
}

#[test]
fn the_observer_sees_every_event_in_order() {
    task::test_support::quiet_planned_panics();
    use TaskEventKind::*;
    let record = Arc::new(Record::default());
    let config = SchedulerConfig {
        observer: Some(record.clone()),
        ..SchedulerConfig::default()
    };
    let (main, child, failing, cancelled) = Scheduler::new(config, Box::new(NotifyDriver::new()))
        .block_on(|| {
            let main = task::current_id().unwrap();
            let child = task::Builder::new().name("child").spawn(|| 1).unwrap();
            let child_id = child.id();
            child.join().unwrap();
            let failing = task::spawn(|| panic!("planned failure"));
            let failing_id = failing.id();
            assert!(failing.join().is_err());
            let cancelled = task::spawn(|| ());
            let cancelled_id = cancelled.id();
            cancelled.cancel();
            let _ = cancelled.join();
            (main, child_id, failing_id, cancelled_id)
        })
        .unwrap();
    let events = record.0.lock().unwrap().clone();
    let join = Some(WaitKind::Join);
    let expected = vec![
        (Created, main, 0, Some("main".to_owned()), None),
        (Started, main, 0, None, None),
        (Created, child, main, Some("child".to_owned()), None),
        (Parked, main, 0, None, join),
        (Started, child, 0, None, None),
        (Completed, child, 0, None, None),
        (Woken, main, 0, None, None),
        (Created, failing, main, None, None),
        (Parked, main, 0, None, join),
        (Started, failing, 0, None, None),
        (Failed, failing, 0, None, None),
        (Woken, main, 0, None, None),
        (Created, cancelled, main, None, None),
        (Parked, main, 0, None, join),
        (Cancelled, cancelled, 0, None, None),
        (Woken, main, 0, None, None),
        (Completed, main, 0, None, None),
    ];
    assert_eq!(events, expected);
}
