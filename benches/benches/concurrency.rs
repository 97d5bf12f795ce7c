//! Concurrency-primitive benchmarks: fibrio's channel, semaphore and mutex
//! beside tokio's (a `current_thread` runtime) and may's (one worker),
//! doing the same work in the same run.
//!
//! * `channel_ping_pong`: two tasks bounce a counter through two channels
//!   of capacity 1, one each way (fibrio: `channel::bounded(1)`; tokio:
//!   `mpsc::channel(1)`; may: `sync::mpsc::channel`, which is unbounded:
//!   may has no bounded channel, and with one message in flight the bound
//!   never matters here). Reported per round trip (two sends, two
//!   receives, two task switches).
//! * `semaphore_1000`: 1,000 tasks share a semaphore of 10 permits; each
//!   repeatedly acquires a permit, holds it across one yield, and releases
//!   it (tokio: `sync::Semaphore`; may: `sync::Semphore`'s `wait`/`post`).
//!   Reported per acquire.
//! * `mutex_1000`: 1,000 tasks share a `Mutex<u64>`; each repeatedly locks
//!   it, increments it, yields while holding it, and unlocks (tokio:
//!   `sync::Mutex`; may: `sync::Mutex`). Reported per lock. The final
//!   count is checked, so the work really happened.
//!
//! In the 1,000-task benchmarks a criterion iteration is one acquire (or
//! lock): the `iters` of a sample are spread over the tasks (they differ
//! by at most one), the tasks are spawned before the clock starts, and the
//! time runs until the last one is joined.
//!
//! fibrio and may use 32 KiB stacks, as in `runtime.rs`. Every measurement
//! runs inside the runtime: a new runtime per criterion sample
//! (`iter_custom`), timed with `Instant` from inside, so building and
//! tearing down runtimes is never measured.
//!
//! Run from the repository root with `cargo bench --manifest-path
//! benches/Cargo.toml --bench concurrency` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quick run). Report the
//! ratios fibrio / tokio and fibrio / may from one run.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, Criterion};
use fibrio_concurrency::channel;
use fibrio_concurrency::sync::Mutex;
use fibrio_concurrency::Semaphore;

mod peers;

use peers::{fibrio_runtime, may_block_on, may_go, may_setup, tokio_runtime};

/// Tasks in `semaphore_1000` and `mutex_1000`.
const TASKS: u64 = 1_000;
/// Permits of the semaphore in `semaphore_1000`.
const PERMITS: usize = 10;

/// Task `k`'s share of `total` operations spread over `TASKS` tasks.
fn share(total: u64, k: u64) -> u64 {
    total / TASKS + u64::from(k < total % TASKS)
}

/// The tasks that get a non-zero share of `total`, with their shares.
fn shares(total: u64) -> impl Iterator<Item = u64> {
    (0..TASKS).map(move |k| share(total, k)).filter(|&n| n > 0)
}

// ---------------------------------------------------------------------------
// channel_ping_pong

fn channel_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel_ping_pong");

    // The pong side returns `n + 1` for every `n`, so the ping side's sum
    // over `n = 0..iters` is 1 + 2 + ... + iters.
    let expected = |iters: u64| iters * (iters + 1) / 2;

    group.bench_function("fibrio", |b| {
        b.iter_custom(|iters| {
            fibrio_runtime().run(move || {
                let (to_pong, pong_rx) = channel::bounded::<u64>(1);
                let (to_ping, ping_rx) = channel::bounded::<u64>(1);
                let pong = fibrio::spawn(move || {
                    for n in pong_rx.iter() {
                        to_ping.send(n + 1).unwrap();
                    }
                });
                let mut sum = 0u64;
                let start = Instant::now();
                for n in 0..iters {
                    to_pong.send(black_box(n)).unwrap();
                    sum += ping_rx.recv().unwrap();
                }
                let elapsed = start.elapsed();
                drop(to_pong); // ends the pong task's loop
                pong.join().unwrap();
                assert_eq!(sum, expected(iters));
                elapsed
            })
        });
    });

    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            tokio_runtime().block_on(async move {
                let (to_pong, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (to_ping, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let pong = tokio::spawn(async move {
                    while let Some(n) = pong_rx.recv().await {
                        to_ping.send(n + 1).await.unwrap();
                    }
                });
                let mut sum = 0u64;
                let start = Instant::now();
                for n in 0..iters {
                    to_pong.send(black_box(n)).await.unwrap();
                    sum += ping_rx.recv().await.unwrap();
                }
                let elapsed = start.elapsed();
                drop(to_pong);
                pong.await.unwrap();
                assert_eq!(sum, expected(iters));
                elapsed
            })
        });
    });

    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            may_block_on(move || {
                let (to_pong, pong_rx) = may::sync::mpsc::channel::<u64>();
                let (to_ping, ping_rx) = may::sync::mpsc::channel::<u64>();
                let pong = may_go(move || {
                    for n in pong_rx.iter() {
                        to_ping.send(n + 1).unwrap();
                    }
                });
                let mut sum = 0u64;
                let start = Instant::now();
                for n in 0..iters {
                    to_pong.send(black_box(n)).unwrap();
                    sum += ping_rx.recv().unwrap();
                }
                let elapsed = start.elapsed();
                drop(to_pong);
                pong.join().unwrap();
                assert_eq!(sum, expected(iters));
                elapsed
            })
        });
    });

    group.finish();
}

// ---------------------------------------------------------------------------
// semaphore_1000

fn semaphore_1000(c: &mut Criterion) {
    let mut group = c.benchmark_group("semaphore_1000");

    group.bench_function("fibrio", |b| {
        b.iter_custom(|iters| {
            fibrio_runtime().run(move || {
                let sem = Semaphore::new(PERMITS);
                let tasks: Vec<_> = shares(iters)
                    .map(|n| {
                        let sem = sem.clone();
                        fibrio::spawn(move || {
                            for _ in 0..n {
                                let permit = sem.acquire().unwrap();
                                fibrio::yield_now();
                                drop(permit);
                            }
                            n
                        })
                    })
                    .collect();
                let start = Instant::now();
                let acquired: u64 = tasks.into_iter().map(|t| t.join().unwrap()).sum();
                let elapsed = start.elapsed();
                assert_eq!(acquired, iters);
                assert_eq!(sem.statistics().acquired, iters);
                assert_eq!(sem.available_permits(), PERMITS);
                elapsed
            })
        });
    });

    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            tokio_runtime().block_on(async move {
                let sem = Arc::new(tokio::sync::Semaphore::new(PERMITS));
                let tasks: Vec<_> = shares(iters)
                    .map(|n| {
                        let sem = sem.clone();
                        tokio::spawn(async move {
                            for _ in 0..n {
                                let permit = sem.acquire().await.unwrap();
                                tokio::task::yield_now().await;
                                drop(permit);
                            }
                            n
                        })
                    })
                    .collect();
                let start = Instant::now();
                let mut acquired = 0u64;
                for task in tasks {
                    acquired += task.await.unwrap();
                }
                let elapsed = start.elapsed();
                assert_eq!(acquired, iters);
                assert_eq!(sem.available_permits(), PERMITS);
                elapsed
            })
        });
    });

    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            may_block_on(move || {
                let sem = Arc::new(may::sync::Semphore::new(PERMITS));
                let tasks: Vec<_> = shares(iters)
                    .map(|n| {
                        let sem = sem.clone();
                        may_go(move || {
                            for _ in 0..n {
                                sem.wait();
                                may::coroutine::yield_now();
                                sem.post();
                            }
                            n
                        })
                    })
                    .collect();
                let start = Instant::now();
                let acquired: u64 = tasks.into_iter().map(|t| t.join().unwrap()).sum();
                let elapsed = start.elapsed();
                assert_eq!(acquired, iters);
                assert_eq!(sem.get_value(), PERMITS);
                elapsed
            })
        });
    });

    group.finish();
}

// ---------------------------------------------------------------------------
// mutex_1000

fn mutex_1000(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex_1000");

    group.bench_function("fibrio", |b| {
        b.iter_custom(|iters| {
            fibrio_runtime().run(move || {
                let counter = Arc::new(Mutex::new(0u64));
                let tasks: Vec<_> = shares(iters)
                    .map(|n| {
                        let counter = counter.clone();
                        fibrio::spawn(move || {
                            for _ in 0..n {
                                let mut guard = counter.lock().unwrap();
                                *guard += 1;
                                fibrio::yield_now();
                                drop(guard);
                            }
                        })
                    })
                    .collect();
                let start = Instant::now();
                for task in tasks {
                    task.join().unwrap();
                }
                let elapsed = start.elapsed();
                assert_eq!(*counter.lock().unwrap(), iters);
                elapsed
            })
        });
    });

    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            tokio_runtime().block_on(async move {
                let counter = Arc::new(tokio::sync::Mutex::new(0u64));
                let tasks: Vec<_> = shares(iters)
                    .map(|n| {
                        let counter = counter.clone();
                        tokio::spawn(async move {
                            for _ in 0..n {
                                let mut guard = counter.lock().await;
                                *guard += 1;
                                tokio::task::yield_now().await;
                                drop(guard);
                            }
                        })
                    })
                    .collect();
                let start = Instant::now();
                for task in tasks {
                    task.await.unwrap();
                }
                let elapsed = start.elapsed();
                assert_eq!(*counter.lock().await, iters);
                elapsed
            })
        });
    });

    group.bench_function("may", |b| {
        b.iter_custom(|iters| {
            may_block_on(move || {
                let counter = Arc::new(may::sync::Mutex::new(0u64));
                let tasks: Vec<_> = shares(iters)
                    .map(|n| {
                        let counter = counter.clone();
                        may_go(move || {
                            for _ in 0..n {
                                let mut guard = counter.lock().unwrap();
                                *guard += 1;
                                may::coroutine::yield_now();
                                drop(guard);
                            }
                        })
                    })
                    .collect();
                let start = Instant::now();
                for task in tasks {
                    task.join().unwrap();
                }
                let elapsed = start.elapsed();
                assert_eq!(*counter.lock().unwrap(), iters);
                elapsed
            })
        });
    });

    group.finish();
}

criterion_group!(benches, channel_ping_pong, semaphore_1000, mutex_1000);

fn main() {
    may_setup();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
