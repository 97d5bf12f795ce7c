//! fibrio's reactor: poller backends, fd registrations, sockets and the
//! blocking pool. It implements `fibrio-core`'s
//! [`Driver`](fibrio_core::scheduler::Driver), so the scheduler parks in it
//! when no task is runnable.
//!
//! * [`backend`]: the [`Backend`](backend::Backend) trait and its three
//!   implementations: fibrio's own edge-triggered epoll (Linux and
//!   Android), one on the `polling` crate (kqueue in edge-triggered mode on
//!   macOS and the BSDs; it also has a one-shot mode), and a portable
//!   `poll(2)` one.
//! * [`BackendKind`], [`open_backend`] and `FIBRIO_BACKEND`: choosing one.
//!   `Auto` opens epoll on Linux and Android, kqueue on macOS and the BSDs,
//!   and `poll(2)` anywhere else.
//! * [`Reactor`]: one runtime's backend and fd registrations.
//! * [`sleep`], [`sleep_until`], [`park_until`]: timers for tasks, which
//!   belong to `fibrio-core`'s scheduler and are re-exported here.
//! * [`io::Registration`]: waiting for fd readiness.
//! * [`net`]: `TcpListener`, `TcpStream`, `UdpSocket`, `UnixListener` and
//!   `UnixStream` with `std::net`'s API, parking the task instead of the
//!   thread.
//! * [`spawn_blocking`]: blocking work on a thread pool.
//! * [`sim`]: the simulated network of a deterministic simulation
//!   (`fibrio::sim`), which the TCP types use while it is entered.
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
pub mod shutdown;
pub mod sim;
mod timeouts;

pub use blocking::{spawn_blocking, KEEP_ALIVE, MAX_BLOCKING_THREADS};
/// The scheduler's timers, re-exported: `sleep` and `park_until` live in
/// `fibrio-core`, beside the timers they use.
pub use fibrio_core::task::{park_until, pending_timers, sleep, sleep_until};
pub use reactor::{registered_fds, Direction, EnterGuard, Reactor};
pub use select::{open_backend, resolve_backend, BackendError, BackendKind, BACKEND_ENV};
