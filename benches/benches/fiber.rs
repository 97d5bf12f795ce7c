//! Fiber benchmarks: fibrio's PHP-style `Fiber` beside a raw
//! `corosensei::Coroutine` doing the same work, in the same run.
//!
//! * `fiber_switch`: one resume plus one suspend (a full round trip).
//! * `fiber_create_run_drop`: make a fiber on a pooled stack, run it to
//!   completion, drop it.
//!
//! Run from the repository root with `cargo bench --manifest-path
//! benches/Cargo.toml --bench fiber` (or `just bench-fiber`).
//! Report the ratio fibrio / corosensei; the targets are a switch within
//! 1.3x of raw corosensei and create-run-drop under 100 ns.
//!
//! # Paired switch ratio
//!
//! Criterion times fibrio and corosensei one after the other, seconds
//! apart; on a shared machine the load changes in between, and the ratio of
//! the two estimates moves by ±15%. `FIBRIO_SWITCH_PAIRED=1 cargo bench
//! --manifest-path benches/Cargo.toml --bench fiber` (`just bench-switch`)
//! does not run criterion: it alternates the two loops, 3 million round
//! trips each, 31 times, and prints the median of the 31 ratios (each
//! from two runs a few milliseconds apart) with its quartiles, and the
//! ratio of the two fastest runs, then exits. Pin it to one CPU
//! (`taskset -c 1`) for the steadiest figures.

use std::hint::black_box;
use std::time::Instant;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use criterion::{criterion_group, Criterion};
use fibrio::fiber::{suspend, Builder, Fiber};
use fibrio_benches::PairedRuns;

const STACK: usize = 64 * 1024;

/// A started fibrio fiber that answers every resume with the value plus one.
fn adding_fiber() -> Fiber<u64, u64, ()> {
    let fiber: Fiber<u64, u64, ()> = Builder::new()
        .stack_size(STACK)
        .build(|mut x| loop {
            x = suspend::<u64, u64>(x + 1).unwrap();
        })
        .unwrap();
    fiber.start(0).unwrap();
    fiber
}

/// The same body as a raw corosensei coroutine.
fn adding_coroutine() -> Coroutine<u64, u64, (), DefaultStack> {
    Coroutine::with_stack(
        DefaultStack::new(STACK).unwrap(),
        |yielder: &Yielder<u64, u64>, mut x: u64| loop {
            x = yielder.suspend(x + 1);
        },
    )
}

/// One round trip through `adding_coroutine`.
#[inline(always)]
fn coroutine_round_trip(coroutine: &mut Coroutine<u64, u64, (), DefaultStack>, n: u64) -> u64 {
    match coroutine.resume(n) {
        CoroutineResult::Yield(v) => v,
        CoroutineResult::Return(()) => unreachable!(),
    }
}

fn switch(c: &mut Criterion) {
    let mut group = c.benchmark_group("fiber_switch");

    group.bench_function("fibrio", |b| {
        let fiber = adding_fiber();
        let mut n = 0u64;
        b.iter(|| {
            n = fiber.resume(black_box(n)).unwrap().unwrap();
        });
    });

    group.bench_function("corosensei", |b| {
        let mut coroutine = adding_coroutine();
        let mut n = 0u64;
        b.iter(|| {
            n = coroutine_round_trip(&mut coroutine, black_box(n));
        });
    });
    group.finish();
}

fn create_run_drop(c: &mut Criterion) {
    let mut group = c.benchmark_group("fiber_create_run_drop");

    group.bench_function("fibrio", |b| {
        // Warm the pool so the measured loop never maps a stack.
        drop(
            Builder::new()
                .stack_size(STACK)
                .build::<u64, (), u64, _>(|x| x),
        );
        b.iter(|| {
            let fiber: Fiber<u64, (), u64> =
                Builder::new().stack_size(STACK).build(|x| x * 2).unwrap();
            fiber.start(black_box(21)).unwrap();
            black_box(fiber.get_return().unwrap());
        });
    });

    group.bench_function("corosensei", |b| {
        let mut stack = Some(DefaultStack::new(STACK).unwrap());
        b.iter(|| {
            let mut coroutine =
                Coroutine::with_stack(stack.take().unwrap(), |_: &Yielder<u64, ()>, x: u64| x * 2);
            match coroutine.resume(black_box(21)) {
                CoroutineResult::Return(v) => black_box(v),
                CoroutineResult::Yield(()) => unreachable!(),
            };
            stack = Some(coroutine.into_stack());
        });
    });
    group.finish();
}

// ---------------------------------------------------------------------------
// Paired switch ratio (FIBRIO_SWITCH_PAIRED=1)

/// Round trips per timed run.
const PAIRED_ROUND_TRIPS: u32 = 3_000_000;
/// Runs of each loop, alternating.
const PAIRED_RUNS: usize = 31;

/// Nanoseconds per round trip of `PAIRED_ROUND_TRIPS` calls of `round_trip`.
fn time_round_trips(mut round_trip: impl FnMut(u64) -> u64) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    for _ in 0..PAIRED_ROUND_TRIPS {
        n = round_trip(black_box(n));
    }
    black_box(n);
    start.elapsed().as_nanos() as f64 / f64::from(PAIRED_ROUND_TRIPS)
}

fn paired_switch() {
    let fiber = adding_fiber();
    let mut coroutine = adding_coroutine();
    let mut runs = PairedRuns::default();
    for _ in 0..PAIRED_RUNS {
        let fibrio = time_round_trips(|n| fiber.resume(n).unwrap().unwrap());
        let corosensei = time_round_trips(|n| coroutine_round_trip(&mut coroutine, n));
        runs.push(fibrio, corosensei);
    }
    let s = runs.summary();
    println!(
        "fiber switch, {PAIRED_RUNS} alternating runs of {PAIRED_ROUND_TRIPS} round trips:\n\
         fibrio / corosensei: median {:.3} (quartiles {:.3}-{:.3}), \
         fastest runs {:.2} ns / {:.2} ns = {:.3}\n\
         median runs: fibrio {:.2} ns, corosensei {:.2} ns",
        s.median,
        s.q1,
        s.q3,
        s.ours[0],
        s.theirs[0],
        s.ours[0] / s.theirs[0],
        s.ours_median(),
        s.theirs_median(),
    );
}

criterion_group!(benches, switch, create_run_drop);

fn main() {
    if std::env::var_os("FIBRIO_SWITCH_PAIRED").is_some_and(|v| v == "1") {
        paired_switch();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
