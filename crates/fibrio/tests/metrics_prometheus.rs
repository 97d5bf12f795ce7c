//! Metrics through the facade after a known workload, and their
//! Prometheus text exposition checked line by line against the format's
//! grammar (no Rust Prometheus parser builds offline here): every sample's
//! family is declared once with HELP and TYPE before its samples, names
//! and labels are well formed, counters end in `_total`, no series
//! repeats, and histogram buckets are cumulative, end at `+Inf` and equal
//! `_count`.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use fibrio::task::WaitKind;

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A sample line: name, labels, value.
fn parse_sample(line: &str) -> (String, Vec<(String, String)>, f64) {
    let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, Vec::new()),
        Some((name, rest)) => {
            let body = rest.strip_suffix('}').expect("labels end with }");
            let labels = body
                .split(',')
                .map(|pair| {
                    let (key, quoted) = pair.split_once('=').expect("label=value");
                    assert!(valid_name(key) && !key.starts_with("__"), "label {key:?}");
                    let value = quoted
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .expect("quoted label value");
                    assert!(!value.contains(['"', '\\', '\n']), "{value:?}");
                    (key.to_owned(), value.to_owned())
                })
                .collect();
            (name, labels)
        }
    };
    assert!(valid_name(name), "metric name {name:?}");
    (name.to_owned(), labels, value)
}

/// Checks `text` against the exposition format; returns every sample by
/// its series text.
fn check_exposition(text: &str) -> HashMap<String, f64> {
    assert!(text.ends_with('\n'));
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut series = HashMap::new();
    let mut buckets: HashMap<(String, String), Vec<(f64, f64)>> = HashMap::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "no blank lines");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            assert!(valid_name(name) && !help.is_empty());
            assert!(helped.insert(name.to_owned()), "HELP twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind));
            assert!(helped.contains(name), "HELP before TYPE for {name}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none());
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name}");
            }
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment {line}");
        let (name, labels, value) = parse_sample(line);
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
            })
            .unwrap_or(&name);
        assert!(types.contains_key(family), "sample before TYPE: {line}");
        assert!(labels.iter().any(|(k, _)| k == "worker"), "{line}");
        let key = line.rsplit_once(' ').unwrap().0.to_owned();
        assert!(
            series.insert(key.clone(), value).is_none(),
            "series twice: {key}"
        );
        if name.ends_with("_bucket") {
            let le = &labels.iter().find(|(k, _)| k == "le").unwrap().1;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            let worker = &labels.iter().find(|(k, _)| k == "worker").unwrap().1;
            let key = (family.to_owned(), worker.clone());
            buckets.entry(key).or_default().push((bound, value));
        }
    }
    for ((family, worker), list) in &buckets {
        assert!(
            list.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{family}"
        );
        let (last_bound, last) = *list.last().unwrap();
        assert_eq!(last_bound, f64::INFINITY);
        assert_eq!(
            series[&format!("{family}_count{{worker=\"{worker}\"}}")],
            last
        );
    }
    series
}

#[test]
fn metrics_are_exact_and_the_prometheus_text_parses() {
    fibrio_core::task::test_support::quiet_planned_panics();
    fibrio::run(|| {
        for i in 0..5 {
            fibrio::spawn(move || i).join().unwrap();
        }
        let _ = fibrio::spawn(|| panic!("planned panic")).join();
        let sleepers: Vec<_> = (0..3)
            .map(|_| fibrio::spawn(|| fibrio::sleep(Duration::from_secs(3600))))
            .collect();
        fibrio::yield_now();
        let metrics = fibrio::metrics();
        assert_eq!(metrics.tasks_spawned, 1 + 5 + 1 + 3);
        assert_eq!(metrics.tasks_completed, 5);
        assert_eq!(metrics.tasks_failed, 1);
        assert_eq!(metrics.tasks_cancelled, 0);
        assert_eq!(metrics.tasks_alive, 4);
        assert_eq!(metrics.timers_pending, 3);
        assert_eq!(metrics.parked_by_reason, [(WaitKind::Sleep, 3)]);

        let from_handle = fibrio::Handle::current().metrics().unwrap();
        let text = fibrio::prometheus_text(&[metrics, from_handle]);
        let series = check_exposition(&text);
        // For checking with another parser (the docs' sample comes from it).
        if let Some(path) = std::env::var_os("FIBRIO_METRICS_SAMPLE") {
            std::fs::write(path, &text).unwrap();
        }
        assert_eq!(series["fibrio_tasks_spawned_total{worker=\"0\"}"], 10.0);
        assert_eq!(series["fibrio_tasks_failed_total{worker=\"1\"}"], 1.0);
        assert_eq!(
            series["fibrio_tasks_parked{worker=\"0\",reason=\"Sleep\"}"],
            3.0
        );
        assert!(series.contains_key("fibrio_wake_to_run_seconds_bucket{worker=\"1\",le=\"+Inf\"}"));
        for sleeper in sleepers {
            sleeper.cancel();
        }
    });
}
