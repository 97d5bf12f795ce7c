//! Timer queue benchmarks at a million timers: fibrio's
//! `fibrio_core::scheduler::TimerQueue` (an indexed binary heap on
//! `(deadline, sequence)`: cancelling removes at once, plus an O(1) lane for
//! timers set in deadline order) beside a
//! `std::collections::BinaryHeap` with lazy deletion (cancelling records the
//! id in a `HashSet`; popping skips and forgets recorded ids), doing the same
//! operations in the same run.
//!
//! Deadlines are pseudo-random (a fixed-seed SplitMix64), spread over 10 s
//! after one base instant; cancels go in a shuffled order. Only the named
//! operation is timed: filling the queue beforehand and dropping it after
//! are not.
//!
//! * `timers_insert_1m`: insert 1,000,000 timers into an empty queue.
//! * `timers_cancel_1m`: cancel all 1,000,000 timers of a full queue.
//! * `timers_pop_due_1m`: pop all 1,000,000 timers of a full queue as due.
//! * `timers_lifecycle_1m`: insert 1,000,000, cancel a random half, pop
//!   everything due. Lazy deletion defers the cancels' cost to the pops, so
//!   this is the figure that decides between the two.
//! * `timers_in_order_lifecycle_1m`: the same with the deadlines set in
//!   order (as repeated sleeps or timeouts of one length set them), which
//!   `TimerQueue` keeps in its O(1) lane instead of its heap.
//!
//! Run from the repository root with `cargo bench --manifest-path
//! benches/Cargo.toml --bench timers`. Criterion reports time per whole batch and throughput in timers per second.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use fibrio_core::scheduler::{TaskKey, TimerId, TimerQueue};

/// Timers per batch.
const N: usize = 1_000_000;
/// Deadlines fall in `[base, base + SPAN)`.
const SPAN: Duration = Duration::from_secs(10);

/// SplitMix64: a small, fixed-seed generator, so every run and both
/// structures see the same deadlines.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// The shared inputs: deadlines in insertion order and a shuffled order of
/// insertion indices to cancel in.
struct Workload {
    base: Instant,
    deadlines: Vec<Instant>,
    cancel_order: Vec<usize>,
}

impl Workload {
    fn new() -> Workload {
        let mut rng = SplitMix64(0x5eed_f1b2_10ca_fe00);
        let base = Instant::now();
        let span = SPAN.as_nanos() as u64;
        let deadlines = (0..N)
            .map(|_| base + Duration::from_nanos(rng.below(span)))
            .collect();
        let mut cancel_order: Vec<usize> = (0..N).collect();
        for i in (1..N).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            cancel_order.swap(i, j);
        }
        Workload {
            base,
            deadlines,
            cancel_order,
        }
    }

    /// An instant after every deadline.
    fn all_due(&self) -> Instant {
        self.base + SPAN
    }
}

fn key(i: usize) -> TaskKey {
    TaskKey::new(i as u32, 0)
}

// ---------------------------------------------------------------------------
// The comparison structure: a binary heap with lazy deletion.

struct HeapEntry {
    deadline: Instant,
    sequence: u64,
    task: TaskKey,
}

impl PartialEq for HeapEntry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for HeapEntry {}

impl PartialOrd for HeapEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for HeapEntry {
    /// Reversed, so the max-heap pops the earliest `(deadline, sequence)`.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deadline, other.sequence).cmp(&(self.deadline, self.sequence))
    }
}

/// A min-heap of timers; a cancel only records the timer's sequence, and
/// `fire_due` drops recorded entries when they reach the top. Unlike
/// `TimerQueue::cancel` it cannot tell that a timer already fired (that
/// would need a second set of live ids), and cancelled entries keep their
/// memory until their deadline passes.
#[derive(Default)]
struct LazyHeap {
    heap: BinaryHeap<HeapEntry>,
    cancelled: HashSet<u64>,
    sequence: u64,
}

impl LazyHeap {
    fn insert(&mut self, deadline: Instant, task: TaskKey) -> u64 {
        self.sequence += 1;
        self.heap.push(HeapEntry {
            deadline,
            sequence: self.sequence,
            task,
        });
        self.sequence
    }

    fn cancel(&mut self, id: u64) -> bool {
        self.cancelled.insert(id)
    }

    fn fire_due(&mut self, now: Instant, mut wake: impl FnMut(TaskKey)) -> usize {
        let mut fired = 0;
        while let Some(top) = self.heap.peek() {
            if top.deadline > now {
                break;
            }
            let entry = self.heap.pop().expect("peeked");
            if self.cancelled.remove(&entry.sequence) {
                continue;
            }
            wake(entry.task);
            fired += 1;
        }
        fired
    }
}

// ---------------------------------------------------------------------------
// Filling, outside the timed part.

fn filled_queue(w: &Workload) -> (TimerQueue, Vec<TimerId>) {
    let mut queue = TimerQueue::new();
    let ids = w
        .deadlines
        .iter()
        .enumerate()
        .map(|(i, &d)| queue.insert(d, key(i)))
        .collect();
    (queue, ids)
}

fn filled_heap(w: &Workload) -> (LazyHeap, Vec<u64>) {
    let mut heap = LazyHeap::default();
    let ids = w
        .deadlines
        .iter()
        .enumerate()
        .map(|(i, &d)| heap.insert(d, key(i)))
        .collect();
    (heap, ids)
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(N as u64));
}

/// Runs `batch` `iters` times, summing the durations it reports. Each call
/// does its own untimed setup and returns whatever must be dropped
/// untimed.
fn timed<S>(iters: u64, mut batch: impl FnMut() -> (Duration, S)) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let (elapsed, leftovers) = batch();
        total += elapsed;
        drop(leftovers);
    }
    total
}

// ---------------------------------------------------------------------------
// Benchmarks

fn insert(c: &mut Criterion, w: &Workload) {
    let mut group = c.benchmark_group("timers_insert_1m");
    configure(&mut group);

    group.bench_function("timer_queue", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let mut queue = TimerQueue::new();
                let start = Instant::now();
                for (i, &d) in w.deadlines.iter().enumerate() {
                    black_box(queue.insert(d, key(i)));
                }
                let elapsed = start.elapsed();
                assert_eq!(queue.len(), N);
                (elapsed, queue)
            })
        });
    });

    group.bench_function("binary_heap", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let mut heap = LazyHeap::default();
                let start = Instant::now();
                for (i, &d) in w.deadlines.iter().enumerate() {
                    black_box(heap.insert(d, key(i)));
                }
                let elapsed = start.elapsed();
                assert_eq!(heap.heap.len(), N);
                (elapsed, heap)
            })
        });
    });

    group.finish();
}

fn cancel(c: &mut Criterion, w: &Workload) {
    let mut group = c.benchmark_group("timers_cancel_1m");
    configure(&mut group);

    group.bench_function("timer_queue", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let (mut queue, ids) = filled_queue(w);
                let start = Instant::now();
                let mut cancelled = 0usize;
                for &i in &w.cancel_order {
                    cancelled += usize::from(queue.cancel(ids[i]));
                }
                let elapsed = start.elapsed();
                assert_eq!(cancelled, N);
                assert!(queue.is_empty());
                (elapsed, (queue, ids))
            })
        });
    });

    group.bench_function("binary_heap", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let (mut heap, ids) = filled_heap(w);
                let start = Instant::now();
                let mut cancelled = 0usize;
                for &i in &w.cancel_order {
                    cancelled += usize::from(heap.cancel(ids[i]));
                }
                let elapsed = start.elapsed();
                assert_eq!(cancelled, N);
                (elapsed, (heap, ids))
            })
        });
    });

    group.finish();
}

fn pop_due(c: &mut Criterion, w: &Workload) {
    let mut group = c.benchmark_group("timers_pop_due_1m");
    configure(&mut group);
    let now = w.all_due();

    group.bench_function("timer_queue", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let (mut queue, ids) = filled_queue(w);
                let mut woken = 0u64;
                let start = Instant::now();
                let fired = queue.fire_due(now, |k| {
                    black_box(k);
                    woken += 1;
                });
                let elapsed = start.elapsed();
                assert_eq!((fired, woken), (N, N as u64));
                assert!(queue.is_empty());
                (elapsed, (queue, ids))
            })
        });
    });

    group.bench_function("binary_heap", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let (mut heap, ids) = filled_heap(w);
                let mut woken = 0u64;
                let start = Instant::now();
                let fired = heap.fire_due(now, |k| {
                    black_box(k);
                    woken += 1;
                });
                let elapsed = start.elapsed();
                assert_eq!((fired, woken), (N, N as u64));
                assert!(heap.heap.is_empty());
                (elapsed, (heap, ids))
            })
        });
    });

    group.finish();
}

fn lifecycle(c: &mut Criterion, name: &str, deadlines: &[Instant], w: &Workload) {
    let mut group = c.benchmark_group(name);
    configure(&mut group);
    let now = w.all_due();
    let half = &w.cancel_order[..N / 2];

    group.bench_function("timer_queue", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let mut ids = Vec::with_capacity(N);
                let mut queue = TimerQueue::new();
                let start = Instant::now();
                for (i, &d) in deadlines.iter().enumerate() {
                    ids.push(queue.insert(d, key(i)));
                }
                for &i in half {
                    assert!(queue.cancel(ids[i]));
                }
                let fired = queue.fire_due(now, |k| {
                    black_box(k);
                });
                let elapsed = start.elapsed();
                assert_eq!(fired, N - half.len());
                assert!(queue.is_empty());
                (elapsed, (queue, ids))
            })
        });
    });

    group.bench_function("binary_heap", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let mut ids = Vec::with_capacity(N);
                let mut heap = LazyHeap::default();
                let start = Instant::now();
                for (i, &d) in deadlines.iter().enumerate() {
                    ids.push(heap.insert(d, key(i)));
                }
                for &i in half {
                    assert!(heap.cancel(ids[i]));
                }
                let fired = heap.fire_due(now, |k| {
                    black_box(k);
                });
                let elapsed = start.elapsed();
                assert_eq!(fired, N - half.len());
                assert!(heap.heap.is_empty() && heap.cancelled.is_empty());
                (elapsed, (heap, ids))
            })
        });
    });

    group.finish();
}

fn timers(c: &mut Criterion) {
    let w = Workload::new();
    insert(c, &w);
    cancel(c, &w);
    pop_due(c, &w);
    lifecycle(c, "timers_lifecycle_1m", &w.deadlines, &w);
    // The same deadlines set in order, as one timeout or sleep length set
    // over and over gives them: the queue's O(1) lane.
    let mut in_order = w.deadlines.clone();
    in_order.sort();
    lifecycle(c, "timers_in_order_lifecycle_1m", &in_order, &w);
}

criterion_group!(benches, timers);
criterion_main!(benches);
