//! Graceful shutdown: a signal that tasks check ([`requested`]) or wait on
//! ([`wait`]), that makes listeners stop accepting, and after which the
//! runtime gives in-flight work a grace period before it cancels what is
//! left and `run` returns.
//!
//! Turn it on with
//! [`Builder::shutdown_on_signals(grace)`](crate::Builder::shutdown_on_signals)
//! (SIGINT and SIGTERM request it) or
//! [`Builder::shutdown_grace(grace)`](crate::Builder::shutdown_grace) (only
//! [`request`] and [`Shutdown::request`] do). Every runtime has a shutdown
//! state, so [`request`], [`requested`] and [`wait`] work in any of them;
//! without a configured grace, a requested shutdown gives none (when
//! `main` returns, the other tasks are cancelled at once, as always).
//!
//! # What happens, in order
//!
//! 1. Shutdown is requested: the first SIGINT/SIGTERM, [`request`] in a
//!    task, or [`Shutdown::request`] from any thread (an admin endpoint, a
//!    test). [`requested`] turns true, and tasks parked in [`wait`] wake.
//! 2. Listeners stop accepting:
//!    [`TcpListener::accept`](crate::net::TcpListener::accept) blocked at
//!    that moment or called afterwards returns an error of kind
//!    [`std::io::ErrorKind::Other`] that [`is_stopped_accepting`]
//!    recognises, and [`incoming`](crate::net::TcpListener::incoming)
//!    ends, so accept loops end.
//! 3. The grace period starts. If `main` returns within it, the runtime
//!    waits (still within it) for its other tasks to end.
//! 4. When the grace period is over (or cut short by a second signal, or
//!    [`Shutdown::force`]), `main` and every task it spawned are cancelled,
//!    and `run` returns: `main`'s value if it had returned, else
//!    [`RuntimeError::GraceExpired`](crate::RuntimeError::GraceExpired)
//!    from `try_run` (and a panic saying so from `run`). A third signal
//!    ends the process at once with the signal's default action.
//!
//! Until then the grace period costs the tasks nothing: they run in no
//! cancel scope. One parked task per runtime, `fibrio-shutdown-grace`,
//! cancels `main` when the grace ends (the runtime then cancels every task
//! left, as whenever `main` ends); it shows in task dumps and counts in
//! `tasks_alive` and against `max_tasks`.
//!
//! With [`workers(n)`](crate::Builder::workers) the workers share one
//! state: one signal, or a request in any worker or through
//! [`Workers::request_shutdown`](crate::Workers::request_shutdown), shuts
//! them all down, each with its own grace period.
//!
//! # Invariants
//!
//! * The state only moves forward: running, requested, forced.
//! * No wake-up is lost: a task that checks and then parks in [`wait`] or
//!   a blocked `accept` is woken by a request made at any moment, from any
//!   thread.
//! * Signals are handled by `signal-hook` on a thread of its own, only
//!   while a runtime built with `shutdown_on_signals` runs; afterwards
//!   SIGINT and SIGTERM have their default action again.
//! * Inside a deterministic simulation ([`fibrio::sim`](crate::sim)) each
//!   run has its own state: [`requested`] is false unless [`request`] was
//!   called in that run, and no signal is handled. Simulated listeners
//!   ignore shutdown, and [`wait`] with no request is reported as a
//!   deadlock.
//!
//! # Examples
//!
//! A server whose accept loop ends at shutdown, and whose connections get
//! the grace period to finish:
//!
//! ```
//! use std::io::Write;
//! use std::time::Duration;
//! use fibrio::net::{TcpListener, TcpStream};
//!
//! let runtime = fibrio::Runtime::builder()
//!     .shutdown_grace(Duration::from_secs(10))
//!     .build()?;
//! let served = runtime.run(|| {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     fibrio::spawn(move || {
//!         let _client = TcpStream::connect(addr).unwrap();
//!         fibrio::shutdown::request().unwrap(); // as an admin endpoint would
//!     });
//!     let mut served = 0;
//!     for stream in listener.incoming() {
//!         // ends once shutdown is requested
//!         let mut stream = stream.unwrap();
//!         served += 1;
//!         fibrio::spawn(move || stream.write_all(b"bye")); // within the grace
//!     }
//!     served
//! });
//! assert!(served <= 1);
//! # Ok::<(), fibrio::RuntimeError>(())
//! ```

pub use fibrio_reactor::shutdown::{
    is_stopped_accepting, stopped_accepting, Shutdown, ShutdownError, SignalListener, WatchGuard,
};

/// True once shutdown of the runtime running on this thread has been
/// requested; false outside a runtime (and in a `spawn_blocking` job).
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     assert!(!fibrio::shutdown::requested());
///     fibrio::shutdown::request().unwrap();
///     assert!(fibrio::shutdown::requested());
/// });
/// assert!(!fibrio::shutdown::requested()); // no runtime here
/// ```
pub fn requested() -> bool {
    fibrio_reactor::shutdown::requested()
}

/// Parks the current task until shutdown of its runtime is requested;
/// returns at once if it has been.
///
/// # Errors
///
/// [`ShutdownError::NoRuntime`] outside a runtime,
/// [`ShutdownError::OutsideTask`] on a thread with no running task,
/// [`ShutdownError::Unwinding`] while the task unwinds.
///
/// # Cancellation
///
/// A checkpoint: a cancelled task unwinds from here.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let waiter = fibrio::spawn(|| {
///         fibrio::shutdown::wait().unwrap();
///         "woken"
///     });
///     fibrio::yield_now(); // the waiter parks
///     fibrio::shutdown::request().unwrap();
///     assert_eq!(waiter.join().unwrap(), "woken");
/// });
/// ```
pub fn wait() -> Result<(), ShutdownError> {
    fibrio_reactor::shutdown::wait()
}

/// Requests shutdown of the runtime running on this thread (and of the
/// other workers, in `workers(n)`), as the first SIGINT/SIGTERM would.
/// Returns true if this call made the request, false if it was made
/// already. To request it from another thread, keep a [`Shutdown`] from
/// [`current`].
///
/// # Errors
///
/// [`ShutdownError::NoRuntime`] outside a runtime.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     assert_eq!(fibrio::shutdown::request().unwrap(), true);
///     assert_eq!(fibrio::shutdown::request().unwrap(), false); // already
/// });
/// assert!(fibrio::shutdown::request().is_err()); // no runtime here
/// ```
pub fn request() -> Result<bool, ShutdownError> {
    fibrio_reactor::shutdown::request()
}

/// The shutdown state of the runtime running on this thread: a
/// `Send + Sync` handle to request or force shutdown from any thread.
/// `None` outside a runtime.
///
/// # Examples
///
/// ```
/// let state = fibrio::run(|| fibrio::shutdown::current().unwrap());
/// assert!(!state.is_requested());
/// assert!(fibrio::shutdown::current().is_none());
/// ```
///
/// From another thread, as an admin endpoint would:
///
/// ```
/// fibrio::run(|| {
///     let state = fibrio::shutdown::current().unwrap();
///     std::thread::spawn(move || state.request());
///     fibrio::shutdown::wait().unwrap();
/// });
/// ```
pub fn current() -> Option<Shutdown> {
    fibrio_reactor::shutdown::current()
}

/// Runs `f` and cancels it if shutdown is requested meanwhile: `Some` with
/// its value if it finished, `None` if shutdown cut it short (or had been
/// requested already, in which case `f` stops at its first checkpoint).
/// Use it around waits that should end at shutdown, such as a kept-alive
/// connection's wait for its next request. Outside a runtime it just runs
/// `f`.
///
/// # Cancellation
///
/// `f` runs in a [`CancelScope`](crate::CancelScope) that the request
/// cancels; other cancellations pass through as usual.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// fibrio::run(|| {
///     fibrio::spawn(|| fibrio::shutdown::request().unwrap());
///     let idle = fibrio::shutdown::move_on(|| fibrio::sleep(Duration::from_secs(3600)));
///     assert_eq!(idle, None); // cut short by the request
/// });
/// ```
pub fn move_on<R>(f: impl FnOnce() -> R) -> Option<R> {
    fibrio_reactor::shutdown::move_on(f)
}
