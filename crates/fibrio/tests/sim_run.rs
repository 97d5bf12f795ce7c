//! `fibrio::sim::run` and `try_run`: virtual time, replay by seed, the
//! user random stream, failures with their seed and replay hint, and what
//! is refused or changed inside a simulation (nested runtimes, workers,
//! `spawn_blocking`, real sockets). No test asserts a tight wall-clock
//! bound: the one that reads the real clock has a wide margin.

mod common;

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use fibrio::context::{get_context, set_sendable_context, ContextVar};
use fibrio::sim::{self, SimError};
use fibrio::task::Builder;
use fibrio::time::Instant;
use fibrio::{JoinError, Runtime, RuntimeError, WorkerError};

const HOUR: Duration = Duration::from_secs(3600);

/// The message `f` panicked with.
fn panic_message(f: impl FnOnce()) -> String {
    common::quiet_planned_panics();
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "<non-text payload>".to_owned(), |s| (*s).to_owned()),
    }
}

/// Three tasks interleave pushes with yields; the order they push in is
/// the schedule the seed chose.
fn interleaving() -> Vec<u32> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let log = log.clone();
            fibrio::spawn(move || {
                for _ in 0..3 {
                    log.borrow_mut().push(i);
                    fibrio::yield_now();
                }
            })
        })
        .collect();
    tasks.into_iter().for_each(|t| t.join().unwrap());
    log.take()
}

#[test]
fn an_hour_of_virtual_sleeps_takes_far_less_real_time() {
    let real = std::time::Instant::now();
    let virtual_elapsed = sim::run(1, || {
        let sleepers: Vec<_> = (0..3)
            .map(|_| {
                fibrio::spawn(|| {
                    for _ in 0..3600 {
                        fibrio::sleep(Duration::from_secs(1));
                    }
                })
            })
            .collect();
        sleepers.into_iter().for_each(|s| s.join().unwrap());
        sim::elapsed()
    });
    let real = real.elapsed();
    assert_eq!(virtual_elapsed, HOUR);
    // About 11,000 timer wake-ups: tens of milliseconds even unoptimized.
    // The bound is ten times a slow machine's figure, and 360 times less
    // than the hour.
    assert!(
        real < Duration::from_secs(10),
        "a virtual hour took {real:?}"
    );
}

#[test]
fn fibrio_instant_moves_with_the_virtual_clock() {
    let (virtual_span, real_span) = sim::run(2, || {
        let start = Instant::now();
        let real_start = std::time::Instant::now();
        fibrio::sleep(Duration::from_secs(90));
        assert_eq!(Instant::now(), start + Duration::from_secs(90));
        fibrio::time::sleep_until(start + Duration::from_secs(100));
        (start.elapsed(), real_start.elapsed())
    });
    assert_eq!(virtual_span, Duration::from_secs(100));
    // std's clock is not virtual: it saw only the real time the run took.
    assert!(real_span < Duration::from_secs(100));
}

#[test]
fn the_clock_is_real_again_after_a_simulation() {
    sim::run(3, || fibrio::sleep(HOUR));
    let ours = Instant::now().into_std();
    let std_now = std::time::Instant::now();
    // Both read the real clock now: a virtual hour ahead would show.
    assert!(ours <= std_now);
    assert!(std_now.duration_since(ours) < HOUR / 2);
}

#[test]
fn the_same_seed_gives_the_same_result() {
    for seed in 0..16 {
        let first = sim::run(seed, interleaving);
        for _ in 0..3 {
            assert_eq!(sim::run(seed, interleaving), first, "seed {seed}");
        }
    }
}

#[test]
fn different_seeds_explore_different_schedules() {
    let mut seen: Vec<Vec<u32>> = (0..32).map(|seed| sim::run(seed, interleaving)).collect();
    seen.sort();
    seen.dedup();
    assert!(
        seen.len() > 1,
        "32 seeds all ran one schedule: {:?}",
        seen[0]
    );
    // Production order, for contrast: always FIFO.
    let fifo = fibrio::run(interleaving);
    assert_eq!(fifo, [0, 1, 2, 0, 1, 2, 0, 1, 2]);
}

#[test]
fn elapsed_is_virtual_time_since_the_start() {
    let marks = sim::run(4, || {
        let mut marks = vec![sim::elapsed()];
        fibrio::sleep(Duration::from_millis(250));
        marks.push(sim::elapsed());
        let sleeper = fibrio::spawn(|| fibrio::sleep(Duration::from_secs(2)));
        sleeper.join().unwrap();
        marks.push(sim::elapsed());
        fibrio::yield_now(); // a yield takes no virtual time
        marks.push(sim::elapsed());
        marks
    });
    assert_eq!(
        marks,
        [
            Duration::ZERO,
            Duration::from_millis(250),
            Duration::from_millis(2250),
            Duration::from_millis(2250),
        ]
    );
}

#[test]
fn random_u64_repeats_per_seed_and_differs_across_seeds() {
    let draws = |seed| {
        sim::run(seed, || {
            (0..4).map(|_| sim::random_u64()).collect::<Vec<_>>()
        })
    };
    assert_eq!(draws(7), draws(7));
    assert_ne!(draws(7), draws(8));
    let firsts: std::collections::BTreeSet<u64> = (0..64).map(|seed| draws(seed)[0]).collect();
    assert_eq!(firsts.len(), 64);
}

#[test]
fn random_draws_do_not_change_the_schedule() {
    let with_draws = || {
        interleaving_with(|| {
            sim::random_u64();
        })
    };
    for seed in 0..8 {
        assert_eq!(sim::run(seed, with_draws), sim::run(seed, interleaving));
    }
}

fn interleaving_with(extra: fn()) -> Vec<u32> {
    let log = Rc::new(RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let log = log.clone();
            fibrio::spawn(move || {
                for _ in 0..3 {
                    extra();
                    log.borrow_mut().push(i);
                    fibrio::yield_now();
                }
            })
        })
        .collect();
    tasks.into_iter().for_each(|t| t.join().unwrap());
    log.take()
}

#[test]
fn sim_rng_is_the_user_stream() {
    use rand_core::Rng;
    let (from_rng, plain) = sim::run(9, || {
        let mut rng = sim::SimRng::new();
        let from_rng = rng.next_u64();
        (from_rng, sim::random_u64())
    });
    let expected = sim::run(9, || [sim::random_u64(), sim::random_u64()]);
    assert_eq!([from_rng, plain], expected);
}

#[test]
fn elapsed_and_random_u64_panic_outside_a_simulation() {
    let message = panic_message(|| {
        sim::elapsed();
    });
    assert!(message.contains("fibrio::sim::elapsed called outside a simulation"));
    let message = panic_message(|| {
        sim::random_u64();
    });
    assert!(message.contains("fibrio::sim::random_u64 called outside a simulation"));
}

#[test]
fn a_panic_in_main_names_the_seed_and_the_replay_hint() {
    let message = panic_message(|| {
        sim::run(12, || -> () { panic!("planned failure in main") });
    });
    assert!(message.contains("planned failure in main"), "{message}");
    assert!(message.contains("seed 12"), "{message}");
    assert!(message.contains("FIBRIO_SIM_SEED=12"), "{message}");
    assert!(message.contains("task 1 \"main\""), "{message}");
}

#[test]
fn a_detached_task_panic_fails_the_run() {
    let message = panic_message(|| {
        sim::run(11, || {
            let detached = Builder::new()
                .name("checker")
                .spawn(|| assert_eq!(1 + 1, 3, "planned detached assertion"))
                .unwrap();
            drop(detached);
            fibrio::sleep(Duration::from_secs(1));
        });
    });
    assert!(message.contains("planned detached assertion"), "{message}");
    assert!(message.contains("\"checker\""), "{message}");
    assert!(message.contains("seed 11"), "{message}");
    assert!(message.contains("FIBRIO_SIM_SEED=11"), "{message}");
}

#[test]
fn a_joined_panic_does_not_fail_the_run() {
    let outcome = sim::run(13, || {
        let failing = fibrio::spawn(|| -> () { panic!("planned and joined") });
        matches!(failing.join(), Err(JoinError::Panicked(_)))
    });
    assert!(outcome);
}

#[test]
fn a_deadlock_names_every_task() {
    let message = panic_message(|| {
        sim::run(21, || {
            let (to_left, left_rx) = fibrio::channel::bounded::<u8>(1);
            let (to_right, right_rx) = fibrio::channel::bounded::<u8>(1);
            let left = Builder::new()
                .name("left")
                .spawn(move || {
                    let _ = left_rx.recv(); // waits for right, which waits for left
                    to_right.send(1).unwrap();
                })
                .unwrap();
            let right = Builder::new()
                .name("right")
                .spawn(move || {
                    let _ = right_rx.recv();
                    to_left.send(1).unwrap();
                })
                .unwrap();
            left.join().unwrap();
            right.join().unwrap();
        });
    });
    assert!(message.contains("deadlock"), "{message}");
    for name in ["\"main\"", "\"left\"", "\"right\""] {
        assert!(message.contains(name), "{name} missing from: {message}");
    }
    assert!(message.contains("seed 21"), "{message}");
    assert!(message.contains("FIBRIO_SIM_SEED=21"), "{message}");
}

#[test]
fn try_run_returns_the_failure() {
    assert_eq!(sim::try_run(0, || 5).unwrap(), 5);
    let err = sim::try_run(30, fibrio::task::park).unwrap_err();
    assert!(
        matches!(err, SimError::Deadlock { seed: 30, .. }),
        "{err:?}"
    );
    assert_eq!(err.seed(), 30);

    let err = sim::try_run(31, || fibrio::sleep(Duration::from_secs(25 * 3600))).unwrap_err();
    assert!(
        matches!(err, SimError::TimeLimit { seed: 31, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.ends_with("seed 31; replay with FIBRIO_SIM_SEED=31"),
        "{text}"
    );

    let err = sim::try_run(32, || -> () { panic!("planned") }).unwrap_err();
    assert!(
        matches!(&err, SimError::Panic { seed: 32, task: 1, message, .. } if message == "planned"),
        "{err:?}"
    );
}

#[test]
fn main_may_borrow_from_the_caller() {
    let mut log = vec!["before"];
    let first: &str = sim::run(0, || {
        log.push("inside");
        fibrio::yield_now();
        log[0]
    });
    assert_eq!(first, "before");
    assert_eq!(log, ["before", "inside"]);
}

#[test]
fn a_nested_simulation_is_refused() {
    let message = panic_message(|| {
        sim::run(40, || sim::run(41, || ()));
    });
    assert!(
        message.contains("fibrio::sim::run inside a simulation"),
        "{message}"
    );
    // The outer run reports it as main's panic, with the outer seed.
    assert!(message.contains("FIBRIO_SIM_SEED=40"), "{message}");

    let message = fibrio::run(|| panic_message(|| sim::run(0, || ())));
    assert!(
        message.contains("inside a running fibrio runtime"),
        "{message}"
    );
}

#[test]
fn fibrio_run_inside_a_simulation_is_an_error() {
    let refused = sim::run(50, || Runtime::new().unwrap().try_run(|| ()));
    let err = refused.unwrap_err();
    assert!(matches!(err, RuntimeError::InsideSimulation));
    assert!(err.to_string().contains("spawn a task"), "{err}");

    let message = sim::run(51, || panic_message(|| fibrio::run(|| ())));
    assert!(
        message.starts_with("fibrio::run inside a simulation"),
        "{message}"
    );
}

#[test]
fn workers_inside_a_simulation_are_refused() {
    let outcomes = sim::run(52, || Runtime::builder().workers(3).run(|| ()));
    assert_eq!(outcomes.len(), 3);
    for (index, outcome) in outcomes.iter().enumerate() {
        assert!(
            matches!(outcome, Err(WorkerError::InsideSimulation { index: i }) if *i == index),
            "{outcome:?}"
        );
    }
    let text = outcomes[0].as_ref().unwrap_err().to_string();
    assert!(text.contains("inside a simulation"), "{text}");

    let started = sim::run(53, || Runtime::builder().workers(2).start(|| ()).join());
    assert!(started
        .iter()
        .all(|o| matches!(o, Err(WorkerError::InsideSimulation { .. }))));
}

#[test]
fn spawn_blocking_runs_inline_in_zero_virtual_time() {
    static TENANT: ContextVar<String> = ContextVar::new_sendable("tenant");
    let (same_thread, value, tenant, request, took) = sim::run(60, || {
        TENANT.set("acme".into());
        set_sendable_context("request_id", "req-9".to_string());
        let caller = std::thread::current().id();
        let before = sim::elapsed();
        let (same_thread, value, tenant, request) = fibrio::spawn_blocking(move || {
            (
                std::thread::current().id() == caller,
                6 * 7,
                TENANT.get(),
                get_context::<String>("request_id"),
            )
        })
        .unwrap();
        (same_thread, value, tenant, request, sim::elapsed() - before)
    });
    assert!(same_thread, "the closure ran on another thread");
    assert_eq!(value, 42);
    assert_eq!(tenant.as_deref(), Some("acme"));
    assert_eq!(request.as_deref(), Some("req-9"));
    assert_eq!(took, Duration::ZERO);
}

#[test]
fn spawn_blocking_catches_the_closures_panic() {
    common::quiet_planned_panics();
    let caught = sim::run(61, || {
        let result = fibrio::spawn_blocking(|| -> () { panic!("planned blocking panic") });
        matches!(result, Err(JoinError::Panicked(_)))
    });
    assert!(caught);
}

#[test]
fn spawn_blocking_is_a_scheduling_point() {
    // Under some seed, a task spawned before the call runs before the
    // caller goes on: the schedule got a choice there.
    let ran_first = |seed| {
        sim::run(seed, || {
            let flag = Rc::new(Cell::new(false));
            let other = fibrio::spawn({
                let flag = flag.clone();
                move || flag.set(true)
            });
            fibrio::spawn_blocking(|| ()).unwrap();
            let seen = flag.get();
            other.join().unwrap();
            seen
        })
    };
    assert!((0..32).any(ran_first));
}

#[test]
fn a_real_socket_inside_a_simulation_fails_with_an_io_error() {
    let outcome = sim::run(70, || {
        // A socket made with `from_std` is real (`bind` would make a
        // simulated one: see sim_udp.rs).
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let socket = fibrio::net::UdpSocket::from_std(std_socket)?;
        // Nobody sends: receiving would have to wait, and a simulation
        // has no reactor to wait in.
        socket.recv(&mut [0; 8]).map(|_| ())
    });
    // An io::Error that says why, not a hang or a panic.
    let err = outcome.expect_err("accept inside a simulation returned a connection");
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("simulation"), "{err}");
}

#[test]
fn a_failed_run_leaves_the_thread_ready_for_the_next() {
    let _ = panic_message(|| {
        sim::run(80, || -> () { panic!("planned failure before a good run") });
    });
    let _ = sim::try_run(81, fibrio::task::park);
    assert_eq!(sim::run(82, || fibrio::spawn(|| 3).join().unwrap()), 3);
    assert!(fibrio::task::try_current().is_none());
    // A real runtime runs normally afterwards.
    assert_eq!(fibrio::run(|| 4), 4);
}
