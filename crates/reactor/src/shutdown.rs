//! Graceful shutdown: the state one runtime (or one group of workers)
//! shares, which tasks check ([`requested`]) or wait on ([`wait`]), which
//! makes [`TcpListener::accept`](crate::net::TcpListener::accept) stop
//! accepting, and which SIGINT/SIGTERM can set ([`SignalListener`]).
//!
//! The facade (`fibrio::shutdown`, `fibrio::Runtime::builder()
//! .shutdown_on_signals(grace)`) builds on this module; the runtime makes
//! one [`Shutdown`] current on its thread while it runs, and enforces the
//! grace period with [`Shutdown::watch_grace`].
//!
//! # Invariants
//!
//! * A [`Shutdown`] moves one way only: running, then requested
//!   ([`Shutdown::request`]), then forced ([`Shutdown::force`], the grace
//!   period cut short). Nothing moves it back.
//! * Every watcher (a [`CancelScope`] registered by [`Shutdown::move_on`],
//!   [`Shutdown::wait`], a blocked `accept`, or [`Shutdown::watch_grace`])
//!   is registered and notified under one mutex, together with the state
//!   change: a watcher registered after the request is notified at
//!   registration, so no wake-up is lost between a check and a park.
//! * Notifying a watcher cancels its scope or moves its deadline, both of
//!   which are callable from any thread and wake the scope's parked
//!   members through their `Unparker`s: a signal-handling thread, or
//!   another worker, can wake tasks of every runtime that shares the state.
//! * A watcher is removed when its guard drops, so a long-lived server
//!   does not accumulate them.
//! * Outside a runtime that entered a `Shutdown`, [`current`] is `None`,
//!   [`requested`] is false, and listeners accept as before. Inside a
//!   deterministic simulation (`fibrio::sim`) each run has a `Shutdown` of
//!   its own, created on first use: never requested unless [`request`] is
//!   called, and no signal is ever handled.
//! * A [`SignalListener`] handles SIGINT and SIGTERM through `signal-hook`
//!   (nothing hand-written in a signal handler): the first signal requests
//!   shutdown, the second forces it, a third runs the signal's default
//!   action (the process ends). While no listener exists, SIGINT and
//!   SIGTERM keep (or get back) their default action.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use fibrio_core::task::{self, det, CancelScope, ParkError, WaitKind, WaitReason};

const RUNNING: u8 = 0;
const REQUESTED: u8 = 1;
const FORCED: u8 = 2;

/// Why [`wait`] (or [`Shutdown::wait`]) could not wait.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::shutdown::{Shutdown, ShutdownError};
///
/// // On a plain thread there is no task to park.
/// let err = Shutdown::new().wait().unwrap_err();
/// assert!(matches!(err, ShutdownError::OutsideTask));
/// // Outside a runtime there is no shutdown to wait for.
/// assert!(matches!(fibrio_reactor::shutdown::wait(), Err(ShutdownError::NoRuntime)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// Called outside a fibrio runtime (or on a `spawn_blocking` thread),
    /// where no shutdown can ever be requested.
    #[error(
        "fibrio::shutdown::wait outside a fibrio runtime: no shutdown can be requested here; \
         call it in a task of fibrio::run (or keep a fibrio::shutdown::Shutdown from there)"
    )]
    NoRuntime,
    /// Called on a thread that is not running a fibrio task, so nothing
    /// can park.
    #[error(
        "fibrio::shutdown: waiting for shutdown outside a fibrio task; call it in a task, or \
         poll Shutdown::is_requested from a plain thread"
    )]
    OutsideTask,
    /// Called while the task unwinds (from a `Drop` during cancellation),
    /// where nothing may park.
    #[error("fibrio::shutdown: cannot wait for shutdown while the task unwinds")]
    Unwinding,
}

impl From<ShutdownError> for io::Error {
    fn from(err: ShutdownError) -> io::Error {
        io::Error::other(err)
    }
}

/// The error of an `accept` once shutdown is requested (see
/// [`stopped_accepting`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "fibrio: shutdown was requested, so this listener accepts no more connections; end the \
     accept loop (fibrio::shutdown::is_stopped_accepting tells this error apart)"
)]
struct StoppedAccepting;

/// The `io::Error` that [`TcpListener::accept`](crate::net::TcpListener::accept)
/// returns once shutdown is requested: kind [`io::ErrorKind::Other`] (not
/// one of the kinds accept loops usually retry, such as `ConnectionAborted`
/// or `Interrupted`), recognised by [`is_stopped_accepting`].
///
/// # Examples
///
/// ```
/// use fibrio_reactor::shutdown;
///
/// let err = shutdown::stopped_accepting();
/// assert_eq!(err.kind(), std::io::ErrorKind::Other);
/// assert!(shutdown::is_stopped_accepting(&err));
/// assert!(err.to_string().contains("accepts no more connections"));
/// ```
pub fn stopped_accepting() -> io::Error {
    io::Error::other(StoppedAccepting)
}

/// True if `err` is the error of an `accept` refused because shutdown was
/// requested ([`stopped_accepting`]).
///
/// # Examples
///
/// ```
/// use fibrio_reactor::shutdown;
///
/// assert!(shutdown::is_stopped_accepting(&shutdown::stopped_accepting()));
/// assert!(!shutdown::is_stopped_accepting(&std::io::Error::other("other")));
/// ```
pub fn is_stopped_accepting(err: &io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.is::<StoppedAccepting>())
}

/// What a registered watcher wants done.
enum Action {
    /// Cancel the scope on request.
    Cancel(CancelScope),
    /// On request, give the scope a deadline `grace` after the request; on
    /// force, cancel it.
    Grace { scope: CancelScope, grace: Duration },
}

impl Action {
    fn requested(&self, at: Instant) {
        match self {
            Action::Cancel(scope) => scope.cancel(),
            Action::Grace { scope, grace } => {
                let deadline = at.checked_add(*grace);
                // A grace too long to represent is no deadline at all.
                if deadline.is_some() {
                    scope.set_deadline(deadline);
                }
            }
        }
    }

    fn forced(&self) {
        match self {
            Action::Cancel(scope) | Action::Grace { scope, .. } => scope.cancel(),
        }
    }
}

#[derive(Default)]
struct Watchers {
    next_id: u64,
    list: Vec<(u64, Action)>,
    requested_at: Option<Instant>,
}

#[derive(Default)]
struct Inner {
    phase: AtomicU8,
    watchers: Mutex<Watchers>,
}

impl Inner {
    fn watchers(&self) -> MutexGuard<'_, Watchers> {
        // A panic while holding the lock leaves the list consistent (every
        // change is one push or one remove), so poisoning is ignored.
        self.watchers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The shutdown state of one runtime, or of the workers of one
/// `workers(n)` run: `Send + Sync + Clone`, clones share it. Request
/// shutdown from any thread (an admin endpoint, a test, a signal handler
/// thread) with [`request`](Shutdown::request).
///
/// # Examples
///
/// ```
/// use fibrio_reactor::shutdown::Shutdown;
///
/// let shutdown = Shutdown::new();
/// let remote = shutdown.clone();
/// assert!(!shutdown.is_requested());
/// std::thread::spawn(move || remote.request()).join().unwrap();
/// assert!(shutdown.is_requested());
/// assert!(!shutdown.is_forced());
/// ```
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("requested", &self.is_requested())
            .field("forced", &self.is_forced())
            .finish()
    }
}

/// Unregisters a watcher when dropped (see [`Shutdown::watch_grace`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio_core::task::CancelScope;
/// use fibrio_reactor::shutdown::Shutdown;
///
/// let shutdown = Shutdown::new();
/// let scope = CancelScope::new();
/// let watch = shutdown.watch_grace(&scope, Duration::from_secs(5));
/// drop(watch); // the scope no longer follows the shutdown
/// shutdown.request();
/// assert_eq!(scope.deadline(), None);
/// ```
#[must_use = "the watch ends when this guard is dropped"]
pub struct WatchGuard {
    inner: Arc<Inner>,
    id: u64,
}

impl std::fmt::Debug for WatchGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchGuard").field("id", &self.id).finish()
    }
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        let mut watchers = self.inner.watchers();
        if let Some(at) = watchers.list.iter().position(|(id, _)| *id == self.id) {
            watchers.list.swap_remove(at);
        }
    }
}

impl Shutdown {
    /// A state nobody has requested yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let shutdown = fibrio_reactor::shutdown::Shutdown::new();
    /// assert!(!shutdown.is_requested());
    /// ```
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Requests shutdown: from now on [`is_requested`](Shutdown::is_requested)
    /// is true, tasks in [`wait`](Shutdown::wait) wake, code in
    /// [`move_on`](Shutdown::move_on) is cancelled, listeners stop
    /// accepting, and the grace period of every scope in
    /// [`watch_grace`](Shutdown::watch_grace) starts. Returns true if this
    /// call made the request, false if it had been made already. Callable
    /// from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let shutdown = fibrio_reactor::shutdown::Shutdown::new();
    /// assert!(shutdown.request());
    /// assert!(!shutdown.request()); // already requested
    /// ```
    pub fn request(&self) -> bool {
        let mut watchers = self.inner.watchers();
        if self
            .inner
            .phase
            .compare_exchange(RUNNING, REQUESTED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        let at = Instant::now();
        watchers.requested_at = Some(at);
        for (_, action) in &watchers.list {
            action.requested(at);
        }
        true
    }

    /// Cuts the grace period short: requests shutdown if that was not done
    /// yet, and cancels every scope in [`watch_grace`](Shutdown::watch_grace)
    /// at once. The second SIGINT/SIGTERM does this. Returns true if this
    /// call forced it. Callable from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let shutdown = fibrio_reactor::shutdown::Shutdown::new();
    /// assert!(shutdown.force());
    /// assert!(shutdown.is_requested() && shutdown.is_forced());
    /// assert!(!shutdown.force());
    /// ```
    pub fn force(&self) -> bool {
        self.request();
        let watchers = self.inner.watchers();
        if self.inner.phase.swap(FORCED, Ordering::AcqRel) == FORCED {
            return false;
        }
        for (_, action) in &watchers.list {
            action.forced();
        }
        true
    }

    /// True once shutdown has been requested (or forced).
    ///
    /// # Examples
    ///
    /// ```
    /// let shutdown = fibrio_reactor::shutdown::Shutdown::new();
    /// assert!(!shutdown.is_requested());
    /// shutdown.request();
    /// assert!(shutdown.is_requested());
    /// ```
    pub fn is_requested(&self) -> bool {
        self.inner.phase.load(Ordering::Acquire) >= REQUESTED
    }

    /// True once the grace period has been cut short ([`force`](Shutdown::force)).
    ///
    /// # Examples
    ///
    /// ```
    /// let shutdown = fibrio_reactor::shutdown::Shutdown::new();
    /// shutdown.request();
    /// assert!(!shutdown.is_forced());
    /// ```
    pub fn is_forced(&self) -> bool {
        self.inner.phase.load(Ordering::Acquire) == FORCED
    }

    /// Registers `action`, running it at once for what already happened.
    fn watch(&self, action: Action) -> WatchGuard {
        let mut watchers = self.inner.watchers();
        if let Some(at) = watchers.requested_at {
            action.requested(at);
        }
        if self.is_forced() {
            action.forced();
        }
        watchers.next_id += 1;
        let id = watchers.next_id;
        watchers.list.push((id, action));
        WatchGuard {
            inner: Arc::clone(&self.inner),
            id,
        }
    }

    /// Makes `scope` follow the shutdown for as long as the guard lives:
    /// when shutdown is requested, the scope gets a deadline `grace` after
    /// the request; when it is forced, the scope is cancelled. The runtime
    /// runs `main` in such a scope to enforce the grace period.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::task::CancelScope;
    /// use fibrio_reactor::shutdown::Shutdown;
    ///
    /// let shutdown = Shutdown::new();
    /// let scope = CancelScope::new();
    /// let _watch = shutdown.watch_grace(&scope, Duration::from_secs(30));
    /// shutdown.request();
    /// assert!(scope.deadline().is_some() && !scope.is_cancelled());
    /// shutdown.force();
    /// assert!(scope.is_cancelled());
    /// ```
    pub fn watch_grace(&self, scope: &CancelScope, grace: Duration) -> WatchGuard {
        self.watch(Action::Grace {
            scope: scope.clone(),
            grace,
        })
    }

    /// Runs `f`, cancelling it if shutdown is requested meanwhile: `Some`
    /// with its value if it finished, `None` if shutdown cut it short (or
    /// had been requested before, in which case `f` stops at its first
    /// checkpoint). Use it around a wait that should end at shutdown, such
    /// as a kept-alive connection's wait for its next request. Outside a
    /// task it just runs `f`.
    ///
    /// # Cancellation
    ///
    /// `f` runs in a [`CancelScope`] that the request cancels; any other
    /// cancellation passes through as usual.
    ///
    /// # Examples
    ///
    /// ```
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    /// use std::time::Duration;
    /// use fibrio_reactor::shutdown::Shutdown;
    ///
    /// let shutdown = Shutdown::new();
    /// let remote = shutdown.clone();
    /// std::thread::spawn(move || remote.request());
    /// let slept = shutdown.move_on(|| fibrio_reactor::sleep(Duration::from_secs(3600)));
    /// assert_eq!(slept, None); // cut short by the request
    /// # }).unwrap();
    /// ```
    pub fn move_on<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        if task::current_key().is_none() {
            return Some(f());
        }
        let scope = CancelScope::new();
        let _watch = self.watch(Action::Cancel(scope.clone()));
        scope.run(f)
    }

    /// Parks the current task until shutdown is requested; returns at once
    /// if it has been.
    ///
    /// # Errors
    ///
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
    /// # use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
    /// # use fibrio_reactor::{BackendKind, Reactor};
    /// # let reactor = Reactor::new(BackendKind::Auto).unwrap();
    /// # let _enter = reactor.enter();
    /// # Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
    /// use fibrio_reactor::shutdown::Shutdown;
    ///
    /// let shutdown = Shutdown::new();
    /// let remote = shutdown.clone();
    /// std::thread::spawn(move || remote.request());
    /// shutdown.wait().unwrap(); // parks until the thread requested it
    /// assert!(shutdown.is_requested());
    /// # }).unwrap();
    /// ```
    pub fn wait(&self) -> Result<(), ShutdownError> {
        task::checkpoint_if_cancelled();
        if self.is_requested() {
            return Ok(());
        }
        if task::current_key().is_none() {
            return Err(ShutdownError::OutsideTask);
        }
        let reason = WaitReason::new(WaitKind::Park, 0);
        let waited = self.move_on(|| loop {
            match task::park_for(reason, None) {
                Ok(()) => {}
                Err(ParkError::Unwinding) => return Err(ShutdownError::Unwinding),
                Err(_) => return Err(ShutdownError::OutsideTask),
            }
        });
        match waited {
            Some(Err(err)) => Err(err),
            Some(Ok(())) | None => Ok(()),
        }
    }

    /// Makes this state the current one on this thread until the guard
    /// drops (the previous one, if any, comes back then): what [`current`],
    /// [`requested`], [`wait`] and the listeners of this thread use. The
    /// runtime does it around `run`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::shutdown::{self, Shutdown};
    ///
    /// let state = Shutdown::new();
    /// let guard = state.enter();
    /// state.request();
    /// assert!(shutdown::requested());
    /// drop(guard);
    /// assert!(!shutdown::requested());
    /// ```
    pub fn enter(&self) -> EnterGuard {
        let previous = CURRENT.with(|current| current.replace(Some(self.clone())));
        EnterGuard { previous }
    }

    /// Handles SIGINT and SIGTERM on a thread of its own until the
    /// listener drops: the first signal [`request`](Shutdown::request)s
    /// shutdown, the second [`force`](Shutdown::force)s it, a third runs
    /// the signal's default action (the process ends). Once no listener is
    /// left in the process, the two signals get their default action back.
    ///
    /// # Errors
    ///
    /// If `signal-hook` cannot register the handlers, or the thread cannot
    /// be spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::shutdown::Shutdown;
    ///
    /// let shutdown = Shutdown::new();
    /// let listener = shutdown.listen_for_signals()?;
    /// // A test would send `kill -TERM <pid>` here; see the tests.
    /// drop(listener); // SIGINT and SIGTERM end the process again
    /// assert!(!shutdown.is_requested());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn listen_for_signals(&self) -> io::Result<SignalListener> {
        SignalListener::start(self.clone())
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Shutdown>> = const { RefCell::new(None) };
    /// The state of the simulation running on this thread, keyed by its
    /// run (`task::det::run_id`), so that each run gets a fresh one.
    static SIMULATED: RefCell<Option<(u64, Shutdown)>> = const { RefCell::new(None) };
}

/// Restores the previously current [`Shutdown`] when dropped (see
/// [`Shutdown::enter`]).
///
/// # Examples
///
/// ```
/// use fibrio_reactor::shutdown::{self, Shutdown};
///
/// let _guard: shutdown::EnterGuard = Shutdown::new().enter();
/// assert!(shutdown::current().is_some());
/// ```
#[must_use = "the state is current only until this guard is dropped"]
#[derive(Debug)]
pub struct EnterGuard {
    previous: Option<Shutdown>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|current| current.replace(previous));
    }
}

/// The shutdown state of the runtime running on this thread: the one
/// entered with [`Shutdown::enter`], or inside a deterministic simulation
/// that run's own. `None` elsewhere.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::shutdown;
///
/// assert!(shutdown::current().is_none()); // no runtime here
/// ```
pub fn current() -> Option<Shutdown> {
    if let Some(entered) = CURRENT.try_with(|c| c.borrow().clone()).ok().flatten() {
        return Some(entered);
    }
    simulated()
}

/// The simulation's own state, created on first use in each run.
fn simulated() -> Option<Shutdown> {
    if !det::active() {
        return None;
    }
    // Each run has an id of its own.
    let key = det::run_id()?;
    SIMULATED
        .try_with(|slot| {
            let mut slot = slot.borrow_mut();
            match &*slot {
                Some((run, state)) if *run == key => state.clone(),
                _ => {
                    let state = Shutdown::new();
                    *slot = Some((key, state.clone()));
                    state
                }
            }
        })
        .ok()
}

/// True once shutdown of the runtime running on this thread has been
/// requested; false outside a runtime.
///
/// # Examples
///
/// ```
/// assert!(!fibrio_reactor::shutdown::requested());
/// ```
pub fn requested() -> bool {
    if let Ok(Some(entered)) = CURRENT.try_with(|c| c.borrow().as_ref().map(Shutdown::is_requested))
    {
        return entered;
    }
    simulated().is_some_and(|state| state.is_requested())
}

/// Requests shutdown of the runtime running on this thread (see
/// [`Shutdown::request`]). Returns true if this call made the request.
///
/// # Errors
///
/// [`ShutdownError::NoRuntime`] outside a runtime.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::shutdown::{self, ShutdownError};
///
/// assert!(matches!(shutdown::request(), Err(ShutdownError::NoRuntime)));
/// ```
pub fn request() -> Result<bool, ShutdownError> {
    current()
        .map(|state| state.request())
        .ok_or(ShutdownError::NoRuntime)
}

/// Parks the current task until shutdown of its runtime is requested (see
/// [`Shutdown::wait`]).
///
/// # Errors
///
/// [`ShutdownError::NoRuntime`] outside a runtime, and as
/// [`Shutdown::wait`].
///
/// # Cancellation
///
/// A checkpoint.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::shutdown::{self, ShutdownError};
///
/// assert!(matches!(shutdown::wait(), Err(ShutdownError::NoRuntime)));
/// ```
pub fn wait() -> Result<(), ShutdownError> {
    current().ok_or(ShutdownError::NoRuntime)?.wait()
}

/// Runs `f` and cancels it if shutdown of this thread's runtime is
/// requested meanwhile (see [`Shutdown::move_on`]); outside a runtime it
/// just runs `f`.
///
/// # Cancellation
///
/// As [`Shutdown::move_on`].
///
/// # Examples
///
/// ```
/// assert_eq!(fibrio_reactor::shutdown::move_on(|| 7), Some(7));
/// ```
pub fn move_on<R>(f: impl FnOnce() -> R) -> Option<R> {
    match current() {
        Some(state) => state.move_on(f),
        None => Some(f()),
    }
}

/// The accept path of the OS listeners: refuses once shutdown is requested,
/// and ends a blocked `accept` (run by `blocking`) when it is.
pub(crate) fn accept<R>(blocking: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
    let Some(state) = CURRENT.try_with(|c| c.borrow().clone()).ok().flatten() else {
        return blocking();
    };
    if state.is_requested() {
        return Err(stopped_accepting());
    }
    match state.move_on(blocking) {
        Some(result) => result,
        None => Err(stopped_accepting()),
    }
}

/// How many [`SignalListener`]s are alive, and the flag that gives SIGINT
/// and SIGTERM their default action back when there are none.
struct Fallback {
    listeners: Mutex<usize>,
    default_action: Arc<AtomicBool>,
}

/// Registers, once per process, an action that runs the default action of
/// SIGINT/SIGTERM while no listener is alive: `signal-hook` never restores
/// the original disposition itself.
fn fallback() -> io::Result<&'static Fallback> {
    static FALLBACK: OnceLock<Result<Fallback, String>> = OnceLock::new();
    let fallback = FALLBACK.get_or_init(|| {
        let default_action = Arc::new(AtomicBool::new(true));
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register_conditional_default(signal, Arc::clone(&default_action))
                .map_err(|err| err.to_string())?;
        }
        Ok(Fallback {
            listeners: Mutex::new(0),
            default_action,
        })
    });
    fallback.as_ref().map_err(|err| {
        io::Error::other(format!(
            "fibrio: cannot install the SIGINT/SIGTERM handlers: {err}"
        ))
    })
}

impl Fallback {
    fn add(&self, delta: isize) {
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *listeners = listeners.saturating_add_signed(delta);
        self.default_action.store(*listeners == 0, Ordering::SeqCst);
    }
}

/// SIGINT/SIGTERM handling for a [`Shutdown`], from
/// [`Shutdown::listen_for_signals`]; dropping it stops the handling (and
/// joins its thread).
///
/// # Examples
///
/// ```
/// use fibrio_reactor::shutdown::{Shutdown, SignalListener};
///
/// let listener: SignalListener = Shutdown::new().listen_for_signals()?;
/// drop(listener);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct SignalListener {
    handle: signal_hook::iterator::Handle,
    thread: Option<ThreadHandle<()>>,
    fallback: &'static Fallback,
}

impl std::fmt::Debug for SignalListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalListener")
            .field("closed", &self.handle.is_closed())
            .finish()
    }
}

impl SignalListener {
    fn start(shutdown: Shutdown) -> io::Result<SignalListener> {
        let fallback = fallback()?;
        let mut signals = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ])
        .map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("fibrio: cannot install the SIGINT/SIGTERM handlers: {err}"),
            )
        })?;
        let handle = signals.handle();
        fallback.add(1);
        let thread = std::thread::Builder::new()
            .name("fibrio-signals".into())
            .spawn(move || {
                let mut received = 0u32;
                for signal in signals.forever() {
                    received += 1;
                    let name = if signal == signal_hook::consts::SIGINT {
                        "SIGINT"
                    } else {
                        "SIGTERM"
                    };
                    match received {
                        1 => {
                            log::info!("fibrio: {name} received, shutting down gracefully");
                            shutdown.request();
                        }
                        2 => {
                            log::warn!(
                                "fibrio: second {name} received, ending the grace period now"
                            );
                            shutdown.force();
                        }
                        _ => {
                            log::warn!("fibrio: third {name} received, terminating");
                            let _ = signal_hook::low_level::emulate_default_handler(signal);
                        }
                    }
                }
            });
        match thread {
            Ok(thread) => Ok(SignalListener {
                handle,
                thread: Some(thread),
                fallback,
            }),
            Err(err) => {
                handle.close();
                fallback.add(-1);
                Err(io::Error::new(
                    err.kind(),
                    format!("fibrio: cannot spawn the signal-handling thread: {err}"),
                ))
            }
        }
    }
}

impl Drop for SignalListener {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.fallback.add(-1);
    }
}
