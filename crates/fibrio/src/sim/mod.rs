//! Deterministic simulation testing: run a program on virtual time with a
//! schedule chosen by a seed, and replay any failure from its seed.
//!
//! [`run`] runs a closure once, as its main task, on a deterministic
//! runtime; [`check`] runs a test under many seeds and reports the first
//! one that fails; `#[fibrio::sim_test]` is the attribute form of
//! [`check_with`]. The code under test is ordinary fibrio code: `spawn`,
//! `sleep`, the locks, channels, task groups and timeouts all work
//! unchanged.
//!
//! ```
//! use std::cell::Cell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! // Two writers that each read, yield, and write back: a lost update
//! // whenever the other writer runs in between.
//! fn two_writers() -> u32 {
//!     let x = Rc::new(Cell::new(0));
//!     let writers: Vec<_> = (0..2)
//!         .map(|_| {
//!             let x = x.clone();
//!             fibrio::spawn(move || {
//!                 let v = x.get();
//!                 fibrio::yield_now();
//!                 x.set(v + 1);
//!             })
//!         })
//!         .collect();
//!     writers.into_iter().for_each(|w| w.join().unwrap());
//!     x.get()
//! }
//!
//! // Some seeds lose an update; each seed always gives the same answer.
//! let results: Vec<u32> = (0..16).map(|seed| fibrio::sim::run(seed, two_writers)).collect();
//! assert!(results.contains(&1));
//! assert_eq!(fibrio::sim::run(3, two_writers), results[3]);
//!
//! // Virtual time: an hour of sleeping takes no real time.
//! let slept = fibrio::sim::run(0, || {
//!     fibrio::sleep(Duration::from_secs(3600));
//!     fibrio::sim::elapsed()
//! });
//! assert_eq!(slept, Duration::from_secs(3600));
//! ```
//!
//! See `docs/testing.md` for a guide and a comparison with other tools.
//!
//! # What a simulation controls
//!
//! * **Time.** Every fibrio timer reads the runtime's clock, which is
//!   virtual in a simulation: `sleep`, `sleep_until`, every timeout and
//!   deadline (`wait_for`, `move_on_after`, `fail_after`, `recv_timeout`,
//!   retry backoff). The clock never moves while a task is runnable; when
//!   every task is parked it jumps to the next deadline.
//!   [`fibrio::time::Instant`](crate::time::Instant) reads it;
//!   `std::time::Instant` does not.
//! * **The schedule.** Whenever a task parks, yields or ends, the next task
//!   to run is chosen among the runnable ones by a policy seeded from the
//!   seed (uniformly random, or PCT priorities). There is no switch at a
//!   spawn or a wake-up, as in production: a task runs until it parks or
//!   yields.
//! * **Randomness.** [`random_u64`] and [`SimRng`] draw from a stream of
//!   the seed; retry jitter does too.
//! * **Blocking work.** [`spawn_blocking`](crate::spawn_blocking) runs its
//!   closure inline, on the simulation's thread, then lets the schedule
//!   pick the next task.
//!
//! * **The network.** [`fibrio::net`](crate::net)'s `TcpListener`,
//!   `TcpStream` and `UdpSocket` made inside a simulation are simulated:
//!   TCP bytes travel between them in order, UDP datagrams each on their
//!   own, with a latency drawn from the seed (0 to 1 ms by default) and a
//!   256 KiB receive window, and no real socket or DNS lookup is made. In
//!   [`run`] and [`check`] there is one host, `main` (`10.0.0.1`);
//!   `localhost` and `127.0.0.1` name it too, so `bind("main:80")`,
//!   `connect("localhost:80")` and `connect("10.0.0.1:80")` all work. A
//!   [`Sim`] has named hosts and clients, and [`net`] injects faults
//!   between them (partitions, holds, crashes, bounces). The errors are a
//!   real socket's: `ConnectionRefused` with no listener, `AddrInUse`,
//!   `TimedOut` past a read, write or connect timeout (at the exact
//!   virtual instant), `Ok(0)` after the peer's close or
//!   `shutdown(Write)`, `ConnectionReset` when the peer closed with data
//!   left unread or crashed, `BrokenPipe` for a write after the peer's
//!   close, and `NotFound` for an unknown host name.
//! * **The schedule, written down.** A [`Schedule`] lists a run's
//!   deviations from FIFO; [`run_schedule`] runs one, and with the
//!   `proptest` feature `schedule()` generates them for proptest, which
//!   shrinks a failing one towards FIFO.
//!
//! Not controlled: `std::time::Instant`, `HashMap`'s random iteration
//! order, other threads, real files, and the sockets the simulation does
//! not simulate (Unix sockets, and sockets made with `from_std`): they
//! are real, and their first operation that would have to wait fails
//! with `ErrorKind::Unsupported`.
//!
//! # Invariants
//!
//! * A simulation is a function of its seed and its program: the same
//!   seed runs the same schedule, reads the same virtual times and draws
//!   the same random numbers, so `run(seed, ..)` replays any seed that
//!   [`check`] reports, as does `FIBRIO_SIM_SEED=<seed>`, as long as the
//!   program uses nothing from the list above.
//! * Every failure message ends with `seed N; replay with
//!   FIBRIO_SIM_SEED=N` ([`SimError`]).
//! * A simulation runs on the calling thread and ends with it: when
//!   [`run`] returns or panics, every task of the simulation has been
//!   cancelled and unwound, and the thread is back on the real clock.
//! * Simulations do not nest, and do not start inside a running
//!   `fibrio::run`; inside a simulation, `fibrio::run` and `workers(n)`
//!   refuse with an error instead of starting a real runtime.

mod case;
mod check;
mod error;
pub mod net;
mod rng;
mod schedule;
mod world;

use std::time::Duration;

use fibrio_core::task::det::{self, Stream};

pub use check::{check, check_with, Config};
pub use error::SimError;
pub use rng::SimRng;
pub use schedule::{run_schedule, try_run_schedule, Deviation, Schedule};
#[cfg(feature = "proptest")]
pub use schedule::{schedule, schedule_with};
pub use world::{Sim, SimBuilder, SimReport};

/// Runs `main` on a deterministic runtime, on this thread: virtual clock,
/// schedule chosen by `seed`. Returns `main`'s value; when `main` returns,
/// the tasks still alive are cancelled and unwound, as with
/// [`fibrio::run`](crate::run). `main` may borrow from the caller.
///
/// The same seed and program give the same run, so `run(seed, main)`
/// replays any failure [`check`] reports.
///
/// # Panics
///
/// With the [`SimError`] message, which contains `seed <seed>` and the
/// replay hint `FIBRIO_SIM_SEED=<seed>`, when
///
/// * `main` panics (the message holds its panic message),
/// * another task panics and nobody joins it (its handle was dropped, or
///   is dropped later): a detached task's failed assertion fails the run,
/// * every task is parked with nothing that can wake one: a deadlock; the
///   message contains `deadlock` and every task's id, name and state,
/// * virtual time passes 24 hours, or the run takes 50 million task runs.
///
/// It also panics, with a message saying so, when called inside a
/// simulation or inside a running `fibrio::run`. [`try_run`] returns the
/// failures as a [`SimError`] instead.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio::time::Instant;
///
/// let (value, waited) = fibrio::sim::run(42, || {
///     let start = Instant::now();
///     let task = fibrio::spawn(|| {
///         fibrio::sleep(Duration::from_secs(60)); // virtual: no real wait
///         7
///     });
///     (task.join().unwrap(), start.elapsed())
/// });
/// assert_eq!(value, 7);
/// assert_eq!(waited, Duration::from_secs(60));
/// ```
///
/// A deadlock names every task:
///
/// ```should_panic
/// fibrio::sim::run(5, || {
///     let waiter = fibrio::task::Builder::new()
///         .name("waiter")
///         .spawn(|| fibrio::task::park())
///         .unwrap();
///     waiter.join().unwrap() // panics: "deadlock ... \"waiter\" ... FIBRIO_SIM_SEED=5"
/// });
/// ```
#[track_caller]
pub fn run<'a, T: 'a>(seed: u64, main: impl FnOnce() -> T + 'a) -> T {
    case::refuse_nested("fibrio::sim::run");
    match case::run_case(seed, main).0 {
        Ok(value) => value,
        Err(err) => panic!("{err}"),
    }
}

/// [`run`], with the simulation's failure returned instead of panicking.
///
/// # Errors
///
/// The simulation's first failure, as a [`SimError`]: a panic of main or
/// of a task nobody joined, a deadlock, or the time limit.
///
/// # Panics
///
/// Inside a simulation or inside a running `fibrio::run`, as [`run`].
///
/// # Examples
///
/// ```
/// use fibrio::sim::{self, SimError};
///
/// assert_eq!(sim::try_run(1, || 2 + 2).unwrap(), 4);
///
/// let err = sim::try_run(1, || {
///     let (tx, rx) = fibrio::channel::bounded::<u8>(1);
///     let _keep = tx; // nobody will send
///     rx.recv()
/// })
/// .unwrap_err();
/// assert!(matches!(err, SimError::Deadlock { seed: 1, .. }));
/// assert!(err.to_string().contains("deadlock"));
/// ```
#[track_caller]
pub fn try_run<'a, T: 'a>(seed: u64, main: impl FnOnce() -> T + 'a) -> Result<T, SimError> {
    case::refuse_nested("fibrio::sim::try_run");
    case::run_case(seed, main).0
}

/// Virtual time since the running simulation started.
///
/// # Panics
///
/// Outside a simulation.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let elapsed = fibrio::sim::run(0, || {
///     assert_eq!(fibrio::sim::elapsed(), Duration::ZERO);
///     fibrio::sleep(Duration::from_millis(1500));
///     fibrio::sim::elapsed()
/// });
/// assert_eq!(elapsed, Duration::from_millis(1500));
/// ```
#[track_caller]
pub fn elapsed() -> Duration {
    match det::elapsed() {
        Some(elapsed) => elapsed,
        None => outside("elapsed"),
    }
}

/// A random number from the running simulation's user stream:
/// deterministic per seed (a replay draws the same numbers), different
/// across seeds, and independent of the schedule (drawing one never
/// changes which task runs next). [`SimRng`] offers the same stream as a
/// `rand_core` generator.
///
/// # Panics
///
/// Outside a simulation.
///
/// # Examples
///
/// ```
/// let draws = |seed| fibrio::sim::run(seed, || [fibrio::sim::random_u64(), fibrio::sim::random_u64()]);
/// assert_eq!(draws(9), draws(9));
/// assert_ne!(draws(9), draws(10));
/// ```
#[track_caller]
pub fn random_u64() -> u64 {
    match det::random_u64(Stream::User) {
        Some(n) => n,
        None => outside("random_u64"),
    }
}

#[track_caller]
fn outside(what: &str) -> ! {
    panic!(
        "fibrio::sim::{what} called outside a simulation: call it from code running in \
         fibrio::sim::run, fibrio::sim::check or a #[fibrio::sim_test]"
    )
}
