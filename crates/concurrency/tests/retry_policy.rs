//! Retry behaviour: exact attempt counts, success after failures,
//! non-retryable errors, the backoff schedule (growth, cap, jitter bounds,
//! real elapsed time), `disabled()`, cancellation in the backoff sleep,
//! unwinding, plain threads, and configuration errors.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::task::JoinError;
use fibrio_concurrency::retry::{
    retry, RetryConfigError, RetryError, RetryPolicy, RetryPolicyBuilder, StopReason,
};

/// A policy that retries `n` times without pausing.
fn no_pause(n: u32) -> RetryPolicy<u32> {
    RetryPolicy::builder()
        .max_retries(n)
        .initial_delay(Duration::ZERO)
        .build()
        .unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn attempts_are_counted_exactly() {
    fibrio::run(|| {
        for max_retries in [0, 1, 4, 9] {
            let mut calls = 0u32;
            let err = retry(&no_pause(max_retries), || -> Result<(), u32> {
                calls += 1;
                Err(calls)
            })
            .unwrap_err();
            assert_eq!(calls, max_retries + 1);
            assert_eq!(err.attempts(), max_retries + 1);
            assert_eq!(err.reason(), StopReason::Exhausted);
            // Every error is kept, oldest first.
            let expected: Vec<u32> = (1..=max_retries + 1).collect();
            assert_eq!(err.errors(), expected.as_slice());
            assert_eq!(*err.last(), max_retries + 1);
            assert_eq!(err.into_errors(), expected);
        }
    });
}

#[test]
fn succeeds_after_k_failures() {
    fibrio::run(|| {
        let policy = no_pause(3);
        for k in 0..=3u32 {
            let mut calls = 0u32;
            let got = retry(&policy, || {
                calls += 1;
                if calls <= k {
                    Err(calls)
                } else {
                    Ok(calls * 100)
                }
            });
            assert_eq!(got, Ok((k + 1) * 100), "k = {k}");
            assert_eq!(calls, k + 1, "k = {k}");
        }
        // One failure more than the policy allows.
        let mut calls = 0u32;
        let got = retry(&policy, || {
            calls += 1;
            if calls <= 4 {
                Err(calls)
            } else {
                Ok(0)
            }
        });
        let err = got.unwrap_err();
        assert_eq!((calls, err.attempts()), (4, 4));
        assert_eq!(err.reason(), StopReason::Exhausted);
    });
}

#[derive(Debug, Clone, PartialEq)]
enum Failure {
    Transient(u32),
    Fatal,
}

fn transient_only() -> RetryPolicy<Failure> {
    RetryPolicy::builder()
        .max_retries(10)
        .initial_delay(Duration::ZERO)
        .retry_if(|e: &Failure| matches!(e, Failure::Transient(_)))
        .build()
        .unwrap()
}

#[test]
fn a_non_retryable_error_stops_at_once() {
    fibrio::run(|| {
        let policy = transient_only();
        let mut calls = 0;
        let err = retry(&policy, || -> Result<(), Failure> {
            calls += 1;
            Err(Failure::Fatal)
        })
        .unwrap_err();
        assert_eq!(calls, 1);
        assert_eq!(err.attempts(), 1);
        assert_eq!(err.reason(), StopReason::NotRetryable);
        assert_eq!(err.into_last(), Failure::Fatal);

        // Retryable errors first, then a fatal one: it stops there.
        let mut calls = 0;
        let err = retry(&policy, || -> Result<(), Failure> {
            calls += 1;
            if calls < 3 {
                Err(Failure::Transient(calls))
            } else {
                Err(Failure::Fatal)
            }
        })
        .unwrap_err();
        assert_eq!(calls, 3);
        assert_eq!(err.reason(), StopReason::NotRetryable);
        assert_eq!(
            err.errors(),
            [Failure::Transient(1), Failure::Transient(2), Failure::Fatal]
        );
    });
}

#[test]
fn nominal_delays_grow_and_are_capped() {
    let policy = RetryPolicy::<()>::builder()
        .initial_delay(ms(10))
        .multiplier(2.0)
        .max_delay(ms(50))
        .jitter(0.0)
        .build()
        .unwrap();
    let delays: Vec<Duration> = (0..=7).map(|n| policy.delay_for(n)).collect();
    assert_eq!(
        delays,
        [0, 10, 20, 40, 50, 50, 50, 50].map(ms),
        "delay_for(0) is zero, then 10 ms doubling up to the 50 ms cap"
    );
    // Without jitter the range is a single point.
    for n in 1..=7 {
        let range = policy.delay_range(n);
        assert_eq!(range.start(), range.end());
        assert_eq!(*range.end(), policy.delay_for(n));
    }
    // A constant backoff.
    let constant = RetryPolicy::<()>::builder()
        .initial_delay(ms(7))
        .multiplier(1.0)
        .jitter(0.0)
        .build()
        .unwrap();
    assert!((1..=20).all(|n| constant.delay_for(n) == ms(7)));
}

#[test]
fn huge_retry_numbers_and_multipliers_stay_at_the_cap() {
    let policy = RetryPolicy::<()>::builder()
        .initial_delay(ms(1))
        .multiplier(1e300)
        .max_delay(Duration::from_secs(60))
        .jitter(0.0)
        .build()
        .unwrap();
    assert_eq!(policy.delay_for(1), ms(1));
    for n in [2, 3, 1_000, u32::MAX] {
        assert_eq!(policy.delay_for(n), Duration::from_secs(60), "n = {n}");
    }
    // An unbounded cap: the delay grows past u64 nanoseconds without
    // panicking and never goes down.
    let unbounded = RetryPolicy::<()>::builder()
        .initial_delay(Duration::from_secs(1))
        .multiplier(10.0)
        .max_delay(Duration::MAX)
        .jitter(0.5)
        .build()
        .unwrap();
    let mut previous = Duration::ZERO;
    for n in [1, 5, 10, 11, 12, 15, 19, 30, u32::MAX] {
        let end = *unbounded.delay_range(n).end();
        assert!(end >= previous, "n = {n}: {end:?} < {previous:?}");
        assert!(unbounded.delay_range(n).contains(&unbounded.delay_for(n)));
        previous = end;
    }
    assert_eq!(previous, Duration::MAX);
}

#[test]
fn jitter_stays_inside_the_range_and_varies() {
    let policy = RetryPolicy::<()>::builder()
        .max_retries(8)
        .initial_delay(ms(8))
        .multiplier(2.0)
        .max_delay(ms(100))
        .jitter(0.5)
        .build()
        .unwrap();
    let mut previous_end = Duration::ZERO;
    for n in 1..=8 {
        let range = policy.delay_range(n);
        // The end is the nominal delay; jitter takes at most half off.
        assert!(*range.end() >= previous_end);
        assert!(*range.end() <= ms(100));
        assert_eq!(*range.start(), *range.end() / 2);
        previous_end = *range.end();
        let samples: Vec<Duration> = (0..500).map(|_| policy.delay_for(n)).collect();
        assert!(samples.iter().all(|d| range.contains(d)), "n = {n}");
        let distinct = samples
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        assert!(distinct > 10, "n = {n}: jitter gave only {distinct} values");
    }
    assert_eq!(*policy.delay_range(4).end(), ms(64));
    assert_eq!(*policy.delay_range(5).end(), ms(100));
    // Full jitter: anything from zero to the nominal delay.
    let full = policy.clone().into_builder().jitter(1.0).build().unwrap();
    assert_eq!(full.delay_range(3), Duration::ZERO..=ms(32));
}

#[test]
fn the_pauses_really_happen() {
    let policy = RetryPolicy::builder()
        .max_retries(4)
        .initial_delay(ms(5))
        .multiplier(2.0)
        .max_delay(ms(30))
        .jitter(0.5)
        .build()
        .unwrap();
    let minimum: Vec<Duration> = (1..=4).map(|n| *policy.delay_range(n).start()).collect();
    assert_eq!(
        minimum,
        [2500, 5000, 10_000, 15_000].map(Duration::from_micros)
    );
    let (elapsed, starts, err) = fibrio::run(move || {
        let mut starts = Vec::new();
        let begin = Instant::now();
        let err = retry(&policy, || -> Result<(), usize> {
            starts.push(Instant::now());
            Err(starts.len())
        })
        .unwrap_err();
        (begin.elapsed(), starts, err)
    });
    assert_eq!(err.attempts(), 5);
    assert_eq!(starts.len(), 5);
    // Each gap is at least that retry's minimum pause, so the total is at
    // least their sum.
    for (n, gap) in starts.windows(2).map(|w| w[1] - w[0]).enumerate() {
        assert!(gap >= minimum[n], "pause {} was {gap:?}", n + 1);
    }
    let sum: Duration = minimum.iter().sum();
    assert!(elapsed >= sum, "{elapsed:?} < {sum:?}");
}

#[test]
fn retrying_tasks_sleep_concurrently() {
    let policy = RetryPolicy::builder()
        .max_retries(2)
        .initial_delay(ms(20))
        .multiplier(1.0)
        .jitter(0.0)
        .build()
        .unwrap();
    let (elapsed, attempts) = fibrio::run(move || {
        let begin = Instant::now();
        // The number of each attempt, in the order the attempts were made.
        let attempts = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (policy, attempts) = (policy.clone(), attempts.clone());
                fibrio::spawn(move || {
                    let mut n = 0;
                    retry(&policy, || {
                        n += 1;
                        attempts.borrow_mut().push(n);
                        Err::<(), _>(())
                    })
                    .unwrap_err()
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.join().unwrap().attempts(), 3);
        }
        (begin.elapsed(), attempts.take())
    });
    // 40 ms each; one after the other would be 400 ms.
    assert!(elapsed >= ms(40), "{elapsed:?}");
    // Every task made its first attempt, and went into its first pause,
    // before any task came out of one: the pauses overlapped (one after
    // the other, the attempts would go 1, 2, 3, 1, 2, 3, ...). An order,
    // not a wall-clock bound.
    assert_eq!(attempts.len(), 30, "{attempts:?}");
    assert_eq!(
        attempts[..10],
        [1; 10],
        "the backoff sleeps did not overlap: {attempts:?}"
    );
}

#[test]
fn disabled_never_retries() {
    let policy = RetryPolicy::<&str>::disabled();
    assert_eq!(policy.max_retries(), 0);
    assert!((0..5).all(|n| policy.delay_for(n).is_zero()));
    let (calls, err) = fibrio::run(move || {
        let mut calls = 0;
        let err = retry(&policy, || -> Result<(), &str> {
            calls += 1;
            Err("down")
        })
        .unwrap_err();
        (calls, err)
    });
    assert_eq!((calls, err.attempts()), (1, 1));
    assert_eq!(err.reason(), StopReason::Exhausted);
    // Success is passed straight through.
    assert_eq!(retry(&RetryPolicy::<()>::disabled(), || Ok(5)), Ok(5));
}

#[test]
fn cancelling_a_task_in_the_backoff_sleep_ends_it() {
    fibrio::run(|| {
        let attempts = Rc::new(Cell::new(0));
        let policy = RetryPolicy::builder()
            .max_retries(10)
            .initial_delay(Duration::from_secs(10))
            .max_delay(Duration::from_secs(10))
            .build()
            .unwrap();
        let a = attempts.clone();
        let task = fibrio::spawn(move || {
            retry(&policy, || -> Result<(), ()> {
                a.set(a.get() + 1);
                Err(())
            })
        });
        let begin = Instant::now();
        while attempts.get() == 0 {
            fibrio::yield_now();
        }
        fibrio::yield_now();
        assert_eq!(fibrio_core::task::pending_timers(), Some(1), "not sleeping");
        task.cancel();
        let joined = task.join();
        assert!(joined.as_ref().is_err_and(JoinError::is_cancelled));
        assert!(
            begin.elapsed() < Duration::from_secs(5),
            "waited out the pause"
        );
        // No further attempt, and the sleep's timer is gone.
        fibrio::sleep(ms(20));
        assert_eq!(attempts.get(), 1);
        assert_eq!(fibrio_core::task::pending_timers(), Some(0));
    });
}

#[test]
fn a_zero_pause_still_checkpoints_between_attempts() {
    // With no pause the sleep is a yield: still a checkpoint, so a task
    // cancelled between attempts makes no further attempt.
    fibrio::run(|| {
        let attempts = Rc::new(Cell::new(0));
        let a = attempts.clone();
        let task = fibrio::spawn(move || {
            retry(&no_pause(1_000), || -> Result<(), u32> {
                a.set(a.get() + 1);
                Err(a.get())
            })
        });
        fibrio::yield_now(); // the task makes its first attempt and yields
        assert_eq!(attempts.get(), 1);
        task.cancel();
        assert!(task.join().unwrap_err().is_cancelled());
        assert_eq!(attempts.get(), 1);
    });
}

#[test]
fn retry_in_drop_during_unwinding_stops_instead_of_spinning() {
    struct RetryOnDrop(Rc<RefCell<Option<(u32, StopReason)>>>);
    impl Drop for RetryOnDrop {
        fn drop(&mut self) {
            let policy = RetryPolicy::builder()
                .max_retries(1_000)
                .initial_delay(Duration::from_secs(1))
                .max_delay(Duration::from_secs(1))
                .build()
                .unwrap();
            let err = retry(&policy, || Err::<(), _>("still failing")).unwrap_err();
            *self.0.borrow_mut() = Some((err.attempts(), err.reason()));
        }
    }
    fibrio::run(|| {
        let outcome = Rc::new(RefCell::new(None));
        let guard = RetryOnDrop(outcome.clone());
        let task = fibrio::spawn(move || {
            let _guard = guard;
            // Parks until cancelled, then unwinds (dropping `_guard`) from
            // the next checkpoint.
            loop {
                let _ = fibrio::task::park();
            }
        });
        fibrio::yield_now();
        let begin = Instant::now();
        task.cancel();
        assert!(task.join().unwrap_err().is_cancelled());
        assert!(begin.elapsed() < Duration::from_secs(1));
        assert_eq!(*outcome.borrow(), Some((1, StopReason::Unwinding)));
    });
}

#[test]
fn works_on_a_plain_thread() {
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .initial_delay(ms(2))
        .jitter(0.0)
        .build()
        .unwrap();
    let handle = std::thread::spawn(move || {
        let begin = Instant::now();
        let mut calls = 0;
        let got = retry(&policy, || {
            calls += 1;
            if calls < 3 {
                Err(calls)
            } else {
                Ok(calls)
            }
        });
        (got, begin.elapsed())
    });
    let (got, elapsed) = handle.join().unwrap();
    assert_eq!(got, Ok(3));
    assert!(elapsed >= ms(2 + 4), "{elapsed:?}");
}

#[test]
fn invalid_configurations_are_rejected_with_clear_errors() {
    fn build(b: RetryPolicyBuilder<()>) -> Result<RetryPolicy<()>, RetryConfigError> {
        b.build()
    }
    let base = RetryPolicy::<()>::builder;
    for m in [-1.0, 0.0, 0.5, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(
            build(base().multiplier(m)),
            Err(RetryConfigError::InvalidMultiplier(m))
        );
    }
    assert!(matches!(
        build(base().multiplier(f64::NAN)),
        Err(RetryConfigError::InvalidMultiplier(m)) if m.is_nan()
    ));
    for j in [-0.1, 1.01, f64::INFINITY] {
        assert_eq!(
            build(base().jitter(j)),
            Err(RetryConfigError::InvalidJitter(j))
        );
    }
    assert!(matches!(
        build(base().jitter(f64::NAN)),
        Err(RetryConfigError::InvalidJitter(j)) if j.is_nan()
    ));
    assert_eq!(
        build(base().initial_delay(ms(20)).max_delay(ms(10))),
        Err(RetryConfigError::MaxDelayBelowInitial {
            initial: ms(20),
            max: ms(10)
        })
    );
    // The messages say what is wrong and what is allowed.
    let msg = build(base().multiplier(-2.0)).unwrap_err().to_string();
    assert!(msg.contains("multiplier") && msg.contains(">= 1.0") && msg.contains("-2"));
    let msg = build(base().jitter(3.0)).unwrap_err().to_string();
    assert!(msg.contains("jitter") && msg.contains("0.0..=1.0") && msg.contains('3'));
    let msg = build(base().max_delay(ms(1))).unwrap_err().to_string();
    assert!(msg.contains("max_delay") && msg.contains("initial_delay"));
    // The edges are valid.
    for ok in [
        base().multiplier(1.0),
        base().jitter(0.0),
        base().jitter(1.0),
        base().initial_delay(ms(5)).max_delay(ms(5)),
        base()
            .initial_delay(Duration::ZERO)
            .max_delay(Duration::ZERO),
    ] {
        assert!(build(ok).is_ok());
    }
}

#[test]
fn presets_and_equality() {
    let p = RetryPolicy::<()>::new();
    assert_eq!(p, RetryPolicy::default());
    assert_eq!(p, RetryPolicy::builder().build().unwrap());
    assert_ne!(p, RetryPolicy::aggressive());
    assert_ne!(RetryPolicy::<()>::aggressive(), RetryPolicy::conservative());
    assert_ne!(RetryPolicy::<()>::conservative(), RetryPolicy::disabled());
    for preset in [
        RetryPolicy::<()>::new(),
        RetryPolicy::aggressive(),
        RetryPolicy::conservative(),
        RetryPolicy::disabled(),
    ] {
        // Every preset passes validation unchanged.
        let rebuilt = preset.clone().into_builder().build().unwrap();
        assert_eq!(rebuilt, preset);
    }
    // Predicates compare by identity: a clone shares it, a new closure
    // (even an identical one) does not.
    let a = RetryPolicy::<i32>::builder()
        .retry_if(|e| *e > 0)
        .build()
        .unwrap();
    let b = RetryPolicy::<i32>::builder()
        .retry_if(|e| *e > 0)
        .build()
        .unwrap();
    assert_eq!(a, a.clone());
    assert_ne!(a, b);
    assert_ne!(a, RetryPolicy::new());
    let debug = format!("{a:?}");
    assert!(
        debug.contains("max_retries: 3") && debug.contains("<predicate>"),
        "{debug}"
    );
}

#[test]
fn retry_error_displays_and_chains_the_last_error() {
    use std::error::Error as _;
    let err: RetryError<std::io::Error> = retry(&RetryPolicy::disabled(), || {
        Err::<(), _>(std::io::Error::other("connection refused"))
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "gave up after 1 attempt (retries exhausted): connection refused"
    );
    assert_eq!(err.source().unwrap().to_string(), "connection refused");
}
