//! `ScopeContext` and `Builder::spawn_in`: a task spawned into a captured
//! context belongs to exactly the captured scopes, never to those its
//! spawner happens to be inside, and the context keeps working after the
//! code that captured it has left the scopes.
//!
//! Runs on the fake driver of `common`, which panics on a deadlock (a lost
//! wake-up) instead of hanging.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::block_on;
use fibrio_core::task::{
    self, move_on_after, Builder, CancelScope, JoinError, ScopeContext, TaskState,
};

/// Parks until the task is cancelled (a wake-up may return from one
/// `park`; the next one unwinds).
fn park_until_cancelled() {
    loop {
        task::park().unwrap();
    }
}

fn assert_cancelled<T: std::fmt::Debug>(result: Result<T, JoinError>) {
    match result {
        Err(err) => assert!(err.is_cancelled(), "expected a cancelled task, got {err:?}"),
        Ok(value) => panic!("expected a cancelled task, it returned {value:?}"),
    }
}

#[test]
fn current_lists_the_scopes_around_the_code_innermost_last() {
    block_on(|| {
        assert!(ScopeContext::current().is_empty());
        let outer = CancelScope::new();
        let inner = CancelScope::new();
        let lens = outer.run(|| {
            let one = ScopeContext::current().len();
            let two = inner.run(|| ScopeContext::current().len()).unwrap();
            let shielded = inner.run(|| CancelScope::shield(|| ScopeContext::current().len()));
            (one, two, shielded.unwrap())
        });
        assert_eq!(lens, Some((1, 2, 3)));
        assert!(ScopeContext::current().is_empty());
    });
    // Outside a task.
    assert!(ScopeContext::current().is_empty());
}

#[test]
fn a_task_spawned_into_scopes_captures_them_too() {
    block_on(|| {
        let outer = CancelScope::new();
        // Spawned normally inside `outer`: it starts inside it.
        let child = outer
            .run(|| task::spawn(|| ScopeContext::current().len()))
            .unwrap();
        assert_eq!(child.join().unwrap(), 1);
        // Spawned into a two-scope context: it starts inside both.
        let inner = CancelScope::new();
        let context = outer
            .run(|| inner.run(ScopeContext::current))
            .unwrap()
            .unwrap();
        let child = Builder::new()
            .spawn_in(&context, || ScopeContext::current().len())
            .unwrap();
        assert_eq!(child.join().unwrap(), 2);
    });
}

#[test]
fn a_task_in_a_context_from_scope_a_spawned_inside_scope_b_is_cancelled_by_a_not_b() {
    block_on(|| {
        let a = CancelScope::new();
        let context = a.run(ScopeContext::current).unwrap();
        let child = spawn_inside_a_scope_then_cancel_it(&context);
        a.cancel();
        assert_cancelled(child.join());
    });
}

/// Spawns a parked task into `context` from inside a scope that is then
/// cancelled, and checks the scope's cancellation does not reach it.
fn spawn_inside_a_scope_then_cancel_it(context: &ScopeContext) -> task::JoinHandle<()> {
    let b = CancelScope::new();
    let mut kept = None;
    let got = b.run(|| {
        kept = Some(
            Builder::new()
                .spawn_in(context, park_until_cancelled)
                .unwrap(),
        );
        task::yield_now(); // the child starts and parks
        b.cancel();
        task::yield_now(); // `b` unwinds here
        unreachable!("the cancelled scope unwinds its body");
    });
    assert_eq!(got, None::<()>);
    assert!(b.cancelled_caught());
    let child = kept.unwrap();
    for _ in 0..3 {
        task::yield_now();
    }
    // `b`'s cancellation woke and cancelled its members only.
    assert!(!child.is_finished());
    assert_eq!(child.state(), TaskState::Running);
    child
}

#[test]
fn a_normal_spawn_still_belongs_to_the_spawners_scopes() {
    block_on(|| {
        let b = CancelScope::new();
        let mut kept = None;
        let got = b.run(|| {
            kept = Some(task::spawn(park_until_cancelled));
            task::yield_now();
            b.cancel();
            task::yield_now();
        });
        assert_eq!(got, None);
        assert_cancelled(kept.unwrap().join());
    });
}

#[test]
fn an_empty_context_spawns_a_task_in_no_scope_even_from_inside_one() {
    block_on(|| {
        let release = Rc::new(Cell::new(false));
        let b = CancelScope::new();
        let mut kept = None;
        let got = b.run(|| {
            let wait = release.clone();
            let child = Builder::new()
                .spawn_in(&ScopeContext::empty(), move || {
                    let depth = ScopeContext::current().len();
                    while !wait.get() {
                        task::yield_now(); // a checkpoint: unwinds if cancelled
                    }
                    depth
                })
                .unwrap();
            kept = Some(child);
            task::yield_now(); // the child starts
            b.cancel();
            task::yield_now(); // `b` unwinds here
        });
        assert_eq!(got, None);
        let child = kept.unwrap();
        for _ in 0..3 {
            task::yield_now();
        }
        assert!(
            !child.is_finished(),
            "the scope's cancellation reached the child"
        );
        release.set(true);
        assert_eq!(child.join().unwrap(), 0);
    });
}

#[test]
fn the_context_outlives_the_code_that_captured_it() {
    block_on(|| {
        let a = CancelScope::new();
        let context = a.run(ScopeContext::current).unwrap();
        // `a` has been left: nobody is inside it any more.
        let child = Builder::new()
            .spawn_in(&context, park_until_cancelled)
            .unwrap();
        task::yield_now();
        assert_eq!(child.state(), TaskState::Running);
        a.cancel();
        assert_cancelled(child.join());

        // Spawned after `a` was cancelled: never starts, ends Cancelled.
        let started = Rc::new(Cell::new(false));
        let flag = started.clone();
        let late = Builder::new()
            .spawn_in(&context, move || flag.set(true))
            .unwrap();
        assert_cancelled(late.join());
        assert!(!started.get());
        let late_again = Builder::new().spawn_in(&context.clone(), || ()).unwrap();
        task::yield_now();
        assert_eq!(late_again.state(), TaskState::Cancelled);
    });
}

#[test]
fn the_context_survives_the_task_that_captured_it() {
    block_on(|| {
        let a = CancelScope::new();
        let capturer = task::spawn({
            let a = a.clone();
            move || a.run(ScopeContext::current).unwrap()
        });
        let context = capturer.join().unwrap();
        assert_eq!(context.len(), 1);
        let child = Builder::new()
            .spawn_in(&context, park_until_cancelled)
            .unwrap();
        task::yield_now();
        a.cancel();
        assert_cancelled(child.join());
    });
}

#[test]
fn a_captured_shielded_scope_shields_the_task() {
    block_on(|| {
        let outer = CancelScope::new();
        let shield = CancelScope::new().shielded();
        let context = outer
            .run(|| shield.run(ScopeContext::current).unwrap())
            .unwrap();
        let child = Builder::new()
            .spawn_in(&context, park_until_cancelled)
            .unwrap();
        task::yield_now();
        outer.cancel();
        for _ in 0..3 {
            task::yield_now();
        }
        assert!(!child.is_finished(), "the shield did not hold");
        // Lowering the shield lets the outer cancellation through.
        shield.set_shield(false);
        assert_cancelled(child.join());
    });
}

#[test]
fn cancelling_any_scope_of_the_context_cancels_the_task() {
    block_on(|| {
        let outer = CancelScope::new();
        let inner = CancelScope::new();
        let context = outer
            .run(|| inner.run(ScopeContext::current).unwrap())
            .unwrap();
        let by_inner = Builder::new()
            .spawn_in(&context, park_until_cancelled)
            .unwrap();
        task::yield_now();
        inner.cancel();
        assert_cancelled(by_inner.join());

        let outer2 = CancelScope::new();
        let inner2 = CancelScope::new();
        let context = outer2
            .run(|| inner2.run(ScopeContext::current).unwrap())
            .unwrap();
        let by_outer = Builder::new()
            .spawn_in(&context, park_until_cancelled)
            .unwrap();
        task::yield_now();
        outer2.cancel();
        assert_cancelled(by_outer.join());
    });
}

#[test]
fn a_task_in_a_context_can_still_be_cancelled_by_its_handle() {
    block_on(|| {
        let a = CancelScope::new();
        let context = a.run(ScopeContext::current).unwrap();
        let child = Builder::new()
            .spawn_in(&context, park_until_cancelled)
            .unwrap();
        task::yield_now();
        child.cancel();
        assert_cancelled(child.join());
        assert!(!a.is_cancelled());
    });
}

#[test]
fn a_passed_deadline_in_the_context_cancels_the_task_before_it_starts() {
    block_on(|| {
        // No checkpoint in the body, so it finishes; its deadline has
        // passed all the same.
        let context = move_on_after(Duration::ZERO, ScopeContext::current).unwrap();
        let started = Rc::new(Cell::new(false));
        let flag = started.clone();
        let child = Builder::new()
            .spawn_in(&context, move || flag.set(true))
            .unwrap();
        assert_cancelled(child.join());
        assert!(!started.get());
    });
}

#[test]
fn spawn_in_outside_a_runtime_is_an_error() {
    let err = Builder::new()
        .spawn_in(&ScopeContext::empty(), || ())
        .unwrap_err();
    assert!(matches!(err, task::SpawnError::NoRuntime));
}
