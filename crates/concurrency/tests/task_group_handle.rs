//! `TaskGroupHandle` (issue 13): a cloneable, `'static` way into a
//! `TaskGroup`, as trio passes its nursery around. Children spawned
//! through it belong to the group like the body's: `scope` waits for them
//! (also for those spawned while it is already waiting), their failures
//! are reported, they are cancelled with the group. Once the group has
//! ended, spawning is an error, never a panic and never a stray task.

mod common;

use common::{park_until_cancelled, quiet_planned_panics, yield_n};

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use fibrio::task::{Builder, TaskRef};
use fibrio_concurrency::{TaskGroup, TaskGroupError, TaskGroupHandle, TaskGroupSpawnError};

/// Sets its flag when dropped: proves a task's stack unwound.
struct Flag(Rc<Cell<bool>>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

fn assert_clone_and_static<T: Clone + 'static>(_: &T) {}

#[test]
fn the_handle_is_clone_and_static() {
    fibrio::run(|| {
        let kept: Rc<RefCell<Option<TaskGroupHandle>>> = Rc::default();
        let k = kept.clone();
        TaskGroup::scope(move |g| {
            let handle = g.handle();
            assert_clone_and_static(&handle);
            *k.borrow_mut() = Some(handle.clone());
            assert!(!handle.is_closed());
        })
        .unwrap();
        // It outlived the group, and says so.
        let handle = kept.borrow_mut().take().unwrap();
        assert!(handle.is_closed());
        assert!(format!("{handle:?}").contains("closed: true"));
    });
}

#[test]
fn a_child_spawns_a_sibling_and_scope_waits_for_it() {
    fibrio::run(|| {
        let sibling_done = Rc::new(Cell::new(false));
        let sibling: Rc<RefCell<Option<TaskRef>>> = Rc::default();
        let (done, slot) = (sibling_done.clone(), sibling.clone());
        let got = TaskGroup::scope(move |g| {
            let handle = g.handle();
            g.spawn(move || {
                let child = handle
                    .spawn(move || {
                        fibrio::sleep(Duration::from_millis(5));
                        done.set(true);
                    })
                    .unwrap();
                *slot.borrow_mut() = Some(child.task_ref());
            });
            "body value"
        });
        assert_eq!(got.unwrap(), "body value");
        assert!(
            sibling_done.get(),
            "scope returned before the sibling ended"
        );
        assert!(sibling.borrow().as_ref().unwrap().state().is_success());
    });
}

#[test]
fn a_sibling_spawned_while_scope_is_waiting_is_waited_for() {
    fibrio::run(|| {
        let grandchildren_done = Rc::new(Cell::new(0));
        let spawned = Rc::new(Cell::new(0));
        let (done, count) = (grandchildren_done.clone(), spawned.clone());
        TaskGroup::scope(move |g| {
            let handle = g.handle();
            // The body returns at once; scope is waiting when the child
            // starts spawning, generation after generation.
            g.spawn(move || {
                fn spawn_next(
                    handle: TaskGroupHandle,
                    depth: u32,
                    done: Rc<Cell<u32>>,
                    count: Rc<Cell<u32>>,
                ) {
                    if depth == 0 {
                        return;
                    }
                    count.set(count.get() + 1);
                    let next = handle.clone();
                    handle
                        .spawn(move || {
                            fibrio::sleep(Duration::from_millis(1));
                            spawn_next(next, depth - 1, done.clone(), count);
                            done.set(done.get() + 1);
                        })
                        .unwrap();
                }
                fibrio::sleep(Duration::from_millis(1));
                spawn_next(handle, 4, done, count);
            });
        })
        .unwrap();
        assert_eq!(spawned.get(), 4);
        assert_eq!(grandchildren_done.get(), 4);
    });
}

#[test]
fn a_failure_of_a_sibling_is_reported_and_cancels_the_group() {
    quiet_planned_panics();
    fibrio::run(|| {
        let first_unwound = Rc::new(Cell::new(false));
        let f = first_unwound.clone();
        let err = TaskGroup::scope(move |g| {
            let handle = g.handle();
            g.spawn_with(Builder::new().name("first"), move || {
                let _flag = Flag(f);
                handle
                    .spawn_with(Builder::new().name("sibling"), || {
                        fibrio::sleep(Duration::from_millis(2));
                        panic!("planned: sibling failed")
                    })
                    .unwrap();
                park_until_cancelled()
            })
            .unwrap();
        })
        .unwrap_err();
        let TaskGroupError::Failed(failures) = &err else {
            panic!("expected Failed, got {err}");
        };
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].index, 1, "spawn order within the group");
        assert_eq!(failures[0].name.as_deref(), Some("sibling"));
        assert_eq!(failures[0].message, "planned: sibling failed");
        assert!(first_unwound.get(), "the first child was cancelled");
    });
}

#[test]
fn spawning_after_the_group_closed_is_an_error_and_starts_nothing() {
    fibrio::run(|| {
        let handle = TaskGroup::scope(|g| g.handle()).unwrap();
        assert!(handle.is_closed());
        let ran = Rc::new(Cell::new(false));
        let dropped = Rc::new(Cell::new(false));
        let (r, d) = (ran.clone(), Flag(dropped.clone()));
        let err = handle
            .spawn(move || {
                let _d = d;
                r.set(true);
            })
            .unwrap_err();
        assert!(matches!(err, TaskGroupSpawnError::Closed));
        assert!(dropped.get(), "the closure was dropped, not kept");
        yield_n(3);
        assert!(!ran.get(), "no orphan task ran");
        let message = err.to_string();
        assert!(message.contains("already ended"), "{message}");
        assert!(message.contains("fibrio::spawn"), "{message}");
        handle.cancel(); // does nothing, does not panic
    });
}

#[test]
fn a_task_outside_the_group_spawning_late_gets_the_error() {
    fibrio::run(|| {
        let kept: Rc<RefCell<Option<TaskGroupHandle>>> = Rc::default();
        let k = kept.clone();
        // A task outside the group holds a handle and tries after the
        // group has ended.
        let outsider = fibrio::spawn(move || {
            while k.borrow().is_none() {
                fibrio::yield_now();
            }
            fibrio::sleep(Duration::from_millis(5));
            let handle = k.borrow().clone().unwrap();
            handle.spawn(|| ()).map(drop)
        });
        TaskGroup::scope(|g| *kept.borrow_mut() = Some(g.handle())).unwrap();
        assert!(matches!(
            outsider.join().unwrap(),
            Err(TaskGroupSpawnError::Closed)
        ));
    });
}

#[test]
fn a_task_outside_the_group_can_spawn_into_it_while_it_runs() {
    fibrio::run(|| {
        let joined_late = Rc::new(Cell::new(false));
        let jl = joined_late.clone();
        TaskGroup::scope(move |g| {
            let handle = g.handle();
            // Not a child: a plain task with the handle.
            fibrio::spawn(move || {
                handle
                    .spawn(move || {
                        fibrio::sleep(Duration::from_millis(5));
                        jl.set(true);
                    })
                    .unwrap();
            });
            fibrio::yield_now(); // the outsider spawns here
            assert_eq!(g.len(), 1);
        })
        .unwrap();
        assert!(joined_late.get(), "scope waited for the task it spawned");
    });
}

#[test]
fn cancelling_through_the_handle_cancels_the_group() {
    fibrio::run(|| {
        let unwound = Rc::new(Cell::new(false));
        let u = unwound.clone();
        let got = TaskGroup::scope(move |g| {
            let handle = g.handle();
            g.spawn(move || {
                let _flag = Flag(u);
                park_until_cancelled()
            });
            g.spawn(move || handle.cancel());
            park_until_cancelled()
        });
        assert!(matches!(got, Err(TaskGroupError::Cancelled)));
        assert!(unwound.get());
    });
}

#[test]
fn a_child_spawning_while_the_group_is_cancelled_is_waited_for() {
    quiet_planned_panics();
    fibrio::run(|| {
        let late: Rc<RefCell<Option<TaskRef>>> = Rc::default();
        let l = late.clone();
        let err = TaskGroup::scope(move |g| {
            let handle = g.handle();
            g.spawn(move || {
                // Cleanup that starts a sibling after the group's cancel.
                struct SpawnOnDrop(TaskGroupHandle, Rc<RefCell<Option<TaskRef>>>);
                impl Drop for SpawnOnDrop {
                    fn drop(&mut self) {
                        let child = self.0.spawn(park_until_cancelled).unwrap();
                        *self.1.borrow_mut() = Some(child.task_ref());
                    }
                }
                let _cleanup = SpawnOnDrop(handle, l);
                park_until_cancelled()
            });
            g.spawn(|| -> () { panic!("planned: cancels the group") });
        })
        .unwrap_err();
        assert_eq!(err.failures().len(), 1);
        let late = late.borrow_mut().take().unwrap();
        assert!(late.is_finished(), "scope waited for the late sibling");
        assert!(late.state().is_cancelled());
    });
}
