//! Shared by the reactor's runtime-level tests: a runtime on a chosen
//! backend, and a macro that instantiates each check once per backend.

#![allow(dead_code)]

use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
use fibrio_reactor::{BackendKind, Reactor};

/// Runs `f` as the main task of a scheduler over a reactor on `kind`.
pub fn block_on<T: 'static>(kind: BackendKind, f: impl FnOnce() -> T + 'static) -> T {
    let reactor = Reactor::new(kind).expect("backend opens");
    let _enter = reactor.enter();
    let config = SchedulerConfig {
        stack_size: 64 * 1024,
        ..SchedulerConfig::default()
    };
    Scheduler::new(config, reactor.driver())
        .block_on(f)
        .expect("scheduler runs")
}

/// `per_backend!(check_a, check_b)` makes `polling_backend::check_a`,
/// `poll_backend::check_a`, ... tests, each calling `check(kind)`.
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod polling_backend {
            $(#[test] fn $name() { super::$name(fibrio_reactor::BackendKind::Auto) })*
        }
        mod poll_backend {
            $(#[test] fn $name() { super::$name(fibrio_reactor::BackendKind::Poll) })*
        }
    };
}
