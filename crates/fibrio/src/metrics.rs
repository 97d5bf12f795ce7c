//! Runtime metrics: [`metrics`] inside a runtime,
//! [`Handle::metrics`](crate::Handle::metrics) from any thread, and their
//! Prometheus text exposition, [`prometheus_text`].
//!
//! Invariants: every family is written once, with its `# HELP` and
//! `# TYPE` lines, and one sample per worker (label `worker`, the index
//! in the slice given); counters end in `_total`, times are in seconds,
//! and the wake-to-run histogram's buckets are cumulative and end with
//! `le="+Inf"`, equal to its `_count`.

use std::fmt::Write as _;

pub use fibrio_core::scheduler::{
    metrics, LatencyHistogram, RuntimeMetrics, LATENCY_BOUNDS_US, SAMPLE_EVERY,
};

/// The content type of [`prometheus_text`]'s output.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type Value = fn(&RuntimeMetrics) -> f64;

/// The scalar families: name, type, help, value.
const FAMILIES: &[(&str, &str, &str, Value)] = &[
    (
        "fibrio_uptime_seconds",
        "gauge",
        "Time since the runtime started.",
        |m| m.uptime.as_secs_f64(),
    ),
    ("fibrio_tasks_alive", "gauge", "Tasks alive now.", |m| {
        m.tasks_alive as f64
    }),
    (
        "fibrio_tasks_spawned_total",
        "counter",
        "Tasks spawned, main included.",
        |m| m.tasks_spawned as f64,
    ),
    (
        "fibrio_tasks_completed_total",
        "counter",
        "Tasks that ended with a value.",
        |m| m.tasks_completed as f64,
    ),
    (
        "fibrio_tasks_failed_total",
        "counter",
        "Tasks that ended with a panic.",
        |m| m.tasks_failed as f64,
    ),
    (
        "fibrio_tasks_cancelled_total",
        "counter",
        "Tasks that ended by cancellation.",
        |m| m.tasks_cancelled as f64,
    ),
    (
        "fibrio_tasks_refused_total",
        "counter",
        "Spawns refused (max_tasks, no stack, shutting down).",
        |m| m.tasks_refused as f64,
    ),
    (
        "fibrio_remote_spawns_queued",
        "gauge",
        "Spawns from other threads waiting to start.",
        |m| m.remote_spawns_queued as f64,
    ),
    (
        "fibrio_task_switches_total",
        "counter",
        "Switches into tasks.",
        |m| m.switches as f64,
    ),
    (
        "fibrio_run_queue_depth",
        "gauge",
        "Tasks in the run queue now.",
        |m| m.run_queue_depth as f64,
    ),
    (
        "fibrio_timers_pending",
        "gauge",
        "Timers pending now.",
        |m| m.timers_pending as f64,
    ),
    (
        "fibrio_fds_registered",
        "gauge",
        "File descriptors registered with the reactor.",
        |m| m.fds_registered as f64,
    ),
    (
        "fibrio_reactor_polls_total",
        "counter",
        "Polls of the reactor, blocking or not.",
        |m| m.driver_polls as f64,
    ),
    (
        "fibrio_reactor_events_total",
        "counter",
        "Tasks woken by the reactor (I/O events).",
        |m| m.driver_events as f64,
    ),
    (
        "fibrio_busy_seconds_total",
        "counter",
        "Time spent running tasks and the scheduler loop.",
        |m| m.busy.as_secs_f64(),
    ),
    (
        "fibrio_idle_seconds_total",
        "counter",
        "Time spent blocked in the reactor with nothing to run.",
        |m| m.idle.as_secs_f64(),
    ),
    (
        "fibrio_blocking_threads",
        "gauge",
        "Threads of the blocking pool (process-wide).",
        |m| m.blocking_threads as f64,
    ),
    (
        "fibrio_blocking_idle_threads",
        "gauge",
        "Idle threads of the blocking pool (process-wide).",
        |m| m.blocking_idle as f64,
    ),
    (
        "fibrio_blocking_queued_jobs",
        "gauge",
        "Jobs waiting for a blocking-pool thread (process-wide).",
        |m| m.blocking_queued as f64,
    ),
    (
        "fibrio_stacks_mapped",
        "gauge",
        "Task stacks mapped by the worker's thread.",
        |m| m.stacks_mapped as f64,
    ),
    (
        "fibrio_stacks_pooled",
        "gauge",
        "Task stacks pooled for reuse.",
        |m| m.stacks_pooled as f64,
    ),
    (
        "fibrio_stacks_in_use",
        "gauge",
        "Task stacks in use.",
        |m| m.stacks_in_use as f64,
    ),
];

/// The Prometheus text exposition (format 0.0.4) of `workers`' metrics,
/// one sample per family and worker (label `worker`: the index in
/// `workers`). Serve it with [`PROMETHEUS_CONTENT_TYPE`].
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let text = fibrio::prometheus_text(&[fibrio::metrics()]);
///     assert!(text.contains("# TYPE fibrio_tasks_alive gauge\n"));
///     assert!(text.contains("fibrio_tasks_alive{worker=\"0\"} 1\n"));
///     assert!(text.contains("fibrio_wake_to_run_seconds_bucket{worker=\"0\",le=\"+Inf\"}"));
/// });
/// ```
pub fn prometheus_text(workers: &[RuntimeMetrics]) -> String {
    let mut out = String::with_capacity(4096);
    for &(name, kind, help, value) in FAMILIES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (worker, m) in workers.iter().enumerate() {
            let _ = writeln!(out, "{name}{{worker=\"{worker}\"}} {}", number(value(m)));
        }
    }
    let name = "fibrio_tasks_parked";
    let _ = writeln!(
        out,
        "# HELP {name} Parked tasks now, by what they wait for.\n# TYPE {name} gauge"
    );
    for (worker, m) in workers.iter().enumerate() {
        for (kind, count) in &m.parked_by_reason {
            let _ = writeln!(
                out,
                "{name}{{worker=\"{worker}\",reason=\"{kind}\"}} {count}"
            );
        }
    }
    let name = "fibrio_wake_to_run_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Sampled delay from a task's wake-up to its run (one wake-up in {SAMPLE_EVERY}).\n# TYPE {name} histogram"
    );
    for (worker, m) in workers.iter().enumerate() {
        let histogram = &m.wake_to_run;
        let mut cumulative = 0;
        for (bucket, count) in histogram.buckets.iter().enumerate() {
            cumulative += count;
            let le = match LATENCY_BOUNDS_US.get(bucket) {
                Some(us) => number(*us as f64 / 1e6),
                None => "+Inf".to_owned(),
            };
            let _ = writeln!(
                out,
                "{name}_bucket{{worker=\"{worker}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_sum{{worker=\"{worker}\"}} {}",
            number(histogram.sum.as_secs_f64())
        );
        let _ = writeln!(out, "{name}_count{{worker=\"{worker}\"}} {cumulative}");
    }
    out
}

/// A sample value as Prometheus reads it (Go's float syntax).
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}
