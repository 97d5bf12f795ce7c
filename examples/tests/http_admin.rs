//! `http_server --admin 127.0.0.1:0`, the real binary in a child process:
//! the admin endpoints are served by the server's own runtime, next to the
//! HTTP port, and cover every worker.
//!
//! * `GET /metrics` is Prometheus text (each line a comment or a sample
//!   `name{labels} value`) and counts the tasks the requests ran on;
//! * `GET /healthz` is `200` and JSON;
//! * `GET /debug/tasks` lists the accept loop (task `main`, parked in an
//!   accept on the listener), `?stacks=1` shows it in `accept_loop`;
//! * with `--workers 2`, `/metrics` has samples of both workers, and
//!   SIGTERM still ends the server with exit 0.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use fibrio_examples::http_client::{connect, read_to_close};

/// An admin answer (the admin listener has its own, simpler, HTTP: no
/// `Date`, so not `http_client::parse_responses`).
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (lowercase).
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// One `GET path` on a connection of its own; the server closes it.
fn get(addr: SocketAddr, path: &str) -> Response {
    let mut stream = connect(addr);
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    let bytes = read_to_close(&mut stream);
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&bytes)));
    let head = String::from_utf8(bytes[..split].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let response = Response {
        status,
        body: bytes[split + 4..].to_vec(),
        head,
    };
    if let Some(length) = response.header("content-length") {
        assert_eq!(length.parse::<usize>().unwrap(), response.body.len());
    }
    response
}

/// The samples of a Prometheus text: `name{labels}` to value. Panics on a
/// line that is neither a comment nor a sample.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix('#') {
            let kind = comment.split_whitespace().next().unwrap_or("");
            assert!(
                ["HELP", "TYPE", "fibrio:"].contains(&kind),
                "not a Prometheus comment: {line:?}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels in {line:?}"
            );
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "{series} twice"
        );
    }
    samples
}

/// `http_server --workers workers --admin 127.0.0.1:0`: the process, its
/// HTTP address and its admin address.
fn start(workers: usize) -> (common::Example, SocketAddr, SocketAddr) {
    let (mut server, addr) = common::http_server(workers, &["--admin", "127.0.0.1:0"]);
    let admin = server.wait_for_addr("admin listening on");
    (server, addr, admin)
}

#[test]
fn admin_endpoints_show_the_server_that_runs_them() {
    let (_server, addr, admin) = start(1);
    const REQUESTS: usize = 20;
    for _ in 0..REQUESTS {
        assert_eq!(get(addr, "/").status, 200);
    }

    let metrics = get(admin, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let samples = samples(std::str::from_utf8(&metrics.body).unwrap());
    // One task per connection: the 20 requests', main's, the sweeper's and
    // the admin's own.
    let spawned = samples["fibrio_tasks_spawned_total{worker=\"0\"}"];
    let completed = samples["fibrio_tasks_completed_total{worker=\"0\"}"];
    assert!(spawned >= REQUESTS as f64 + 3.0, "spawned {spawned}");
    assert!(completed >= REQUESTS as f64, "completed {completed}");
    assert!(samples["fibrio_tasks_alive{worker=\"0\"}"] >= 3.0);

    let health = get(admin, "/healthz");
    assert_eq!(health.status, 200);
    assert!(health
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&health.body).expect("JSON health");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["workers"].as_array().unwrap().len(), 1);

    let tasks = get(admin, "/debug/tasks");
    assert_eq!(tasks.status, 200);
    let dump = String::from_utf8(tasks.body).unwrap();
    let main = dump
        .lines()
        .find(|l| l.contains("\"main\""))
        .unwrap_or_else(|| panic!("no main task in\n{dump}"));
    assert!(
        main.contains("an accept on fd"),
        "main is not accepting: {main}"
    );
    assert!(dump.contains("\"fibrio-admin\""), "{dump}");

    let stacks = get(admin, "/debug/tasks?stacks=1");
    assert_eq!(stacks.status, 200);
    let dump = String::from_utf8(stacks.body).unwrap();
    assert!(dump.contains("accept_loop"), "no accept loop in\n{dump}");

    assert_eq!(get(admin, "/nothing").status, 404);
}

#[test]
fn with_two_workers_metrics_and_health_cover_both() {
    let (mut server, addr, admin) = start(2);
    for _ in 0..10 {
        assert_eq!(get(addr, "/json").status, 200);
    }
    let metrics = get(admin, "/metrics");
    assert_eq!(metrics.status, 200);
    let samples = samples(std::str::from_utf8(&metrics.body).unwrap());
    for worker in ["0", "1"] {
        let alive = format!("fibrio_tasks_alive{{worker=\"{worker}\"}}");
        assert!(samples[&alive] >= 2.0, "{alive}: {}", samples[&alive]);
    }
    let spawned: f64 = ["0", "1"]
        .iter()
        .map(|w| samples[&format!("fibrio_tasks_spawned_total{{worker=\"{w}\"}}")])
        .sum();
    assert!(spawned >= 10.0 + 5.0, "spawned {spawned}");

    let health = get(admin, "/healthz");
    assert_eq!(health.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&health.body).unwrap();
    assert_eq!(json["workers"].as_array().unwrap().len(), 2, "{json}");

    // The admin's handles on worker 1 do not hold up a graceful shutdown.
    server.sigterm();
    let (status, took) = server.wait(Duration::from_secs(30));
    assert!(status.success(), "exit {status:?}");
    eprintln!("exit 0 {took:?} after SIGTERM");
}
