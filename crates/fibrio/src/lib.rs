//! fibrio: a stackful coroutine runtime for Rust.
//!
//! Write plain, blocking-style Rust: every call that would block (`sleep`,
//! `join`, socket I/O) suspends the current task instead, and the other
//! tasks run. No `async`, no `await`.
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! let log = fibrio::run(|| {
//!     let log = Rc::new(RefCell::new(Vec::new()));
//!     let tasks: Vec<_> = (1..=3)
//!         .map(|i| {
//!             let log = log.clone();
//!             fibrio::spawn(move || {
//!                 log.borrow_mut().push(format!("{i} sleeps"));
//!                 fibrio::sleep(Duration::from_millis(30));
//!                 log.borrow_mut().push(format!("{i} wakes"));
//!                 i
//!             })
//!         })
//!         .collect();
//!     let sum: i32 = tasks.into_iter().map(|t| t.join().unwrap()).sum();
//!     assert_eq!(sum, 6);
//!     log.take()
//! });
//! // The sleeps overlapped: all three tasks slept before the first woke.
//! assert_eq!(log[..3], ["1 sleeps", "2 sleeps", "3 sleeps"]);
//! ```
//!
//! # Layers
//!
//! * [`fiber`]: fibers with PHP `Fiber` semantics (`start`, `resume`,
//!   `throw`, `get_return`, `suspend`, `current`).
//! * [`task`]: tasks on a single-threaded scheduler: [`spawn`],
//!   [`JoinHandle`], cancellation, park/unpark.
//! * [`sleep`], [`spawn_blocking`], [`io::Registration`]: the reactor.
//! * [`context`]: context variables (asyncio `contextvars` semantics):
//!   each task starts with a snapshot of its spawner's context.
//! * Structured concurrency: [`gather`](fn@gather) and its strategies,
//!   [`select`](fn@select)/[`race`], [`TaskGroup`], [`CancelScope`],
//!   [`move_on_after`]/[`fail_after`], [`wait_for`], [`timeout`], and
//!   [`retry`](fn@retry) with a [`RetryPolicy`].
//! * [`Semaphore`], [`sync`] (`Mutex`, `RwLock`, `Condvar`, `Event`,
//!   `Notify`, `WaitGroup`, `Barrier`), [`channel`]: primitives that park
//!   tasks.
//! * [`net`]: sockets with `std::net`'s API that park the task, not the
//!   thread.
//! * [`shutdown`]: graceful shutdown on SIGINT/SIGTERM or on request
//!   ([`Builder::shutdown_on_signals`]).
//! * [`Runtime`], [`run`]: putting them together on a thread;
//!   [`Builder::workers`] and [`Workers`]: one share-nothing runtime per
//!   thread.
//! * [`stack`]: guard-paged, pooled stacks and their statistics.
//! * [`compat`]: the futures bridge ([`compat::block_on`],
//!   [`compat::spawn_future`]) for `async` protocol clients.
//! * Seeing inside: [`dump`] and [`Handle::dump`] (every task, what it
//!   waits for, optionally its stack), [`metrics`] and
//!   [`prometheus_text`], [`Handle::health`], an [`observer`] of task
//!   events, deadlock reports, and the [`admin`] listener (`/metrics`,
//!   `/healthz`, `/debug/tasks`).
//! * `http` (cargo feature `http-client`): a blocking-style HTTP/1.1
//!   client on hyper and rustls, with keep-alive pooling and retries.
//! * [`fs`]: `std::fs`'s API on the blocking pool: the task parks, the
//!   runtime keeps serving.
//! * [`pool`]: a connection pool with FIFO checkouts, RAII return and
//!   heartbeats.
//! * [`sim`] and [`sim_test`]: deterministic simulation testing on
//!   virtual time, with the schedule chosen by a seed and every failure
//!   replayable from its seed.

#![forbid(unsafe_code)]

pub mod compat;
pub mod fs;
#[cfg(feature = "http-client")]
pub mod http;
pub mod pool;
mod runtime;
pub mod shutdown;
pub mod sim;
mod workers;

#[cfg(feature = "admin")]
pub mod admin;
mod dump;
mod health;
mod metrics;
pub mod observer;

pub use dump::{
    dump, dump_with_stacks, DeadlockAction, DumpError, DumpOptions, SpawnLocation, TaskDump,
    TaskInfo, TaskStatus,
};
pub use health::{health_json, Health};
pub use metrics::{
    metrics, prometheus_text, LatencyHistogram, RuntimeMetrics, PROMETHEUS_CONTENT_TYPE,
};

pub use fibrio_concurrency::{channel, sync};
pub use fibrio_concurrency::{
    gather, gather_partial, gather_with, race, retry, select, timeout, wait_for, ChildFailure,
    GatherError, GatherFailure, GatherStrategy, JoinSet, RaceError, RetryError, RetryPolicy,
    SelectError, Semaphore, SemaphorePermit, SemaphoreStatistics, TaskGroup, TaskGroupError,
    TaskGroupHandle, TaskGroupSpawnError, WaitForError,
};
pub use fibrio_concurrency::{AcquireError, TryAcquireError};
pub use fibrio_context as context;
pub use fibrio_core::scheduler::{Handle, RemoteJoinHandle, TrySpawnError};
pub use fibrio_core::task::{
    fail_after, fail_at, move_on_after, move_on_at, spawn, yield_now, CancelScope, Elapsed,
    JoinError, JoinHandle, TaskRef, TaskState, TaskStats,
};
pub use fibrio_core::{coop, fiber, stack};
pub use fibrio_reactor::{io, net, sleep, sleep_until, spawn_blocking, BackendKind as Backend};
pub use runtime::{run, Builder, Runtime, RuntimeError};
pub use workers::{worker_index, WorkerError, Workers, WorkersBuilder};

/// Runs a test body on a fresh fibrio runtime, on the test's thread: the
/// attribute form of [`run`]. Tasks, sleeps, sockets and locks work in the
/// body as in any `fibrio::run` main, and a test may return a `Result` and
/// use `?`.
///
/// ```
/// use std::time::Duration;
///
/// #[fibrio::test]
/// fn tasks_run_inside_the_test() {
///     assert!(fibrio::task::try_current().is_some());
///     let task = fibrio::spawn(|| 40 + 2);
///     fibrio::sleep(Duration::from_millis(1));
///     assert_eq!(task.join().unwrap(), 42);
/// }
///
/// #[fibrio::test]
/// fn errors_propagate_with_question_mark() -> std::io::Result<()> {
///     let n: u32 = "42".parse().map_err(std::io::Error::other)?;
///     assert_eq!(n, 42);
///     Ok(())
/// }
/// ```
///
/// A doctest is compiled without `--test`, so the functions above are only
/// checked to be accepted; `tests/macros_test_attr.rs` runs the same shapes.
#[doc(inline)]
pub use fibrio_macros::test;

/// Runs a test body under [`sim::check`]: once per seed, each time on a
/// fresh deterministic runtime (virtual time, the schedule chosen by the
/// seed). `#[fibrio::sim_test(cases = N)]` sets the number of seeds
/// (otherwise 256, or `FIBRIO_SIM_CASES`); `FIBRIO_SIM_SEED=N` runs only
/// seed `N`. A failing seed fails the test with a message that contains
/// `seed N` and the replay hint `FIBRIO_SIM_SEED=N`.
///
/// The body is called once per seed, so it must be a `Fn`: it may not
/// move out of captured state. It may return a `Result` whose error is
/// `Debug`; an `Err` fails that seed.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// #[fibrio::sim_test(cases = 100)]
/// fn a_timeout_fires_on_virtual_time() {
///     let done = Rc::new(Cell::new(false));
///     let worker = fibrio::spawn({
///         let done = done.clone();
///         move || {
///             fibrio::sleep(Duration::from_secs(30));
///             done.set(true);
///         }
///     });
///     let waited = fibrio::time::Instant::now();
///     fibrio::sleep(Duration::from_secs(10));
///     assert!(!done.get());
///     worker.join().unwrap();
///     assert_eq!(waited.elapsed(), Duration::from_secs(30));
/// }
///
/// #[fibrio::sim_test]
/// fn results_work_too() -> Result<(), std::num::ParseIntError> {
///     let n: u64 = "7".parse()?;
///     assert_eq!(n, 7);
///     Ok(())
/// }
/// ```
///
/// A doctest is compiled without `--test`, so the functions above are only
/// checked to be accepted; `tests/sim_macros.rs` runs the same shapes.
#[doc(inline)]
pub use fibrio_macros::sim_test;

/// Time on the runtime's clock: [`Instant`](time::Instant), and the
/// timers [`sleep`] and [`sleep_until`].
///
/// Outside a simulation the runtime's clock is the system's monotonic
/// clock, and `fibrio::time::Instant::now()` equals what
/// `std::time::Instant::now()` would return. Inside a deterministic
/// simulation the clock is **virtual**: it moves only when every task is
/// parked, straight to the next deadline, so an hour of sleeping takes
/// milliseconds. Every fibrio timer reads it (`sleep`, every timeout and
/// deadline, socket timeouts, retry backoff).
///
/// **`std::time::Instant::now()` is not virtual.** Inside a simulation it
/// keeps reading the real clock, which lags far behind the virtual one: a
/// deadline built from it has usually passed already, and durations
/// measured with it say how long the simulation took to compute, not how
/// much virtual time went by. Code that may run in a simulation should
/// read [`Instant::now`](time::Instant::now) from this module. A
/// `fibrio::time::Instant` converts to a `std::time::Instant` (`into_std`,
/// `From`) for every API that takes one, and the deadline APIs
/// (`sleep_until`, `move_on_at`, `fail_at`, `CancelScope::with_deadline`)
/// take either.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio::time::Instant;
///
/// fibrio::run(|| {
///     let start = Instant::now();
///     fibrio::time::sleep_until(start + Duration::from_millis(2));
///     assert!(start.elapsed() >= Duration::from_millis(2));
/// });
/// ```
pub mod time {
    pub use fibrio_core::time::Instant;
    pub use fibrio_reactor::{sleep, sleep_until};
}

/// Tasks: spawning with options, cancellation checkpoints and scopes,
/// park/unpark, waiting for any of several tasks.
pub mod task {
    pub use fibrio_core::task::{
        checkpoint, checkpoint_if_cancelled, current, current_effective_deadline, current_id,
        current_name, fail_after, fail_after_shielded, fail_at, is_cancellation, is_cancelled,
        move_on_after, move_on_after_shielded, move_on_at, park, park_for, spawn, try_current,
        wait_any, yield_now, Builder, CancelScope, Elapsed, JoinError, JoinHandle, ParkError,
        ScopeContext, SpawnError, TaskRef, TaskState, TaskStats, Unparker, WaitKind, WaitReason,
    };
}

/// The items most programs need: `use fibrio::prelude::*;`.
pub mod prelude {
    pub use crate::{run, sleep, spawn, spawn_blocking, yield_now, JoinHandle};
    pub use fibrio_core::fiber::{suspend, Fiber, FiberError};
}

/// The README's examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
