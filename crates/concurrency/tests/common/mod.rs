//! Helpers shared by the integration tests of `fibrio-concurrency` (gather,
//! select, task groups and the `sync` primitives). Each test binary uses
//! only some of them.

#![allow(dead_code)]

use std::sync::Once;

use fibrio::task::JoinError;

/// Silences the panic hook for the panics the tests plan (messages starting
/// with "planned"); any other panic is printed as usual.
///
/// The hook is installed once per test binary and never swapped back, so
/// tests running in parallel on other threads keep their panic messages.
pub fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !message.is_some_and(|m| m.starts_with("planned")) {
                previous(info);
            }
        }));
    });
}

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
