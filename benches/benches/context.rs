//! Context-variable benchmarks: the cost of a task's context snapshot.
//!
//! * `context_spawn_join/vars_0`: spawn an empty task and join it, inside
//!   one running runtime, with no context variable set.
//! * `context_spawn_join/vars_100`: the same with 100 variables set in the
//!   spawning task (50 `ContextVar`s and 50 string keys), so every child
//!   inherits all 100.
//!
//! A spawn takes an O(1) snapshot (one `Rc` clone of the spawner's
//! persistent map), so the two should be within 10% of each other. Every
//! measurement runs inside the runtime: a new runtime per criterion sample
//! (`iter_custom`), timed with `Instant` from inside, so building the
//! runtime and setting the variables is never measured.
//!
//! Run from the repository root with `cargo bench --manifest-path
//! benches/Cargo.toml --bench context` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quick run). Report the
//! ratio vars_100 / vars_0.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use fibrio::context::{set_context, ContextVar};

/// Stack size for the spawned tasks.
const STACK: usize = 32 * 1024;

fn fibrio_runtime() -> fibrio::Runtime {
    fibrio::Runtime::builder()
        .stack_size(STACK)
        .build()
        .expect("fibrio runtime")
}

/// Sets `count` variables in the current task: half typed, half strings.
/// Returns the typed ones, which must outlive the measurement.
fn set_variables(count: usize) -> Vec<ContextVar<u64>> {
    let typed: Vec<ContextVar<u64>> = (0..count / 2).map(|_| ContextVar::new("bench")).collect();
    for (i, var) in typed.iter().enumerate() {
        var.set(i as u64);
    }
    for i in 0..count - count / 2 {
        set_context(format!("key{i}"), i as u64);
    }
    typed
}

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("context_spawn_join");
    for variables in [0usize, 100] {
        group.bench_function(format!("vars_{variables}"), |b| {
            b.iter_custom(|iters| {
                fibrio_runtime().run(move || {
                    let _typed = set_variables(variables);
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
    }
    group.finish();
}

criterion_group!(benches, spawn_join);
criterion_main!(benches);
