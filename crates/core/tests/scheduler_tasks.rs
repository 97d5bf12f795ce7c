//! Behaviour of the scheduler and tasks on a driver without I/O: ordering,
//! joining, panics, cancellation, shutdown, cross-thread wake-ups.

mod common;

use common::quiet_planned_panics;

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fibrio_core::fiber::{suspend, Fiber, FiberError};
use fibrio_core::scheduler::{Handle, NotifyDriver, Scheduler, SchedulerConfig, SchedulerError};
use fibrio_core::task::{self, Builder, JoinError, ParkError, SpawnError, TaskState, Unparker};

fn block_on<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    task::test_support::block_on(f)
}

struct OnDrop(Rc<RefCell<Vec<&'static str>>>, &'static str);
impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.borrow_mut().push(self.1);
    }
}

#[test]
fn spawned_tasks_run_in_fifo_order_after_the_spawner_parks() {
    let log = block_on(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        for i in 0..5 {
            let log = log.clone();
            task::spawn(move || log.borrow_mut().push(i));
        }
        log.borrow_mut().push(100); // the spawner keeps running first
        task::yield_now();
        log.take()
    });
    assert_eq!(log, [100, 0, 1, 2, 3, 4]);
}

#[test]
fn yield_now_requeues_at_the_back() {
    let log = block_on(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let handles: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let log = log.clone();
                task::spawn(move || {
                    for round in 0..3 {
                        log.borrow_mut().push(format!("{name}{round}"));
                        task::yield_now();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        log.take()
    });
    assert_eq!(log, ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn joining_a_finished_task_returns_at_once() {
    block_on(|| {
        let handle = task::spawn(|| 7);
        task::yield_now();
        assert!(handle.is_finished());
        assert_eq!(handle.state(), TaskState::Completed);
        assert_eq!(handle.join().unwrap(), 7);
    });
}

#[test]
fn dropping_a_join_handle_detaches_the_task() {
    let ran = block_on(|| {
        let ran = Rc::new(RefCell::new(false));
        let flag = ran.clone();
        drop(task::spawn(move || *flag.borrow_mut() = true));
        task::yield_now();
        let value = *ran.borrow();
        value
    });
    assert!(ran);
}

#[test]
fn a_panicking_task_fails_alone_and_join_reports_the_payload() {
    quiet_planned_panics();
    block_on(|| {
        let bad = task::spawn(|| -> u32 { panic!("planned explosion") });
        let good = task::spawn(|| 5);
        let err = bad.join().unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.to_string(), "the task panicked: planned explosion");
        assert_eq!(good.join().unwrap(), 5);
    });
}

#[test]
fn a_task_cancelled_before_it_runs_never_runs_its_body() {
    block_on(|| {
        let ran = Rc::new(RefCell::new(false));
        let flag = ran.clone();
        let handle = task::spawn(move || *flag.borrow_mut() = true);
        handle.cancel();
        let err = handle.join().unwrap_err();
        assert!(err.is_cancelled());
        assert!(!*ran.borrow());
    });
}

#[test]
fn cancelling_a_parked_task_unwinds_it_and_runs_its_drops() {
    let log = block_on(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let handle = task::spawn(move || {
            let _guard = OnDrop(l.clone(), "guard dropped");
            loop {
                let _ = task::park();
                l.borrow_mut().push("woke without cancel");
            }
        });
        task::yield_now(); // let it park
        assert_eq!(handle.state(), TaskState::Running);
        handle.cancel();
        assert!(handle.join().unwrap_err().is_cancelled());
        log.take()
    });
    assert_eq!(log, ["guard dropped"]);
}

#[test]
fn cancellation_is_level_triggered() {
    let caught = block_on(|| {
        let handle = task::spawn(|| {
            // Wait to be cancelled, swallowing the unwind ...
            let mut caught = u32::from(catch_unwind(task::park).is_err());
            // ... which does not help: every later checkpoint unwinds again.
            for _ in 0..3 {
                caught += u32::from(catch_unwind(task::yield_now).is_err());
            }
            caught += u32::from(catch_unwind(task::checkpoint).is_err());
            caught
        });
        task::yield_now();
        handle.cancel();
        handle.join()
    });
    assert_eq!(caught.unwrap(), 5, "each of the 5 checkpoints unwound");
}

#[test]
fn a_checkpoint_while_unwinding_never_suspends() {
    let seen = block_on(|| {
        let seen = Rc::new(RefCell::new(None));
        let s = seen.clone();
        let handle = task::spawn(move || {
            struct ParkInDrop(Rc<RefCell<Option<ParkError>>>);
            impl Drop for ParkInDrop {
                fn drop(&mut self) {
                    *self.0.borrow_mut() = task::park().err();
                    task::yield_now(); // must not suspend either
                }
            }
            let _guard = ParkInDrop(s);
            let _ = task::park();
        });
        task::yield_now();
        handle.cancel();
        assert!(handle.join().unwrap_err().is_cancelled());
        let value = *seen.borrow();
        value
    });
    assert_eq!(seen, Some(ParkError::Unwinding));
}

#[test]
fn unpark_before_park_is_not_lost() {
    block_on(|| {
        let me = Unparker::current().unwrap();
        me.unpark();
        me.unpark(); // tokens do not accumulate
        task::park().unwrap();
        let other = task::spawn(move || me.unpark());
        task::park().unwrap(); // returns because `other` unparks
        assert!(other.is_finished());
    });
}

#[test]
fn unparker_wakes_a_task_from_another_thread() {
    block_on(|| {
        let me = Unparker::current().unwrap();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            me.unpark();
        });
        task::park().unwrap();
        thread.join().unwrap();
    });
}

#[test]
fn handle_spawns_send_closures_from_other_threads() {
    let total = block_on(|| {
        let handle = Handle::current();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let handle = handle.clone();
                std::thread::spawn(move || handle.spawn(move || i * 100).join().unwrap())
            })
            .collect();
        // Keep the runtime busy-free: join the threads from a blocking task.
        let mut total = 0;
        for thread in threads {
            while !thread.is_finished() {
                task::yield_now();
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            total += thread.join().unwrap();
        }
        total
    });
    assert_eq!(total, 600);
}

#[test]
fn remote_join_from_a_task_parks_instead_of_blocking() {
    block_on(|| {
        let remote = Handle::current().spawn(|| "from the inbox");
        assert_eq!(remote.join().unwrap(), "from the inbox");
    });
}

#[test]
fn main_returning_cancels_and_unwinds_the_remaining_tasks() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let value = block_on(move || {
        let l2 = l.clone();
        task::spawn(move || {
            let _guard = OnDrop(l2, "background unwound");
            loop {
                let _ = task::park();
            }
        });
        task::spawn(move || {
            let _guard = OnDrop(l, "pending dropped");
        });
        task::yield_now();
        "main done"
    });
    assert_eq!(value, "main done");
    assert_eq!(*log.borrow(), ["pending dropped", "background unwound"]);
}

#[test]
fn a_panic_in_main_comes_out_of_block_on_after_cleanup() {
    let unwound = Arc::new(AtomicUsize::new(0));
    let u = unwound.clone();
    quiet_planned_panics();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        block_on(move || {
            task::spawn(move || {
                struct Count(Arc<AtomicUsize>);
                impl Drop for Count {
                    fn drop(&mut self) {
                        self.0.fetch_add(1, Ordering::SeqCst);
                    }
                }
                let _count = Count(u);
                let _ = task::park();
            });
            task::yield_now();
            panic!("planned failure of main");
        })
    }))
    .unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"planned failure of main")
    );
    assert_eq!(unwound.load(Ordering::SeqCst), 1);
}

#[test]
fn block_on_inside_a_task_is_a_clear_error() {
    block_on(|| {
        let inner = Scheduler::new(SchedulerConfig::default(), Box::new(NotifyDriver::new()));
        let err = inner.block_on(|| ()).unwrap_err();
        assert!(matches!(err, SchedulerError::Nested));
        assert!(err.to_string().contains("inside a running one"));
    });
}

#[test]
fn spawn_outside_a_runtime_is_an_error() {
    assert!(matches!(
        Builder::new().spawn(|| ()),
        Err(SpawnError::NoRuntime)
    ));
}

#[test]
fn max_tasks_makes_spawn_fail_with_a_clear_error() {
    let config = SchedulerConfig {
        max_tasks: Some(3),
        ..SchedulerConfig::default()
    };
    let scheduler = Scheduler::new(config, Box::new(NotifyDriver::new()));
    scheduler
        .block_on(|| {
            let a = task::spawn(|| ());
            let b = task::spawn(|| ());
            // main + a + b = 3
            let err = Builder::new().spawn(|| ()).unwrap_err();
            assert!(matches!(err, SpawnError::TooManyTasks { limit: 3 }));
            assert!(err.to_string().contains("max_tasks"));
            a.join().unwrap();
            b.join().unwrap();
            task::spawn(|| ()).join().unwrap();
        })
        .unwrap();
}

#[test]
fn stats_record_the_life_of_a_task() {
    block_on(|| {
        let handle = Builder::new()
            .name("stats")
            .spawn(|| {
                task::yield_now();
                task::yield_now();
            })
            .unwrap();
        let pending = handle.stats();
        assert_eq!(pending.state, TaskState::Pending);
        assert!(pending.started_at.is_none() && pending.wait_time().is_none());
        while !handle.is_finished() {
            task::yield_now();
        }
        let done = handle.stats();
        assert_eq!(done.name.as_deref(), Some("stats"));
        assert_eq!(done.state, TaskState::Completed);
        assert_eq!(done.switches, 3);
        assert!(done.created_at <= done.started_at.unwrap());
        assert!(done.started_at.unwrap() <= done.completed_at.unwrap());
        assert!(done.duration().is_some());
    });
}

#[test]
fn php_fibers_inside_tasks_stay_with_their_task() {
    block_on(|| {
        let handles: Vec<_> = (0..3u32)
            .map(|i| {
                task::spawn(move || {
                    let fiber: Fiber<(), u32, u32> = Fiber::new(move |()| {
                        // Park the whole task from inside the fiber; other
                        // tasks (with their own fibers) run meanwhile.
                        task::yield_now();
                        suspend::<(), u32>(i).unwrap();
                        i * 10
                    });
                    let first = fiber.start(()).unwrap();
                    task::yield_now();
                    assert_eq!(fiber.resume(()).unwrap(), None);
                    (first, fiber.get_return().unwrap())
                })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            let i = i as u32;
            assert_eq!(handle.join().unwrap(), (Some(i), i * 10));
        }
    });
}

#[test]
fn a_fiber_parked_with_its_task_is_running_for_other_tasks() {
    block_on(|| {
        let fiber: Rc<Fiber<(), (), u32>> = Rc::new(Fiber::new(|()| {
            // Parks the task that runs this fiber, in the middle of the
            // fiber's run.
            task::yield_now();
            7
        }));
        let in_owner = fiber.clone();
        let owner = task::spawn(move || {
            assert_eq!(in_owner.start(()).unwrap(), None);
            in_owner.get_return().unwrap()
        });
        let in_other = fiber.clone();
        let other = task::spawn(move || {
            // The owner ran first and parked inside the fiber.
            assert!(in_other.is_started());
            assert!(in_other.is_running());
            assert!(!in_other.is_suspended());
            assert!(matches!(in_other.resume(()), Err(FiberError::NotSuspended)));
            assert!(matches!(in_other.throw("x"), Err(FiberError::NotSuspended)));
            assert!(matches!(
                in_other.get_return(),
                Err(FiberError::NotReturned)
            ));
        });
        other.join().unwrap();
        assert_eq!(owner.join().unwrap(), 7);
        assert!(fiber.is_terminated() && !fiber.is_running());
    });
}

#[test]
fn shutting_down_with_a_task_parked_in_a_fiber_keeps_the_callers_fiber_current() {
    let outer: Fiber<(), (), ()> = Fiber::new(|()| {
        let me = fibrio_core::fiber::current().unwrap().id();
        block_on(|| {
            task::spawn(|| {
                let fiber: Fiber<(), (), ()> = Fiber::new(|()| {
                    // Still parked here when the runtime shuts down, which
                    // cancels the task: its stack and this fiber's unwind.
                    let _ = task::park();
                });
                let _ = fiber.start(());
            });
            task::yield_now();
        });
        // The unwinding ran the inner fiber's code; this fiber is still the
        // current one afterwards, and can suspend.
        assert_eq!(fibrio_core::fiber::current().map(|c| c.id()), Some(me));
        suspend::<(), ()>(()).unwrap();
    });
    assert_eq!(outer.start(()).unwrap(), Some(()));
    assert!(outer.is_suspended());
    assert_eq!(outer.resume(()).unwrap(), None);
}

/// A driver that panics when the scheduler would wait in it, so that
/// `block_on` unwinds with its tasks still parked.
struct PanickingDriver(NotifyDriver);

impl fibrio_core::scheduler::Driver for PanickingDriver {
    fn name(&self) -> &'static str {
        "panicking"
    }
    fn park(
        &mut self,
        _timeout: Option<std::time::Duration>,
        _woken: &mut Vec<fibrio_core::scheduler::TaskKey>,
    ) {
        panic!("planned failure of the driver");
    }
    fn notifier(&self) -> Arc<dyn fibrio_core::scheduler::DriverNotifier> {
        fibrio_core::scheduler::Driver::notifier(&self.0)
    }
}

#[test]
fn dropping_a_task_parked_in_a_fiber_unwinds_it_and_keeps_the_droppers_fiber_current() {
    let dropped = Rc::new(Cell::new(false));
    let continued = Rc::new(Cell::new(false));
    let (seen, went_on) = (dropped.clone(), continued.clone());
    let outer: Fiber<(), (), ()> = Fiber::new(move |()| {
        let me = fibrio_core::fiber::current().unwrap().id();
        let scheduler = Scheduler::new(
            SchedulerConfig::default(),
            Box::new(PanickingDriver(NotifyDriver::new())),
        );
        let (flag, went_on) = (seen.clone(), went_on.clone());
        quiet_planned_panics();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let (flag, went_on) = (flag, went_on);
            scheduler.block_on(move || {
                task::spawn(move || {
                    let fiber: Fiber<(), (), ()> = Fiber::new(move |()| {
                        struct Mark(Rc<Cell<bool>>);
                        impl Drop for Mark {
                            fn drop(&mut self) {
                                self.0.set(true);
                            }
                        }
                        let _mark = Mark(flag);
                        let _ = task::park();
                    });
                    let _ = fiber.start(());
                    // Never reached: the task's stack is unwound through
                    // the fiber and on past `start`.
                    went_on.set(true);
                })
                .join()
            })
        }));
        assert!(result.is_err(), "the driver's panic comes out of block_on");
        // Unwinding out of `block_on` dropped the scheduler with the task
        // still parked, which unwound the task's stack and the fiber parked
        // on it.
        assert!(seen.get());
        assert_eq!(fibrio_core::fiber::current().map(|c| c.id()), Some(me));
        suspend::<(), ()>(()).unwrap();
    });
    assert_eq!(outer.start(()).unwrap(), Some(()));
    assert_eq!(outer.resume(()).unwrap(), None);
    assert!(dropped.get());
    assert!(
        !continued.get(),
        "the dropped task's code ran on after the fiber"
    );
}

#[test]
fn cancelling_a_task_parked_in_a_fiber_ends_it_as_cancelled() {
    block_on(|| {
        let handle = task::spawn(|| {
            let fiber: Fiber<(), (), ()> = Fiber::new(|()| {
                let _ = task::park();
                task::checkpoint();
            });
            // A cancellation is not the fiber's panic: it comes out of
            // `start` as an unwind, so this `unwrap` does not turn it into
            // one.
            fiber.start(()).unwrap();
            unreachable!("the cancellation unwinds the task");
        });
        task::yield_now();
        handle.cancel();
        assert!(matches!(handle.join(), Err(JoinError::Cancelled)));
    });
}

#[test]
fn join_outside_a_task_reports_outside_task() {
    let handle = block_on(|| task::spawn(|| 1));
    // The runtime has ended; the pending task was cancelled at shutdown.
    assert!(handle.join().unwrap_err().is_cancelled());
    assert!(matches!(JoinError::OutsideTask.to_string().as_str(), s if s.contains("outside")));
}
