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
//! * The workers of one `run`/`start` share one shutdown state
//!   ([`fibrio::shutdown`](crate::shutdown)): a request in any worker, a
//!   signal (with [`Builder::shutdown_on_signals`], handled once for them
//!   all) or [`Workers::request_shutdown`] shuts every worker down, each
//!   with its own grace period.
//! * Inside a simulation ([`fibrio::sim`](crate::sim)) no thread is
//!   started: a simulation runs on one thread, so every worker reports
//!   [`WorkerError::InsideSimulation`] at once instead.
//! * [`Workers::metrics`] has one entry per worker, in worker order, each
//!   with its index; [`Workers::prometheus_text`] labels each sample with
//!   that index (`worker="i"`), whichever workers answered.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle as ThreadHandle;

use std::time::Duration;

use fibrio_core::fiber::Payload;
use fibrio_reactor::shutdown::{Shutdown, SignalListener};

use crate::runtime::{Builder, RuntimeError};
use crate::{DumpError, Handle, RuntimeMetrics};

/// Gives the workers of `builder` one shared shutdown state, and handles
/// the signals once for all of them if asked: the workers' own runtimes
/// then do not. Returns the state, and the listener or why it could not be
/// installed.
fn share_shutdown(
    builder: &mut Builder,
) -> (Shutdown, Result<Option<SignalListener>, std::io::Error>) {
    let config = builder.shutdown_config();
    let shutdown = config.shared.get_or_insert_with(Shutdown::new).clone();
    let listener = if std::mem::take(&mut config.signals) {
        shutdown.listen_for_signals().map(Some)
    } else {
        Ok(None)
    };
    (shutdown, listener)
}

/// One [`WorkerError::Start`] per worker, for signal handlers that could
/// not be installed.
fn refused_signals(count: usize, err: &std::io::Error) -> Vec<WorkerError> {
    (0..count)
        .map(|index| WorkerError::Start {
            index,
            source: RuntimeError::Signals(std::io::Error::new(err.kind(), err.to_string())),
        })
        .collect()
}

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
///
/// # Examples
///
/// ```
/// let builder = fibrio::Runtime::builder().workers(2);
/// let outcomes = builder.run(|| fibrio::worker_index().unwrap() * 10);
/// let values: Vec<usize> = outcomes.into_iter().map(Result::unwrap).collect();
/// assert_eq!(values, [0, 10]);
/// ```
#[derive(Debug, Clone)]
pub struct WorkersBuilder {
    builder: Builder,
    count: usize,
}

impl WorkersBuilder {
    /// Starts the workers, each running `main`, and returns at once.
    ///
    /// `main` and its value must be `'static` here, unlike for
    /// [`run`](WorkersBuilder::run): the workers go on running after this
    /// returns, for as long as the [`Workers`] is kept or beyond (dropping
    /// it does not stop them), so nothing ties their end to a borrow.
    ///
    /// Inside a simulation ([`fibrio::sim`](crate::sim)) no thread starts:
    /// [`Workers::join`] gives [`WorkerError::InsideSimulation`] for every
    /// worker.
    ///
    /// # Examples
    ///
    /// ```
    /// let workers = fibrio::Runtime::builder().workers(2).start(|| fibrio::worker_index());
    /// assert_eq!(workers.len(), 2);
    /// let indices: Vec<_> = workers.join().into_iter().map(Result::unwrap).collect();
    /// assert_eq!(indices, [Some(0), Some(1)]);
    /// ```
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
    /// `main` may borrow from the caller (it is shared by the workers, so it
    /// must be `Sync`), and its value may borrow too (it crosses threads, so
    /// it must be `Send`), as with [`std::thread::scope`], which this is
    /// built on: every worker's thread has ended when `run` returns or
    /// unwinds, and in each worker `main` may borrow as in
    /// [`Runtime::run`](crate::Runtime::run).
    ///
    /// # Errors
    ///
    /// Per worker: [`WorkerError::Start`] if its runtime could not start,
    /// [`WorkerError::Panicked`] if `main` panicked,
    /// [`WorkerError::Thread`] if its thread could not be spawned, and
    /// [`WorkerError::InsideSimulation`] for every worker when called inside
    /// a simulation ([`fibrio::sim`](crate::sim)), where no thread starts.
    ///
    /// # Examples
    ///
    /// ```
    /// let outcomes = fibrio::Runtime::builder().workers(3).run(|| "served");
    /// assert_eq!(outcomes.len(), 3);
    /// assert!(outcomes.iter().all(|o| matches!(o, Ok("served"))));
    /// ```
    ///
    /// Borrowing the caller's data:
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let greeting = String::from("hello");
    /// let served = AtomicUsize::new(0);
    /// let outcomes = fibrio::Runtime::builder().workers(2).run(|| {
    ///     served.fetch_add(1, Ordering::Relaxed);
    ///     &greeting[..]
    /// });
    /// assert!(outcomes.iter().all(|o| matches!(o, Ok("hello"))));
    /// assert_eq!(served.load(Ordering::Relaxed), 2);
    /// ```
    pub fn run<T, F>(self, main: F) -> Vec<Result<T, WorkerError>>
    where
        T: Send,
        F: Fn() -> T + Sync,
    {
        let count = worker_count(self.count);
        if let Some(refused) = refused_in_simulation(count) {
            return refused.into_iter().map(Err).collect();
        }
        let mut builder = self.builder;
        let (_shutdown, listener) = share_shutdown(&mut builder);
        let _listener = match listener {
            Ok(listener) => listener,
            Err(err) => return refused_signals(count, &err).into_iter().map(Err).collect(),
        };
        let main = &main;
        std::thread::scope(|scope| {
            let threads: Vec<_> = (0..count)
                .map(|index| {
                    let builder = builder.clone();
                    let thread = std::thread::Builder::new()
                        .name(worker_name(index))
                        .spawn_scoped(scope, move || run_worker(index, builder, |_| (), main));
                    (index, thread)
                })
                .collect();
            // Every thread is joined here, so `scope` has no panic of its
            // own to raise: a worker's panic is reported as its outcome.
            threads
                .into_iter()
                .map(|(index, thread)| match thread {
                    Err(source) => Err(WorkerError::Thread { index, source }),
                    Ok(thread) => match thread.join() {
                        Ok(outcome) => outcome,
                        Err(payload) => Err(WorkerError::Panicked { index, payload }),
                    },
                })
                .collect()
        })
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
///
/// # Examples
///
/// ```
/// use fibrio::WorkerError;
///
/// # std::panic::set_hook(Box::new(|_| {}));
/// let outcomes = fibrio::Runtime::builder().workers(2).run(|| {
///     if fibrio::worker_index() == Some(1) {
///         panic!("worker down");
///     }
/// });
/// assert!(outcomes[0].is_ok());
/// assert!(matches!(outcomes[1], Err(WorkerError::Panicked { index: 1, .. })));
///
/// // Inside a simulation, no worker starts.
/// let refused = fibrio::sim::run(0, || fibrio::Runtime::builder().workers(2).run(|| ()));
/// assert!(matches!(refused[1], Err(WorkerError::InsideSimulation { index: 1 })));
/// ```
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
    /// Shutdown was requested and the worker's `main` was still running at
    /// the end of the grace period: it was cancelled with every task of
    /// the worker (see [`RuntimeError::GraceExpired`]).
    #[error(
        "worker {index}: main was cancelled at the end of the shutdown grace period \
         ({grace:?}); make main return once fibrio::shutdown::requested()"
    )]
    GraceExpired {
        /// The worker's index.
        index: usize,
        /// The grace period that ran out.
        grace: Duration,
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
    /// Workers were started inside a simulation
    /// ([`fibrio::sim`](crate::sim)), which runs on one thread: no worker
    /// thread was started.
    #[error(
        "worker {index} not started: workers(n) inside a simulation (fibrio::sim), which runs \
         on one thread; spawn tasks instead of starting workers"
    )]
    InsideSimulation {
        /// The worker's index.
        index: usize,
    },
}

/// A worker's thread, or why it was not started.
type WorkerThread<T> = Result<ThreadHandle<Result<T, WorkerError>>, WorkerError>;

/// One [`WorkerError::InsideSimulation`] per worker if this thread runs a
/// simulation, which cannot host worker threads.
fn refused_in_simulation(count: usize) -> Option<Vec<WorkerError>> {
    fibrio_core::task::det::active().then(|| {
        (0..count)
            .map(|index| WorkerError::InsideSimulation { index })
            .collect()
    })
}

/// Running workers, from [`WorkersBuilder::start`](crate::WorkersBuilder::start).
///
/// # Examples
///
/// ```
/// let workers = fibrio::Runtime::builder().workers(2).start(|| "done");
/// assert_eq!(workers.len(), 2);
/// let outcomes = workers.join();
/// assert!(outcomes.iter().all(|o| matches!(o, Ok("done"))));
/// ```
pub struct Workers<T> {
    threads: Vec<(usize, WorkerThread<T>)>,
    handles: Vec<Option<Handle>>,
    shutdown: Shutdown,
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
    ///
    /// # Examples
    ///
    /// ```
    /// let workers = fibrio::Runtime::builder().workers(3).start(|| ());
    /// assert_eq!(workers.len(), 3);
    /// assert_eq!(workers.join().len(), 3);
    /// ```
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// True if there are no workers.
    ///
    /// # Examples
    ///
    /// ```
    /// let workers = fibrio::Runtime::builder().workers(1).start(|| ());
    /// assert!(!workers.is_empty()); // `0` means one per CPU, so never empty
    /// workers.join();
    /// ```
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

    /// Requests shutdown of every worker, from any thread, as the first
    /// SIGINT/SIGTERM would (see [`fibrio::shutdown`](crate::shutdown)):
    /// their listeners stop accepting, and each gets the grace period of
    /// [`Builder::shutdown_on_signals`] or [`Builder::shutdown_grace`].
    /// Returns true if this call made the request.
    ///
    /// # Examples
    ///
    /// ```
    /// let workers = fibrio::Runtime::builder().workers(2).start(|| {
    ///     fibrio::shutdown::wait().unwrap();
    ///     "stopped"
    /// });
    /// assert!(workers.request_shutdown());
    /// assert!(workers.join().iter().all(|o| matches!(o, Ok("stopped"))));
    /// ```
    pub fn request_shutdown(&self) -> bool {
        self.shutdown.request()
    }

    /// The workers' shared shutdown state: `Send + Sync`, to keep for an
    /// admin endpoint or a test.
    ///
    /// # Examples
    ///
    /// ```
    /// let workers = fibrio::Runtime::builder()
    ///     .workers(2)
    ///     .start(|| fibrio::shutdown::wait().is_ok());
    /// let shutdown = workers.shutdown();
    /// std::thread::spawn(move || shutdown.request()).join().unwrap();
    /// assert!(workers.join().into_iter().all(|o| o.unwrap()));
    /// ```
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Every worker's metrics, in worker order: `(index, metrics)`, one
    /// [`RuntimeMetrics`] per worker, asked of each worker's thread in turn
    /// (as [`Handle::metrics`] does).
    ///
    /// # Errors
    ///
    /// Per worker, inside its entry: [`DumpError::Gone`] if the worker
    /// has ended or never started, [`DumpError::Unresponsive`] if its
    /// thread did not answer within one second (a task blocks it: the
    /// error names the task). The other workers' entries are unaffected.
    ///
    /// # Examples
    ///
    /// ```
    /// let workers = fibrio::Runtime::builder()
    ///     .workers(2)
    ///     .start(|| fibrio::shutdown::wait().unwrap());
    /// let all = workers.metrics();
    /// assert_eq!(all.len(), 2);
    /// for (index, metrics) in &all {
    ///     let metrics = metrics.as_ref().unwrap();
    ///     assert!(metrics.tasks_alive >= 1, "worker {index} runs its main task");
    /// }
    /// workers.request_shutdown();
    /// workers.join();
    /// ```
    pub fn metrics(&self) -> Vec<(usize, Result<RuntimeMetrics, DumpError>)> {
        (0..self.threads.len())
            .map(|index| {
                let metrics = match self.handle(index) {
                    Some(handle) => handle.metrics(),
                    None => Err(DumpError::Gone),
                };
                (index, metrics)
            })
            .collect()
    }

    /// The Prometheus text exposition (format 0.0.4, serve it with
    /// [`PROMETHEUS_CONTENT_TYPE`](crate::PROMETHEUS_CONTENT_TYPE)) of
    /// every worker's [`metrics`](Workers::metrics) at once: each family
    /// once, with one sample per worker labelled with the worker's index
    /// (`worker="1"`), as [`prometheus_text`](crate::prometheus_text)
    /// writes them. A worker that did not answer has no samples, and a
    /// comment line (`# fibrio: worker 1: ...`) at the top says why.
    ///
    /// # Examples
    ///
    /// ```
    /// let workers = fibrio::Runtime::builder()
    ///     .workers(2)
    ///     .start(|| fibrio::shutdown::wait().unwrap());
    /// let text = workers.prometheus_text();
    /// assert_eq!(text.matches("# TYPE fibrio_tasks_alive gauge\n").count(), 1);
    /// assert!(text.contains("fibrio_tasks_alive{worker=\"0\"} "));
    /// assert!(text.contains("fibrio_tasks_alive{worker=\"1\"} "));
    /// workers.request_shutdown();
    /// workers.join();
    /// ```
    pub fn prometheus_text(&self) -> String {
        prometheus_text_of(&self.metrics())
    }

    /// Waits for every worker and returns their outcomes in worker order.
    ///
    /// # Examples
    ///
    /// ```
    /// let workers = fibrio::Runtime::builder()
    ///     .workers(2)
    ///     .start(|| fibrio::worker_index().unwrap());
    /// let indices: Vec<usize> = workers.join().into_iter().map(Result::unwrap).collect();
    /// assert_eq!(indices, [0, 1]); // in worker order
    /// ```
    pub fn join(self) -> Vec<Result<T, WorkerError>> {
        self.threads
            .into_iter()
            .map(|(index, thread)| match thread {
                Err(refused) => Err(refused),
                Ok(thread) => match thread.join() {
                    Ok(outcome) => outcome,
                    Err(payload) => Err(WorkerError::Panicked { index, payload }),
                },
            })
            .collect()
    }
}

/// One metric family of a Prometheus text: its `# HELP` and `# TYPE`
/// lines, and its sample lines.
struct Family<'a> {
    header: Vec<&'a str>,
    samples: Vec<&'a str>,
}

/// The families of `text`, in order: a family starts at its `# HELP` line.
fn families(text: &str) -> Vec<Family<'_>> {
    let mut families: Vec<Family<'_>> = Vec::new();
    for line in text.lines() {
        match families.last_mut() {
            Some(family) if !line.starts_with("# HELP ") => {
                if line.starts_with('#') {
                    family.header.push(line);
                } else {
                    family.samples.push(line);
                }
            }
            _ => families.push(Family {
                header: vec![line],
                samples: Vec::new(),
            }),
        }
    }
    families
}

/// The Prometheus text of `workers`' metrics, labelled with their own
/// indices: [`prometheus_text`](crate::prometheus_text) labels a sample
/// with the position in the slice it is given, so each worker's text is
/// made alone (`worker="0"`), relabelled, and the families merged in
/// order (each family's samples stay together, as the format requires).
fn prometheus_text_of(workers: &[(usize, Result<RuntimeMetrics, DumpError>)]) -> String {
    let mut out = String::new();
    let mut texts = Vec::new();
    for (index, metrics) in workers {
        match metrics {
            Ok(metrics) => texts.push((
                *index,
                crate::prometheus_text(std::slice::from_ref(metrics)),
            )),
            Err(err) => out.push_str(&format!("# fibrio: worker {index}: {err}\n")),
        }
    }
    let parsed: Vec<(usize, Vec<Family<'_>>)> = texts
        .iter()
        .map(|(index, text)| (*index, families(text)))
        .collect();
    let Some((_, first)) = parsed.first() else {
        return out;
    };
    for (position, family) in first.iter().enumerate() {
        for line in &family.header {
            out.push_str(line);
            out.push('\n');
        }
        for (index, families) in &parsed {
            let Some(family) = families.get(position) else {
                continue;
            };
            for sample in &family.samples {
                out.push_str(&sample.replacen(
                    "{worker=\"0\"",
                    &format!("{{worker=\"{index}\""),
                    1,
                ));
                out.push('\n');
            }
        }
    }
    out
}

/// `count` workers, `0` meaning one per CPU.
fn worker_count(count: usize) -> usize {
    if count == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        count
    }
}

fn worker_name(index: usize) -> String {
    format!("fibrio-worker-{index}")
}

/// The body of worker `index`'s thread: builds its runtime and runs `main`
/// in it. `started` runs first inside the runtime, with its handle, or with
/// `None` if the runtime could not be built.
fn run_worker<T>(
    index: usize,
    builder: Builder,
    started: impl FnOnce(Option<Handle>),
    main: &(impl Fn() -> T + ?Sized),
) -> Result<T, WorkerError> {
    WORKER_INDEX.with(|w| w.set(Some(index)));
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(source) => {
            started(None);
            return Err(WorkerError::Start { index, source });
        }
    };
    let outcome = runtime.try_run(|| {
        started(Some(Handle::current()));
        main()
    });
    outcome.map_err(|source| match source {
        RuntimeError::GraceExpired { grace } => WorkerError::GraceExpired { index, grace },
        source => WorkerError::Start { index, source },
    })
}

pub(crate) fn start<T, F>(builder: Builder, count: usize, main: F) -> Workers<T>
where
    T: Send + 'static,
    F: Fn() -> T + Send + Sync + 'static,
{
    let count = worker_count(count);
    let mut builder = builder;
    if let Some(refused) = refused_in_simulation(count) {
        return Workers {
            threads: refused.into_iter().map(Err).enumerate().collect(),
            handles: vec![None; count],
            shutdown: Shutdown::new(),
        };
    }
    let (shutdown, listener) = share_shutdown(&mut builder);
    // Kept by every worker thread: the signals are handled until the last
    // worker ends, whether or not the `Workers` is kept.
    let listener = match listener {
        Ok(listener) => Arc::new(listener),
        Err(err) => {
            return Workers {
                threads: refused_signals(count, &err)
                    .into_iter()
                    .map(Err)
                    .enumerate()
                    .collect(),
                handles: vec![None; count],
                shutdown,
            }
        }
    };
    let main = Arc::new(main);
    let mut threads = Vec::with_capacity(count);
    let mut handles = Vec::with_capacity(count);
    for index in 0..count {
        let (handle_tx, handle_rx) = mpsc::channel();
        let builder = builder.clone();
        let main = main.clone();
        let listener = Arc::clone(&listener);
        let thread = std::thread::Builder::new()
            .name(worker_name(index))
            .spawn(move || {
                let _listener = listener;
                let started = move |handle| {
                    let _ = handle_tx.send(handle);
                };
                run_worker(index, builder, started, &*main)
            });
        handles.push(match &thread {
            Ok(_) => handle_rx.recv().ok().flatten(),
            Err(_) => None,
        });
        threads.push((
            index,
            thread.map_err(|source| WorkerError::Thread { index, source }),
        ));
    }
    Workers {
        threads,
        handles,
        shutdown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_labelled_with_the_workers_own_index() {
        let mut metrics = crate::run(crate::metrics);
        metrics.tasks_alive = 7;
        let workers = [
            (0, Ok(metrics.clone())),
            (1, Err(DumpError::Gone)),
            (2, Ok(metrics)),
        ];
        let text = prometheus_text_of(&workers);
        assert!(text.starts_with("# fibrio: worker 1: the runtime has ended\n"));
        let alive: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("fibrio_tasks_alive"))
            .collect();
        assert_eq!(
            alive,
            [
                "fibrio_tasks_alive{worker=\"0\"} 7",
                "fibrio_tasks_alive{worker=\"2\"} 7"
            ]
        );
        assert!(!text.contains("worker=\"1\""));
        // Each family once, its samples right after its HELP and TYPE.
        let single = crate::prometheus_text(&workers[0].1.as_ref().map(|m| [m.clone()]).unwrap());
        assert_eq!(
            text.matches("# HELP ").count(),
            single.matches("# HELP ").count()
        );
        let families = families(&text);
        // The first "family" is the comment line.
        assert_eq!(
            families[0].header,
            ["# fibrio: worker 1: the runtime has ended"]
        );
        assert!(families[1..].iter().all(|f| f.header.len() == 2));
        let bucket = families
            .iter()
            .find(|f| f.header[0].starts_with("# HELP fibrio_wake_to_run_seconds "))
            .unwrap();
        let workers_in_order: Vec<&str> = bucket
            .samples
            .iter()
            .map(|s| &s[s.find("worker=").unwrap()..][..10])
            .collect();
        assert!(workers_in_order.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn no_worker_answering_leaves_only_the_comments() {
        let text = prometheus_text_of(&[(0, Err(DumpError::Gone))]);
        assert_eq!(text, "# fibrio: worker 0: the runtime has ended\n");
        assert_eq!(prometheus_text_of(&[]), "");
    }
}
