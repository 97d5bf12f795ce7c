//! Runtime benchmarks: fibrio beside tokio (a `current_thread` runtime) and
//! may (one worker), doing the same work in the same run.
//!
//! * `spawn_join`: spawn an empty task and join it, inside one runtime that
//!   is already running. Reported per spawn + join.
//! * `ping_pong`: two tasks hand a token back and forth through
//!   park/unpark (fibrio: `task::park` + `Unparker`; tokio: two `Notify`s;
//!   may: `coroutine::park` + `Coroutine::unpark`). Reported per round trip
//!   (two task switches).
//! * `sleep_10k`: spawn 10,000 tasks that each sleep 10 ms, then join them
//!   all. Reported as the wall time of the whole thing (the floor is 10 ms).
//!
//! fibrio and may use 32 KiB stacks (may's default, so its coroutine pool
//! is used). Every measurement runs inside the runtime: a new runtime per
//! criterion sample (`iter_custom`), timed with `Instant` from inside, so
//! building and tearing down runtimes is never measured.
//!
//! Run with `cargo bench -p fibrio-benches --bench runtime` (add
//! `-- --warm-up-time 1 --measurement-time 3` for a quick run). Report the
//! ratios fibrio / tokio and fibrio / may from one run.
//!
//! # Sleep lateness
//!
//! `FIBRIO_LATENESS=1 cargo bench -p fibrio-benches --bench runtime` does not
//! run criterion: it runs 1,000 sequential 1 ms sleeps in one task on each
//! runtime (`fibrio::sleep`, `tokio::time::sleep`, `may::coroutine::sleep`)
//! and prints the median, p99 and max lateness (actual - requested), then
//! exits. fibrio runs three times: with its defaults, and with
//! `Builder::timer_spin` of 300 µs and of 2 ms, which poll instead of
//! blocking for that long before each deadline.

use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, SamplingMode};
use fibrio::task::{park, Unparker};

mod peers;

use peers::{fibrio_runtime, may_block_on, may_go, may_setup, tokio_runtime};

/// Tasks in `sleep_10k`.
const SLEEPERS: u64 = 10_000;
/// How long each of them sleeps.
const SLEEP: Duration = Duration::from_millis(10);

// ---------------------------------------------------------------------------
// spawn_join

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_join");

    group.bench_function("fibrio", |b| {
        b.iter_custom(|iters| {
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
        });
    });

    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
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
        });
    });

    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
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
        });
    });

    group.finish();
}

// ---------------------------------------------------------------------------
// ping_pong

fn ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("ping_pong");

    group.bench_function("fibrio", |b| {
        b.iter_custom(|iters| {
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
        });
    });

    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
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
        });
    });

    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
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
        });
    });

    group.finish();
}

// ---------------------------------------------------------------------------
// sleep_10k

fn sleep_10k(c: &mut Criterion) {
    let mut group = c.benchmark_group("sleep_10k");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));

    let expected = SLEEPERS * (SLEEPERS - 1) / 2;

    group.bench_function("fibrio", |b| {
        b.iter_custom(|iters| {
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
                    assert_eq!(sum, expected);
                }
                start.elapsed()
            })
        });
    });

    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
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
                    assert_eq!(sum, expected);
                }
                start.elapsed()
            })
        });
    });

    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
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
                    assert_eq!(sum, expected);
                }
                start.elapsed()
            })
        });
    });

    group.finish();
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
    if std::env::var_os("FIBRIO_LATENESS").is_some_and(|v| v == "1") {
        lateness();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
