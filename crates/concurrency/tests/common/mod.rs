//! Helpers shared by the integration tests of `fibrio-concurrency` (gather,
//! select, task groups and the `sync` primitives). Each test binary uses
//! only some of them.

#![allow(dead_code)]

use fibrio::task::JoinError;

/// The panic hook the test binaries share (not every binary calls it).
#[allow(unused_imports)]
pub use fibrio_core::task::test_support::quiet_planned_panics;

/// Yields `n` times.
pub fn yield_n(n: usize) {
    for _ in 0..n {
        fibrio::yield_now();
    }
}

/// Parks until the task is cancelled. (A cancelled task may return from
/// one `park`, as from any wake-up; the next one unwinds.)
pub fn park_until_cancelled() -> ! {
    loop {
        fibrio::task::park().unwrap();
    }
}

/// Asserts that a joined task ended cancelled.
pub fn assert_cancelled<T: std::fmt::Debug>(result: Result<T, JoinError>) {
    match result {
        Err(e) => assert!(e.is_cancelled(), "expected a cancelled task, got {e:?}"),
        Ok(v) => panic!("expected a cancelled task, it returned {v:?}"),
    }
}
