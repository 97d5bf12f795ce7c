//! Dropping a fiber: a suspended fiber's stack unwinds (every `Drop` runs,
//! code after the suspend point does not), cleanup code cannot suspend, and
//! the stack goes back to the pool.

use std::cell::{Cell, RefCell};
use std::panic::{self, catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use fibrio_core::fiber::{suspend, Fiber, FiberError};
use fibrio_core::stack;

struct Recorder {
    log: Rc<RefCell<Vec<String>>>,
    name: &'static str,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.log.borrow_mut().push(format!("drop {}", self.name));
    }
}

#[test]
fn dropping_a_suspended_fiber_runs_every_drop_and_nothing_after_suspend() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let fiber: Fiber<(), (), ()> = Fiber::new(move |()| {
        let _a = Recorder {
            log: l.clone(),
            name: "a",
        };
        let _b = Recorder {
            log: l.clone(),
            name: "b",
        };
        suspend::<(), ()>(()).unwrap();
        l.borrow_mut().push("after suspend".into());
    });
    let handle = fiber.as_ref();
    fiber.start(()).unwrap();
    drop(fiber);
    assert_eq!(*log.borrow(), ["drop b", "drop a"]);
    assert!(handle.is_terminated());
    assert!(!handle.is_suspended());
}

#[test]
fn suspend_during_force_close_is_force_closed() {
    let seen: Rc<Cell<Option<bool>>> = Rc::default();
    let s = seen.clone();
    let fiber: Fiber<(), (), ()> = Fiber::new(move |()| {
        struct TriesToSuspend(Rc<Cell<Option<bool>>>);
        impl Drop for TriesToSuspend {
            fn drop(&mut self) {
                let result = suspend::<(), ()>(());
                self.0
                    .set(Some(matches!(result, Err(FiberError::ForceClosed))));
            }
        }
        let _guard = TriesToSuspend(s);
        suspend::<(), ()>(()).unwrap();
    });
    fiber.start(()).unwrap();
    drop(fiber);
    assert_eq!(seen.get(), Some(true));
}

#[test]
fn a_fiber_that_catches_the_close_cannot_suspend_again_and_still_ends() {
    let outcome: Rc<RefCell<Vec<String>>> = Rc::default();
    let o = outcome.clone();
    let fiber: Fiber<(), (), ()> = Fiber::new(move |()| {
        let caught = catch_unwind(AssertUnwindSafe(|| suspend::<(), ()>(())));
        o.borrow_mut().push(format!("caught: {}", caught.is_err()));
        let again = suspend::<(), ()>(());
        o.borrow_mut().push(format!("{:?}", again.unwrap_err()));
    });
    fiber.start(()).unwrap();
    drop(fiber);
    assert_eq!(*outcome.borrow(), ["caught: true", "ForceClosed"]);
}

#[test]
fn dropping_an_unstarted_fiber_drops_its_closure_without_running_it() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let captured = Recorder {
        log: log.clone(),
        name: "captured",
    };
    let fiber: Fiber<(), (), ()> = Fiber::new(move |()| {
        let _keep = &captured;
        panic!("must not run");
    });
    drop(fiber);
    assert_eq!(*log.borrow(), ["drop captured"]);
}

#[test]
fn suspend_while_the_thread_unwinds_is_refused() {
    // A Drop that runs during a real panic inside the fiber tries to suspend.
    let seen: Rc<Cell<Option<bool>>> = Rc::default();
    let s = seen.clone();
    let fiber: Fiber<(), (), ()> = Fiber::new(move |()| {
        struct TriesToSuspend(Rc<Cell<Option<bool>>>);
        impl Drop for TriesToSuspend {
            fn drop(&mut self) {
                let result = suspend::<(), ()>(());
                self.0
                    .set(Some(matches!(result, Err(FiberError::Unwinding))));
            }
        }
        let _guard = TriesToSuspend(s);
        panic::resume_unwind(Box::new("quiet failure"));
    });
    let err = fiber.start(()).unwrap_err();
    assert!(matches!(err, FiberError::Panicked(_)));
    assert_eq!(seen.get(), Some(true));
    assert!(!std::thread::panicking());
}

#[test]
fn stacks_return_to_the_pool_when_fibers_end_or_drop() {
    let size = 72 * 1024; // a size no other test uses
    let before = stack::statistics();
    let finished: Fiber<(), (), ()> = fibrio_core::fiber::Builder::new()
        .stack_size(size)
        .build(|()| ())
        .unwrap();
    let suspended: Fiber<(), (), ()> = fibrio_core::fiber::Builder::new()
        .stack_size(size)
        .build(|()| suspend::<(), ()>(()).unwrap())
        .unwrap();
    let unstarted: Fiber<(), (), ()> = fibrio_core::fiber::Builder::new()
        .stack_size(size)
        .build(|()| ())
        .unwrap();
    assert_eq!(stack::statistics().in_use, before.in_use + 3);
    finished.start(()).unwrap();
    // Released at termination, before the Fiber itself is dropped.
    assert_eq!(stack::statistics().in_use, before.in_use + 2);
    suspended.start(()).unwrap();
    drop(suspended);
    drop(unstarted);
    drop(finished);
    assert_eq!(stack::statistics().in_use, before.in_use);
}

#[test]
fn a_panic_after_catching_the_close_propagates_from_drop() {
    // A panic inside a `Drop` that runs during the close aborts, as anywhere
    // in Rust. But a fiber can catch the close and then panic in plain code:
    // that panic is not lost, it comes out of `drop`.
    let fiber: Fiber<(), (), ()> = Fiber::new(|()| {
        let _ = catch_unwind(AssertUnwindSafe(|| suspend::<(), ()>(())));
        panic::resume_unwind(Box::new("cleanup failed"));
    });
    fiber.start(()).unwrap();
    let payload = catch_unwind(AssertUnwindSafe(move || drop(fiber))).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"cleanup failed"));
}

#[test]
fn a_fiber_ref_outlives_its_fiber_and_is_never_recycled() {
    let named: Fiber<(), (), ()> = fibrio_core::fiber::Builder::new()
        .name("first")
        .build(|()| suspend::<(), ()>(()).unwrap())
        .unwrap();
    let first_id = named.id();
    let kept = named.as_ref();
    named.start(()).unwrap();
    drop(named);
    // Make many fibers: none may take over the header `kept` still uses.
    for _ in 0..64 {
        let other: Fiber<(), (), ()> = Fiber::new(|()| ());
        assert_ne!(other.id(), first_id);
        assert_eq!(other.name(), None, "a recycled header must not keep a name");
        other.start(()).unwrap();
    }
    assert_eq!(kept.id(), first_id);
    assert_eq!(kept.name(), Some("first"));
    assert!(kept.is_terminated());
}
