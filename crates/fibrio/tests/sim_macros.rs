//! `#[fibrio::sim_test]`: the attribute form of `fibrio::sim::check_with`.
//! Each test body runs once per seed on the deterministic runtime; a
//! failing seed fails the test with the seed and the replay hint.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use fibrio::time::Instant;

/// Runs of `counts_its_cases`, across its seeds.
static SIXTEEN_CASE_RUNS: AtomicU32 = AtomicU32::new(0);

#[fibrio::sim_test]
fn runs_on_virtual_time() {
    assert!(fibrio::task::try_current().is_some());
    let start = Instant::now();
    fibrio::sleep(Duration::from_secs(3600));
    assert_eq!(start.elapsed(), Duration::from_secs(3600));
    assert_eq!(fibrio::sim::elapsed(), Duration::from_secs(3600));
}

#[fibrio::sim_test(cases = 16)]
fn counts_its_cases() {
    let runs = SIXTEEN_CASE_RUNS.fetch_add(1, Ordering::Relaxed) + 1;
    // Under FIBRIO_SIM_SEED only one case runs.
    assert!(runs <= 16, "case {runs} of a 16-case test");
    let x = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let x = x.clone();
            fibrio::spawn(move || x.set(x.get() + 1))
        })
        .collect();
    tasks.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(x.get(), 4);
}

#[fibrio::sim_test(cases = 16)]
fn may_return_a_result() -> Result<(), std::num::ParseIntError> {
    let n: u32 = "16".parse()?;
    fibrio::sleep(Duration::from_millis(u64::from(n)));
    assert_eq!(fibrio::sim::elapsed(), Duration::from_millis(16));
    Ok(())
}

/// A read and a write split by a yield: some schedule lets the other
/// writer in between, and the test fails with its seed.
#[fibrio::sim_test(cases = 64)]
#[should_panic(expected = "FIBRIO_SIM_SEED=")]
fn a_lost_update_fails_with_the_replay_hint() {
    let x = Rc::new(Cell::new(0));
    let a = fibrio::spawn({
        let x = x.clone();
        move || {
            let v = x.get();
            fibrio::yield_now();
            x.set(v + 1);
        }
    });
    let b = fibrio::spawn({
        let x = x.clone();
        move || {
            fibrio::task::checkpoint();
            let v = x.get();
            x.set(v + 1);
        }
    });
    a.join().unwrap();
    b.join().unwrap();
    assert_eq!(x.get(), 2, "lost update");
}

#[fibrio::sim_test(cases = 4)]
#[should_panic(expected = "the test returned an error")]
fn an_error_result_fails_the_seed() -> Result<(), String> {
    Err("planned error".to_owned())
}
