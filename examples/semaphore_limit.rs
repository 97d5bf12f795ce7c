//! Limiting concurrency with a semaphore: PHP AsyncIO's
//! example 09.
//!
//! 1. Twenty tasks each "call an API" for 20 ms, but a `Semaphore` with 3
//!    permits lets only three do so at once. The program records how many
//!    ran at the same time (never more than 3), the order in which they got
//!    a permit (first come, first served), and `statistics()` while they
//!    wait and at the end. Twenty 20 ms calls three at a time take about
//!    7 x 20 ms.
//! 2. A waiter cancelled while it waits never takes a permit (the reference
//!    design's cancelled waiter still took one, leaking it), and
//!    `acquire_timeout` gives up without taking one either.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example semaphore_limit
//! ```

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::{AcquireError, Semaphore};

const TASKS: usize = 20;
const PERMITS: usize = 3;
const CALL: Duration = Duration::from_millis(20);

fn main() {
    fibrio::run(|| {
        limit_concurrency();
        cancelled_waiter();
        println!("\nAll semaphore checks passed.");
    });
}

/// Scene 1: twenty tasks, three permits.
fn limit_concurrency() {
    println!("1. {TASKS} tasks, Semaphore::new({PERMITS}), each call {CALL:?}");
    let sem = Semaphore::new(PERMITS);
    let running = Rc::new(Cell::new(0usize));
    let max_running = Rc::new(Cell::new(0usize));
    let order = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();

    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (sem, running, max_running, order) = (
                sem.clone(),
                running.clone(),
                max_running.clone(),
                order.clone(),
            );
            fibrio::task::Builder::new()
                .name(format!("call-{i}"))
                .spawn(move || {
                    let _permit = sem.acquire().expect("the semaphore stays open");
                    order.borrow_mut().push(i);
                    running.set(running.get() + 1);
                    max_running.set(max_running.get().max(running.get()));
                    fibrio::sleep(CALL); // the API call, holding the permit
                    running.set(running.get() - 1);
                    i * i
                })
                .expect("spawn")
        })
        .collect();

    fibrio::sleep(CALL / 2); // every task has started; 3 hold permits
    let during = sem.statistics();
    println!(
        "    while running: available {}, waiters {}, acquired {}, running now {}",
        during.available,
        during.waiters,
        during.acquired,
        running.get()
    );
    assert_eq!(
        (during.available, during.waiters, during.acquired),
        (0, TASKS - PERMITS, PERMITS as u64)
    );

    let results: Vec<usize> = tasks
        .into_iter()
        .map(|task| task.join().expect("the call succeeds"))
        .collect();
    let took = start.elapsed();
    let after = sem.statistics();
    let order = order.borrow();
    println!("    max concurrency observed: {}", max_running.get());
    println!("    permit order: {order:?}");
    println!(
        "    {TASKS} calls took {took:.0?} (one at a time: {:?})",
        CALL * TASKS as u32
    );
    println!("    statistics at the end: {after:?}");

    assert_eq!(max_running.get(), PERMITS);
    assert_eq!(*order, (0..TASKS).collect::<Vec<_>>(), "FIFO: spawn order");
    assert_eq!(
        results.iter().sum::<usize>(),
        (0..TASKS).map(|i| i * i).sum::<usize>()
    );
    let waves = TASKS.div_ceil(PERMITS) as u32; // 7
    assert!(took >= CALL * waves, "no more than 3 at a time");
    // "But 3 at a time, not 1" is `max_running == PERMITS` above: a count,
    // not a wall-clock bound (20 calls one at a time take 400 ms, only
    // 2.9 times the 140 ms of 3 at a time, too close for a loaded machine).
    assert_eq!(
        (
            after.available,
            after.waiters,
            after.acquired,
            after.abandoned
        ),
        (PERMITS, 0, TASKS as u64, 0)
    );
}

/// Scene 2: leaving the queue early takes nothing.
fn cancelled_waiter() {
    println!("\n2. A cancelled waiter and a timed-out waiter");
    let sem = Semaphore::new(1);
    let held = sem.acquire().expect("one permit free");

    let got_permit = Rc::new(Cell::new(false));
    let waiter = {
        let (sem, got_permit) = (sem.clone(), got_permit.clone());
        fibrio::spawn(move || {
            let _permit = sem.acquire().expect("the semaphore stays open");
            got_permit.set(true);
        })
    };
    fibrio::yield_now(); // the waiter queues up
    assert_eq!(sem.statistics().waiters, 1);
    waiter.cancel();
    drop(held); // released while the cancelled waiter is still queued
    let outcome = waiter.join();
    println!(
        "    waiter cancelled while queued: join -> {outcome:?}, took a permit: {}",
        got_permit.get()
    );
    assert!(outcome.unwrap_err().is_cancelled());
    assert!(!got_permit.get());

    let stats = sem.statistics();
    println!("    statistics: {stats:?}");
    assert_eq!((stats.available, stats.waiters, stats.abandoned), (1, 0, 1));

    let held = sem.acquire().expect("the permit is back");
    let start = Instant::now();
    let err = sem.acquire_timeout(Duration::from_millis(15)).unwrap_err();
    println!(
        "    acquire_timeout(15 ms) while the permit is held -> Err after {:.0?}: {err}",
        start.elapsed()
    );
    assert_eq!(err, AcquireError::Timeout);
    drop(held);
    let stats = sem.statistics();
    println!("    statistics: {stats:?}");
    assert_eq!((stats.available, stats.abandoned), (1, 2));
}
