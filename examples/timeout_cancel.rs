//! Timeouts and cancellation: PHP AsyncIO's example 03.
//!
//! Five scenes, each checked with `assert!` so that running the program is
//! a test:
//!
//! 1. `wait_for` on a slow task: when the timeout passes, the task is
//!    cancelled and has *stopped* by the time `wait_for` returns (its
//!    `Drop` ran, and its step counter never moves again). The reference
//!    design only marked the task cancelled and let its body run on.
//! 2. `move_on_after` and `fail_after`: a deadline on a piece of code in
//!    the current task.
//! 3. A `CancelScope` cancelled from another task: the code inside it, and
//!    a task spawned inside it, stop; the code after the scope goes on.
//! 4. A shield: a cancellation that arrives during a commit lets the commit
//!    finish, and takes effect at the next checkpoint after it.
//! 5. Nested deadlines: the earliest deadline wins, and the scope whose
//!    deadline passed is the one that catches the cancellation.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example timeout_cancel
//! ```

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::{fail_after, move_on_after, wait_for, CancelScope, TaskState};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Prints, and records in `flag`, that the value was dropped: proof that
/// the stack holding it unwound.
struct Resource {
    name: &'static str,
    dropped: Rc<Cell<bool>>,
}

impl Drop for Resource {
    fn drop(&mut self) {
        println!("    [{}] dropped: its stack unwound", self.name);
        self.dropped.set(true);
    }
}

fn main() {
    fibrio::run(|| {
        wait_for_a_slow_task();
        deadlines_on_code();
        scope_cancelled_from_another_task();
        shielded_commit();
        nested_deadlines();
        println!("\nAll timeout and cancellation checks passed.");
    });
}

/// Scene 1: `wait_for` cancels the task and waits until it has ended.
fn wait_for_a_slow_task() {
    println!("1. wait_for on a slow task (10 steps of 20 ms) with a 50 ms timeout");
    let steps = Rc::new(Cell::new(0u32));
    let dropped = Rc::new(Cell::new(false));
    let slow = {
        let (steps, dropped) = (steps.clone(), dropped.clone());
        fibrio::task::Builder::new()
            .name("slow-download")
            .spawn(move || {
                let _connection = Resource {
                    name: "slow-download connection",
                    dropped,
                };
                for _ in 0..10 {
                    fibrio::sleep(ms(20)); // a checkpoint
                    steps.set(steps.get() + 1);
                }
                "all 10 chunks"
            })
            .expect("spawn")
    };
    let watcher = slow.task_ref();

    let start = Instant::now();
    let err = wait_for(slow, ms(50)).unwrap_err();
    let waited = start.elapsed();
    let steps_at_timeout = steps.get();
    println!("    wait_for -> Err: {err}");
    println!(
        "    returned after {:.0?}; the task is {} after {steps_at_timeout} of 10 steps",
        waited,
        watcher.state()
    );
    assert!(err.is_elapsed());
    assert_eq!(watcher.state(), TaskState::Cancelled);
    assert!(
        dropped.get(),
        "the task had unwound before wait_for returned"
    );
    assert!(steps_at_timeout < 10);

    fibrio::sleep(ms(100)); // long enough for five more steps, were it running
    println!(
        "    100 ms later the counter still reads {}: the body really stopped",
        steps.get()
    );
    assert_eq!(steps.get(), steps_at_timeout);

    let quick = fibrio::spawn(|| {
        fibrio::sleep(ms(5));
        42
    });
    let value = wait_for(quick, ms(500)).expect("the quick task beats its timeout");
    println!("    a quick task under the same call: Ok({value})");
    assert_eq!(value, 42);
}

/// Scene 2: deadlines on a block of code in the current task.
fn deadlines_on_code() {
    println!("\n2. move_on_after and fail_after");
    let reached_the_end = Cell::new(false);
    let start = Instant::now();
    let got = move_on_after(ms(30), || {
        fibrio::sleep(Duration::from_secs(10));
        reached_the_end.set(true);
        "slept 10 s"
    });
    println!(
        "    move_on_after(30 ms, sleep 10 s) -> {got:?} after {:.0?}",
        start.elapsed()
    );
    assert_eq!(got, None);
    assert!(!reached_the_end.get());
    assert!(start.elapsed() < Duration::from_secs(1));

    let got = move_on_after(ms(500), || {
        fibrio::sleep(ms(5));
        "done"
    });
    println!("    move_on_after(500 ms, sleep 5 ms) -> {got:?}");
    assert_eq!(got, Some("done"));

    let err = fail_after(ms(20), || fibrio::sleep(Duration::from_secs(10))).unwrap_err();
    println!("    fail_after(20 ms, sleep 10 s) -> Err: {err}");
    assert_eq!(err.timeout(), ms(20));

    let ok = fail_after(ms(500), || 6 * 7);
    println!("    fail_after(500 ms, 6 * 7) -> {ok:?}");
    assert_eq!(ok, Ok(42));
}

/// Scene 3: a scope cancelled by another task, with a task spawned inside.
fn scope_cancelled_from_another_task() {
    println!("\n3. A CancelScope cancelled from another task");
    let scope = CancelScope::new();
    let remote = scope.clone();
    let canceller = fibrio::task::Builder::new()
        .name("canceller")
        .spawn(move || {
            fibrio::sleep(ms(40));
            println!("    [canceller] cancelling the scope");
            remote.cancel();
        })
        .expect("spawn");

    let polls = Rc::new(Cell::new(0u32));
    let helper_dropped = Rc::new(Cell::new(false));
    let helper = RefCell::new(None);
    let got = scope.run(|| {
        // A task spawned inside the scope belongs to it.
        let dropped = helper_dropped.clone();
        *helper.borrow_mut() = Some(fibrio::spawn(move || {
            let _cache = Resource {
                name: "helper cache",
                dropped,
            };
            fibrio::sleep(Duration::from_secs(60));
        }));
        loop {
            polls.set(polls.get() + 1);
            fibrio::sleep(ms(10)); // a checkpoint
        }
    });
    println!(
        "    scope.run -> {got:?} after {} polls; cancelled_caught = {}",
        polls.get(),
        scope.cancelled_caught()
    );
    assert_eq!(got, None::<()>);
    assert!(scope.cancelled_caught());
    canceller.join().expect("the canceller ends");

    let helper = helper.take().expect("the body spawned the helper");
    let outcome = helper.join();
    println!("    the helper spawned inside the scope: join -> {outcome:?}");
    assert!(outcome.unwrap_err().is_cancelled());
    assert!(helper_dropped.get());
    println!("    the code after the scope goes on: this line runs");
}

/// Scene 4: a shield lets a commit finish though the task is cancelled
/// during it.
fn shielded_commit() {
    println!("\n4. A shield around a commit");
    let log = Rc::new(RefCell::new(Vec::new()));
    let writer = {
        let log = log.clone();
        fibrio::task::Builder::new()
            .name("writer")
            .spawn(move || {
                for batch in 1.. {
                    let committed = CancelScope::shield(|| {
                        log.borrow_mut().push(format!("batch {batch}: begin"));
                        fibrio::sleep(ms(30)); // the cancellation arrives here
                        log.borrow_mut().push(format!("batch {batch}: commit"));
                        batch
                    });
                    // The first checkpoint outside the shield unwinds.
                    fibrio::task::checkpoint();
                    log.borrow_mut().push(format!("batch {committed}: after"));
                }
            })
            .expect("spawn")
    };
    fibrio::sleep(ms(45)); // the writer is in the middle of batch 2
    println!("    cancelling the writer in the middle of batch 2");
    writer.cancel();
    let outcome = writer.join();
    let log = log.borrow();
    for line in log.iter() {
        println!("    [writer] {line}");
    }
    println!("    join -> {outcome:?}");
    assert!(outcome.unwrap_err().is_cancelled());
    assert_eq!(
        *log,
        [
            "batch 1: begin",
            "batch 1: commit",
            "batch 1: after",
            "batch 2: begin",
            "batch 2: commit",
        ],
        "batch 2 committed, and nothing ran after it"
    );
}

/// Scene 5: nested deadlines.
fn nested_deadlines() {
    println!("\n5. Nested deadlines");
    // The outer deadline is the earlier one: it cuts the inner block short,
    // and it is the outer scope that catches the cancellation.
    let inner_returned = Cell::new(false);
    let start = Instant::now();
    let outer = move_on_after(ms(30), || {
        let inner = move_on_after(Duration::from_secs(5), || {
            fibrio::sleep(Duration::from_secs(10));
        });
        inner_returned.set(true);
        inner
    });
    let took = start.elapsed();
    println!(
        "    outer 30 ms around inner 5 s: outer -> {outer:?} after {took:.0?}; \
         the inner scope returned: {}",
        inner_returned.get()
    );
    assert_eq!(outer, None);
    assert!(!inner_returned.get());
    assert!(took < Duration::from_secs(1));

    // The inner deadline is the earlier one: the inner scope catches it, and
    // the outer block goes on.
    let outer = move_on_after(Duration::from_secs(5), || {
        let inner = move_on_after(ms(20), || fibrio::sleep(Duration::from_secs(10)));
        println!("    inner 20 ms inside outer 5 s: inner -> {inner:?}; the outer block goes on");
        fibrio::sleep(ms(5));
        "outer finished"
    });
    println!("    outer -> {outer:?}");
    assert_eq!(outer, Some("outer finished"));

    // An explicit scope with a deadline, moved while code runs inside it.
    let scope = CancelScope::with_timeout(Duration::from_secs(5));
    let remote = scope.clone();
    fibrio::spawn(move || {
        fibrio::sleep(ms(10));
        remote.set_deadline(Some(Instant::now() + ms(10)));
    });
    let start = Instant::now();
    let got = scope.run(|| fibrio::sleep(Duration::from_secs(10)));
    println!(
        "    a 5 s deadline moved to 20 ms by another task: run -> {got:?} after {:.0?}",
        start.elapsed()
    );
    assert_eq!(got, None);
    assert!(start.elapsed() < Duration::from_secs(1));
}
