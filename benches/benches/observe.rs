//! Observability benchmarks.
//!
//! * `dump/parked_10k`: `fibrio::dump()` of a runtime with 10,000 parked
//!   tasks (half `park`, half `sleep`), without stacks. The target is under
//!   20 ms. `dump/parked_1k_stacks` takes 1,000 tasks' backtraces
//!   (unresolved: resolving happens only when a dump is printed).
//! * `observer/spawn_join` and `observer/ping_pong` (through two
//!   `fibrio::sync::Notify`s, as in `runtime.rs`), each `off` (no
//!   observer: nothing tested in park or the switch, one branch at a spawn
//!   and at a task's end) and `noop` (an observer that does nothing, called
//!   on every event). Both run on a
//!   `fibrio_core` scheduler with a `NotifyDriver`, so only the observer
//!   differs.
//!
//! Run from the repository root with `cargo bench --manifest-path
//! benches/Cargo.toml --bench observe`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion};
use fibrio::sync::Notify;
use fibrio_core::scheduler::{NotifyDriver, Observer, Scheduler, SchedulerConfig, TaskEvent};

/// A runtime with `n` parked tasks; `measure` runs inside it.
fn with_parked<R>(n: usize, measure: impl FnOnce() -> R) -> R {
    fibrio::run(|| {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    fibrio::spawn(|| {
                        let _ = fibrio::task::park();
                    })
                } else {
                    fibrio::spawn(|| fibrio::sleep(Duration::from_secs(3600)))
                }
            })
            .collect();
        fibrio::yield_now();
        let result = measure();
        for task in &tasks {
            task.cancel();
        }
        result
    })
}

fn dump(c: &mut Criterion) {
    let mut group = c.benchmark_group("dump");
    group.sample_size(20);
    group.bench_function("parked_10k", |b| {
        b.iter_custom(|iters| {
            with_parked(10_000, || {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(fibrio::dump());
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("parked_1k_stacks", |b| {
        b.iter_custom(|iters| {
            with_parked(1_000, || {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(fibrio::dump_with_stacks());
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

/// Does nothing with the events.
struct Noop;

impl Observer for Noop {
    fn on_event(&self, event: &TaskEvent<'_>) {
        black_box(event);
    }
}

fn scheduler(observer: bool) -> Scheduler {
    let config = SchedulerConfig {
        stack_size: 32 * 1024,
        observer: observer.then(|| Arc::new(Noop) as Arc<dyn Observer>),
        ..SchedulerConfig::default()
    };
    Scheduler::new(config, Box::new(NotifyDriver::new()))
}

fn spawn_join(observer: bool, iters: u64) -> Duration {
    scheduler(observer)
        .block_on(move || {
            let start = Instant::now();
            for i in 0..iters {
                black_box(fibrio::spawn(move || black_box(i)).join().unwrap());
            }
            start.elapsed()
        })
        .unwrap()
}

fn ping_pong(observer: bool, iters: u64) -> Duration {
    scheduler(observer)
        .block_on(move || {
            let ping = Arc::new(Notify::new());
            let pong = Arc::new(Notify::new());
            let (ping2, pong2) = (ping.clone(), pong.clone());
            let partner = fibrio::spawn(move || {
                for _ in 0..iters {
                    ping2.wait().unwrap();
                    pong2.notify_one();
                }
            });
            let start = Instant::now();
            for _ in 0..iters {
                ping.notify_one();
                pong.wait().unwrap();
            }
            let elapsed = start.elapsed();
            partner.join().unwrap();
            elapsed
        })
        .unwrap()
}

fn observer(c: &mut Criterion) {
    let mut group = c.benchmark_group("observer");
    for (label, on) in [("off", false), ("noop", true)] {
        group.bench_function(format!("spawn_join/{label}"), |b| {
            b.iter_custom(|iters| spawn_join(on, iters))
        });
        group.bench_function(format!("ping_pong/{label}"), |b| {
            b.iter_custom(|iters| ping_pong(on, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, dump, observer);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
