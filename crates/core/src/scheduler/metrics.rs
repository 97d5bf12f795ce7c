//! Runtime metrics: [`RuntimeMetrics`] (a snapshot), [`LatencyHistogram`]
//! and the counters the scheduler keeps to make them (`Counters`).
//!
//! # Invariants
//!
//! * Counters are plain `Cell`s, written only on the scheduler's thread:
//!   no atomics, no clock reads on the switch path. Totals that can be
//!   derived are not counted: spawned = ended + alive, and switches are
//!   each task's own count, summed into `switches` as tasks end. A snapshot is taken on
//!   that thread too (locally, or through the inbox from a `Handle`).
//! * Busy and idle time: idle is the time spent blocked in the driver with
//!   nothing runnable (one clock read before such a wait; the one after it
//!   exists already); busy is the rest of the time since the runtime
//!   started.
//! * Wake-to-run delay is sampled: one wake-up in [`SAMPLE_EVERY`] is
//!   timed from the moment it queues the task to the moment the task runs
//!   (two clock reads per sample, none otherwise); one sample is in flight
//!   at a time.

use std::cell::Cell;
use std::time::Duration;

use super::state::WaitKind;
use super::table::TaskKey;

/// One wake-up in this many is timed for the wake-to-run histogram.
pub const SAMPLE_EVERY: u32 = 64;

/// The upper bounds of the histogram's buckets, in microseconds: powers of
/// two from 1 µs to about 1 s; a last, unbounded bucket follows.
pub const LATENCY_BOUNDS_US: [u64; 21] = [
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072,
    262144, 524288, 1048576,
];

/// A histogram of sampled wake-to-run delays (scheduling latency).
///
/// # Examples
///
/// ```
/// use fibrio_core::scheduler::LatencyHistogram;
///
/// let h = LatencyHistogram::default();
/// assert_eq!(h.count(), 0);
/// assert_eq!(h.buckets.len(), fibrio_core::scheduler::LATENCY_BOUNDS_US.len() + 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LatencyHistogram {
    /// Samples per bucket (not cumulative): bucket `i` holds the samples
    /// at most [`LATENCY_BOUNDS_US`]`[i]` µs and above the bound before;
    /// the last bucket holds the rest.
    pub buckets: Vec<u64>,
    /// The sum of every sample.
    pub sum: Duration,
}

impl Default for LatencyHistogram {
    fn default() -> LatencyHistogram {
        LatencyHistogram {
            buckets: vec![0; LATENCY_BOUNDS_US.len() + 1],
            sum: Duration::ZERO,
        }
    }
}

impl LatencyHistogram {
    /// The number of samples.
    ///
    /// # Examples
    ///
    /// See [`LatencyHistogram`].
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// A snapshot of one runtime's (one worker's) metrics, from
/// [`Handle::metrics`](super::Handle::metrics) or [`metrics`](super::metrics).
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// let child = fibrio_core::task::spawn(|| 1);
/// child.join().unwrap();
/// let m = fibrio_core::scheduler::metrics();
/// assert_eq!(m.tasks_spawned, 2); // main and the child
/// assert_eq!(m.tasks_completed, 1);
/// assert_eq!(m.tasks_alive, 1); // main
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// The runtime's id (process-unique).
    pub runtime: u64,
    /// The driver's name.
    pub driver: &'static str,
    /// Since the runtime started (`block_on`).
    pub uptime: Duration,
    /// Tasks alive now.
    pub tasks_alive: usize,
    /// Tasks spawned so far (main included).
    pub tasks_spawned: u64,
    /// Tasks that ended with a value.
    pub tasks_completed: u64,
    /// Tasks that ended with a panic.
    pub tasks_failed: u64,
    /// Tasks that ended by cancellation.
    pub tasks_cancelled: u64,
    /// Spawns the runtime refused (its `max_tasks` limit, no stack to be
    /// had, or shutting down), local and remote; not counted in
    /// `tasks_spawned`.
    pub tasks_refused: u64,
    /// Spawns from other threads ([`Handle`](super::Handle)) queued and not
    /// yet taken by the runtime.
    pub remote_spawns_queued: usize,
    /// Switches into tasks.
    pub switches: u64,
    /// Tasks in the run queue now.
    pub run_queue_depth: usize,
    /// Parked tasks now, by what they wait for (kinds with none omitted).
    pub parked_by_reason: Vec<(WaitKind, usize)>,
    /// Timers pending now.
    pub timers_pending: usize,
    /// File descriptors registered with the reactor now.
    pub fds_registered: usize,
    /// Calls into the driver (polls of the reactor, blocking or not).
    pub driver_polls: u64,
    /// Tasks the driver woke (I/O events delivered).
    pub driver_events: u64,
    /// Time spent running tasks and the loop.
    pub busy: Duration,
    /// Time spent blocked in the driver with nothing to run.
    pub idle: Duration,
    /// Sampled wake-to-run delays.
    pub wake_to_run: LatencyHistogram,
    /// Threads of the blocking pool (process-wide).
    pub blocking_threads: usize,
    /// Of those, the idle ones.
    pub blocking_idle: usize,
    /// Jobs waiting for a blocking-pool thread (process-wide).
    pub blocking_queued: usize,
    /// Task stacks mapped by the runtime's thread.
    pub stacks_mapped: usize,
    /// Of those, pooled for reuse.
    pub stacks_pooled: usize,
    /// Of those, in use.
    pub stacks_in_use: usize,
}

/// The scheduler's counters (see the module invariants).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) completed: Cell<u64>,
    pub(crate) failed: Cell<u64>,
    pub(crate) cancelled: Cell<u64>,
    /// Spawns refused (`SpawnError`), counted on the error paths only.
    pub(crate) refused: Cell<u64>,
    /// Switches into tasks that have ended (live ones keep their own).
    pub(crate) switches: Cell<u64>,
    pub(crate) polls: Cell<u64>,
    pub(crate) events: Cell<u64>,
    pub(crate) idle: Cell<Duration>,
    /// Counts wake-ups down to the next sample.
    pub(crate) sample_tick: Cell<u32>,
    /// The wake-up being timed: its task and when it was queued.
    pub(crate) sample: Cell<Option<(TaskKey, std::time::Instant)>>,
    pub(crate) latency: std::cell::RefCell<Vec<u64>>,
    pub(crate) latency_sum: Cell<Duration>,
}

impl Counters {
    #[inline(always)]
    pub(crate) fn bump(cell: &Cell<u64>) {
        cell.set(cell.get() + 1);
    }

    /// Records a wake-to-run sample of `delay`.
    pub(crate) fn record_latency(&self, delay: Duration) {
        let us = delay.as_micros();
        let bucket = LATENCY_BOUNDS_US
            .iter()
            .position(|&bound| us <= u128::from(bound))
            .unwrap_or(LATENCY_BOUNDS_US.len());
        let mut latency = self.latency.borrow_mut();
        if latency.is_empty() {
            latency.resize(LATENCY_BOUNDS_US.len() + 1, 0);
        }
        latency[bucket] += 1;
        self.latency_sum.set(self.latency_sum.get() + delay);
    }

    pub(crate) fn histogram(&self) -> LatencyHistogram {
        let latency = self.latency.borrow();
        let mut histogram = LatencyHistogram::default();
        if !latency.is_empty() {
            histogram.buckets.copy_from_slice(&latency);
        }
        histogram.sum = self.latency_sum.get();
        histogram
    }
}

/// A runtime's health, from [`Handle::health`](super::Handle::health): it
/// answered (a runtime blocked by a task does not: the `Handle` call then
/// fails and names the task), and these figures.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// let health = fibrio_core::scheduler::Handle::current().health().unwrap();
/// assert_eq!(health.driver, "notify");
/// assert!(health.rss_bytes.is_none_or(|rss| rss > 0));
/// # });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// The runtime's id.
    pub runtime: u64,
    /// The driver's name (the I/O backend).
    pub driver: &'static str,
    /// Since the runtime started.
    pub uptime: Duration,
    /// Tasks alive.
    pub tasks_alive: usize,
    /// The process's resident set size, where the platform tells
    /// (`/proc/self/statm` on Linux).
    pub rss_bytes: Option<u64>,
    /// The longest any task that is not parked has gone since it last
    /// parked (or was spawned): large values mean tasks that hog the
    /// thread or a run queue that does not drain.
    pub longest_unparked: Duration,
}

/// The process's resident set size, from `/proc/self/statm` (Linux).
pub(crate) fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * crate::stack::page_size() as u64)
}
