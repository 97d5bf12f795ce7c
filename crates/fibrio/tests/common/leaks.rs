//! Leak checks for the tests of bad input (issue 17): after a failure, the
//! tasks alive and the process's open file descriptors must be back where
//! they were. Included with `#[path = "common/leaks.rs"] mod leaks;` by each
//! test binary that needs it.

#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The tests of a binary that uses these checks run one at a time: the leak checks count the
/// process's open file descriptors, which other tests' runtimes and
/// sockets would change meanwhile.
static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process's open file descriptors.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

/// Tasks alive in this runtime, and the process's open file descriptors.
pub fn tasks_and_fds() -> (usize, usize) {
    (fibrio::metrics().tasks_alive, open_fds())
}

/// Asserts that the tasks alive and the open file descriptors are back to
/// `baseline` (from [`tasks_and_fds`]) after `what` failed, giving the
/// tasks that are ending up to 10 s to do so.
pub fn assert_no_leak(what: &str, baseline: (usize, usize)) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tasks_and_fds() != baseline && Instant::now() < deadline {
        fibrio::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        tasks_and_fds(),
        baseline,
        "{what} leaked (tasks alive, open fds); the tasks:\n{}",
        fibrio::dump()
    );
}
