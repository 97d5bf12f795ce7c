//! One behaviour test per row of `docs/php-fiber-parity.md`: each PHP
//! `Fiber` method and each `FiberError` message, in fibrio's form.

mod common;

use common::quiet_planned_panics;

use std::cell::RefCell;
use std::panic::{self, catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use fibrio_core::fiber::{current, suspend, Builder, Fiber, FiberError};

#[test]
fn construct_does_not_run_the_closure() {
    let ran = Rc::new(RefCell::new(false));
    let flag = ran.clone();
    let fiber: Fiber<(), (), ()> = Fiber::new(move |()| *flag.borrow_mut() = true);
    assert!(!*ran.borrow());
    assert!(!fiber.is_started() && !fiber.is_running());
    assert!(!fiber.is_suspended() && !fiber.is_terminated());
}

#[test]
fn start_passes_the_argument_and_returns_the_first_suspended_value() {
    let fiber: Fiber<u32, u32, ()> = Fiber::new(|x| {
        suspend::<u32, u32>(x * 10).unwrap();
    });
    assert_eq!(fiber.start(4).unwrap(), Some(40));
    assert!(fiber.is_started() && fiber.is_suspended());
}

#[test]
fn start_returns_none_when_the_fiber_returns_without_suspending() {
    let fiber: Fiber<u32, (), u32> = Fiber::new(|x| x + 1);
    assert_eq!(fiber.start(1).unwrap(), None);
    assert!(fiber.is_terminated());
}

#[test]
fn start_twice_is_already_started() {
    let fiber: Fiber<(), (), ()> = Fiber::new(|()| suspend::<(), ()>(()).unwrap());
    fiber.start(()).unwrap();
    let err = fiber.start(()).unwrap_err();
    assert!(matches!(err, FiberError::AlreadyStarted));
    assert_eq!(
        err.to_string(),
        "Cannot start a fiber that has already been started"
    );
}

#[test]
fn resume_delivers_the_value_to_the_pending_suspend() {
    let fiber: Fiber<String, (), String> = Fiber::new(|a| {
        let b = suspend::<String, ()>(()).unwrap();
        a + b.as_str()
    });
    fiber.start("ab".into()).unwrap();
    assert_eq!(fiber.resume("cd".into()).unwrap(), None);
    assert_eq!(fiber.get_return().unwrap(), "abcd");
}

#[test]
fn resume_before_start_is_not_suspended() {
    let fiber: Fiber<(), (), ()> = Fiber::new(|()| ());
    let err = fiber.resume(()).unwrap_err();
    assert!(matches!(err, FiberError::NotSuspended));
    assert_eq!(
        err.to_string(),
        "Cannot resume a fiber that is not suspended"
    );
}

#[test]
fn resume_after_termination_is_not_suspended() {
    let fiber: Fiber<(), (), ()> = Fiber::new(|()| ());
    fiber.start(()).unwrap();
    assert!(matches!(fiber.resume(()), Err(FiberError::NotSuspended)));
}

#[test]
fn resume_of_a_running_fiber_is_not_suspended() {
    // The fiber reaches itself through an Rc and tries to resume itself.
    type SelfSlot = Rc<RefCell<Option<Rc<Fiber<(), (), bool>>>>>;
    let slot: SelfSlot = Rc::default();
    let inner = slot.clone();
    let fiber = Rc::new(Fiber::new(move |()| {
        let me = inner.borrow().clone().unwrap();
        matches!(me.resume(()), Err(FiberError::NotSuspended))
            && matches!(me.throw("x"), Err(FiberError::NotSuspended))
            && matches!(me.start(()), Err(FiberError::AlreadyStarted))
            && matches!(me.get_return(), Err(FiberError::NotReturned))
    }));
    *slot.borrow_mut() = Some(fiber.clone());
    fiber.start(()).unwrap();
    assert!(fiber.get_return().unwrap());
    slot.borrow_mut().take();
}

#[test]
fn throw_unwinds_from_the_suspend_point_and_comes_back_as_panicked() {
    let dropped = Rc::new(RefCell::new(false));
    let flag = dropped.clone();
    let fiber: Fiber<(), (), ()> = Fiber::new(move |()| {
        struct Guard(Rc<RefCell<bool>>);
        impl Drop for Guard {
            fn drop(&mut self) {
                *self.0.borrow_mut() = true;
            }
        }
        let _guard = Guard(flag);
        suspend::<(), ()>(()).unwrap();
        unreachable!("code after the suspend point must not run");
    });
    fiber.start(()).unwrap();
    let payload = fiber.throw(17_u32).unwrap_err().into_panic().unwrap();
    assert_eq!(payload.downcast_ref::<u32>(), Some(&17));
    assert!(*dropped.borrow());
    assert!(fiber.is_terminated());
    assert!(matches!(fiber.get_return(), Err(FiberError::Threw)));
}

#[test]
fn throw_caught_inside_lets_the_fiber_suspend_again() {
    let fiber: Fiber<(), &str, &str> = Fiber::new(|()| {
        let caught = catch_unwind(AssertUnwindSafe(|| suspend::<(), &str>("first")));
        assert!(caught.is_err());
        suspend::<(), &str>("recovered").unwrap();
        "finished"
    });
    assert_eq!(fiber.start(()).unwrap(), Some("first"));
    assert_eq!(fiber.throw("oops").unwrap(), Some("recovered"));
    assert_eq!(fiber.resume(()).unwrap(), None);
    assert_eq!(fiber.get_return().unwrap(), "finished");
}

#[test]
fn throw_into_a_deep_suspend_raises_where_the_suspend_is() {
    fn deep(n: u32) -> u32 {
        if n == 0 {
            match catch_unwind(|| suspend::<(), u32>(0)) {
                Ok(_) => 0,
                Err(_) => 99,
            }
        } else {
            deep(n - 1) + 1
        }
    }
    let fiber: Fiber<(), u32, u32> = Fiber::new(|()| deep(50));
    fiber.start(()).unwrap();
    assert_eq!(fiber.throw(()).unwrap(), None);
    assert_eq!(fiber.get_return().unwrap(), 149);
}

#[test]
fn throw_before_start_is_not_suspended() {
    let fiber: Fiber<(), (), ()> = Fiber::new(|()| ());
    assert!(matches!(fiber.throw("x"), Err(FiberError::NotSuspended)));
    assert!(!fiber.is_started());
}

#[test]
fn get_return_before_start_is_not_started() {
    let fiber: Fiber<(), (), ()> = Fiber::new(|()| ());
    let err = fiber.get_return().unwrap_err();
    assert!(matches!(err, FiberError::NotStarted));
    assert_eq!(
        err.to_string(),
        "Cannot get fiber return value: The fiber has not been started"
    );
}

#[test]
fn get_return_while_suspended_is_not_returned() {
    let fiber: Fiber<(), (), ()> = Fiber::new(|()| suspend::<(), ()>(()).unwrap());
    fiber.start(()).unwrap();
    let err = fiber.get_return().unwrap_err();
    assert!(matches!(err, FiberError::NotReturned));
    assert_eq!(
        err.to_string(),
        "Cannot get fiber return value: The fiber has not returned"
    );
}

#[test]
fn get_return_after_a_panic_is_threw() {
    quiet_planned_panics();
    let fiber: Fiber<(), (), ()> = Fiber::new(|()| panic!("planned breakage"));
    let err = fiber.start(()).unwrap_err();
    assert_eq!(err.to_string(), "the fiber panicked: planned breakage");
    assert!(fiber.is_terminated());
    let err = fiber.get_return().unwrap_err();
    assert!(matches!(err, FiberError::Threw));
    assert_eq!(
        err.to_string(),
        "Cannot get fiber return value: The fiber threw an exception"
    );
}

#[test]
fn get_return_moves_the_value_out_once() {
    let fiber: Fiber<(), (), Vec<u8>> = Fiber::new(|()| vec![1, 2, 3]);
    fiber.start(()).unwrap();
    assert_eq!(fiber.get_return().unwrap(), [1, 2, 3]);
    assert!(matches!(fiber.get_return(), Err(FiberError::ReturnTaken)));
    assert!(fiber.is_terminated());
}

#[test]
fn suspend_outside_a_fiber_is_outside_fiber() {
    let err = suspend::<(), ()>(()).unwrap_err();
    assert!(matches!(err, FiberError::OutsideFiber));
    assert_eq!(err.to_string(), "Cannot suspend outside of fiber");
}

#[test]
fn suspend_with_the_wrong_types_is_a_type_mismatch() {
    let fiber: Fiber<u32, u32, String> = Fiber::new(|_| {
        let err = suspend::<String, u32>(1).unwrap_err();
        err.to_string()
    });
    fiber.start(0).unwrap();
    let message = fiber.get_return().unwrap();
    assert!(message.contains("Fiber<u32, u32, _>"), "{message}");
    assert!(
        message.contains("suspend::<alloc::string::String, u32>"),
        "{message}"
    );
}

#[test]
fn current_is_none_outside_and_the_innermost_fiber_inside() {
    assert!(current().is_none());
    let outer: Fiber<(), (), (u64, u64, u64, bool)> = Fiber::new(|()| {
        let outer_id = current().unwrap().id();
        let inner: Fiber<(), (), u64> = Fiber::new(|()| current().unwrap().id());
        inner.start(()).unwrap();
        let inner_id = inner.get_return().unwrap();
        let after = current().unwrap();
        (outer_id, inner_id, after.id(), after.is_running())
    });
    outer.start(()).unwrap();
    let (outer_id, inner_id, after_id, running) = outer.get_return().unwrap();
    assert_eq!(outer_id, outer.id());
    assert_ne!(inner_id, outer_id);
    assert_eq!(after_id, outer_id);
    assert!(running);
}

#[test]
fn is_running_stays_true_while_a_nested_fiber_runs() {
    let outer: Fiber<(), (), ()> = Fiber::new(|()| {
        let outer_ref = current().unwrap();
        let inner: Fiber<(), (), bool> = Fiber::new(move |()| outer_ref.is_running());
        inner.start(()).unwrap();
        assert!(inner.get_return().unwrap());
    });
    outer.start(()).unwrap();
    assert!(outer.is_terminated());
}

#[test]
fn a_nested_fiber_sees_its_resumer_running_and_cannot_resume_it() {
    type Slot = Rc<RefCell<Option<Rc<Fiber<(), (), ()>>>>>;
    let slot: Slot = Rc::default();
    let seen = slot.clone();
    let outer = Rc::new(Fiber::new(move |()| {
        let me = seen.borrow().clone().unwrap();
        let outer_in_inner = me.clone();
        let inner: Fiber<(), (), ()> = Fiber::new(move |()| {
            // The outer fiber is running (it resumed this one), so it is
            // neither suspended nor resumable from here.
            assert!(outer_in_inner.is_running());
            assert!(!outer_in_inner.is_suspended());
            assert!(matches!(
                outer_in_inner.resume(()),
                Err(FiberError::NotSuspended)
            ));
            assert!(matches!(
                outer_in_inner.throw("x"),
                Err(FiberError::NotSuspended)
            ));
            let me = current().unwrap();
            assert!(me.is_running() && !me.is_suspended());
            suspend::<(), ()>(()).unwrap();
            // Resumed by the outer fiber again: the same holds.
            assert!(outer_in_inner.is_running());
            assert!(matches!(
                outer_in_inner.resume(()),
                Err(FiberError::NotSuspended)
            ));
        });
        assert_eq!(inner.start(()).unwrap(), Some(()));
        // Back in the outer fiber: it is running, the inner one suspended.
        assert!(me.is_running() && !me.is_suspended());
        assert!(inner.is_suspended() && !inner.is_running());
        assert!(matches!(me.resume(()), Err(FiberError::NotSuspended)));
        suspend::<(), ()>(()).unwrap();
        assert!(me.is_running());
        assert_eq!(inner.resume(()).unwrap(), None);
        assert!(inner.is_terminated());
        assert!(me.is_running() && !me.is_suspended());
    }));
    *slot.borrow_mut() = Some(outer.clone());
    assert_eq!(outer.start(()).unwrap(), Some(()));
    assert!(outer.is_suspended() && !outer.is_running());
    assert_eq!(outer.resume(()).unwrap(), None);
    assert!(outer.is_terminated() && !outer.is_running() && !outer.is_suspended());
    slot.borrow_mut().take();
}

#[test]
fn nested_fibers_suspend_to_their_own_resumer() {
    let outer: Fiber<(), &str, Vec<&str>> = Fiber::new(|()| {
        let inner: Fiber<(), &str, ()> = Fiber::new(|()| {
            suspend::<(), &str>("inner-1").unwrap();
        });
        let mut log = vec![inner.start(()).unwrap().unwrap()];
        suspend::<(), &str>("outer-1").unwrap();
        // Resumed by main; now finish the inner fiber from here.
        assert_eq!(inner.resume(()).unwrap(), None);
        log.push("inner-done");
        log
    });
    assert_eq!(outer.start(()).unwrap(), Some("outer-1"));
    assert_eq!(outer.resume(()).unwrap(), None);
    assert_eq!(outer.get_return().unwrap(), ["inner-1", "inner-done"]);
}

#[test]
fn a_suspended_fiber_can_be_resumed_from_another_fiber() {
    let worker: Rc<Fiber<u32, u32, u32>> = Rc::new(Fiber::new(|mut sum| loop {
        sum += suspend::<u32, u32>(sum).unwrap();
        if sum > 10 {
            return sum;
        }
    }));
    assert_eq!(worker.start(1).unwrap(), Some(1));
    let w = worker.clone();
    let driver: Fiber<(), (), Option<u32>> = Fiber::new(move |()| w.resume(5).unwrap());
    driver.start(()).unwrap();
    assert_eq!(driver.get_return().unwrap(), Some(6));
    assert_eq!(worker.resume(7).unwrap(), None);
    assert_eq!(worker.get_return().unwrap(), 13);
}

#[test]
fn a_panic_ends_only_the_fiber_and_keeps_its_payload() {
    quiet_planned_panics();
    let fiber: Fiber<(), (), ()> = Fiber::new(|()| panic::panic_any(String::from("planned kaput")));
    let err = fiber.start(()).unwrap_err();
    let payload = err.into_panic().unwrap();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "planned kaput");
    // The thread is fine: another fiber runs normally.
    let next: Fiber<(), (), u8> = Fiber::new(|()| 1);
    next.start(()).unwrap();
    assert_eq!(next.get_return().unwrap(), 1);
}

#[test]
fn builder_sets_name_and_stack_size_and_ids_are_unique() {
    let a: Fiber<(), (), ()> = Builder::new()
        .name("alpha")
        .stack_size(40 * 1024)
        .build(|(): ()| ())
        .unwrap();
    let b: Fiber<(), (), ()> = Fiber::new(|()| ());
    assert_eq!(a.name(), Some("alpha"));
    assert_eq!(a.stack_size(), 40 * 1024);
    assert_ne!(a.id(), b.id());
    assert!(format!("{a:?}").contains("alpha"));
}
