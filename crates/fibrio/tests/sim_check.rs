//! `fibrio::sim::check` and `check_with`: a race found under some seed and
//! reported with its seed, the replay hint and the original message; the
//! re-run that confirms (or refutes) determinism; and the environment
//! variables `FIBRIO_SIM_SEED` and `FIBRIO_SIM_CASES`, tested in child
//! processes (the environment is process-global): the test binary re-runs
//! itself with a filter and the variables set.

mod common;

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, Output};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use fibrio::sim::{self, Config};

/// Set in a child process to the role it plays.
const CHILD: &str = "FIBRIO_SIM_CHECK_CHILD";

/// Two writers; B's checkpoint puts it behind A's write under FIFO, and a
/// random schedule can let B read before A writes back.
fn two_writers() -> u32 {
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
    x.get()
}

fn no_update_is_lost() {
    assert_eq!(two_writers(), 2, "planned check: lost update");
}

/// The message `f` panicked with.
fn panic_message(f: impl FnOnce()) -> String {
    common::quiet_planned_panics();
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(_) => "<non-text payload>".to_owned(),
    }
}

/// The seed in a `... FIBRIO_SIM_SEED=<N> ...` report.
fn seed_in(report: &str) -> u64 {
    number_after_u64(report, "FIBRIO_SIM_SEED=")
}

/// Re-runs this test binary on `test` alone, with `vars` set (and the
/// simulation variables not listed removed), in the child role `role`.
fn run_child(test: &str, role: &str, vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, role)
        .env_remove("FIBRIO_SIM_SEED")
        .env_remove("FIBRIO_SIM_CASES");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().expect("failed to re-run the test binary")
}

/// The `runs=N` a counting child printed.
fn runs_in(output: &Output) -> u32 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    number_after(&stdout, "runs=")
}

/// The number printed right after `label` (libtest may print its own
/// text before it on the same line).
fn number_after(text: &str, label: &str) -> u32 {
    u32::try_from(number_after_u64(text, label)).unwrap()
}

fn number_after_u64(text: &str, label: &str) -> u64 {
    let digits: String = text
        .split(label)
        .nth(1)
        .unwrap_or_else(|| panic!("no {label} in: {text}"))
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[test]
fn fifo_hides_the_lost_update() {
    for _ in 0..10 {
        assert_eq!(fibrio::run(two_writers), 2);
    }
}

#[test]
fn check_finds_the_lost_update_and_reports_the_seed() {
    if std::env::var_os("FIBRIO_SIM_SEED").is_some() {
        return; // the variable would pick the seed: see the child tests
    }
    let report = panic_message(|| sim::check(no_update_is_lost));
    let seed = seed_in(&report);
    assert!(report.contains(&format!("seed {seed}")), "{report}");
    assert!(
        report.contains(&format!("FIBRIO_SIM_SEED={seed}")),
        "{report}"
    );
    assert!(report.contains("planned check: lost update"), "{report}");
    assert!(report.contains("failed the same way"), "{report}");
    assert!(report.contains("deterministic"), "{report}");
    assert!(
        report.contains(&format!("fibrio::sim::run({seed}, ..)")),
        "{report}"
    );
    // The seed replays the failure, every time.
    for _ in 0..3 {
        assert_eq!(sim::run(seed, two_writers), 1);
    }
}

#[test]
fn the_report_names_the_case_and_the_test() {
    if std::env::var_os("FIBRIO_SIM_SEED").is_some() {
        return;
    }
    let config = Config::new().cases(64).first_seed(1_000);
    let report = panic_message(|| sim::check_with(config, no_update_is_lost));
    let seed = seed_in(&report);
    assert!((1_000..1_064).contains(&seed), "{report}");
    let case = seed - 1_000 + 1;
    assert!(
        report.contains(&format!("case {case} of 64 failed: seed {seed}")),
        "{report}"
    );
    // libtest names the test's thread after the test.
    if std::thread::current().name() != Some("main") {
        assert!(
            report.contains("cargo test the_report_names_the_case_and_the_test"),
            "{report}"
        );
    }
}

#[test]
fn a_deadlock_report_is_included() {
    if std::env::var_os("FIBRIO_SIM_SEED").is_some() {
        return;
    }
    let report = panic_message(|| {
        sim::check_with(Config::new().cases(4), || {
            fibrio::task::Builder::new()
                .name("stuck")
                .spawn(fibrio::task::park)
                .unwrap()
                .join()
                .unwrap()
                .unwrap();
        })
    });
    assert!(report.contains("case 1 of 4 failed: seed 0"), "{report}");
    assert!(report.contains("deadlock"), "{report}");
    assert!(report.contains("\"stuck\""), "{report}");
    assert!(report.contains("FIBRIO_SIM_SEED=0"), "{report}");
}

#[test]
fn a_failure_that_does_not_repeat_is_called_nondeterministic() {
    if std::env::var_os("FIBRIO_SIM_SEED").is_some() {
        return;
    }
    // State outside the simulation: the first call fails, later ones pass.
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let report = panic_message(|| {
        sim::check_with(Config::new().cases(8), || {
            if CALLS.fetch_add(1, Ordering::Relaxed) == 0 {
                panic!("planned flaky failure");
            }
        })
    });
    assert!(report.contains("planned flaky failure"), "{report}");
    assert!(report.contains("the re-run of seed 0 passed"), "{report}");
    assert!(report.contains("did not give the same run"), "{report}");
    assert!(report.contains("FIBRIO_SIM_SEED=0"), "{report}");
}

#[test]
fn cases_counts_the_runs() {
    if std::env::var_os("FIBRIO_SIM_SEED").is_some() {
        return;
    }
    thread_local! { static RUNS: Cell<u32> = const { Cell::new(0) }; }
    RUNS.with(|r| r.set(0));
    sim::check_with(Config::new().cases(37), || {
        RUNS.with(|r| r.set(r.get() + 1))
    });
    assert_eq!(RUNS.with(Cell::get), 37);
}

#[test]
fn each_case_runs_its_own_seed() {
    if std::env::var_os("FIBRIO_SIM_SEED").is_some() {
        return;
    }
    thread_local! { static DRAWS: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) }; }
    sim::check_with(Config::new().cases(5).first_seed(70), || {
        DRAWS.with(|d| d.borrow_mut().push(sim::random_u64()));
    });
    let expected: Vec<u64> = (70..75)
        .map(|seed| sim::run(seed, sim::random_u64))
        .collect();
    assert_eq!(DRAWS.with(|d| d.take()), expected);
}

#[test]
#[should_panic(expected = "a check needs at least one case")]
fn zero_cases_are_refused() {
    let _ = Config::new().cases(0);
}

#[test]
fn check_inside_a_simulation_is_refused() {
    let message = panic_message(|| sim::run(0, || sim::check(|| ())));
    assert!(
        message.contains("fibrio::sim::check inside a simulation"),
        "{message}"
    );
}

/// The body of the child processes; does nothing in a normal test run.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(CHILD) else {
        return;
    };
    thread_local! { static RUNS: Cell<u32> = const { Cell::new(0) }; }
    let count = || RUNS.with(|r| r.set(r.get() + 1));
    match role.as_str() {
        "default" => sim::check(count),
        "explicit-cases" => sim::check_with(Config::new().cases(3), count),
        "draw" => {
            thread_local! { static DRAW: Cell<u64> = const { Cell::new(0) }; }
            sim::check_with(Config::new().cases(100), || {
                count();
                DRAW.with(|d| d.set(sim::random_u64()));
            });
            println!("draw={}", DRAW.with(Cell::get));
        }
        "lost-update" => sim::check(no_update_is_lost),
        other => panic!("unknown child role {other}"),
    }
    println!("runs={}", RUNS.with(Cell::get));
}

#[test]
fn the_default_is_256_cases() {
    assert_eq!(runs_in(&run_child("child_entry", "default", &[])), 256);
}

#[test]
fn fibrio_sim_cases_sets_the_number_of_cases() {
    let output = run_child("child_entry", "default", &[("FIBRIO_SIM_CASES", "7")]);
    assert_eq!(runs_in(&output), 7);
}

#[test]
fn explicit_cases_win_over_fibrio_sim_cases() {
    let output = run_child(
        "child_entry",
        "explicit-cases",
        &[("FIBRIO_SIM_CASES", "7")],
    );
    assert_eq!(runs_in(&output), 3);
}

#[test]
fn fibrio_sim_seed_runs_only_that_seed() {
    let output = run_child(
        "child_entry",
        "draw",
        &[("FIBRIO_SIM_SEED", "4242"), ("FIBRIO_SIM_CASES", "9")],
    );
    assert_eq!(runs_in(&output), 1);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let draw = number_after_u64(&stdout, "draw=");
    assert_eq!(draw, sim::run(4242, sim::random_u64));
}

#[test]
fn fibrio_sim_seed_replays_a_reported_failure() {
    let first = run_child("child_entry", "lost-update", &[]);
    assert!(!first.status.success(), "the lost update was not found");
    let stderr = String::from_utf8_lossy(&first.stderr);
    let seed = seed_in(&stderr);

    let seed_text = seed.to_string();
    let replay = run_child(
        "child_entry",
        "lost-update",
        &[("FIBRIO_SIM_SEED", seed_text.as_str())],
    );
    assert!(!replay.status.success(), "the replay passed");
    let stderr = String::from_utf8_lossy(&replay.stderr);
    assert!(
        stderr.contains(&format!("seed {seed} (from FIBRIO_SIM_SEED) failed")),
        "{stderr}"
    );
    assert!(stderr.contains("planned check: lost update"), "{stderr}");

    // A seed that passes, replayed alone, passes.
    let passing = (0..64u64)
        .find(|&s| sim::run(s, two_writers) == 2)
        .expect("some seed keeps FIFO order");
    let passing_text = passing.to_string();
    let output = run_child(
        "child_entry",
        "lost-update",
        &[("FIBRIO_SIM_SEED", passing_text.as_str())],
    );
    assert_eq!(runs_in(&output), 0); // lost-update does not count runs
}

#[test]
fn a_malformed_fibrio_sim_seed_is_reported() {
    let output = run_child("child_entry", "default", &[("FIBRIO_SIM_SEED", "abc")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FIBRIO_SIM_SEED=\"abc\" is not a number"),
        "{stderr}"
    );
}
