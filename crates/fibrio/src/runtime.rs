//! [`Runtime`], its [`Builder`], and [`run`].
//!
//! A runtime is one OS thread running one scheduler (`fibrio-core`) over
//! one reactor (`fibrio-reactor`). `run` builds one with the defaults,
//! runs `main` in a task, and returns `main`'s value.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use fibrio_core::scheduler::{
    DeadlockAction, Observer, Scheduler, SchedulerConfig, SchedulerError,
};
use fibrio_core::task::CancelScope;
use fibrio_reactor::shutdown::Shutdown;
use fibrio_reactor::{BackendError, BackendKind, Reactor};

/// Why a runtime could not be built or run.
///
/// # Examples
///
/// ```
/// use fibrio::{Backend, Runtime, RuntimeError};
///
/// // Inside a running runtime, a second one refuses to run.
/// let nested = fibrio::run(|| Runtime::new().unwrap().try_run(|| ()));
/// assert!(matches!(nested, Err(RuntimeError::Scheduler(_))));
/// // An unknown backend name.
/// let err: RuntimeError = "select".parse::<Backend>().unwrap_err().into();
/// assert!(matches!(err, RuntimeError::Backend(_)));
/// // Inside a simulation, a runtime refuses to start.
/// let refused = fibrio::sim::run(0, || Runtime::new().unwrap().try_run(|| ()));
/// assert!(matches!(refused, Err(RuntimeError::InsideSimulation)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The poller backend could not be chosen or opened (for example an
    /// unknown `FIBRIO_BACKEND` value).
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// `run` was called inside a running runtime, or main could not start.
    #[error(transparent)]
    Scheduler(#[from] SchedulerError),
    /// `run` was called inside a simulation ([`fibrio::sim`](crate::sim)),
    /// which is a runtime of its own: spawn a task instead.
    #[error(
        "fibrio::run inside a simulation (fibrio::sim): the simulation is already a runtime; \
         spawn a task with fibrio::spawn instead"
    )]
    InsideSimulation,
    /// The SIGINT/SIGTERM handlers of
    /// [`Builder::shutdown_on_signals`] could not be installed.
    #[error("cannot handle SIGINT/SIGTERM for graceful shutdown: {0}")]
    Signals(#[source] std::io::Error),
    /// Shutdown was requested and `main` had not returned when the grace
    /// period ended (or a second signal cut it short): `main` and every
    /// task were cancelled, so there is no value to return. Make `main`
    /// return at shutdown (end its accept loop, or wait on
    /// [`shutdown::wait`](crate::shutdown::wait)) so its tasks get the grace
    /// period and `run` returns its value.
    #[error(
        "main was cancelled at the end of the shutdown grace period ({grace:?}); make main \
         return once fibrio::shutdown::requested() (its accept loop ends at shutdown)"
    )]
    GraceExpired {
        /// The grace period that ran out.
        grace: Duration,
    },
}

/// Configures a [`Runtime`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio::{Backend, Runtime};
///
/// let runtime = Runtime::builder()
///     .backend(Backend::Poll)
///     .stack_size(64 * 1024)
///     .watchdog(Duration::from_millis(50))
///     .build()?;
/// assert_eq!(runtime.backend_name(), "poll");
/// assert_eq!(runtime.run(|| 7), 7);
/// # Ok::<(), fibrio::RuntimeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    backend: BackendKind,
    config: SchedulerConfig,
    stack_pool: Option<usize>,
    shutdown: ShutdownConfig,
    /// [`Builder::dump_on_sigquit`].
    sigquit: bool,
}

/// How a runtime shuts down: see [`Builder::shutdown_on_signals`].
#[derive(Debug, Clone, Default)]
pub(crate) struct ShutdownConfig {
    /// The grace period, if one is enforced.
    pub(crate) grace: Option<Duration>,
    /// Whether SIGINT/SIGTERM request shutdown.
    pub(crate) signals: bool,
    /// The state shared with other runtimes (the workers of one
    /// `workers(n)`); a fresh one per run otherwise.
    pub(crate) shared: Option<Shutdown>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            backend: BackendKind::Auto,
            config: SchedulerConfig::default(),
            stack_pool: None,
            shutdown: ShutdownConfig::default(),
            sigquit: false,
        }
    }
}

impl Builder {
    /// A builder with the defaults: automatic backend (or `FIBRIO_BACKEND`),
    /// 256 KiB stacks, no watchdog, no task limit.
    ///
    /// # Examples
    ///
    /// ```
    /// let runtime = fibrio::Builder::new().build()?;
    /// assert_eq!(runtime.run(|| 1 + 1), 2);
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Forces a poller backend. [`BackendKind::Auto`] (the default) picks the
    /// best one, unless the `FIBRIO_BACKEND` environment variable names one.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::{Backend, Runtime};
    ///
    /// let runtime = Runtime::builder().backend(Backend::Poll).build()?;
    /// assert_eq!(runtime.backend_name(), "poll");
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn backend(mut self, backend: BackendKind) -> Builder {
        self.backend = backend;
        self
    }

    /// The stack size of tasks spawned without one (default
    /// [`DEFAULT_STACK_SIZE`](crate::stack::DEFAULT_STACK_SIZE), 256 KiB). Smaller stacks let more tasks
    /// exist at once; see the README on `vm.max_map_count`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::Runtime;
    ///
    /// let small = Runtime::builder().stack_size(64 * 1024).build()?;
    /// assert_eq!(small.run(|| fibrio::spawn(|| 6 * 7).join().unwrap()), 42);
    /// // Too large a size fails when the first stack is mapped.
    /// let huge = Runtime::builder().stack_size(usize::MAX).build()?;
    /// assert!(huge.try_run(|| ()).is_err());
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.config.stack_size = bytes;
        self
    }

    /// Warns through `log` when a task runs longer than `threshold` without
    /// parking: the sign of a blocking call inside a task. Off by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let runtime = fibrio::Runtime::builder().watchdog(Duration::from_millis(100)).build()?;
    /// // Tasks that park often never trip it.
    /// assert_eq!(runtime.run(|| { fibrio::yield_now(); 5 }), 5);
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn watchdog(mut self, threshold: Duration) -> Builder {
        self.config.watchdog = Some(threshold);
        self
    }

    /// Fixes how many finished tasks' stacks the runtime's thread keeps for
    /// reuse. By default the pool adapts: it keeps up to the most tasks
    /// that were alive at once (at least
    /// [`DEFAULT_POOL_CAPACITY`](crate::stack::DEFAULT_POOL_CAPACITY), at
    /// most [`ADAPTIVE_POOL_LIMIT`](crate::stack::ADAPTIVE_POOL_LIMIT)), so a
    /// recurring peak costs no system calls. Spawning onto a pooled stack
    /// makes no system call; mapping a new one costs an `mmap`, an
    /// `mprotect` and page faults, and dropping one past the pool a
    /// `munmap`. Each pooled stack keeps its touched pages and its two
    /// kernel mappings; fix a bound to cap that memory.
    ///
    /// # Examples
    ///
    /// ```
    /// let runtime = fibrio::Runtime::builder().stack_pool(4).build()?;
    /// let capacity = runtime.run(|| fibrio::stack::statistics().pool_capacity);
    /// assert_eq!(capacity, 4);
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn stack_pool(mut self, capacity: usize) -> Builder {
        self.stack_pool = Some(capacity);
        self
    }

    /// Limits the number of tasks alive at once; `spawn` past it fails
    /// with `SpawnError::TooManyTasks`. No limit by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::task::{Builder, SpawnError};
    ///
    /// let runtime = fibrio::Runtime::builder().max_tasks(2).build()?;
    /// runtime.run(|| {
    ///     let first = fibrio::spawn(|| ()); // main and `first`: 2 tasks
    ///     let refused = Builder::new().spawn(|| ()).unwrap_err();
    ///     assert!(matches!(refused, SpawnError::TooManyTasks { limit: 2 }));
    ///     first.join().unwrap();
    /// });
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn max_tasks(mut self, limit: usize) -> Builder {
        self.config.max_tasks = Some(limit);
        self
    }

    /// How many spawns from other threads may wait to start before
    /// [`Handle::try_spawn`](crate::Handle::try_spawn) refuses more
    /// (default 65,536). [`Handle::spawn`](crate::Handle::spawn) is not
    /// bounded by it; the runtime takes queued spawns in batches either way,
    /// so a flood of them never holds its timers and tasks back. `0` makes
    /// every `try_spawn` refuse.
    ///
    /// # Examples
    ///
    /// ```
    /// let runtime = fibrio::Runtime::builder().remote_spawn_capacity(1024).build()?;
    /// let doubled = runtime.run(|| {
    ///     let handle = fibrio::Handle::current();
    ///     let remote = std::thread::spawn(move || handle.try_spawn(|| 21 * 2))
    ///         .join()
    ///         .unwrap()
    ///         .expect("room for one spawn");
    ///     remote.join().unwrap()
    /// });
    /// assert_eq!(doubled, 42);
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn remote_spawn_capacity(mut self, capacity: usize) -> Builder {
        self.config.remote_spawn_capacity = capacity;
        self
    }

    /// How many task runs go by between two looks at the poller when tasks
    /// are always runnable (default 61). Lower favours I/O latency under
    /// load; higher favours throughput of busy tasks. `0` is treated as 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let answer = fibrio::Runtime::builder()
    ///     .driver_interval(16)
    ///     .build()
    ///     .unwrap()
    ///     .run(|| 42);
    /// assert_eq!(answer, 42);
    /// ```
    pub fn driver_interval(mut self, runs: u32) -> Builder {
        self.config.driver_interval = runs;
        self
    }

    /// Trades CPU for timer precision: when the next timer is due within
    /// `spin`, the runtime stops blocking in the poller and keeps polling
    /// (its sockets and its cross-thread inbox too) until the timer is due,
    /// instead of relying on the kernel to wake it on time. Off
    /// (`Duration::ZERO`) by default.
    ///
    /// A blocked wait wakes as late as the kernel and the hypervisor make
    /// it: on the VM we measured, `sleep(1 ms)` woke a median of 70-85 µs
    /// and a p99 of 0.4-1.8 ms late (`std::thread::sleep` alike). With
    /// `timer_spin(300 µs)` the median was 1.1-1.4 µs, but the p99 stayed
    /// up to 1.5 ms: when the blocked wait before the window wakes late, the
    /// window is already gone. With `timer_spin(2 ms)`, longer than that
    /// tail, the p99 was 3-73 µs (`docs/performance.md`); for 1 ms sleeps
    /// that means never blocking. Either way it costs up to `spin` of busy
    /// CPU per timer wake-up: worth it for a runtime whose timers pace work
    /// (rate limiters, frame clocks), not for one that mostly waits on
    /// sockets.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let late = fibrio::Runtime::builder()
    ///     .timer_spin(Duration::from_micros(300))
    ///     .build()?
    ///     .run(|| {
    ///         let start = Instant::now();
    ///         fibrio::sleep(Duration::from_millis(1));
    ///         start.elapsed() - Duration::from_millis(1)
    ///     });
    /// assert!(late < Duration::from_secs(1)); // never early, usually microseconds late
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn timer_spin(mut self, spin: Duration) -> Builder {
        self.config.timer_spin = spin;
        self
    }

    /// Sends every task event of the runtime (created, started, parked,
    /// woken, completed, failed, cancelled) to `observer`, on the
    /// runtime's thread, in order (see [`crate::observer`]). Off by
    /// default, costing one predictable branch per event site.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use fibrio::observer::{Observer, TaskEvent, TaskEventKind};
    ///
    /// #[derive(Default)]
    /// struct Started(AtomicUsize);
    /// impl Observer for Started {
    ///     fn on_event(&self, event: &TaskEvent<'_>) {
    ///         if event.kind == TaskEventKind::Started {
    ///             self.0.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     }
    /// }
    ///
    /// let started = Arc::new(Started::default());
    /// fibrio::Runtime::builder()
    ///     .observer(started.clone())
    ///     .build()?
    ///     .run(|| fibrio::spawn(|| ()).join().unwrap());
    /// assert_eq!(started.0.load(Ordering::Relaxed), 2); // main and the child
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Builder {
        self.config.observer = Some(observer);
        self
    }

    /// What the runtime does when it is deadlocked for certain (every task
    /// parked on a join or a lock only another parked task can release;
    /// see `docs/operations.md`): [`DeadlockAction::Log`] (the default)
    /// logs it once with the task dump, [`DeadlockAction::Panic`] makes
    /// `run` panic with a message that starts with "deadlock" and holds the
    /// dump, [`DeadlockAction::Ignore`] does not look.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::DeadlockAction;
    ///
    /// let outcome = std::panic::catch_unwind(|| {
    ///     fibrio::Runtime::builder()
    ///         .deadlock(DeadlockAction::Panic)
    ///         .build()
    ///         .unwrap()
    ///         .run(|| {
    ///             let main = fibrio::task::current();
    ///             let child = fibrio::spawn(move || main.wait()); // waits for main ...
    ///             let _ = child.join(); // ... which waits for it
    ///         })
    /// });
    /// assert!(outcome.is_err());
    /// ```
    pub fn deadlock(mut self, action: DeadlockAction) -> Builder {
        self.config.deadlock = action;
        self
    }

    /// Prints the task dump, with every task's stack, to stderr on SIGQUIT
    /// (`kill -QUIT <pid>`) while the runtime runs, as Go prints its
    /// goroutines. Off by default. Handled with `signal-hook` on a thread
    /// of its own, which asks the runtime for the dump through a
    /// [`Handle`](crate::Handle) (so the deadlock check is off meanwhile);
    /// while it is on, SIGQUIT does not end the process. Once no runtime
    /// with it runs any more, SIGQUIT has its default action again (the
    /// process ends, with a core dump where enabled).
    ///
    /// # Examples
    ///
    /// ```
    /// let runtime = fibrio::Runtime::builder().dump_on_sigquit(true).build()?;
    /// assert_eq!(runtime.run(|| 1), 1);
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn dump_on_sigquit(mut self, enabled: bool) -> Builder {
        self.sigquit = enabled;
        self
    }

    /// Shuts the runtime down gracefully on SIGINT or SIGTERM (handled with
    /// `signal-hook` on a thread of its own while the runtime runs): the
    /// first signal requests shutdown ([`fibrio::shutdown`](crate::shutdown)
    /// says what that does: [`shutdown::requested`](crate::shutdown::requested)
    /// turns true, [`shutdown::wait`](crate::shutdown::wait) wakes, listeners
    /// stop accepting), in-flight work then has `grace` to finish, and then
    /// every task is cancelled and `run` returns. A **second signal** during
    /// the grace period ends it at once; a third ends the process with the
    /// signal's default action. After `run` returns, the two signals have
    /// their default action again. Until the grace period ends this costs
    /// the tasks nothing: they run in no cancel scope; one parked task,
    /// `fibrio-shutdown-grace` (it shows in dumps and counts in
    /// `tasks_alive` and against [`max_tasks`](Builder::max_tasks)), cancels
    /// `main` when the grace ends, and the runtime then cancels every task
    /// left. The same in
    /// [`workers(n)`](Builder::workers), where one signal shuts every worker
    /// down.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let runtime = fibrio::Runtime::builder()
    ///     .shutdown_on_signals(Duration::from_secs(10))
    ///     .build()?;
    /// let value = runtime.run(|| {
    ///     // `kill -TERM <pid>` would do the same as this request.
    ///     fibrio::spawn(|| fibrio::shutdown::request().unwrap());
    ///     fibrio::shutdown::wait().unwrap();
    ///     "stopped"
    /// });
    /// assert_eq!(value, "stopped");
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn shutdown_on_signals(mut self, grace: Duration) -> Builder {
        self.shutdown.grace = Some(grace);
        self.shutdown.signals = true;
        self
    }

    /// Enforces a shutdown grace period as
    /// [`shutdown_on_signals`](Builder::shutdown_on_signals) does, without
    /// handling signals: shutdown is then requested only by
    /// [`shutdown::request`](crate::shutdown::request) or a
    /// [`Shutdown`](crate::shutdown::Shutdown) handle. Without a grace
    /// period (the default), a requested shutdown still stops the
    /// listeners and wakes [`shutdown::wait`](crate::shutdown::wait), but
    /// when `main` returns the other tasks are cancelled at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use std::time::Duration;
    ///
    /// let finished = Rc::new(Cell::new(false));
    /// let runtime = fibrio::Runtime::builder().shutdown_grace(Duration::from_secs(30)).build()?;
    /// runtime.run(|| {
    ///     let finished = finished.clone();
    ///     fibrio::spawn(move || {
    ///         fibrio::sleep(Duration::from_millis(20)); // in-flight work
    ///         finished.set(true);
    ///     });
    ///     fibrio::shutdown::request().unwrap();
    /// }); // main returned at once; the task had the grace period to finish
    /// assert!(finished.get());
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn shutdown_grace(mut self, grace: Duration) -> Builder {
        self.shutdown.grace = Some(grace);
        self
    }

    /// The shutdown settings, for the workers.
    pub(crate) fn shutdown_config(&mut self) -> &mut ShutdownConfig {
        &mut self.shutdown
    }

    /// Opens the backend and makes the runtime.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Backend`] if the backend is unknown, unavailable on
    /// this system, or cannot be created.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::{Backend, Runtime};
    ///
    /// let runtime = Runtime::builder().backend(Backend::Poll).build()?;
    /// assert_eq!(runtime.run(|| "built"), "built");
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn build(self) -> Result<Runtime, RuntimeError> {
        let reactor = Reactor::new(self.backend)?;
        Ok(Runtime {
            reactor,
            config: self.config,
            stack_pool: self.stack_pool,
            shutdown: self.shutdown,
            sigquit: self.sigquit,
        })
    }
}

/// One runtime: a scheduler and a reactor on the current thread.
///
/// # Examples
///
/// ```
/// let runtime = fibrio::Runtime::new()?;
/// let answer = runtime.run(|| {
///     let task = fibrio::spawn(|| 21 * 2);
///     task.join().unwrap()
/// });
/// assert_eq!(answer, 42);
/// # Ok::<(), fibrio::RuntimeError>(())
/// ```
#[derive(Debug)]
pub struct Runtime {
    reactor: Reactor,
    config: SchedulerConfig,
    stack_pool: Option<usize>,
    shutdown: ShutdownConfig,
    sigquit: bool,
}

impl Runtime {
    /// A builder for a runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let runtime = fibrio::Runtime::builder().max_tasks(10).build()?;
    /// assert_eq!(runtime.run(|| 3), 3);
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A runtime with the defaults.
    ///
    /// # Errors
    ///
    /// As for [`Builder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// let runtime = fibrio::Runtime::new()?;
    /// assert_eq!(runtime.run(|| fibrio::spawn(|| 2).join().unwrap()), 2);
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn new() -> Result<Runtime, RuntimeError> {
        Builder::new().build()
    }

    /// The poller backend in use: "epoll", "kqueue", "poll", ...
    ///
    /// # Examples
    ///
    /// ```
    /// let runtime = fibrio::Runtime::builder().backend(fibrio::Backend::Poll).build()?;
    /// assert_eq!(runtime.backend_name(), "poll");
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn backend_name(&self) -> &'static str {
        self.reactor.backend_name()
    }

    /// Runs `main` in a task on this thread until it returns, with every
    /// task it spawns. When `main` returns, the tasks still alive are
    /// cancelled and unwound (their `Drop`s run), and then `run` returns
    /// `main`'s value. The process keeps going: nothing calls `exit`.
    ///
    /// `main` may borrow from the caller, and return a borrow, as with
    /// [`std::thread::scope`]: nothing of `main` runs after `run` returns or
    /// unwinds (see [`run`](crate::run) for why). The tasks it spawns must
    /// still be `'static`.
    ///
    /// With a shutdown grace period ([`Builder::shutdown_on_signals`],
    /// [`Builder::shutdown_grace`]) and shutdown requested: if `main`
    /// returns within the grace period, `run` first waits (within it) for
    /// the other tasks to end, then cancels those left and returns `main`'s
    /// value.
    ///
    /// # Panics
    ///
    /// A panic in `main` comes out of `run` (after the other tasks are
    /// unwound). Calling `run` inside a running runtime or inside a
    /// simulation ([`fibrio::sim`](crate::sim)) panics with a message that
    /// says to spawn instead; [`try_run`](Runtime::try_run) returns that as
    /// an error. So does a `main` still running when the shutdown grace
    /// period ends ([`RuntimeError::GraceExpired`]), and a failure to
    /// install the signal handlers ([`RuntimeError::Signals`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut log = vec![String::from("start")];
    /// let runtime = fibrio::Runtime::new()?;
    /// let count = runtime.run(|| {
    ///     let task = fibrio::spawn(|| 21 * 2);
    ///     log.push(format!("got {}", task.join().unwrap())); // borrows `log`
    ///     log.len()
    /// });
    /// assert_eq!(count, 2);
    /// assert_eq!(log, ["start", "got 42"]);
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn run<'a, T: 'a>(self, main: impl FnOnce() -> T + 'a) -> T {
        match self.try_run(main) {
            Ok(value) => value,
            // Its message starts with "fibrio::run" already.
            Err(err @ RuntimeError::InsideSimulation) => panic!("{err}"),
            Err(err) => panic!("fibrio::run: {err}"),
        }
    }

    /// [`run`](Runtime::run), with its refusals as errors. `main` may borrow
    /// from the caller, as for `run`.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Scheduler`] when called inside a running runtime, when
    /// main's stack cannot be mapped, or when main was cancelled;
    /// [`RuntimeError::InsideSimulation`] when called inside a simulation
    /// ([`fibrio::sim`](crate::sim)); [`RuntimeError::Signals`] if the
    /// handlers of [`Builder::shutdown_on_signals`] cannot be installed;
    /// [`RuntimeError::GraceExpired`] if shutdown was requested and `main`
    /// was still running at the end of the grace period (it was cancelled,
    /// with every task).
    ///
    /// # Panics
    ///
    /// A panic in `main` comes out of `try_run`, after the other tasks are
    /// unwound.
    ///
    /// # Examples
    ///
    /// ```
    /// let nested = fibrio::run(|| fibrio::Runtime::new().unwrap().try_run(|| ()));
    /// assert!(nested.unwrap_err().to_string().contains("inside a running one"));
    ///
    /// let name = String::from("fibrio");
    /// let first: &str = fibrio::Runtime::new()?.try_run(|| &name[..5])?;
    /// assert_eq!(first, "fibri");
    /// # Ok::<(), fibrio::RuntimeError>(())
    /// ```
    pub fn try_run<'a, T: 'a>(self, main: impl FnOnce() -> T + 'a) -> Result<T, RuntimeError> {
        if fibrio_core::task::det::active() {
            return Err(RuntimeError::InsideSimulation);
        }
        if Scheduler::is_running_here() {
            return Err(SchedulerError::Nested.into());
        }
        if let Some(capacity) = self.stack_pool {
            fibrio_core::stack::set_pool_capacity(capacity);
        }
        let shutdown = self.shutdown.shared.clone().unwrap_or_default();
        let _signals = if self.shutdown.signals {
            Some(
                shutdown
                    .listen_for_signals()
                    .map_err(RuntimeError::Signals)?,
            )
        } else {
            None
        };
        let _enter = self.reactor.enter();
        let _shutdown = shutdown.enter();
        let grace = self.shutdown.grace;
        let scheduler = Scheduler::new(self.config.clone(), self.reactor.driver());
        let _sigquit = self.sigquit.then(|| {
            // Tuple fields drop in order: the dumps stop, then SIGQUIT gets
            // its default action back.
            let caught = SigquitCaught::new();
            (crate::dump::SigquitDumps::start(scheduler.handle()), caught)
        });
        let expired = Rc::new(Cell::new(false));
        match scheduler.block_on(|| supervise(&shutdown, grace, &expired, main)) {
            Err(SchedulerError::MainCancelled) if expired.get() => {
                let grace = grace.unwrap_or_default();
                Err(RuntimeError::GraceExpired { grace })
            }
            outcome => outcome?,
        }
    }
}

/// Runs `main` under the shutdown's grace period, if one is configured.
///
/// Nothing is entered around `main`: its tasks belong to no cancel scope,
/// so their cancellation checkpoints cost what they cost without a grace
/// period. Instead one task, `fibrio-shutdown-grace`, parks (no timer) in
/// a scope that follows the shutdown ([`Shutdown::watch_grace`]): when the
/// grace period after a request ends, or the shutdown is forced, that
/// scope expires and the task cancels `main`'s task; the runtime then
/// cancels every task left, as whenever `main` ends, and `try_run` turns
/// main's cancellation into [`RuntimeError::GraceExpired`]. If `main`
/// returns first, the task is cancelled unused; and if shutdown was
/// requested, `run` waits, within the rest of the grace period, for the
/// runtime's other tasks to end.
///
/// If that task cannot be spawned (a `max_tasks` of 1), `main` runs inside
/// the scope itself, as the grace period was enforced before.
fn supervise<'a, T: 'a>(
    shutdown: &Shutdown,
    grace: Option<Duration>,
    expired: &Rc<Cell<bool>>,
    main: impl FnOnce() -> T + 'a,
) -> Result<T, RuntimeError> {
    let Some(grace) = grace else {
        return Ok(main());
    };
    // The tasks alive now: main, and any spawned from outside.
    let baseline = crate::metrics().tasks_alive;
    let main_done = Rc::new(Cell::new(false));
    let keeper = {
        let (shutdown, main_done, expired) = (shutdown.clone(), main_done.clone(), expired.clone());
        let main_task = fibrio_core::task::current();
        fibrio_core::task::Builder::new()
            .name("fibrio-shutdown-grace")
            .stack_size(GRACE_KEEPER_STACK)
            .spawn(move || keep_grace(&shutdown, grace, &main_task, &main_done, &expired))
    };
    let Ok(keeper) = keeper else {
        let scope = CancelScope::new();
        let _watch = shutdown.watch_grace(&scope, grace);
        let value = scope
            .run(main)
            .ok_or(RuntimeError::GraceExpired { grace })?;
        if shutdown.is_requested() {
            let _ = scope.run(|| drain(baseline));
        }
        return Ok(value);
    };
    let value = main();
    // From here on the keeper must not cancel main, whose value is made.
    main_done.set(true);
    keeper.cancel();
    let _ = keeper.join();
    if shutdown.is_requested() {
        // The rest of the grace period: a deadline `grace` after the
        // request (cut short if the shutdown is forced), so this scope ends
        // when the keeper would have.
        let scope = CancelScope::new();
        let _watch = shutdown.watch_grace(&scope, grace);
        let _ = scope.run(|| drain(baseline));
    }
    Ok(value)
}

/// The grace keeper's stack: it only parks, and cancels a task.
const GRACE_KEEPER_STACK: usize = 64 * 1024;

/// The `fibrio-shutdown-grace` task: parks until the grace period ends
/// (or the shutdown is forced), then cancels `main_task` unless main has
/// returned, and says so in `expired`.
fn keep_grace(
    shutdown: &Shutdown,
    grace: Duration,
    main_task: &fibrio_core::task::TaskRef,
    main_done: &Cell<bool>,
    expired: &Cell<bool>,
) {
    let scope = CancelScope::new();
    let _watch = shutdown.watch_grace(&scope, grace);
    // Only the scope's expiry ends this park: it has no timer until the
    // shutdown request gives the scope a deadline.
    let parked = scope.run(|| while fibrio_core::task::park().is_ok() {});
    if parked.is_none() && !main_done.get() {
        expired.set(true);
        main_task.cancel();
    }
}

/// Waits until the runtime has no more tasks alive than `baseline`: its
/// other tasks have ended. Polls the metrics' tasks-alive count (one walk
/// of the task table), from 1 ms up to 20 ms apart: it runs once, at
/// shutdown.
fn drain(baseline: usize) {
    let mut pause = Duration::from_millis(1);
    while crate::metrics().tasks_alive > baseline {
        fibrio_reactor::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Runs `main` on a new runtime with the default settings and returns its
/// value. See [`Runtime::run`].
///
/// `main` may borrow from its caller, mutably too, and its value may be a
/// borrow, as with [`std::thread::scope`]. The tasks `main` spawns cannot
/// borrow: they must be `'static` (share with them through `Rc`, or move
/// values in and return them through [`JoinHandle::join`](crate::JoinHandle::join)).
///
/// # Why `main` may borrow
///
/// `main` runs on a fiber of its own, which may be suspended in the middle
/// of it while holding the borrows; the rule is that this fiber never runs
/// again once `run` has returned or unwound, on any path:
///
/// * Main's task record (which [`TaskRef`](crate::TaskRef)s and
///   [`task::current`](fibrio_core::task::current) share, and which may outlive `run`:
///   kept in a thread-local, say) holds nothing borrowed: `main` and its
///   value stay in `run`'s own frame, and the task only points at them.
/// * Normally `run` returns after `main` has ended (returned, panicked or
///   been cancelled), so its fiber has finished.
/// * If `run` is left while `main` is still suspended (a panic out of the
///   runtime's own loop, such as its poller failing), `main`'s stack is
///   unwound right there, while what it borrows is still alive; or, during
///   thread exit, it is leaked (its stack stays mapped and never runs
///   again), as for any fiber then. Either way it is marked finished, so
///   nothing can resume or unwind it later.
///
/// # Panics
///
/// If the runtime cannot be built (for example an unknown
/// `FIBRIO_BACKEND`), if `main` panics, or if called inside a running
/// runtime or inside a simulation ([`fibrio::sim`](crate::sim)).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::{Duration, Instant};
///
/// let (elapsed, most_asleep) = fibrio::run(|| {
///     let start = Instant::now();
///     let asleep = Rc::new(Cell::new(0));
///     let most = Rc::new(Cell::new(0));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let (asleep, most) = (asleep.clone(), most.clone());
///             fibrio::spawn(move || {
///                 asleep.set(asleep.get() + 1);
///                 most.set(most.get().max(asleep.get()));
///                 fibrio::sleep(Duration::from_millis(50));
///                 asleep.set(asleep.get() - 1);
///             })
///         })
///         .collect();
///     for task in tasks {
///         task.join().unwrap();
///     }
///     (start.elapsed(), most.get())
/// });
/// assert!(elapsed >= Duration::from_millis(50));
/// assert_eq!(most_asleep, 3); // concurrent: all three slept at once
/// ```
///
/// Borrowing the caller's locals:
///
/// ```
/// let config = String::from("port=8080");
/// let mut served = Vec::new();
/// let port: &str = fibrio::run(|| {
///     served.push(1); // a mutable borrow
///     fibrio::yield_now(); // held across a switch
///     served.push(2);
///     config.split('=').nth(1).unwrap() // a borrowed value out
/// });
/// assert_eq!(port, "8080");
/// assert_eq!(served, [1, 2]);
/// ```
///
/// A spawned task cannot borrow them (E0373: it may outlive `main`):
///
/// ```compile_fail,E0373
/// let config = String::from("port=8080");
/// fibrio::run(|| fibrio::spawn(|| config.len()).join().unwrap());
/// ```
pub fn run<'a, T: 'a>(main: impl FnOnce() -> T + 'a) -> T {
    match Runtime::new() {
        Ok(runtime) => runtime.run(main),
        Err(err) => panic!("fibrio::run: cannot build the runtime: {err}"),
    }
}

/// While alive, SIGQUIT is caught (for [`Builder::dump_on_sigquit`]'s
/// dumps); once no runtime holds one, SIGQUIT has its default action again
/// (the process ends with a core dump). `signal-hook` never uninstalls the
/// handler it puts in place (nor does `low_level::unregister`): a handler
/// registered once per process with `register_conditional_default` runs
/// the default action whenever no guard is alive.
struct SigquitCaught;

/// How many [`SigquitCaught`] guards are alive, and the flag that gives
/// SIGQUIT its default action back when there are none.
struct SigquitFallback {
    guards: Mutex<usize>,
    default_action: Arc<AtomicBool>,
}

impl SigquitCaught {
    fn new() -> SigquitCaught {
        if let Some(fallback) = sigquit_fallback() {
            fallback.add(1);
        }
        SigquitCaught
    }
}

impl Drop for SigquitCaught {
    fn drop(&mut self) {
        if let Some(fallback) = sigquit_fallback() {
            fallback.add(-1);
        }
    }
}

impl SigquitFallback {
    fn add(&self, delta: isize) {
        let mut guards = self.guards.lock().unwrap_or_else(|p| p.into_inner());
        *guards = guards.saturating_add_signed(delta);
        self.default_action.store(*guards == 0, Ordering::SeqCst);
    }
}

/// The process's SIGQUIT fallback, registered on first use; `None` (said
/// once on stderr) if it cannot be, and SIGQUIT then stays caught after
/// the runtime ends, as `signal-hook` leaves it.
fn sigquit_fallback() -> Option<&'static SigquitFallback> {
    static FALLBACK: OnceLock<Option<SigquitFallback>> = OnceLock::new();
    FALLBACK
        .get_or_init(|| {
            // Not the default yet: the first guard is being made.
            let default_action = Arc::new(AtomicBool::new(false));
            let registered = signal_hook::flag::register_conditional_default(
                signal_hook::consts::SIGQUIT,
                Arc::clone(&default_action),
            );
            match registered {
                Ok(_) => Some(SigquitFallback {
                    guards: Mutex::new(0),
                    default_action,
                }),
                Err(err) => {
                    eprintln!(
                        "fibrio: SIGQUIT will stay caught after dump_on_sigquit's runtime ends: {err}"
                    );
                    None
                }
            }
        })
        .as_ref()
}
