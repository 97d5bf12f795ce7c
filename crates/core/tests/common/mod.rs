//! A fake driver with virtual time, for testing the scheduler without I/O.
//!
//! `sleep(d)` registers a timer in a thread-local queue and parks; when the
//! scheduler has nothing to run it asks the driver to block, and the driver
//! jumps virtual time to the earliest deadline and wakes that sleeper. If
//! nothing at all can wake a task, the driver panics with "deadlock", so a
//! lost wake-up fails the test instead of hanging it.
//!
//! Also [`quiet_planned_panics`], the panic hook the core test binaries
//! share.

#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fibrio_core::scheduler::{Driver, DriverNotifier, Scheduler, SchedulerConfig, TaskKey};
use fibrio_core::task;

thread_local! {
    static NOW: Cell<Duration> = const { Cell::new(Duration::ZERO) };
    static TIMERS: RefCell<BTreeMap<(Duration, u64), TaskKey>> = const { RefCell::new(BTreeMap::new()) };
    static SEQ: Cell<u64> = const { Cell::new(0) };
}

/// Virtual time since the driver started.
pub fn now() -> Duration {
    NOW.with(|n| n.get())
}

/// Parks the current task until virtual time reaches `now() + d`.
pub fn sleep(d: Duration) {
    let deadline = now() + d;
    let key = task::current_key().expect("sleep outside a task");
    let seq = SEQ.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    TIMERS.with(|t| t.borrow_mut().insert((deadline, seq), key));
    struct Remove((Duration, u64));
    impl Drop for Remove {
        fn drop(&mut self) {
            TIMERS.with(|t| t.borrow_mut().remove(&self.0));
        }
    }
    let _remove = Remove((deadline, seq));
    while now() < deadline {
        if task::park().is_err() {
            return;
        }
    }
}

pub fn pending_timers() -> usize {
    TIMERS.with(|t| t.borrow().len())
}

struct NoNotify;
impl DriverNotifier for NoNotify {
    fn notify(&self) {}
}

pub struct FakeDriver;

impl Driver for FakeDriver {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn park(&mut self, timeout: Option<Duration>, woken: &mut Vec<TaskKey>) {
        let next = TIMERS.with(|t| t.borrow().keys().next().copied());
        match (next, timeout) {
            (Some((deadline, _)), None) if deadline > now() => {
                NOW.with(|n| n.set(deadline));
            }
            (None, None) => panic!("deadlock: every task is parked and no timer can wake one"),
            _ => {}
        }
        let due: Vec<TaskKey> = TIMERS.with(|t| {
            t.borrow()
                .iter()
                .take_while(|((deadline, _), _)| *deadline <= now())
                .map(|(_, key)| *key)
                .collect()
        });
        woken.extend(due);
    }

    fn notifier(&self) -> Arc<dyn DriverNotifier> {
        Arc::new(NoNotify)
    }
}

/// Runs `f` on a scheduler with the fake driver, from virtual time zero.
pub fn block_on<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    NOW.with(|n| n.set(Duration::ZERO));
    TIMERS.with(|t| t.borrow_mut().clear());
    let config = SchedulerConfig {
        stack_size: 32 * 1024,
        ..SchedulerConfig::default()
    };
    Scheduler::new(config, Box::new(FakeDriver))
        .block_on(f)
        .expect("scheduler failed")
}

/// The panic hook the test binaries share (not every binary calls it).
#[allow(unused_imports)]
pub use fibrio_core::task::test_support::quiet_planned_panics;

/// The variable that tells a re-run test binary which role to play.
pub const CHILD: &str = "FIBRIO_TEST_CHILD";

/// Re-runs this test binary with only `test` selected and `CHILD=role`:
/// for tests whose failure would abort, hang or corrupt the process.
pub fn run_child(test: &str, role: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, role)
        .output()
        .expect("failed to re-run the test binary")
}

/// The role this process plays, if it is such a re-run.
pub fn role() -> Option<String> {
    std::env::var(CHILD).ok()
}
