//! An async queue: PHP AsyncIO's example 08, on
//! `fibrio::channel`.
//!
//! 1. Three producers and two consumers share a `bounded(4)` channel.
//!    Producers wait when the queue is full (back-pressure), consumers
//!    wait when it is empty. Each producer drops its `Sender` when done;
//!    when the last one is gone the channel is closed, and the consumers'
//!    `for job in rx.iter()` loops end after draining what is queued.
//!    Every job is received exactly once.
//! 2. `send_timeout` on a full queue nobody drains gives the message back;
//!    `recv_timeout` on an empty queue times out, and succeeds when a
//!    message arrives in time; after the senders are gone it reports
//!    `Disconnected`.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example async_queue
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::channel::{self, RecvTimeoutError, SendTimeoutError};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const PRODUCERS: u32 = 3;
const JOBS_EACH: u32 = 10;
const CAPACITY: usize = 4;

/// One unit of work: who made it, and its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Job {
    producer: u32,
    seq: u32,
}

fn main() {
    fibrio::run(|| {
        producers_and_consumers();
        timeouts();
        println!("\nAll queue checks passed.");
    });
}

/// Scene 1: several producers and consumers, closed by dropping senders.
fn producers_and_consumers() {
    println!("1. {PRODUCERS} producers, 2 consumers, bounded({CAPACITY})");
    let (tx, rx) = channel::bounded::<Job>(CAPACITY);
    let max_queued = Rc::new(Cell::new(0usize));
    let start = Instant::now();

    let producers: Vec<_> = (1..=PRODUCERS)
        .map(|producer| {
            let (tx, max_queued) = (tx.clone(), max_queued.clone());
            fibrio::task::Builder::new()
                .name(format!("producer-{producer}"))
                .spawn(move || {
                    for seq in 1..=JOBS_EACH {
                        fibrio::sleep(ms(2)); // making the job
                        tx.send(Job { producer, seq }).expect("consumers are alive");
                        let queued = tx.statistics().queued;
                        max_queued.set(max_queued.get().max(queued));
                    }
                    println!(
                        "    [producer-{producer}] sent {JOBS_EACH} jobs, dropping its sender"
                    );
                })
                .expect("spawn")
        })
        .collect();
    // Only the producers hold senders now: when they finish, the channel
    // closes.
    drop(tx);

    let consumers: Vec<_> = ["consumer-a", "consumer-b"]
        .into_iter()
        .map(|name| {
            let rx = rx.clone();
            fibrio::task::Builder::new()
                .name(name)
                .spawn(move || {
                    let mut got = Vec::new();
                    for job in rx.iter() {
                        fibrio::sleep(ms(3)); // handling it: slower than producing
                        got.push(job);
                    }
                    println!("    [{name}] channel closed after {} jobs", got.len());
                    got
                })
                .expect("spawn")
        })
        .collect();

    for producer in producers {
        producer.join().expect("the producer succeeds");
    }
    let mut all = Vec::new();
    let mut per_consumer = Vec::new();
    for consumer in consumers {
        let got = consumer.join().expect("the consumer succeeds");
        per_consumer.push(got.len());
        all.extend(got);
    }
    let stats = rx.statistics();
    println!(
        "    {} jobs in {:.0?}; per consumer {per_consumer:?}; the queue never held more than {}",
        all.len(),
        start.elapsed(),
        max_queued.get()
    );
    println!(
        "    statistics: sent {}, received {}, senders {}, receivers {}, queued {}",
        stats.sent, stats.received, stats.senders, stats.receivers, stats.queued
    );

    all.sort();
    let expected: Vec<_> = (1..=PRODUCERS)
        .flat_map(|producer| (1..=JOBS_EACH).map(move |seq| Job { producer, seq }))
        .collect();
    assert_eq!(all, expected, "every job received exactly once");
    assert!(per_consumer.iter().all(|&n| n > 0), "both consumers worked");
    assert!(max_queued.get() <= CAPACITY);
    assert_eq!(
        (stats.sent, stats.received, stats.senders, stats.queued),
        (30, 30, 0, 0)
    );
    assert!(rx.is_disconnected());
}

/// Scene 2: the timeout forms.
fn timeouts() {
    println!("\n2. send_timeout and recv_timeout");
    let (tx, rx) = channel::bounded::<&str>(1);
    tx.send("first").expect("room for one");
    let start = Instant::now();
    let err = tx.send_timeout("second", ms(20)).unwrap_err();
    println!(
        "    send_timeout on a full queue -> Err after {:.0?}: {err}",
        start.elapsed()
    );
    assert!(err.is_timeout());
    let back = err.into_inner();
    println!("    the message came back: {back:?}");
    assert_eq!(back, "second");

    assert_eq!(rx.recv(), Ok("first"));
    let start = Instant::now();
    let err = rx.recv_timeout(ms(20)).unwrap_err();
    println!(
        "    recv_timeout on an empty queue -> Err after {:.0?}: {err}",
        start.elapsed()
    );
    assert_eq!(err, RecvTimeoutError::Timeout);

    let late = tx.clone();
    fibrio::spawn(move || {
        fibrio::sleep(ms(10));
        late.send("on time").expect("the receiver is alive");
    });
    let got = rx.recv_timeout(ms(500));
    println!("    recv_timeout(500 ms) with a message 10 ms away -> {got:?}");
    assert_eq!(got, Ok("on time"));

    // A consumer that takes the message before the timeout frees the room.
    let consumer = {
        let rx = rx.clone();
        fibrio::spawn(move || {
            fibrio::sleep(ms(10));
            rx.recv()
        })
    };
    tx.send("fills the queue").expect("room for one");
    let sent = tx.send_timeout("waits for room", ms(500));
    println!("    send_timeout(500 ms) while a consumer frees room -> {sent:?}");
    assert!(sent.is_ok());
    assert_eq!(
        consumer.join().expect("the consumer ends"),
        Ok("fills the queue")
    );
    assert_eq!(rx.recv(), Ok("waits for room"));

    drop(tx);
    let err = rx.recv_timeout(ms(500)).unwrap_err();
    println!("    recv_timeout after every sender is gone -> Err: {err}");
    assert_eq!(err, RecvTimeoutError::Disconnected);

    let (tx, rx) = channel::bounded::<u8>(1);
    drop(rx);
    let err = tx.send_timeout(7, ms(500)).unwrap_err();
    println!("    send_timeout after every receiver is gone -> Err: {err}");
    assert!(matches!(err, SendTimeoutError::Disconnected(7)));
}
