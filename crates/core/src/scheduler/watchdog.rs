//! The watchdog: a thread that warns when a task runs longer than a
//! threshold without parking: through `log` if a logger is installed, else
//! on stderr, at most one line a second (see [`crate::diagnostics`]). That
//! almost always means a blocking call (std I/O, `std::thread::sleep`, a
//! busy loop) inside a task, which stalls every other task on the runtime.
//!
//! # Invariants
//!
//! * `running` is `Some` exactly while the scheduler is switched into a
//!   task; only the scheduler's thread writes it (`enter`/`leave`).
//! * `epoch` increases on every `enter`, so a task is warned about at most
//!   once per run, however long it keeps running.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::diagnostics::RateLimitedWarning;

/// The "task blocked the thread" warning, shared by every runtime's watchdog.
static BLOCKED: RateLimitedWarning = RateLimitedWarning::new(module_path!(), 1);
/// The "watchdog could not start" warning.
static NOT_STARTED: RateLimitedWarning = RateLimitedWarning::new(module_path!(), 1);

struct Running {
    since: Instant,
    epoch: u64,
    id: u64,
    name: Option<Arc<str>>,
}

struct Shared {
    threshold: Duration,
    running: Mutex<Option<Running>>,
    epoch: AtomicU64,
    stop: AtomicBool,
}

pub(crate) struct Watchdog {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub(crate) fn start(threshold: Duration) -> Watchdog {
        let shared = Arc::new(Shared {
            threshold,
            running: Mutex::new(None),
            epoch: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let watched = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fibrio-watchdog".into())
            .spawn(move || watch(&watched))
            .map_err(|err| {
                NOT_STARTED.emit(format_args!(
                    "fibrio: the task watchdog could not start: {err}"
                ))
            })
            .ok();
        Watchdog { shared, thread }
    }

    pub(crate) fn enter(&self, id: u64, name: Option<&Arc<str>>) {
        let epoch = self.shared.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        let mut running = self
            .shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *running = Some(Running {
            since: Instant::now(),
            epoch,
            id,
            name: name.cloned(),
        });
    }

    pub(crate) fn leave(&self) {
        let mut running = self
            .shared
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *running = None;
    }
}

fn watch(shared: &Shared) {
    let tick = (shared.threshold / 4).clamp(Duration::from_millis(1), Duration::from_millis(250));
    let mut warned_epoch = 0;
    while !shared.stop.load(Ordering::Acquire) {
        std::thread::park_timeout(tick);
        let running = shared.running.lock().unwrap_or_else(|e| e.into_inner());
        let Some(task) = running.as_ref() else {
            continue;
        };
        let elapsed = task.since.elapsed();
        if elapsed > shared.threshold && task.epoch != warned_epoch {
            warned_epoch = task.epoch;
            let who = match &task.name {
                Some(name) => format!("'{name}' (#{})", task.id),
                None => format!("#{}", task.id),
            };
            BLOCKED.emit(format_args!(
                "fibrio watchdog: task {who} has run for {elapsed:?} without parking (threshold {:?}); \
                 a blocking call inside a task stalls every other task: use fibrio's sleep, sockets or spawn_blocking",
                shared.threshold
            ));
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
