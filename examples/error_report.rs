//! Error handling with gather: PHP AsyncIO's example 05.
//!
//! Five named tasks "fetch" parts of a page: two panic, one is cancelled by
//! a watchdog, two succeed. Then:
//!
//! 1. `gather_with(WaitAll, ..)` waits for all five and returns a
//!    `GatherError` whose `Display` is a report naming every failure (PHP
//!    AsyncIO's `GatherException::getDetailedReport`), with the
//!    counts, the failures and the successes by input index.
//! 2. `gather` (fail-fast): the first panic cancels the slow tasks, which
//!    really stop (their step counters freeze), and are reported as
//!    "cancelled by gather", apart from the task that failed on its own.
//! 3. `gather_partial`: every outcome, in input order, failures kept (PHP
//!    AsyncIO's `RETURN_PARTIAL` re-indexed the successes and
//!    threw the failures away).
//! 4. `gather` on tasks that have all finished already returns at once (PHP
//!    AsyncIO hung forever on a lost wake-up).
//!
//! The expected panics come from the worker tasks; a quiet panic hook
//! hides their "thread panicked" lines, so the report is readable. Any
//! other panic (a failed `assert!` in main) still prints.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example error_report
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::gather::FailureKind;
use fibrio::{gather, gather_partial, gather_with, GatherStrategy, JoinHandle};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Every worker's name starts with this, so the panic hook can tell the
/// expected panics from real ones.
const WORKER: &str = "fetch-";

/// Keeps the default panic hook for every panic except those of worker
/// tasks, which are part of the demonstration.
fn quiet_worker_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_worker = fibrio::task::current_name().is_some_and(|name| name.starts_with(WORKER));
        if !in_worker {
            default(info);
        }
    }));
}

/// Spawns a task named `fetch-{part}`.
fn fetch(part: &str, f: impl FnOnce() -> String + 'static) -> JoinHandle<String> {
    fibrio::task::Builder::new()
        .name(format!("{WORKER}{part}"))
        .spawn(f)
        .expect("spawn")
}

fn main() {
    quiet_worker_panics();
    fibrio::run(|| {
        wait_all_report();
        fail_fast();
        partial();
        already_finished();
        println!("\nAll error-report checks passed.");
    });
}

/// The five tasks of scenes 1 and 3: `users` and `stock` succeed, `orders`
/// and `reviews` panic, `prices` is cancelled by a watchdog.
fn five_tasks() -> Vec<JoinHandle<String>> {
    let users = fetch("users", || {
        fibrio::sleep(ms(10));
        "120 users".to_string()
    });
    let orders = fetch("orders", || {
        fibrio::sleep(ms(15));
        panic!("upstream returned 503 Service Unavailable")
    });
    let prices = fetch("prices", || {
        fibrio::sleep(Duration::from_secs(60)); // stuck: the watchdog cancels it
        "never".to_string()
    });
    let stock = fetch("stock", || {
        fibrio::sleep(ms(5));
        "42 items in stock".to_string()
    });
    let reviews = fetch("reviews", || {
        fibrio::sleep(ms(20));
        panic!("invalid JSON at line 3, column 14")
    });
    let stuck = prices.task_ref();
    fibrio::spawn(move || {
        fibrio::sleep(ms(25));
        stuck.cancel();
    });
    vec![users, orders, prices, stock, reviews]
}

/// Scene 1: wait for every task, then report every failure.
fn wait_all_report() {
    println!("1. gather_with(WaitAll) over five tasks");
    let start = Instant::now();
    let err = gather_with(GatherStrategy::WaitAll, five_tasks()).unwrap_err();
    println!(
        "    returned after {:.0?} with this report:",
        start.elapsed()
    );
    for line in err.to_string().lines() {
        println!("    | {line}");
    }
    println!(
        "    failed: {}, succeeded: {}, total: {}",
        err.failed_count(),
        err.success_count(),
        err.total()
    );
    for failure in err.failures() {
        println!(
            "    failure [{}] name {:?}, id {}, kind {:?}, message {:?}",
            failure.index(),
            failure.name().unwrap_or("-"),
            failure.id(),
            failure.kind(),
            failure.message()
        );
    }
    for (index, value) in err.successes() {
        println!("    success [{index}] {value}");
    }

    assert_eq!(
        (err.failed_count(), err.success_count(), err.total()),
        (3, 2, 5)
    );
    let kinds: Vec<_> = err
        .failures()
        .iter()
        .map(|f| (f.index(), f.name(), f.kind()))
        .collect();
    assert_eq!(
        kinds,
        [
            (1, Some("fetch-orders"), FailureKind::Panicked),
            (2, Some("fetch-prices"), FailureKind::Cancelled),
            (4, Some("fetch-reviews"), FailureKind::Panicked),
        ]
    );
    assert_eq!(
        err.failures()[0].message(),
        "upstream returned 503 Service Unavailable"
    );
    let successes: Vec<_> = err
        .successes()
        .iter()
        .map(|(i, v)| (*i, v.as_str()))
        .collect();
    assert_eq!(successes, [(0, "120 users"), (3, "42 items in stock")]);
    assert!(err
        .to_string()
        .starts_with("3 of 5 tasks failed:\n  [1] task 'fetch-orders'"));
    // The same data, as a value (PHP AsyncIO's toJson() source).
    let report = err.report();
    assert_eq!(report.succeeded, [0, 3]);
    assert_eq!(report.to_string(), err.to_string());
    // And as JSON (fibrio's `serde` feature, which this crate turns on).
    let json = err.to_json();
    println!("    as JSON: {json}");
    assert!(json.contains("\"failed_count\":3"), "{json}");
}

/// Scene 2: fail-fast gather cancels the others, and they really stop.
fn fail_fast() {
    println!("\n2. gather (fail-fast): one task panics, two slow ones are stopped");
    let steps = Rc::new(Cell::new(0u32));
    let slow = |part: &str, steps: Rc<Cell<u32>>| {
        fetch(part, move || {
            for _ in 0..50 {
                fibrio::sleep(ms(10));
                steps.set(steps.get() + 1);
            }
            "finished".to_string()
        })
    };
    let handles = vec![
        slow("archive", steps.clone()),
        fetch("config", || {
            fibrio::sleep(ms(25));
            panic!("config file is missing key `region`")
        }),
        slow("thumbnails", steps.clone()),
    ];
    let start = Instant::now();
    let err = gather(handles).unwrap_err();
    let took = start.elapsed();
    let steps_then = steps.get();
    for line in err.to_string().lines() {
        println!("    | {line}");
    }
    println!("    returned after {took:.0?}, the slow tasks having done {steps_then} of 100 steps");
    // Gather returned before the slow tasks could finish their 100 steps
    // (500 ms): an order, not a wall-clock bound.
    assert!(steps_then < 100, "gather waited for the slow tasks");
    assert_eq!(err.failed_count(), 3);
    assert_eq!(err.failures()[1].kind(), FailureKind::Panicked);
    assert!(err.failures()[0].cancelled_by_gather());
    assert!(err.failures()[2].cancelled_by_gather());

    fibrio::sleep(ms(50));
    println!(
        "    50 ms later their counter still reads {}: no body outlived the gather",
        steps.get()
    );
    assert_eq!(steps.get(), steps_then);
}

/// Scene 3: every outcome, in place.
fn partial() {
    println!("\n3. gather_partial over the same five tasks");
    let outcomes = gather_partial(five_tasks());
    for (index, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Ok(value) => println!("    [{index}] Ok({value})"),
            Err(err) => println!("    [{index}] Err({err})"),
        }
    }
    assert_eq!(outcomes.len(), 5);
    assert_eq!(outcomes[0].as_deref().ok(), Some("120 users"));
    assert!(outcomes[1].as_ref().unwrap_err().is_panic());
    assert!(outcomes[2].as_ref().unwrap_err().is_cancelled());
    assert_eq!(outcomes[3].as_deref().ok(), Some("42 items in stock"));
    assert!(outcomes[4].as_ref().unwrap_err().is_panic());
}

/// Scene 4: gathering tasks that have all ended already.
fn already_finished() {
    println!("\n4. gather on tasks that have already finished");
    let handles: Vec<_> = (1..=3).map(|i| fibrio::spawn(move || i * 100)).collect();
    while !handles.iter().all(JoinHandle::is_finished) {
        fibrio::yield_now();
    }
    // A task that is ready to run: it runs only if gather suspends main.
    let ran = Rc::new(Cell::new(false));
    let bystander = {
        let ran = ran.clone();
        fibrio::spawn(move || ran.set(true))
    };
    let start = Instant::now();
    let values = gather(handles).expect("all three succeeded");
    let took = start.elapsed();
    println!(
        "    gather -> {values:?} in {took:.1?}; did a ready task run meanwhile? {}",
        ran.get()
    );
    assert_eq!(values, [100, 200, 300]);
    assert!(!ran.get(), "gather suspended instead of returning at once");
    bystander.join().expect("the bystander runs");
    assert!(ran.get());
}
