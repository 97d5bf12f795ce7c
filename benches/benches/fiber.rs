//! Fiber benchmarks: fibrio's PHP-style `Fiber` beside a raw
//! `corosensei::Coroutine` doing the same work, in the same run.
//!
//! * `fiber_switch`: one resume plus one suspend (a full round trip).
//! * `fiber_create_run_drop`: make a fiber on a pooled stack, run it to
//!   completion, drop it.
//!
//! Run with `cargo bench -p fibrio-benches --bench fiber` (or `just bench`).
//! Report the ratio fibrio / corosensei; the targets are a switch within
//! 1.3x of raw corosensei and create-run-drop under 100 ns.

use std::hint::black_box;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use criterion::{criterion_group, criterion_main, Criterion};
use fibrio::fiber::{suspend, Builder, Fiber};

const STACK: usize = 64 * 1024;

fn switch(c: &mut Criterion) {
    let mut group = c.benchmark_group("fiber_switch");

    group.bench_function("fibrio", |b| {
        let fiber: Fiber<u64, u64, ()> = Builder::new()
            .stack_size(STACK)
            .build(|mut x| loop {
                x = suspend::<u64, u64>(x + 1).unwrap();
            })
            .unwrap();
        fiber.start(0).unwrap();
        let mut n = 0u64;
        b.iter(|| {
            n = fiber.resume(black_box(n)).unwrap().unwrap();
        });
    });

    group.bench_function("corosensei", |b| {
        let mut coroutine = Coroutine::with_stack(
            DefaultStack::new(STACK).unwrap(),
            |yielder: &Yielder<u64, u64>, mut x: u64| loop {
                x = yielder.suspend(x + 1);
            },
        );
        let mut n = 0u64;
        b.iter(|| {
            n = match coroutine.resume(black_box(n)) {
                CoroutineResult::Yield(v) => v,
                CoroutineResult::Return(()) => unreachable!(),
            };
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

criterion_group!(benches, switch, create_run_drop);
criterion_main!(benches);
