//! Issue 12, fault 4: while a scheduler drops a task that is still parked
//! (its coroutine is unwound by force, `TaskHeader::drop_coroutine`), only
//! the fibers parked inside that task pass the forced unwinding on. A
//! fiber that a `Drop` starts during that unwinding is an ordinary fiber:
//! its own panic comes back from `start` as `FiberError::Panicked`, as it
//! does anywhere else. (It used to be re-raised out of `start`, inside the
//! `Drop`, and the process aborted with "panic in a destructor during
//! cleanup".)
//!
//! The forced drop happens when `block_on` unwinds with tasks still
//! parked: here its driver panics when the scheduler would wait in it, and
//! the scheduler, dropped by that unwinding, drops its parked tasks. Each
//! scenario runs in a child process (this binary re-run with
//! `FIBRIO_TEST_CHILD=<role>`), since the failure is an abort; the child
//! reports what happened in a `REPORT` line on stderr.

mod common;

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use fibrio_core::fiber::{payload_message, Fiber, FiberError};
use fibrio_core::scheduler::{
    Driver, DriverNotifier, NotifyDriver, Scheduler, SchedulerConfig, TaskKey,
};
use fibrio_core::task;

use common::{role, run_child};

/// A driver that panics when the scheduler would wait in it, so that
/// `block_on` unwinds with its tasks still parked.
struct PanickingDriver(NotifyDriver);

impl Driver for PanickingDriver {
    fn name(&self) -> &'static str {
        "panicking"
    }
    fn park(&mut self, _timeout: Option<Duration>, _woken: &mut Vec<TaskKey>) {
        panic!("planned failure of the driver");
    }
    fn notifier(&self) -> Arc<dyn DriverNotifier> {
        Driver::notifier(&self.0)
    }
}

const OWN_PANIC: &str = "the fiber's own panic";

/// How many `Drop`s started a fiber during the forced drop.
static STARTED: AtomicU32 = AtomicU32::new(0);
/// How many of those `start`s returned `Err(Panicked)` with the fiber's own
/// payload.
static GOT_PANICKED: AtomicU32 = AtomicU32::new(0);
/// The task's code ran on after the fiber it was parked in (it must not:
/// the task's stack is unwound through the fiber and on past `start`).
static WENT_ON: AtomicBool = AtomicBool::new(false);
/// The fibers the task was parked in were unwound (outer, inner).
static UNWOUND: AtomicBool = AtomicBool::new(false);
static UNWOUND_DEEPER: AtomicBool = AtomicBool::new(false);

/// Starts a fiber that panics when dropped: the given one (made before the
/// drop), or a new one.
struct StartsPanickingFiber(Option<Fiber<(), (), ()>>);

fn panicking_fiber() -> Fiber<(), (), ()> {
    Fiber::new(|()| std::panic::panic_any(OWN_PANIC))
}

impl Drop for StartsPanickingFiber {
    fn drop(&mut self) {
        let fiber = self.0.take().unwrap_or_else(panicking_fiber);
        STARTED.fetch_add(1, SeqCst);
        if let Err(FiberError::Panicked(payload)) = fiber.start(()) {
            if payload_message(&payload) == OWN_PANIC {
                GOT_PANICKED.fetch_add(1, SeqCst);
            }
        }
        assert!(fiber.is_terminated());
    }
}

struct SetOnDrop(&'static AtomicBool);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// Runs `task_body` as a task that parks forever, on a scheduler whose
/// driver panics; the panic drops the scheduler with the task parked.
fn drop_a_parked_task(task_body: fn()) {
    let scheduler = Scheduler::new(
        SchedulerConfig::default(),
        Box::new(PanickingDriver(NotifyDriver::new())),
    );
    let result = catch_unwind(AssertUnwindSafe(|| {
        scheduler.block_on(move || task::spawn(task_body).join())
    }));
    assert!(result.is_err(), "the driver's panic comes out of block_on");
    let line = format!(
        "REPORT started={} got_panicked={} went_on={} unwound={}\n",
        STARTED.load(SeqCst),
        GOT_PANICKED.load(SeqCst),
        WENT_ON.load(SeqCst),
        UNWOUND.load(SeqCst) && UNWOUND_DEEPER.load(SeqCst),
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The child's `REPORT` as `(started, got_panicked, went_on, unwound)`.
fn parse(output: &Output) -> (u32, u32, bool, bool) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "child failed: {:?}\n{stderr}",
        output.status
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("REPORT "))
        .unwrap_or_else(|| panic!("no REPORT line; stderr:\n{stderr}"));
    let field = |name: &str| -> String {
        let key = format!("{name}=");
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(key.as_str()))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            .to_string()
    };
    (
        field("started").parse().unwrap(),
        field("got_panicked").parse().unwrap(),
        field("went_on") == "true",
        field("unwound") == "true",
    )
}

#[test]
fn a_fiber_started_by_a_drop_in_a_force_dropped_task_reports_its_panic() {
    match role().as_deref() {
        Some("new-fiber") => drop_a_parked_task(|| {
            // Parked outside any fiber; the `Drop` runs as the task's stack
            // is unwound and starts a fiber of its own.
            let _guard = StartsPanickingFiber(None);
            let _ = task::park();
            WENT_ON.store(true, SeqCst);
        }),
        Some(_) => {}
        None => {
            let output = run_child(
                "a_fiber_started_by_a_drop_in_a_force_dropped_task_reports_its_panic",
                "new-fiber",
            );
            let (started, got_panicked, went_on, _) = parse(&output);
            assert_eq!(started, 1);
            assert_eq!(got_panicked, 1, "start must return Err(Panicked)");
            assert!(!went_on);
        }
    }
}

#[test]
fn a_fiber_made_before_the_drop_and_started_by_it_reports_its_panic() {
    match role().as_deref() {
        Some("made-before") => drop_a_parked_task(|| {
            // The fiber exists (not started) before the task is dropped.
            let _guard = StartsPanickingFiber(Some(panicking_fiber()));
            let _ = task::park();
            WENT_ON.store(true, SeqCst);
        }),
        Some(_) => {}
        None => {
            let output = run_child(
                "a_fiber_made_before_the_drop_and_started_by_it_reports_its_panic",
                "made-before",
            );
            let (started, got_panicked, went_on, _) = parse(&output);
            assert_eq!(started, 1);
            assert_eq!(got_panicked, 1, "start must return Err(Panicked)");
            assert!(!went_on);
        }
    }
}

#[test]
fn the_fiber_a_dropped_task_is_parked_in_still_passes_the_unwinding_on() {
    match role().as_deref() {
        Some("parked-in-fiber") => drop_a_parked_task(|| {
            // Dropped last, after the forced unwinding has come out of the
            // fibers the task was parked in.
            let _outer = StartsPanickingFiber(None);
            let parked_in: Fiber<(), (), ()> = Fiber::new(|()| {
                let _unwound = SetOnDrop(&UNWOUND);
                // Dropped after `deeper` has passed the unwinding on.
                let _middle = StartsPanickingFiber(None);
                let deeper: Fiber<(), (), ()> = Fiber::new(|()| {
                    let _unwound = SetOnDrop(&UNWOUND_DEEPER);
                    // Dropped first, during the unwinding of the
                    // innermost fiber's stack.
                    let _inner = StartsPanickingFiber(None);
                    let _ = task::park();
                });
                let _ = deeper.start(());
                // Never reached, as below.
                WENT_ON.store(true, SeqCst);
            });
            let _ = parked_in.start(());
            // Never reached: the task's stack is unwound through both
            // fibers and on past `start`.
            WENT_ON.store(true, SeqCst);
        }),
        Some(_) => {}
        None => {
            let output = run_child(
                "the_fiber_a_dropped_task_is_parked_in_still_passes_the_unwinding_on",
                "parked-in-fiber",
            );
            let (started, got_panicked, went_on, unwound) = parse(&output);
            assert_eq!(started, 3);
            assert_eq!(got_panicked, 3, "every start must return Err(Panicked)");
            assert!(unwound, "the fibers the task was parked in were unwound");
            assert!(!went_on, "the dropped task's code ran on after its fiber");
        }
    }
}
