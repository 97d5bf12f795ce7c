//! Which cancel scopes a `TaskGroup`'s children belong to: exactly the
//! scopes that enclose the group (those around the `TaskGroup::scope` call
//! and the group's own), as a trio nursery's tasks do. Never the scopes
//! the spawning code happens to be in: a sibling started through a handle
//! from inside a child's `move_on_after`, or a child started by the body
//! from inside a nested scope, outlives that scope.

mod common;

use common::{assert_cancelled, park_until_cancelled, yield_n};

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use fibrio::task::{move_on_after, CancelScope, JoinHandle, TaskState};
use fibrio_concurrency::{TaskGroup, TaskGroupError};

/// A flag tasks wait on, sleeping, until another task sets it. Sleeping is
/// a checkpoint, so a waiter that has been cancelled unwinds.
#[derive(Clone, Default)]
struct Release(Rc<Cell<bool>>);

impl Release {
    fn set(&self) {
        self.0.set(true);
    }

    fn wait(&self) {
        while !self.0.get() {
            fibrio::sleep(Duration::from_millis(1));
        }
    }
}

type Kept = Rc<RefCell<Vec<JoinHandle<()>>>>;

#[test]
fn a_sibling_spawned_through_a_handle_inside_a_childs_move_on_after_outlives_it() {
    fibrio::run(|| {
        let release = Release::default();
        let sibling: Rc<RefCell<Option<JoinHandle<&str>>>> = Rc::default();
        let timed_out = Rc::new(Cell::new(false));
        let (kept, flag) = (sibling.clone(), timed_out.clone());
        TaskGroup::scope(|g| {
            let handle = g.handle();
            g.spawn(move || {
                let got = move_on_after(Duration::from_millis(10), || {
                    let waiter = release.clone();
                    let spawned = handle.spawn(move || {
                        waiter.wait();
                        "outlived"
                    });
                    *kept.borrow_mut() = Some(spawned.unwrap());
                    park_until_cancelled();
                });
                // The deadline cut this child's scope short...
                assert_eq!(got, None);
                flag.set(true);
                // ... and the sibling is still waiting: let it finish.
                release.set();
            });
        })
        .unwrap();
        assert!(timed_out.get());
        let sibling = sibling.borrow_mut().take().unwrap();
        assert_eq!(sibling.join().unwrap(), "outlived");
    });
}

#[test]
fn a_child_spawned_by_the_body_inside_a_nested_scope_is_not_cancelled_with_it() {
    fibrio::run(|| {
        let release = Release::default();
        let got = TaskGroup::scope(|g| {
            let nested = CancelScope::new();
            let mut kept = None;
            let cut = nested.run(|| {
                let waiter = release.clone();
                kept = Some(g.spawn(move || {
                    waiter.wait();
                    7
                }));
                yield_n(2); // the child starts
                nested.cancel();
                fibrio::yield_now(); // the nested scope unwinds here
            });
            assert_eq!(cut, None);
            assert!(nested.cancelled_caught());
            let child = kept.unwrap();
            yield_n(5);
            assert!(!child.is_finished(), "the nested scope cancelled the child");
            release.set();
            child.join().unwrap()
        });
        assert_eq!(got.unwrap(), 7);
    });
}

#[test]
fn a_child_spawned_by_the_body_inside_a_nested_deadline_outlives_it() {
    fibrio::run(|| {
        let release = Release::default();
        let got = TaskGroup::scope(|g| {
            let mut kept = None;
            let cut = move_on_after(Duration::from_millis(5), || {
                let waiter = release.clone();
                kept = Some(g.spawn(move || {
                    waiter.wait();
                    "kept"
                }));
                fibrio::sleep(Duration::from_secs(60)); // cut short
            });
            assert_eq!(cut, None);
            let child = kept.unwrap();
            yield_n(5);
            assert!(!child.is_finished());
            release.set();
            child.join().unwrap()
        });
        assert_eq!(got.unwrap(), "kept");
    });
}

/// Spawns children into `g` in every way, each parking until cancelled,
/// and keeps their handles: from the body, from the body inside a nested
/// scope and inside a shield, and through a handle from inside a child's
/// scope and shield.
fn spawn_children_everywhere(g: &TaskGroup, kept: &Kept) {
    let park = || park_until_cancelled();
    kept.borrow_mut().push(g.spawn(park));
    CancelScope::new().run(|| kept.borrow_mut().push(g.spawn(park)));
    CancelScope::shield(|| kept.borrow_mut().push(g.spawn(park)));
    let handle = g.handle();
    let from_child = kept.clone();
    kept.borrow_mut().push(g.spawn(move || {
        move_on_after(Duration::from_secs(60), || {
            from_child.borrow_mut().push(handle.spawn(park).unwrap());
        });
        CancelScope::shield(|| {
            from_child.borrow_mut().push(handle.spawn(park).unwrap());
        });
        park_until_cancelled();
    }));
    yield_n(3); // every child starts and parks
    assert_eq!(kept.borrow().len(), 6);
    assert!(kept
        .borrow()
        .iter()
        .all(|c| c.state() == TaskState::Running));
}

fn assert_all_cancelled(kept: &Kept) {
    let children = std::mem::take(&mut *kept.borrow_mut());
    assert_eq!(children.len(), 6);
    for child in children {
        assert_eq!(child.state(), TaskState::Cancelled);
        assert_cancelled(child.join());
    }
}

#[test]
fn cancelling_a_scope_around_the_whole_group_cancels_every_child() {
    fibrio::run(|| {
        let kept = Kept::default();
        let outer = CancelScope::new();
        let got = outer.run(|| {
            TaskGroup::scope(|g| {
                spawn_children_everywhere(g, &kept);
                outer.cancel();
                park_until_cancelled();
            })
        });
        assert!(got.is_none());
        assert!(outer.cancelled_caught());
        assert_all_cancelled(&kept);
    });
}

#[test]
fn a_deadline_around_the_whole_group_cancels_every_child() {
    fibrio::run(|| {
        let kept = Kept::default();
        let got = move_on_after(Duration::from_millis(5), || {
            TaskGroup::scope(|g| {
                spawn_children_everywhere(g, &kept);
                park_until_cancelled();
            })
        });
        assert!(got.is_none());
        assert_all_cancelled(&kept);
    });
}

#[test]
fn the_groups_own_cancel_still_cancels_every_child() {
    fibrio::run(|| {
        let kept = Kept::default();
        let got = TaskGroup::scope(|g| {
            spawn_children_everywhere(g, &kept);
            g.cancel();
            park_until_cancelled();
        });
        assert!(matches!(got, Err(TaskGroupError::Cancelled)));
        assert_all_cancelled(&kept);
    });
}

#[test]
fn a_shield_around_the_group_shields_every_child() {
    fibrio::run(|| {
        let release = Release::default();
        let outer = CancelScope::new();
        let got = outer.run(|| {
            CancelScope::shield(|| {
                TaskGroup::scope(|g| {
                    let handle = g.handle();
                    let waiter = release.clone();
                    let first = g.spawn(move || {
                        // Through a handle, from a child in a scope of its own.
                        let sibling = CancelScope::new()
                            .run(|| handle.spawn(move || waiter.wait()).unwrap())
                            .unwrap();
                        sibling.join().unwrap();
                        1
                    });
                    outer.cancel();
                    yield_n(5);
                    assert!(!first.is_finished(), "the shield did not hold");
                    release.set();
                    first.join().unwrap()
                })
            })
        });
        // The shield held until the group ended; the outer cancellation
        // was never reached by a checkpoint inside `outer` after it.
        assert_eq!(got.map(|r| r.unwrap()), Some(1));
    });
}

#[test]
fn a_failing_child_cancels_the_children_spawned_from_nested_scopes() {
    common::quiet_planned_panics();
    fibrio::run(|| {
        let kept = Kept::default();
        let got = TaskGroup::scope(|g| {
            spawn_children_everywhere(g, &kept);
            g.spawn(|| panic!("planned failure"));
            park_until_cancelled();
        });
        let err = got.unwrap_err();
        assert!(matches!(err, TaskGroupError::Failed(_)));
        assert_eq!(err.failures().len(), 1);
        assert_all_cancelled(&kept);
    });
}
