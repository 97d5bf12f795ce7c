//! Issue 13: `task::current()` and `task::try_current()`, the running
//! task as a `TaskRef`.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use fibrio_core::task::{self, test_support::block_on, TaskState};

#[test]
fn current_matches_the_running_tasks_id_and_name() {
    block_on(|| {
        let handle = task::Builder::new()
            .name("worker")
            .spawn(|| {
                let me = task::current();
                assert_eq!(Some(me.id()), task::current_id());
                assert_eq!(me.name(), Some("worker"));
                assert_eq!(me.state(), TaskState::Running);
                assert!(!me.is_finished());
                me.id()
            })
            .unwrap();
        let seen_inside = handle.join().unwrap();
        let main = task::current();
        assert_eq!(main.name(), Some("main"));
        assert_eq!(Some(main.id()), task::current_id());
        assert_ne!(main.id(), seen_inside);
    });
}

#[test]
fn current_of_a_spawned_task_has_its_handles_id() {
    block_on(|| {
        let id_inside = Rc::new(Cell::new(0));
        let seen = id_inside.clone();
        let handle = task::spawn(move || seen.set(task::current().id()));
        let expected = handle.id();
        handle.join().unwrap();
        assert_eq!(id_inside.get(), expected);
    });
}

/// Sets its flag when dropped: shows that a stack was unwound.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn a_task_cancels_itself_and_unwinds_at_its_next_checkpoint() {
    block_on(|| {
        let unwound = Rc::new(Cell::new(false));
        let after_cancel = Rc::new(Cell::new(false));
        let went_on = Rc::new(Cell::new(false));
        let (flag, after, on) = (unwound.clone(), after_cancel.clone(), went_on.clone());
        let handle = task::spawn(move || {
            let _flag = DropFlag(flag);
            task::current().cancel();
            // Cancelling is a request: the task runs on to its checkpoint.
            after.set(true);
            assert!(task::is_cancelled());
            task::yield_now();
            on.set(true);
        });
        let watcher = handle.task_ref();
        let err = handle.join().unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(watcher.state(), TaskState::Cancelled);
        assert!(after_cancel.get());
        assert!(!went_on.get());
        assert!(unwound.get());
    });
}

#[test]
fn a_task_hands_itself_to_another_that_waits_for_it() {
    block_on(|| {
        let send_to_waiter = Rc::new(Cell::new(None));
        let slot = send_to_waiter.clone();
        let worker = task::Builder::new()
            .name("handed")
            .spawn(move || {
                let me = task::current();
                let waiter = task::spawn(move || {
                    let name = me.name().map(String::from);
                    me.wait().unwrap();
                    (name, me.state())
                });
                slot.set(Some(waiter.task_ref()));
                // Let the waiter start waiting before this task ends.
                task::yield_now();
                task::yield_now();
                (7, waiter)
            })
            .unwrap();
        let (value, waiter) = worker.join().unwrap();
        assert_eq!(value, 7);
        let (name, state) = waiter.join().unwrap();
        assert_eq!(name.as_deref(), Some("handed"));
        assert_eq!(state, TaskState::Completed);
        let waiter_ref = send_to_waiter.take().unwrap();
        assert!(waiter_ref.is_finished());
    });
}

#[test]
fn another_task_cancels_the_task_through_its_handed_reference() {
    block_on(|| {
        let slot = Rc::new(Cell::new(None));
        let for_task = slot.clone();
        let looping = task::spawn(move || {
            for_task.set(Some(task::current()));
            loop {
                task::yield_now();
            }
        });
        task::yield_now();
        let handed = slot.take().expect("the task handed itself out");
        assert_eq!(handed.id(), looping.id());
        let canceller = task::spawn(move || handed.cancel());
        canceller.join().unwrap();
        assert!(looping.join().unwrap_err().is_cancelled());
    });
}

#[test]
fn try_current_is_none_outside_a_task() {
    assert!(task::try_current().is_none());
    let inside = block_on(|| task::try_current().map(|me| me.id()));
    assert!(inside.is_some());
    assert!(task::try_current().is_none());
}

#[test]
fn current_outside_a_task_panics_with_a_clear_message() {
    task::test_support::quiet_planned_panics();
    let payload = catch_unwind(AssertUnwindSafe(task::current)).unwrap_err();
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("outside a task"), "{message}");
    assert!(message.contains("try_current"), "{message}");
    assert!(message.contains("inside a runtime"), "{message}");
}

#[test]
fn a_kept_reference_reports_the_end_of_its_task() {
    let kept = block_on(|| {
        let handle = task::spawn(task::current);
        handle.join().unwrap()
    });
    assert!(kept.is_finished());
    assert_eq!(kept.state(), TaskState::Completed);
    let main = block_on(task::current);
    assert_eq!(main.state(), TaskState::Completed);
    assert_eq!(main.name(), Some("main"));
}
