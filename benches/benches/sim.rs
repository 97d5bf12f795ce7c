//! Deterministic simulation benchmarks (`fibrio::sim`): how much real time
//! a simulation takes.
//!
//! * `sim_3_hosts_1h`: three hosts in a ring, each sending an 8-byte
//!   message over simulated TCP to the next every 10 ms of virtual time,
//!   for one virtual hour: 1,080,000 messages, each with its latency,
//!   delivery, wake-up and read. Target: under 2 s.
//! * `check_1000_cases`: `sim::check` with 1,000 cases (seeds) of a
//!   10-task fixture (a mutex, a channel, sleeps and a task group).
//!   Target: under 5 s.
//!
//! Run from the repository root with `cargo bench --manifest-path
//! benches/Cargo.toml --bench sim` (`just bench-sim`). Each sample is one
//! whole simulation, so criterion takes 10 samples.

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use fibrio::net::{TcpListener, TcpStream};
use fibrio::sim::{self, Sim};
use fibrio::time::Instant;

const HOUR: Duration = Duration::from_secs(3600);
const PERIOD: Duration = Duration::from_millis(10);

/// One host of the ring: counts what it receives, sends to `next` every
/// 10 ms for an hour, and stores its count in `received`.
fn ring_host(next: &'static str, received: Rc<Cell<u64>>) -> impl Fn() + 'static {
    move || {
        let listener = TcpListener::bind("0.0.0.0:9000").unwrap();
        let counter = received.clone();
        fibrio::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut message = [0; 8];
            while stream.read_exact(&mut message).is_ok() {
                counter.set(counter.get() + 1);
            }
        });
        fibrio::sleep(Duration::from_millis(5)); // every host listens
        let mut stream = TcpStream::connect((next, 9000)).unwrap();
        let start = Instant::now();
        let mut at = start;
        let mut sent = 0u64;
        while at < start + HOUR {
            stream.write_all(&sent.to_le_bytes()).unwrap();
            sent += 1;
            at += PERIOD;
            fibrio::sleep_until(at);
        }
        fibrio::task::park().ok(); // keeps the connection open
    }
}

/// Runs the ring for an hour of virtual time; returns the messages
/// received.
fn three_hosts_one_hour() -> u64 {
    let counts: Vec<Rc<Cell<u64>>> = (0..3).map(|_| Rc::default()).collect();
    let mut sim = Sim::builder()
        .seed(1)
        .latency(Duration::from_millis(1), Duration::from_millis(5))
        .max_virtual_time(2 * HOUR)
        .build();
    for (i, (name, next)) in [("a", "b"), ("b", "c"), ("c", "a")].into_iter().enumerate() {
        sim.host(name, ring_host(next, counts[i].clone()));
    }
    sim.client("clock", || fibrio::sleep(HOUR + Duration::from_secs(1)));
    let report = sim.run().unwrap();
    assert!(report.virtual_elapsed > HOUR);
    counts.iter().map(|c| c.get()).sum()
}

/// Ten tasks sharing a mutex and a channel, with sleeps: one case of a
/// check.
fn ten_task_fixture() {
    let total = Rc::new(fibrio::sync::Mutex::new(0u32));
    let (tx, rx) = fibrio::channel::bounded::<u32>(4);
    fibrio::TaskGroup::scope(|g| {
        for i in 0..9u32 {
            let (total, tx) = (total.clone(), tx.clone());
            g.spawn(move || {
                fibrio::sleep(Duration::from_millis(u64::from(i % 3)));
                *total.lock().unwrap() += 1;
                tx.send(i).unwrap();
            });
        }
        drop(tx);
        g.spawn(move || {
            let mut sum = 0;
            while let Ok(i) = rx.recv() {
                sum += i;
            }
            assert_eq!(sum, 36);
        });
    })
    .unwrap();
    assert_eq!(*total.lock().unwrap(), 9);
}

fn benches(c: &mut Criterion) {
    assert_eq!(three_hosts_one_hour(), 3 * 360_000);
    let mut group = c.benchmark_group("sim");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.bench_function("sim_3_hosts_1h", |b| b.iter(three_hosts_one_hour));
    group.bench_function("check_1000_cases", |b| {
        b.iter(|| sim::check_with(sim::Config::new().cases(1_000), ten_task_fixture))
    });
    group.finish();
}

criterion_group!(sim_benches, benches);
criterion_main!(sim_benches);
