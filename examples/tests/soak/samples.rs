//! The soak's samples of a server ([`Sample`]), their table, and the
//! check that nothing grew after the warm-up ([`growth_problems`]).
//!
//! Invariant (from the soak's docs): after the warm-up, the median of the
//! last third of the samples must stay within a tolerance of the largest
//! sample of the first half (fds +32, tasks +32, stacks x1.25 +32, RSS
//! x1.25 +8 MiB): the load's own ups and downs stay inside it, a leak of
//! one connection in a hundred does not.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    pub(super) at: Duration,
    pub(super) fds: u64,
    pub(super) rss_kib: u64,
    pub(super) tasks: Option<u64>,
    pub(super) stacks: Option<u64>,
}

pub(super) fn show(value: Option<u64>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

pub(super) fn print_table(name: &str, samples: &[Sample]) {
    println!("\n{name}: samples (fds and RSS of the process; tasks and stacks summed over the 2 workers)");
    println!(
        "{:>8} {:>6} {:>10} {:>7} {:>7}",
        "t (s)", "fds", "RSS (KiB)", "tasks", "stacks"
    );
    for s in samples {
        println!(
            "{:>8} {:>6} {:>10} {:>7} {:>7}",
            s.at.as_secs(),
            s.fds,
            s.rss_kib,
            show(s.tasks),
            show(s.stacks)
        );
    }
}

/// Checks that no metric grew after the warm-up: the median of the late
/// samples against the largest of the early ones, with a tolerance.
pub(super) fn growth_problems(name: &str, samples: &[Sample], warm_up: Duration) -> Vec<String> {
    let settled: Vec<&Sample> = samples.iter().filter(|s| s.at >= warm_up).collect();
    if settled.len() < 3 {
        return vec![format!(
            "{name}: only {} samples after the warm-up",
            settled.len()
        )];
    }
    let early = &settled[..settled.len().div_ceil(2)];
    let late = &settled[settled.len() - settled.len().div_ceil(3)..];
    type Get = fn(&Sample) -> Option<u64>;
    let metrics: [(&str, Get, f64, u64); 4] = [
        ("fds", |s| Some(s.fds), 1.0, 32),
        ("RSS (KiB)", |s| Some(s.rss_kib), 1.25, 8 * 1024),
        ("tasks", |s| s.tasks, 1.0, 32),
        ("stacks", |s| s.stacks, 1.25, 32),
    ];
    let mut problems = Vec::new();
    for (metric, get, factor, slack) in metrics {
        let early_max = early.iter().filter_map(|s| get(s)).max();
        let mut late_values: Vec<u64> = late.iter().filter_map(|s| get(s)).collect();
        late_values.sort_unstable();
        let (Some(early_max), Some(&late_median)) =
            (early_max, late_values.get(late_values.len() / 2))
        else {
            continue;
        };
        let limit = (early_max as f64 * factor) as u64 + slack;
        if late_median > limit {
            problems.push(format!(
                "{name}: {metric} grew after the warm-up: late median {late_median} > {limit} \
                 (early max {early_max} x{factor} + {slack})"
            ));
        }
    }
    problems
}

#[test]
fn growth_check_tolerates_noise_and_catches_a_leak() {
    let sample = |at: u64, fds: u64| Sample {
        at: Duration::from_secs(at),
        fds,
        rss_kib: 10_000,
        tasks: Some(10),
        stacks: None,
    };
    let warm_up = Duration::from_secs(10);
    // Noise: fds between 20 and 40 under load, a spike at the end.
    let steady: Vec<Sample> = (0..12)
        .map(|i| sample(5 * i, [20, 40, 25, 38][i as usize % 4]))
        .chain([sample(60, 90)])
        .collect();
    assert!(growth_problems("steady", &steady, warm_up).is_empty());
    // A leak: 10 fds more every sample.
    let leaking: Vec<Sample> = (0..12).map(|i| sample(5 * i, 20 + 10 * i)).collect();
    let problems = growth_problems("leaking", &leaking, warm_up);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("fds grew"), "{problems:?}");
}
