//! Structured concurrency with `TaskGroup` (asyncio's `TaskGroup`, trio's
//! nursery).
//!
//! 1. `TaskGroup::scope` runs a body that spawns children through the
//!    group, and returns only once every child has ended: here five
//!    "shards" are fetched at once and their results collected.
//! 2. Two children fail at the same moment while a long-running sibling
//!    indexes. The first failure cancels the group: the sibling stops at
//!    its next checkpoint (its `Drop` runs, its counter freezes), and the
//!    error lists *both* failures (PHP AsyncIO's `TaskGroup` kept
//!    only the first one it awaited).
//! 3. `TaskGroup::cancel` stops the body and every child.
//!
//! The panics of the failing children are expected: a quiet panic hook
//! hides their "thread panicked" lines. Any other panic still prints.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example task_group
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio::sync::Event;
use fibrio::task::Builder;
use fibrio::{TaskGroup, TaskGroupError};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The names of the children whose panics are part of the demonstration.
const FAILING: [&str; 2] = ["parse-a", "parse-b"];

/// Keeps the default panic hook for every panic except the expected ones.
fn quiet_expected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let expected = fibrio::task::current_name().is_some_and(|name| FAILING.contains(&&*name));
        if !expected {
            default(info);
        }
    }));
}

/// Records that it was dropped: proof that the stack holding it unwound.
struct OpenIndex(Rc<Cell<bool>>);

impl Drop for OpenIndex {
    fn drop(&mut self) {
        println!("    [indexer] index file closed by unwinding");
        self.0.set(true);
    }
}

fn main() {
    quiet_expected_panics();
    fibrio::run(|| {
        collect_results();
        two_failures();
        cancel_the_group();
        println!("\nAll task-group checks passed.");
    });
}

/// Scene 1: every child's result, and no child outlives the scope.
fn collect_results() {
    println!("1. TaskGroup::scope collecting five results");
    // How many children are asleep at once, and the most there ever were.
    let asleep = Rc::new(Cell::new(0usize));
    let most_asleep = Rc::new(Cell::new(0usize));
    let start = Instant::now();
    let shards = TaskGroup::scope(|g| {
        let handles: Vec<_> = (1..=5u64)
            .map(|shard| {
                let (asleep, most_asleep) = (asleep.clone(), most_asleep.clone());
                g.spawn_with(Builder::new().name(format!("shard-{shard}")), move || {
                    asleep.set(asleep.get() + 1);
                    most_asleep.set(most_asleep.get().max(asleep.get()));
                    fibrio::sleep(ms(10 * shard));
                    asleep.set(asleep.get() - 1);
                    (shard, shard * 1000)
                })
                .expect("spawn")
            })
            .collect();
        println!("    spawned {} children, {} running", g.len(), g.running());
        handles
            .into_iter()
            .map(|h| h.join().expect("the shard succeeds"))
            .collect::<Vec<_>>()
    })
    .expect("no child failed");
    let took = start.elapsed();
    println!("    results: {shards:?}");
    println!(
        "    took {took:.0?}: the longest child, not the sum (150 ms); {} slept at once",
        most_asleep.get()
    );
    assert_eq!(shards.iter().map(|(_, rows)| rows).sum::<u64>(), 15_000);
    // All five slept at once, so the scope took the longest sleep, not the
    // sum of them: a count, not a wall-clock bound.
    assert_eq!(most_asleep.get(), 5, "the children slept one after another");
}

/// Scene 2: two children fail together; a long-running sibling is stopped.
fn two_failures() {
    println!("\n2. Two children fail; a long-running sibling is cancelled");
    let go = Arc::new(Event::new());
    let indexed = Rc::new(Cell::new(0u32));
    let index_closed = Rc::new(Cell::new(false));
    let mut indexer = None;
    let start = Instant::now();
    let err = TaskGroup::scope(|g| {
        let (counter, closed) = (indexed.clone(), index_closed.clone());
        indexer = Some(
            g.spawn_with(Builder::new().name("indexer"), move || {
                let _index = OpenIndex(closed);
                for _ in 0..1000 {
                    fibrio::sleep(ms(5)); // a checkpoint
                    counter.set(counter.get() + 1);
                }
            })
            .expect("spawn"),
        );
        for (name, problem) in FAILING.into_iter().zip(["bad header", "truncated body"]) {
            let go = go.clone();
            g.spawn_with(Builder::new().name(name), move || {
                go.wait().expect("the event is set");
                // Both parsers were woken by the same `set`: the second
                // one's wait had completed before the first one's failure
                // cancelled the group, and a completed wait is not undone.
                panic!("{problem}");
            })
            .expect("spawn");
        }
        fibrio::sleep(ms(30));
        println!(
            "    the indexer has done {} steps; releasing the parsers",
            indexed.get()
        );
        go.set();
        fibrio::sleep(Duration::from_secs(10)); // cancelled with the group
        unreachable!("the failures cancel the body too");
    })
    .unwrap_err();
    let took = start.elapsed();
    let steps = indexed.get();

    for line in err.to_string().lines() {
        println!("    | {line}");
    }
    let indexer = indexer.expect("the body spawned the indexer");
    let outcome = indexer.join();
    println!(
        "    returned after {took:.0?}; the indexer ended: {outcome:?} after {steps} of 1000 steps"
    );

    let TaskGroupError::Failed(failures) = &err else {
        panic!("expected TaskGroupError::Failed, got {err:?}");
    };
    let named: Vec<_> = failures
        .iter()
        .map(|f| (f.name.as_deref(), f.message.as_str()))
        .collect();
    println!("    failures: {named:?}");
    assert_eq!(
        named,
        [
            (Some("parse-a"), "bad header"),
            (Some("parse-b"), "truncated body")
        ]
    );
    assert!(outcome.unwrap_err().is_cancelled());
    assert!(index_closed.get());
    assert!(steps < 1000);
    assert!(took < Duration::from_secs(1));

    fibrio::sleep(ms(30));
    assert_eq!(indexed.get(), steps, "the indexer's body stopped");
    println!("    30 ms later the indexer's counter still reads {steps}");
}

/// Scene 3: cancelling the whole group.
fn cancel_the_group() {
    println!("\n3. TaskGroup::cancel");
    let mut children = Vec::new();
    let got = TaskGroup::scope(|g| {
        for i in 0..3 {
            children.push(g.spawn(move || loop {
                fibrio::sleep(ms(5 + i));
            }));
        }
        fibrio::sleep(ms(20));
        println!(
            "    cancelling the group with {} children running",
            g.running()
        );
        g.cancel();
        fibrio::yield_now(); // the body stops at this checkpoint
        unreachable!("the body was cancelled");
    });
    println!("    scope -> {got:?}");
    assert!(matches!(got, Err(TaskGroupError::Cancelled)));
    for child in children {
        let outcome: Result<(), _> = child.join();
        assert!(outcome.unwrap_err().is_cancelled());
    }
    println!("    all three children ended cancelled");
}
