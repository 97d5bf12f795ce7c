//! [`spawn_blocking`]: run blocking work on a thread pool while the calling
//! task parks.
//!
//! # Invariants
//!
//! * The pool is process-wide, created on first use, and never has more
//!   than [`MAX_BLOCKING_THREADS`] threads. Threads that stay idle for
//!   [`KEEP_ALIVE`] exit.
//! * Each job's result is handed back exactly once, through a slot that the
//!   caller polls after every wake-up; the job wakes the caller with its
//!   `Send` [`Unparker`](fibrio_core::task::Unparker).
//! * A job runs in a context that inherits the caller's sendable context
//!   variables ([`SendableContext`]), captured when `spawn_blocking` is
//!   called; the pool thread's own context is put back when the job ends,
//!   so nothing a job sets is seen by the caller or by later jobs.
//! * Inside a deterministic simulation (`fibrio::sim`) no job reaches the
//!   pool: the closure runs inline on the simulation's thread, in the same
//!   kind of context, and then the schedule picks the next task, so the
//!   run stays one thread and replayable.
//! * A pool thread that cannot start is warned about through `log`, or on
//!   stderr without a logger, at most once a second
//!   ([`fibrio_core::diagnostics`]).

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use fibrio_context::SendableContext;
use fibrio_core::diagnostics::RateLimitedWarning;
use fibrio_core::task::{self, JoinError, ParkError, Unparker, WaitKind, WaitReason};

/// The "cannot start a blocking-pool thread" warning.
static THREAD_NOT_STARTED: RateLimitedWarning = RateLimitedWarning::new(module_path!(), 1);

/// What a task waiting for its `spawn_blocking` job waits for.
const BLOCKING: WaitReason = WaitReason::new(WaitKind::Blocking, 0);

/// The most threads the blocking pool runs at once; further jobs queue.
pub const MAX_BLOCKING_THREADS: usize = 64;

/// How long an idle pool thread waits for work before it exits.
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    jobs: Sender<Job>,
    queue: Receiver<Job>,
    threads: AtomicUsize,
    idle: AtomicUsize,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// The pool's threads, idle threads and queued jobs, for the runtime's
/// metrics; zeros before its first use (asking does not create it).
pub(crate) fn pool_stats() -> (usize, usize, usize) {
    match POOL.get() {
        Some(pool) => (
            pool.threads.load(Ordering::Relaxed),
            pool.idle.load(Ordering::Relaxed),
            pool.queue.len(),
        ),
        None => (0, 0, 0),
    }
}

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let (jobs, queue) = crossbeam_channel::unbounded();
        Pool {
            jobs,
            queue,
            threads: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
        }
    })
}

impl Pool {
    fn submit(&'static self, job: Job) {
        if self.idle.load(Ordering::Acquire) == 0 {
            let threads = self.threads.load(Ordering::Relaxed);
            if threads < MAX_BLOCKING_THREADS
                && self
                    .threads
                    .compare_exchange(threads, threads + 1, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                let spawned = std::thread::Builder::new()
                    .name("fibrio-blocking".into())
                    .spawn(move || self.work());
                if let Err(err) = spawned {
                    self.threads.fetch_sub(1, Ordering::AcqRel);
                    THREAD_NOT_STARTED.emit(format_args!(
                        "fibrio: cannot start a blocking-pool thread ({err}); the job waits for a free one"
                    ));
                }
            }
        }
        // The queue lives as long as the process, so this cannot fail.
        let _ = self.jobs.send(job);
    }

    fn work(&self) {
        loop {
            self.idle.fetch_add(1, Ordering::AcqRel);
            let job = self.queue.recv_timeout(KEEP_ALIVE);
            self.idle.fetch_sub(1, Ordering::AcqRel);
            match job {
                Ok(job) => job(),
                Err(_) => break,
            }
        }
        self.threads.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `f` on the blocking thread pool and parks the calling task until it
/// returns; other tasks keep running. Use it for file I/O, DNS lookups,
/// CPU-heavy work, and any library call that blocks the thread.
///
/// Outside a fibrio task it simply runs `f` on the calling thread.
///
/// Inside a deterministic simulation (`fibrio::sim`) it runs `f` inline
/// too, on the simulation's thread, in zero virtual time, then reaches a
/// scheduling point (the seeded schedule may run other tasks before the
/// caller goes on). A simulation is one thread: `f` must not wait for
/// another task, or for a thread that needs one to make progress.
///
/// # Context variables
///
/// `f` sees a snapshot of the caller's context, taken when
/// `spawn_blocking` is called, but only the values that can cross threads:
/// those set with [`set_sendable_context`](fibrio_context::set_sendable_context)
/// or through a [`ContextVar::new_sendable`](fibrio_context::ContextVar::new_sendable)
/// variable (both require `Send + Sync`; the value is shared through an
/// `Arc`, not cloned). Values set with `set_context` or a `ContextVar::new`
/// variable may be `!Send` and read as unset in `f`. Writes made by `f`
/// stay in `f`: the caller never sees them. The same holds outside a task,
/// so code behaves alike in and out of the runtime.
///
/// # Errors
///
/// [`JoinError::Panicked`] if `f` panicked; [`JoinError::Unwinding`] if
/// called while the task is unwinding (the job still runs; its result is
/// dropped).
///
/// # Cancellation
///
/// A checkpoint. If the task is cancelled while `f` runs, the task unwinds
/// at once; `f` cannot be stopped and runs to the end on its thread, and its
/// result is dropped.
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
/// use fibrio_reactor::{spawn_blocking, BackendKind, Reactor};
///
/// let reactor = Reactor::new(BackendKind::Auto).unwrap();
/// let _enter = reactor.enter();
/// let len = Scheduler::new(SchedulerConfig::default(), reactor.driver()).block_on(|| {
///     spawn_blocking(|| std::fs::read_to_string("/proc/self/stat").map(|s| s.len()))
/// });
/// assert!(len.unwrap().unwrap().unwrap() > 0);
/// ```
pub fn spawn_blocking<T, F>(f: F) -> Result<T, JoinError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let context = SendableContext::capture();
    let Some(unparker) = Unparker::current() else {
        return panic::catch_unwind(AssertUnwindSafe(move || context.into_context().run(f)))
            .map_err(JoinError::Panicked);
    };
    if std::thread::panicking() {
        return Err(JoinError::Unwinding);
    }
    task::checkpoint_if_cancelled();
    if task::det::active() {
        let result = panic::catch_unwind(AssertUnwindSafe(move || context.into_context().run(f)))
            .map_err(JoinError::Panicked);
        // Not a checkpoint: a cancellation must not undo finished work.
        task::det::schedule_point();
        return result;
    }
    let slot: Arc<Mutex<Option<std::thread::Result<T>>>> = Arc::new(Mutex::new(None));
    let filled = slot.clone();
    pool().submit(Box::new(move || {
        // The job's context (and whatever `f` set in it) is dropped inside
        // `catch_unwind`, so a panicking `Drop` cannot kill the pool thread.
        let result = panic::catch_unwind(AssertUnwindSafe(move || context.into_context().run(f)));
        *filled.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        unparker.unpark();
    }));
    loop {
        if let Some(result) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return result.map_err(JoinError::Panicked);
        }
        match task::park_for(BLOCKING, None) {
            Ok(()) => {}
            Err(ParkError::Unwinding) => return Err(JoinError::Unwinding),
            Err(ParkError::OutsideTask) => return Err(JoinError::OutsideTask),
        }
    }
}
