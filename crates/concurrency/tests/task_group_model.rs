//! proptest: a `TaskGroup` never returns while a child is alive, and its
//! error reports exactly the children that panicked, whatever the mix of
//! successes, panics, long sleeps and group cancellation.

mod common;

use common::quiet_planned_panics;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use fibrio::task::TaskRef;
use fibrio_concurrency::{TaskGroup, TaskGroupError};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Plan {
    Return,
    Panic,
    SleepLong,
}

fn plan() -> impl Strategy<Value = Plan> {
    prop_oneof![Just(Plan::Return), Just(Plan::Panic), Just(Plan::SleepLong)]
}

/// Decrements the live count when the child's stack is gone.
struct Alive(Rc<Cell<usize>>);
impl Drop for Alive {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_task_group_never_returns_while_a_child_is_alive(
        children in proptest::collection::vec((plan(), 0usize..4), 0..8),
        cancel_at in proptest::option::of(0usize..6),
        body_yields in 0usize..6,
    ) {
        quiet_planned_panics();
        let (alive_after, all_finished, outcome, panicked) = fibrio::run(move || {
            let alive = Rc::new(Cell::new(0usize));
            let refs: Rc<RefCell<Vec<TaskRef>>> = Rc::default();
            let panicked: Rc<RefCell<Vec<usize>>> = Rc::default();
            let (a, r, p) = (alive.clone(), refs.clone(), panicked.clone());
            let outcome = TaskGroup::scope(move |g| {
                for (index, &(plan, yields)) in children.iter().enumerate() {
                    a.set(a.get() + 1);
                    let guard = Alive(a.clone());
                    let p = p.clone();
                    let child = g.spawn(move || {
                        let _guard = guard;
                        for _ in 0..yields {
                            fibrio::yield_now();
                        }
                        match plan {
                            Plan::Return => {}
                            Plan::Panic => {
                                p.borrow_mut().push(index);
                                panic!("planned failure {index}");
                            }
                            Plan::SleepLong => fibrio::sleep(Duration::from_secs(60)),
                        }
                    });
                    r.borrow_mut().push(child.task_ref());
                }
                for step in 0..body_yields {
                    if cancel_at == Some(step) {
                        g.cancel();
                    }
                    fibrio::yield_now();
                }
                // Long sleepers end only by cancellation: cancel if nobody
                // failed, so the scope can return.
                g.cancel();
            });
            let all_finished = refs.borrow().iter().all(TaskRef::is_finished);
            let panicked = panicked.borrow().clone();
            let outcome = match outcome {
                Ok(()) => Ok(()),
                Err(TaskGroupError::Cancelled) => Err(Vec::new()),
                Err(TaskGroupError::Failed(f)) => Err(f.iter().map(|f| f.index).collect()),
                Err(e @ TaskGroupError::BodyPanicked { .. }) => panic!("the body did not panic: {e}"),
            };
            (alive.get(), all_finished, outcome, panicked)
        });
        prop_assert_eq!(alive_after, 0, "a child's stack outlived the group");
        prop_assert!(all_finished);
        match outcome {
            Ok(()) => prop_assert!(panicked.is_empty()),
            Err(mut reported) => {
                reported.sort_unstable();
                let mut expected = panicked.clone();
                expected.sort_unstable();
                prop_assert_eq!(reported, expected, "every panic reported, nothing else");
            }
        }
    }
}
