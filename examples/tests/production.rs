//! `examples/production.rs`, the real binary in a child process: its
//! requests succeed, its admin endpoints answer, its limits refuse cleanly
//! while it goes on serving, the watchdog and SIGQUIT speak up, and SIGTERM
//! with a request in flight answers that request and exits 0 within the
//! grace period.
//!
//! Wall-clock bounds are 10x or more away from what is measured.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Example, START_TIMEOUT};
use fibrio_examples::http_client::{connect, read_to_close};

const GRACE: Duration = Duration::from_secs(30);

/// `production` on free loopback ports with `args`: the process, the
/// service's address and the admin's.
fn start(args: &[&str]) -> (Example, SocketAddr, SocketAddr) {
    let grace = format!("{}s", GRACE.as_secs());
    let mut all = vec![
        "--addr",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--grace",
        &grace,
    ];
    all.extend_from_slice(args);
    let mut service = Example::start("production", &all);
    let addr = service.wait_for_addr("serving on");
    let admin = service.wait_for_addr("admin on http://");
    (service, addr, admin)
}

/// A line-protocol client.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        Client {
            reader: BufReader::new(connect(addr)),
        }
    }

    /// The next line, without its newline; `None` at the end of the stream.
    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line).expect("read a line") {
            0 => None,
            _ => Some(line.trim_end().to_owned()),
        }
    }

    fn ask(&mut self, request: &str) -> String {
        writeln!(self.reader.get_mut(), "{request}").expect("send a request");
        self.line().expect("an answer")
    }

    /// Whether the service said something unasked within `wait` (a refusal).
    fn unasked_line(&mut self, wait: Duration) -> Option<String> {
        let stream = self.reader.get_ref();
        stream.set_read_timeout(Some(wait)).unwrap();
        let mut line = String::new();
        let read = self.reader.read_line(&mut line);
        self.reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        match read {
            Ok(_) => Some(line.trim_end().to_owned()),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(err) => panic!("probe: {err}"),
        }
    }
}

/// `GET path` on the admin listener: status code and body.
fn admin_get(admin: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = connect(admin);
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let page = String::from_utf8(read_to_close(&mut stream)).unwrap();
    let status = page
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {page:?}"));
    let body = page
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

#[test]
fn requests_succeed_and_the_admin_endpoints_show_them() {
    let (_service, addr, admin) = start(&[]);
    let mut client = Client::connect(addr);
    assert_eq!(client.ask("PING"), "PONG");
    let hash = client.ask("HASH hello");
    assert!(hash.starts_with("OK ") && hash.len() == 3 + 16, "{hash}");
    assert_eq!(
        client.ask("HASH hello"),
        hash,
        "the same work, the same hash"
    );
    assert!(client.ask("FANOUT 50").starts_with("OK 50 "));
    assert_eq!(client.ask("SLOW 10"), "OK slept 10ms");
    assert!(client.ask("NONSENSE").starts_with("ERR unknown request"));
    assert!(client
        .ask("SLOW lots")
        .starts_with("ERR SLOW takes a number"));

    let (status, metrics) = admin_get(admin, "/metrics");
    assert_eq!(status, 200);
    let spawned: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("fibrio_tasks_spawned_total{worker=\"0\"} "))
        .expect("fibrio_tasks_spawned_total")
        .parse()
        .unwrap();
    assert!(spawned >= 50.0 + 3.0, "FANOUT's tasks counted: {spawned}");

    let (status, health) = admin_get(admin, "/healthz");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "ok");

    let (status, dump) = admin_get(admin, "/debug/tasks");
    assert_eq!(status, 200);
    assert!(dump.contains("\"connection 127.0.0.1:"), "{dump}");
    assert!(dump.contains("\"fibrio-admin\""), "{dump}");
    assert_eq!(client.ask("PING"), "PONG");
}

#[test]
fn spawning_over_max_tasks_is_refused_cleanly_and_the_service_keeps_serving() {
    const MAX_TASKS: usize = 12;
    let limit = MAX_TASKS.to_string();
    let (_service, addr, admin) = start(&["--max-tasks", &limit, "--max-connections", "100"]);

    // A request that spawns over the limit is answered, not crashed on.
    let mut client = Client::connect(addr);
    let refused = client.ask("FANOUT 100");
    assert!(
        refused.starts_with("ERR busy: ") && refused.contains("max_tasks"),
        "{refused}"
    );
    assert_eq!(client.ask("PING"), "PONG");
    assert!(client.ask("FANOUT 5").starts_with("OK 5 "));

    // Connections take a task each: open them until one is refused.
    let mut served = vec![client];
    let refusal = loop {
        assert!(served.len() <= MAX_TASKS, "no connection refused");
        let mut next = Client::connect(addr);
        // A refused connection is told at once, before it sends anything.
        match next.unasked_line(Duration::from_millis(300)) {
            Some(line) => break line,
            None => {
                let answer = next.ask("PING");
                if answer != "PONG" {
                    break answer; // the refusal came late
                }
                served.push(next);
            }
        }
    };
    assert!(
        refusal.starts_with("ERR busy: ") && refusal.contains("max_tasks"),
        "{refusal}"
    );
    assert!(served.len() >= MAX_TASKS / 2, "served {}", served.len());
    // The connections already served go on being served.
    for client in &mut served {
        assert_eq!(client.ask("PING"), "PONG");
    }
    // A place given back is taken again.
    drop(served.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut next = Client::connect(addr);
        if next.unasked_line(Duration::from_millis(100)).is_none() {
            assert_eq!(next.ask("PING"), "PONG");
            break;
        }
        assert!(Instant::now() < deadline, "the freed place was not reused");
    }
    drop(served);
    let deadline = Instant::now() + Duration::from_secs(10);
    while admin_get(admin, "/healthz").0 != 200 {
        assert!(Instant::now() < deadline, "admin never answered again");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn connections_over_the_limit_are_refused_with_a_reason() {
    let (_service, addr, _) = start(&["--max-connections", "3"]);
    let mut served: Vec<Client> = (0..3).map(|_| Client::connect(addr)).collect();
    for client in &mut served {
        assert_eq!(client.ask("PING"), "PONG");
    }
    let mut over = Client::connect(addr);
    let refusal = over.line().expect("a refusal");
    assert!(
        refusal.starts_with("ERR busy: ") && refusal.contains("max-connections"),
        "{refusal}"
    );
    assert_eq!(over.line(), None, "closed after the refusal");
    assert_eq!(served[0].ask("PING"), "PONG");
}

#[test]
fn an_idle_connection_is_closed_at_the_idle_timeout() {
    let (_service, addr, _) = start(&["--idle-timeout", "300ms"]);
    let mut client = Client::connect(addr);
    assert_eq!(client.ask("PING"), "PONG");
    let started = Instant::now();
    let bye = client.line().expect("a reason");
    assert!(bye.starts_with("ERR idle timeout"), "{bye}");
    assert_eq!(client.line(), None);
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[test]
fn the_watchdog_names_a_blocking_task_and_sigquit_dumps_the_tasks() {
    let (mut service, addr, _) = start(&["--watchdog", "50ms"]);
    let mut client = Client::connect(addr);
    assert_eq!(
        client.ask("BLOCK 600"),
        "OK blocked the runtime's thread for 600ms"
    );
    let warning = service.wait_for_line(START_TIMEOUT, |l| l.contains("without parking"));
    assert!(warning.contains("connection 127.0.0.1:"), "{warning}");

    service.signal(libc::SIGQUIT);
    service.wait_for_line(START_TIMEOUT, |l| l.contains("fibrio task dump"));
    service.wait_for_line(START_TIMEOUT, |l| l.contains("\"connection 127.0.0.1:"));
    assert!(service.still_running(), "SIGQUIT does not end it");
    assert_eq!(client.ask("PING"), "PONG");
}

#[test]
fn sigterm_answers_the_request_in_flight_closes_idle_ones_and_exits_0() {
    let (mut service, addr, _) = start(&[]);
    let mut idle = Client::connect(addr);
    assert_eq!(idle.ask("PING"), "PONG");
    let mut busy = Client::connect(addr);
    writeln!(busy.reader.get_mut(), "SLOW 1500").unwrap();
    // Let the request be read before the signal.
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    service.sigterm();

    assert_eq!(idle.line().as_deref(), Some("BYE shutting down"));
    assert_eq!(idle.line(), None);
    assert_eq!(busy.line().as_deref(), Some("OK slept 1500ms"));
    assert_eq!(busy.line(), None, "closed after the answer");
    let (status, _) = service.wait(GRACE);
    assert!(status.success(), "exit {status:?}");
    let took = signalled.elapsed();
    assert!(took < GRACE, "{took:?}");
    eprintln!("exit 0 {took:?} after SIGTERM");
    assert!(service.output().contains("production: shut down"));
    let mut rest = Vec::new();
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map(|mut s| s.read_to_end(&mut rest));
    assert!(refused.is_err(), "nothing listens after the exit");
}
