//! Runtime benchmarks: fibrio beside tokio (a `current_thread` runtime) and
//! may (one worker), doing the same work in the same run.
//!
//! * `spawn_join`: spawn an empty task and join it, inside one runtime that
//!   is already running. Reported per spawn + join.
//! * `ping_pong`: two tasks hand a token back and forth. Reported per round
//!   trip (two task switches). `fibrio_notify` and `tokio` do it the same
//!   way, through two `Notify`s (`fibrio::sync::Notify`: `notify_one` and
//!   `wait`; `tokio::sync::Notify`: `notify_one` and `notified().await`);
//!   `fibrio_unparker` through raw park/unpark (`task::park` + `Unparker`),
//!   and `may` through `coroutine::park` + `Coroutine::unpark`.
//! * `sleep_10k`: spawn 10,000 tasks that each sleep 10 ms, then join them
//!   all. Reported as the wall time of the whole thing (the floor is 10 ms).
//!
//! fibrio and may use 32 KiB stacks (may's default, so its coroutine pool
//! is used). Every measurement runs inside the runtime: a new runtime per
//! criterion sample (`iter_custom`), timed with `Instant` from inside, so
//! building and tearing down runtimes is never measured.
//!
//! Run from the repository root with `cargo bench --manifest-path
//! benches/Cargo.toml --bench runtime` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quick run). Criterion times each runtime
//! seconds after the other, so on a shared machine the ratio of two of its
//! estimates moves with the load in between: take the fibrio / tokio ratios
//! from the paired mode below.
//!
//! # Paired ratios to tokio
//!
//! `FIBRIO_RUNTIME_PAIRED=1 cargo bench --manifest-path benches/Cargo.toml
//! --bench runtime` (`just bench-runtime-paired`) does not run criterion:
//! for each of `spawn_join` (100,000 per run), `ping_pong` through `Notify`
//! (100,000 round trips per run) and `sleep_10k` (5 per run) it alternates
//! the fibrio and the tokio loop (the criterion benches' own, each in a
//! fresh runtime), 21 times each after one unmeasured pair, the two taking
//! turns at going first, and prints the median of the 21 ratios fibrio /
//! tokio (each from two runs milliseconds apart) with its quartiles, and
//! the median run of each side, then exits. Pin it to one CPU
//! (`taskset -c 1`) for the steadiest figures.
//!
//! # Sleep lateness
//!
//! `FIBRIO_LATENESS=1 cargo bench --manifest-path benches/Cargo.toml
//! --bench runtime` does not run criterion: it runs 1,000 sequential 1 ms
//! sleeps in one task on each runtime (`fibrio::sleep`,
//! `tokio::time::sleep`, `may::coroutine::sleep`) and prints the median,
//! p99 and max lateness (actual - requested), then exits. fibrio runs three
//! times: with its defaults, and with `Builder::timer_spin` of 300 µs and
//! of 2 ms, which poll instead of blocking for that long before each
//! deadline.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, SamplingMode};
use fibrio::task::{park, Unparker};
use fibrio_benches::PairedRuns;

mod peers;

use peers::{fibrio_runtime, may_block_on, may_go, may_setup, tokio_runtime};

/// Tasks in `sleep_10k`.
const SLEEPERS: u64 = 10_000;
/// How long each of them sleeps.
const SLEEP: Duration = Duration::from_millis(10);

// ---------------------------------------------------------------------------
// spawn_join

/// `iters` spawns of an empty task, each joined before the next, in a
/// fresh fibrio runtime.
fn fibrio_spawn_join(iters: u64) -> Duration {
    fibrio_runtime().run(move || {
        let mut sum = 0u64;
        let start = Instant::now();
        for i in 0..iters {
            sum += fibrio::spawn(move || black_box(i)).join().unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(sum, iters * iters.saturating_sub(1) / 2);
        elapsed
    })
}

/// The same on a fresh tokio `current_thread` runtime.
fn tokio_spawn_join(iters: u64) -> Duration {
    tokio_runtime().block_on(async move {
        let mut sum = 0u64;
        let start = Instant::now();
        for i in 0..iters {
            sum += tokio::spawn(async move { black_box(i) }).await.unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(sum, iters * iters.saturating_sub(1) / 2);
        elapsed
    })
}

/// The same on may.
fn may_spawn_join(iters: u64) -> Duration {
    may_block_on(move || {
        let mut sum = 0u64;
        let start = Instant::now();
        for i in 0..iters {
            sum += may_go(move || black_box(i)).join().unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(sum, iters * iters.saturating_sub(1) / 2);
        elapsed
    })
}

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_join");
    group.bench_function("fibrio", |b| b.iter_custom(fibrio_spawn_join));
    group.bench_function("tokio", |b| b.iter_custom(tokio_spawn_join));
    group.bench_function("may", |b| b.iter_custom(may_spawn_join));
    group.finish();
}

// ---------------------------------------------------------------------------
// ping_pong

/// `iters` round trips between the main task and a pong task through raw
/// park/unpark, in a fresh fibrio runtime.
fn fibrio_unparker_ping_pong(iters: u64) -> Duration {
    fibrio_runtime().run(move || {
        // True while it is the pong task's turn.
        let pong_turn = Rc::new(Cell::new(false));
        let pong_unparker: Rc<std::cell::OnceCell<Unparker>> = Rc::default();
        let ping = Unparker::current().unwrap();

        let pong = {
            let pong_turn = pong_turn.clone();
            let pong_unparker = pong_unparker.clone();
            fibrio::spawn(move || {
                pong_unparker.set(Unparker::current().unwrap()).unwrap();
                let mut rounds = 0u64;
                for _ in 0..iters {
                    while !pong_turn.get() {
                        park().unwrap();
                    }
                    rounds += 1;
                    pong_turn.set(false);
                    ping.unpark();
                }
                rounds
            })
        };
        while pong_unparker.get().is_none() {
            fibrio::yield_now();
        }
        let pong_unparker = pong_unparker.get().unwrap().clone();

        let start = Instant::now();
        for _ in 0..iters {
            pong_turn.set(true);
            pong_unparker.unpark();
            while pong_turn.get() {
                park().unwrap();
            }
        }
        let elapsed = start.elapsed();
        assert_eq!(pong.join().unwrap(), iters);
        elapsed
    })
}

/// `iters` round trips through two `fibrio::sync::Notify`s, in a fresh
/// fibrio runtime: the same program as `tokio_ping_pong`.
fn fibrio_notify_ping_pong(iters: u64) -> Duration {
    fibrio_runtime().run(move || {
        let to_pong = Arc::new(fibrio::sync::Notify::new());
        let to_ping = Arc::new(fibrio::sync::Notify::new());
        let pong = {
            let to_pong = to_pong.clone();
            let to_ping = to_ping.clone();
            fibrio::spawn(move || {
                let mut rounds = 0u64;
                for _ in 0..iters {
                    to_pong.wait().unwrap();
                    rounds += 1;
                    to_ping.notify_one();
                }
                rounds
            })
        };
        let start = Instant::now();
        for _ in 0..iters {
            // As tokio's: a `notify_one` with no waiter stores a permit.
            to_pong.notify_one();
            to_ping.wait().unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(pong.join().unwrap(), iters);
        elapsed
    })
}

/// `iters` round trips through two `tokio::sync::Notify`s, on a fresh tokio
/// `current_thread` runtime.
fn tokio_ping_pong(iters: u64) -> Duration {
    tokio_runtime().block_on(async move {
        let to_pong = Arc::new(tokio::sync::Notify::new());
        let to_ping = Arc::new(tokio::sync::Notify::new());
        let pong = {
            let to_pong = to_pong.clone();
            let to_ping = to_ping.clone();
            tokio::spawn(async move {
                let mut rounds = 0u64;
                for _ in 0..iters {
                    to_pong.notified().await;
                    rounds += 1;
                    to_ping.notify_one();
                }
                rounds
            })
        };
        let start = Instant::now();
        for _ in 0..iters {
            // A `notify_one` with no waiter leaves a permit, like an
            // unpark token, so no wake-up is lost.
            to_pong.notify_one();
            to_ping.notified().await;
        }
        let elapsed = start.elapsed();
        assert_eq!(pong.await.unwrap(), iters);
        elapsed
    })
}

/// `iters` round trips through may's park/unpark.
fn may_ping_pong(iters: u64) -> Duration {
    may_block_on(move || {
        let pong_turn = Arc::new(AtomicBool::new(false));
        let ping = may::coroutine::current();
        let pong = {
            let pong_turn = pong_turn.clone();
            may_go(move || {
                let mut rounds = 0u64;
                for _ in 0..iters {
                    while !pong_turn.load(Ordering::Acquire) {
                        may::coroutine::park();
                    }
                    rounds += 1;
                    pong_turn.store(false, Ordering::Release);
                    ping.unpark();
                }
                rounds
            })
        };
        let pong_co = pong.coroutine().clone();

        let start = Instant::now();
        for _ in 0..iters {
            pong_turn.store(true, Ordering::Release);
            pong_co.unpark();
            while pong_turn.load(Ordering::Acquire) {
                may::coroutine::park();
            }
        }
        let elapsed = start.elapsed();
        assert_eq!(pong.join().unwrap(), iters);
        elapsed
    })
}

fn ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("ping_pong");
    group.bench_function("fibrio_unparker", |b| {
        b.iter_custom(fibrio_unparker_ping_pong)
    });
    group.bench_function("fibrio_notify", |b| b.iter_custom(fibrio_notify_ping_pong));
    group.bench_function("tokio", |b| b.iter_custom(tokio_ping_pong));
    group.bench_function("may", |b| b.iter_custom(may_ping_pong));
    group.finish();
}

// ---------------------------------------------------------------------------
// sleep_10k

/// The sum of the values the `SLEEPERS` tasks return.
const SLEEPERS_SUM: u64 = SLEEPERS * (SLEEPERS - 1) / 2;

/// `iters` times: spawn `SLEEPERS` tasks that sleep `SLEEP`, join them all;
/// in a fresh fibrio runtime.
fn fibrio_sleep_10k(iters: u64) -> Duration {
    fibrio_runtime().run(move || {
        let start = Instant::now();
        for _ in 0..iters {
            let handles: Vec<_> = (0..SLEEPERS)
                .map(|i| {
                    fibrio::spawn(move || {
                        fibrio::sleep(SLEEP);
                        i
                    })
                })
                .collect();
            let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(sum, SLEEPERS_SUM);
        }
        start.elapsed()
    })
}

/// The same on a fresh tokio `current_thread` runtime.
fn tokio_sleep_10k(iters: u64) -> Duration {
    tokio_runtime().block_on(async move {
        let start = Instant::now();
        for _ in 0..iters {
            let handles: Vec<_> = (0..SLEEPERS)
                .map(|i| {
                    tokio::spawn(async move {
                        tokio::time::sleep(SLEEP).await;
                        i
                    })
                })
                .collect();
            let mut sum = 0u64;
            for handle in handles {
                sum += handle.await.unwrap();
            }
            assert_eq!(sum, SLEEPERS_SUM);
        }
        start.elapsed()
    })
}

/// The same on may.
fn may_sleep_10k(iters: u64) -> Duration {
    may_block_on(move || {
        let start = Instant::now();
        for _ in 0..iters {
            let handles: Vec<_> = (0..SLEEPERS)
                .map(|i| {
                    may_go(move || {
                        may::coroutine::sleep(SLEEP);
                        i
                    })
                })
                .collect();
            let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(sum, SLEEPERS_SUM);
        }
        start.elapsed()
    })
}

fn sleep_10k(c: &mut Criterion) {
    let mut group = c.benchmark_group("sleep_10k");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("fibrio", |b| b.iter_custom(fibrio_sleep_10k));
    group.bench_function("tokio", |b| b.iter_custom(tokio_sleep_10k));
    group.bench_function("may", |b| b.iter_custom(may_sleep_10k));
    group.finish();
}

// ---------------------------------------------------------------------------
// Paired ratios to tokio (FIBRIO_RUNTIME_PAIRED=1)

/// Measured runs of each side, alternating.
const PAIRED_RUNS: usize = 21;
/// Spawn + joins per timed `spawn_join` run.
const PAIRED_SPAWNS: u64 = 100_000;
/// Round trips per timed `ping_pong` run.
const PAIRED_ROUND_TRIPS: u64 = 100_000;
/// Whole `sleep_10k`s per timed run (one is only 10-25 ms, and noisy).
const PAIRED_SLEEPS: u64 = 5;

/// Runs `fibrio` and `tokio` (each: `iters` operations in a fresh runtime,
/// returning the time they took) one unmeasured pair, then `PAIRED_RUNS`
/// measured pairs, fibrio first in even pairs and tokio first in odd ones;
/// prints the median ratio fibrio / tokio with its quartiles and each
/// side's median run, per operation, in `unit` (`"ns"` or `"ms"`).
fn paired(
    name: &str,
    op: &str,
    iters: u64,
    unit: &str,
    fibrio: impl Fn(u64) -> Duration,
    tokio: impl Fn(u64) -> Duration,
) {
    let per_op = |d: Duration| {
        let scale = if unit == "ms" { 1e3 } else { 1e9 };
        d.as_secs_f64() * scale / iters as f64
    };
    fibrio(iters);
    tokio(iters);
    let mut runs = PairedRuns::default();
    for pair in 0..PAIRED_RUNS {
        let (f, t) = if pair % 2 == 0 {
            let f = fibrio(iters);
            (f, tokio(iters))
        } else {
            let t = tokio(iters);
            (fibrio(iters), t)
        };
        runs.push(per_op(f), per_op(t));
    }
    let s = runs.summary();
    println!(
        "{name} ({iters} x {op} per run): fibrio / tokio median {:.3} \
         (quartiles {:.3}-{:.3}); median runs fibrio {:.2} {unit}, tokio {:.2} {unit}",
        s.median,
        s.q1,
        s.q3,
        s.ours_median(),
        s.theirs_median(),
    );
}

fn paired_runtime() {
    println!(
        "runtime, fibrio beside tokio (current_thread), {PAIRED_RUNS} alternating runs \
         each after one unmeasured pair:"
    );
    paired(
        "spawn_join",
        "spawn + join",
        PAIRED_SPAWNS,
        "ns",
        fibrio_spawn_join,
        tokio_spawn_join,
    );
    paired(
        "ping_pong, Notify",
        "round trip",
        PAIRED_ROUND_TRIPS,
        "ns",
        fibrio_notify_ping_pong,
        tokio_ping_pong,
    );
    paired(
        "sleep_10k",
        "10,000 tasks sleeping 10 ms, joined",
        PAIRED_SLEEPS,
        "ms",
        fibrio_sleep_10k,
        tokio_sleep_10k,
    );
}

// ---------------------------------------------------------------------------
// Sleep lateness (FIBRIO_LATENESS=1)

/// Sequential sleeps per runtime.
const LATENESS_SAMPLES: usize = 1_000;
/// The requested sleep.
const LATENESS_SLEEP: Duration = Duration::from_millis(1);

/// Times `LATENESS_SAMPLES` sleeps of `LATENESS_SLEEP` done by `sleep`,
/// returning each one's actual duration.
fn time_sleeps(mut sleep: impl FnMut(Duration)) -> Vec<Duration> {
    (0..LATENESS_SAMPLES)
        .map(|_| {
            let start = Instant::now();
            sleep(LATENESS_SLEEP);
            start.elapsed()
        })
        .collect()
}

fn report_lateness(name: &str, actual: &[Duration]) {
    let early = actual.iter().filter(|&&d| d < LATENESS_SLEEP).count();
    let mut late: Vec<Duration> = actual
        .iter()
        .map(|d| d.saturating_sub(LATENESS_SLEEP))
        .collect();
    late.sort_unstable();
    let at = |q: f64| late[((late.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<17} median {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}  mean {:>9.1?}  early {early}/{}",
        at(0.5),
        at(0.99),
        late[late.len() - 1],
        late.iter().sum::<Duration>() / late.len() as u32,
        late.len(),
    );
}

fn lateness() {
    println!(
        "sleep lateness (actual - requested): {LATENESS_SAMPLES} sequential sleeps of \
         {LATENESS_SLEEP:?} in one task"
    );

    let fibrio = fibrio_runtime().run(|| time_sleeps(fibrio::sleep));
    report_lateness("fibrio", &fibrio);

    // The same with the last stretch before each deadline spun instead of
    // blocked (`Builder::timer_spin`): the kernel's and hypervisor's wake-up
    // latency out of the picture, for up to that much CPU per sleep. 300 µs
    // covers the median wake-up; 2 ms covers its tail too, which for 1 ms
    // sleeps means never blocking at all.
    for (label, spin) in [("spin 300us", 300), ("spin 2ms", 2_000)] {
        let spun = fibrio::Runtime::builder()
            .stack_size(peers::STACK)
            .timer_spin(Duration::from_micros(spin))
            .build()
            .expect("fibrio runtime")
            .run(|| time_sleeps(fibrio::sleep));
        report_lateness(&format!("fibrio {label}"), &spun);
    }

    let tokio = tokio_runtime().block_on(async {
        let mut actual = Vec::with_capacity(LATENESS_SAMPLES);
        for _ in 0..LATENESS_SAMPLES {
            let start = Instant::now();
            tokio::time::sleep(LATENESS_SLEEP).await;
            actual.push(start.elapsed());
        }
        actual
    });
    report_lateness("tokio", &tokio);

    let may = may_block_on(|| time_sleeps(may::coroutine::sleep));
    report_lateness("may", &may);

    // The floor every runtime stands on: the kernel waking a blocked thread.
    let std_sleep = time_sleeps(std::thread::sleep);
    report_lateness("std sleep", &std_sleep);
}

criterion_group!(benches, spawn_join, ping_pong, sleep_10k);

fn main() {
    may_setup();
    if std::env::var_os("FIBRIO_RUNTIME_PAIRED").is_some_and(|v| v == "1") {
        paired_runtime();
        return;
    }
    if std::env::var_os("FIBRIO_LATENESS").is_some_and(|v| v == "1") {
        lateness();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
