//! Multi-worker mode: several share-nothing runtimes, one per thread, each
//! running the same `main`. Listeners bound with
//! [`TcpListener::bind_reuseport`](crate::net::TcpListener::bind_reuseport)
//! let the kernel spread connections among them. This is the
//! "multi-process mode" of PHP AsyncIO (the PHP Fiber plus Workerman
//! library that fibrio was modelled on), without processes.
//!
//! # Invariants
//!
//! * Worker `i` runs on its own thread with its own scheduler and reactor;
//!   nothing is shared between workers but what `main` shares itself
//!   (it must be `Send + Sync`).
//! * [`Workers::join`] returns one entry per worker, in worker order:
//!   its value, its panic, or the error that kept it from starting.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle as ThreadHandle;

use fibrio_core::fiber::Payload;

use crate::runtime::{Builder, RuntimeError};
use crate::Handle;

/// Multi-worker mode is built on [`Builder`] from here, above the
/// runtime module, which knows nothing of workers.
impl Builder {
    /// Starts `count` share-nothing workers, each a runtime on its own
    /// thread running `main`, and returns at once (`0` means one per CPU).
    /// See [`WorkersBuilder::run`] to wait for them.
    ///
    /// # Examples
    ///
    /// See [`Workers::handle`](crate::Workers::handle).
    pub fn workers(self, count: usize) -> WorkersBuilder {
        WorkersBuilder {
            builder: self,
            count,
        }
    }
}

/// A [`Builder`] with a worker count: see [`Builder::workers`].
#[derive(Debug, Clone)]
pub struct WorkersBuilder {
    builder: Builder,
    count: usize,
}

impl WorkersBuilder {
    /// Starts the workers, each running `main`, and returns at once.
    pub fn start<T, F>(self, main: F) -> Workers<T>
    where
        T: Send + 'static,
        F: Fn() -> T + Send + Sync + 'static,
    {
        start(self.builder, self.count, main)
    }

    /// Starts the workers and waits for all of them: one outcome per worker,
    /// in worker order (its value, its panic, or why it could not start).
    ///
    /// # Examples
    ///
    /// ```
    /// let outcomes = fibrio::Runtime::builder().workers(3).run(|| "served");
    /// assert_eq!(outcomes.len(), 3);
    /// assert!(outcomes.iter().all(|o| matches!(o, Ok("served"))));
    /// ```
    pub fn run<T, F>(self, main: F) -> Vec<Result<T, WorkerError>>
    where
        T: Send + 'static,
        F: Fn() -> T + Send + Sync + 'static,
    {
        self.start(main).join()
    }
}

std::thread_local! {
    static WORKER_INDEX: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// The index of the worker running on this thread (`0..n`), or `None`
/// outside multi-worker mode.
///
/// # Examples
///
/// ```
/// assert_eq!(fibrio::worker_index(), None);
/// let indices = fibrio::Runtime::builder()
///     .workers(2)
///     .run(|| fibrio::worker_index().unwrap());
/// let mut indices: Vec<usize> = indices.into_iter().map(Result::unwrap).collect();
/// indices.sort();
/// assert_eq!(indices, [0, 1]);
/// ```
pub fn worker_index() -> Option<usize> {
    WORKER_INDEX.with(|w| w.get())
}

/// Why a worker produced no value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// The worker's runtime could not be built or started.
    #[error("worker {index} could not start: {source}")]
    Start {
        /// The worker's index.
        index: usize,
        /// What went wrong.
        #[source]
        source: RuntimeError,
    },
    /// The worker's `main` panicked; the payload is kept.
    #[error("worker {index} panicked: {}", fibrio_core::fiber::payload_message(.payload))]
    Panicked {
        /// The worker's index.
        index: usize,
        /// The panic payload.
        payload: Payload,
    },
    /// The worker's thread could not be spawned.
    #[error("cannot spawn the thread of worker {index}: {source}")]
    Thread {
        /// The worker's index.
        index: usize,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
}

/// A worker's thread, or why it could not be spawned.
type WorkerThread<T> = Result<ThreadHandle<Result<T, WorkerError>>, std::io::Error>;

/// Running workers, from [`WorkersBuilder::start`](crate::WorkersBuilder::start).
pub struct Workers<T> {
    threads: Vec<(usize, WorkerThread<T>)>,
    handles: Vec<Option<Handle>>,
}

impl<T> std::fmt::Debug for Workers<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("workers", &self.threads.len())
            .finish()
    }
}

impl<T: Send + 'static> Workers<T> {
    /// How many workers were started.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// True if there are no workers.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// A handle that spawns onto worker `index` from any thread, or `None`
    /// if that worker does not exist or failed to start.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let workers = fibrio::Runtime::builder()
    ///     .workers(2)
    ///     .start(|| fibrio::sleep(Duration::from_millis(200)));
    /// let on_second = workers.handle(1).unwrap().spawn(|| fibrio::worker_index());
    /// assert_eq!(on_second.join().unwrap(), Some(1));
    /// assert!(workers.join().iter().all(Result::is_ok));
    /// ```
    pub fn handle(&self, index: usize) -> Option<Handle> {
        self.handles.get(index).cloned().flatten()
    }

    /// Waits for every worker and returns their outcomes in worker order.
    pub fn join(self) -> Vec<Result<T, WorkerError>> {
        self.threads
            .into_iter()
            .map(|(index, thread)| match thread {
                Err(source) => Err(WorkerError::Thread { index, source }),
                Ok(thread) => match thread.join() {
                    Ok(outcome) => outcome,
                    Err(payload) => Err(WorkerError::Panicked { index, payload }),
                },
            })
            .collect()
    }
}

pub(crate) fn start<T, F>(builder: Builder, count: usize, main: F) -> Workers<T>
where
    T: Send + 'static,
    F: Fn() -> T + Send + Sync + 'static,
{
    let count = if count == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        count
    };
    let main = Arc::new(main);
    let mut threads = Vec::with_capacity(count);
    let mut handles = Vec::with_capacity(count);
    for index in 0..count {
        let (handle_tx, handle_rx) = mpsc::channel();
        let builder = builder.clone();
        let main = main.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fibrio-worker-{index}"))
            .spawn(move || {
                WORKER_INDEX.with(|w| w.set(Some(index)));
                let runtime = match builder.build() {
                    Ok(runtime) => runtime,
                    Err(source) => {
                        let _ = handle_tx.send(None);
                        return Err(WorkerError::Start { index, source });
                    }
                };
                let outcome = runtime.try_run(move || {
                    let _ = handle_tx.send(Some(Handle::current()));
                    main()
                });
                outcome.map_err(|source| WorkerError::Start { index, source })
            });
        handles.push(match &thread {
            Ok(_) => handle_rx.recv().ok().flatten(),
            Err(_) => None,
        });
        threads.push((index, thread));
    }
    Workers { threads, handles }
}
