//! fibrio's reactor: poller backends, timers, `sleep`, fd registrations and
//! the blocking pool. It implements `fibrio-core`'s
//! [`Driver`](fibrio_core::scheduler::Driver), so the scheduler parks in it
//! when no task is runnable.
//!
//! * [`backend`]: the [`Backend`](backend::Backend) trait and its two
//!   implementations, on the `polling` crate (epoll, kqueue, ...) and on
//!   portable `poll(2)`.
//! * [`BackendKind`], [`open_backend`] and `FIBRIO_BACKEND`: choosing one.
//! * [`Reactor`]: one runtime's backend, timers and registrations.
//! * [`sleep`], [`sleep_until`]: timers for tasks.
//! * [`io::Registration`]: waiting for fd readiness.
//! * [`spawn_blocking`]: blocking work on a thread pool.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
//! use fibrio_reactor::{sleep, BackendKind, Reactor};
//!
//! let reactor = Reactor::new(BackendKind::Auto).unwrap();
//! let _enter = reactor.enter();
//! let scheduler = Scheduler::new(SchedulerConfig::default(), reactor.driver());
//! scheduler.block_on(|| sleep(Duration::from_millis(1))).unwrap();
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod backend;
mod blocking;
pub mod io;
pub mod net;
mod reactor;
mod select;
mod time;
pub mod timer;

pub use blocking::{spawn_blocking, KEEP_ALIVE, MAX_BLOCKING_THREADS};
pub use reactor::{pending_timers, registered_fds, Direction, EnterGuard, Reactor};
pub use select::{open_backend, resolve_backend, BackendError, BackendKind, BACKEND_ENV};
pub use time::{park_until, sleep, sleep_until};
