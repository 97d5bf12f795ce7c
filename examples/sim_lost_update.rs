//! A lost update that fibrio's FIFO order hides, found by `fibrio::sim`.
//!
//! Two writers each add one to a shared counter. Writer A reads, yields,
//! and writes back; writer B passes a checkpoint, then reads and writes
//! with nothing in between. In production the run queue is FIFO: B's
//! checkpoint always puts B behind A's write, so the count is always 2 and
//! every test passes. But a checkpoint is a scheduling point, and nothing
//! promises that order: a schedule that lets B read before A writes back
//! loses A's update.
//!
//! The program shows the three steps of finding such a bug:
//!
//! 1. `fibrio::run` gives the right count, every time;
//! 2. `fibrio::sim::check` runs the same code under many seeded schedules,
//!    finds one that loses the update, and reports its seed;
//! 3. `fibrio::sim::run(seed, ..)` replays that exact schedule.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example sim_lost_update
//! ```

use std::cell::Cell;
use std::rc::Rc;

/// Runs the two writers on a counter that starts at 0 and returns the
/// final count: 2 if no update was lost.
pub fn two_writers() -> u32 {
    let x = Rc::new(Cell::new(0));
    let a = fibrio::spawn({
        let x = x.clone();
        move || {
            let v = x.get();
            fibrio::yield_now(); // the update is split here
            x.set(v + 1);
        }
    });
    let b = fibrio::spawn({
        let x = x.clone();
        move || {
            fibrio::task::checkpoint(); // FIFO: A writes before B reads
            let v = x.get();
            x.set(v + 1);
        }
    });
    a.join().unwrap();
    b.join().unwrap();
    x.get()
}

/// The test `sim::check` runs: fails whenever an update is lost.
pub fn no_update_is_lost() {
    assert_eq!(two_writers(), 2, "lost update");
}

/// Runs `sim::check` on [`no_update_is_lost`] and returns its report (the
/// message it panicked with) and the failing seed it names.
///
/// # Panics
///
/// If `sim::check` finds nothing (every seed passed).
pub fn find_the_lost_update() -> (String, u64) {
    let hook = std::panic::take_hook(); // the failing runs' panics are expected
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(|| fibrio::sim::check(no_update_is_lost));
    std::panic::set_hook(hook);
    let payload = outcome.expect_err("sim::check passed every seed: no schedule lost an update");
    let report = match payload.downcast::<String>() {
        Ok(report) => *report,
        Err(_) => String::from("<sim::check panicked with a non-text payload>"),
    };
    let seed = seed_in(&report).expect("the report names the failing seed");
    (report, seed)
}

/// The seed in a `... FIBRIO_SIM_SEED=<N> ...` report.
pub fn seed_in(report: &str) -> Option<u64> {
    let digits: String = report
        .split("FIBRIO_SIM_SEED=")
        .nth(1)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[allow(dead_code)] // the test suite includes this file without calling main
fn main() {
    for _ in 0..3 {
        let count = fibrio::run(two_writers);
        println!("fibrio::run (FIFO order): count = {count}");
        assert_eq!(count, 2, "FIFO order never loses the update");
    }

    let (report, seed) = find_the_lost_update();
    println!("\nfibrio::sim::check found it:\n{report}\n");

    for _ in 0..3 {
        let count = fibrio::sim::run(seed, two_writers);
        println!("fibrio::sim::run({seed}) replays it: count = {count}");
        assert_eq!(count, 1, "the replay loses the update again");
    }
}
