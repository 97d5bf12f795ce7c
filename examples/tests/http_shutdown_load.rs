//! SIGTERM under load: the real `http_server` binary (built beside this test
//! if missing) in a child process, loaded by `wrk` (keep-alive) and by
//! checking clients of our own, is sent SIGTERM in the middle of the load.
//!
//! What is checked:
//!
//! * The process exits 0 within the grace period.
//! * **No request the server had read is reset.** wrk cannot tell: it counts
//!   a connection the server closed with a request of wrk's sitting unread
//!   in its socket (which the kernel answers with a reset) as a read error,
//!   the same as a reset after the server read the request. So wrk's figures
//!   are printed, not asserted (only that every answer it got was 2xx), and
//!   two kinds of clients here check the rest:
//!   * *pipelining* clients send batches of 1-8 keep-alive `GET`s (`/` and
//!     `/json` alternating, so a response out of order or short shows) and
//!     check that every response is whole and the right one, that a
//!     connection ends only between two responses, and that one ending with
//!     a `Connection: close` response ends with a clean end of stream (no
//!     reset, nothing after it). Requests left unanswered after that close,
//!     or before a close between responses, are counted: the server never
//!     parsed them (a client retries them elsewhere).
//!   * *expect* clients send `POST /echo` with `Expect: 100-continue`: the
//!     `100 Continue` proves the server read the head, and from then on the
//!     request must be answered in full (its body echoed), however the
//!     shutdown falls.
//! * Before SIGTERM nothing is closed, refused or answered `Connection:
//!   close`.
//!
//! `sigterm_under_wrk_load_*` (CI, about 5 s each in a debug build): 2 s of
//! load, then SIGTERM. `sigterm_under_heavy_load` (`#[ignore]`; `just
//! shutdown-load`, release build): more connections and clients, several
//! rounds, 1 and 2 workers; `SHUTDOWN_LOAD_ROUNDS` (5),
//! `SHUTDOWN_LOAD_SECONDS` (5, of load before SIGTERM),
//! `SHUTDOWN_LOAD_CONNECTIONS` (256, wrk's).
//!
//! Wall-clock bounds are 10x or more away from what is measured.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const GRACE: Duration = Duration::from_secs(30);

/// The longest a client here waits for a byte.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// One whole response.
struct Response {
    status: u16,
    close: bool,
    body: Vec<u8>,
}

/// What a read of the next response found.
enum Next {
    Response(Response),
    /// The connection ended: `partial` bytes of a response had come.
    End {
        partial: usize,
        reset: bool,
    },
}

/// Reads the next response from `stream`, `buf` holding what was read
/// past the previous one.
fn next_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Next> {
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = response.code.unwrap_or(0);
                let header = |name: &str| {
                    response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
                };
                let close = header("connection").is_some_and(|v| v.contains("close"));
                let length: usize = if status < 200 {
                    0
                } else {
                    header("content-length")
                        .and_then(|v| v.trim().parse().ok())
                        .ok_or_else(|| io::Error::other("a response without Content-Length"))?
                };
                if buf.len() >= len + length {
                    let body = buf[len..len + length].to_vec();
                    buf.drain(..len + length);
                    return Ok(Next::Response(Response {
                        status,
                        close,
                        body,
                    }));
                }
            }
            Ok(httparse::Status::Partial) => {}
            Err(err) => {
                return Err(io::Error::other(format!(
                    "not a response ({err}): {:?}",
                    String::from_utf8_lossy(buf)
                )))
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Ok(Next::End {
                    partial: buf.len(),
                    reset: false,
                })
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {
                return Ok(Next::End {
                    partial: buf.len(),
                    reset: true,
                })
            }
            Err(err) => return Err(err),
        }
    }
}

/// What the checking clients saw.
#[derive(Debug, Default)]
struct Tally {
    /// Whole, correct final responses.
    responses: u64,
    /// Of which after SIGTERM.
    responses_after_signal: u64,
    /// `Connection: close` responses followed by a clean end of stream.
    closes_after_response: u64,
    /// Connections that ended between responses, with requests of ours
    /// unread by the server: by end of stream, by reset, or found on write.
    closes_between_eof: u64,
    closes_between_reset: u64,
    closes_on_write: u64,
    /// Pipelined requests the server never answered (after a close).
    unanswered: u64,
    /// `Expect` requests answered `100 Continue` and then in full.
    continued: u64,
    /// Connects refused (or reset) after SIGTERM: the listener was closed.
    refused: u64,
    violations: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.responses += other.responses;
        self.responses_after_signal += other.responses_after_signal;
        self.closes_after_response += other.closes_after_response;
        self.closes_between_eof += other.closes_between_eof;
        self.closes_between_reset += other.closes_between_reset;
        self.closes_on_write += other.closes_on_write;
        self.unanswered += other.unanswered;
        self.continued += other.continued;
        self.refused += other.refused;
        self.violations.extend(other.violations);
    }
}

/// Shared by the clients: set just before SIGTERM is sent, so a client that
/// sees an effect of the shutdown sees this set.
struct Flags {
    signalled: AtomicBool,
    stop: AtomicBool,
}

/// A connection, or `None` (counted, or a violation before SIGTERM).
fn open(addr: SocketAddr, flags: &Flags, tally: &mut Tally) -> Option<TcpStream> {
    match TcpStream::connect(addr) {
        Ok(stream) => {
            stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
            stream.set_nodelay(true).unwrap();
            Some(stream)
        }
        Err(err) => {
            if flags.signalled.load(Ordering::SeqCst) {
                tally.refused += 1;
            } else {
                tally
                    .violations
                    .push(format!("connect failed before SIGTERM: {err}"));
            }
            None
        }
    }
}

/// A connection that ended between responses: fine after SIGTERM (the
/// server had not read what was pending), a violation before.
fn ended_between(tally: &mut Tally, flags: &Flags, reset: bool, what: &str) {
    if !flags.signalled.load(Ordering::SeqCst) {
        tally
            .violations
            .push(format!("{what} before SIGTERM (reset: {reset})"));
    } else if reset {
        tally.closes_between_reset += 1;
    } else {
        tally.closes_between_eof += 1;
    }
}

/// After a `Connection: close` response: the stream must end cleanly.
fn expect_clean_end(stream: &mut TcpStream, buf: &mut Vec<u8>, tally: &mut Tally, flags: &Flags) {
    if !flags.signalled.load(Ordering::SeqCst) {
        tally
            .violations
            .push("Connection: close before SIGTERM".into());
    }
    match next_response(stream, buf) {
        Ok(Next::End {
            partial: 0,
            reset: false,
        }) => tally.closes_after_response += 1,
        Ok(Next::End { partial, reset }) => tally.violations.push(format!(
            "after a Connection: close response: {partial} bytes, then reset: {reset}"
        )),
        Ok(Next::Response(r)) => tally.violations.push(format!(
            "a response ({}) after a Connection: close one",
            r.status
        )),
        Err(err) => tally
            .violations
            .push(format!("after a Connection: close response: {err}")),
    }
}

/// Whether `body` is what `GET path` answers.
fn right_body(path: &str, body: &[u8]) -> bool {
    if path == "/" {
        body == b"Hello, World!"
    } else {
        body.starts_with(b"{\"message\":\"Hello, World!\"") && body.ends_with(b"}")
    }
}

/// Batches of 1-8 pipelined keep-alive GETs until the server is gone.
fn pipelining_client(addr: SocketAddr, flags: &Flags) -> Tally {
    let mut tally = Tally::default();
    let mut round = 0usize;
    'connection: while !flags.stop.load(Ordering::SeqCst) {
        let Some(mut stream) = open(addr, flags, &mut tally) else {
            break;
        };
        let mut buf = Vec::new();
        loop {
            if flags.stop.load(Ordering::SeqCst) {
                break 'connection;
            }
            round += 1;
            let paths: Vec<&str> = (0..1 + round % 8)
                .map(|i| {
                    if (round + i).is_multiple_of(2) {
                        "/"
                    } else {
                        "/json"
                    }
                })
                .collect();
            let batch: String = paths
                .iter()
                .map(|path| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
                .collect();
            if let Err(err) = stream.write_all(batch.as_bytes()) {
                // The server closed after our last batch was answered.
                if flags.signalled.load(Ordering::SeqCst) {
                    tally.closes_on_write += 1;
                    tally.unanswered += paths.len() as u64;
                } else {
                    tally
                        .violations
                        .push(format!("write failed before SIGTERM: {err}"));
                }
                continue 'connection;
            }
            for (i, path) in paths.iter().enumerate() {
                match next_response(&mut stream, &mut buf) {
                    Ok(Next::Response(response)) => {
                        if response.status != 200 || !right_body(path, &response.body) {
                            tally.violations.push(format!(
                                "GET {path}: {} {:?}",
                                response.status,
                                String::from_utf8_lossy(&response.body)
                            ));
                            break 'connection;
                        }
                        tally.responses += 1;
                        if flags.signalled.load(Ordering::SeqCst) {
                            tally.responses_after_signal += 1;
                        }
                        if response.close {
                            tally.unanswered += (paths.len() - i - 1) as u64;
                            expect_clean_end(&mut stream, &mut buf, &mut tally, flags);
                            continue 'connection;
                        }
                    }
                    Ok(Next::End { partial: 0, reset }) => {
                        tally.unanswered += (paths.len() - i) as u64;
                        ended_between(&mut tally, flags, reset, "a close between responses");
                        continue 'connection;
                    }
                    Ok(Next::End { partial, reset }) => {
                        tally.violations.push(format!(
                            "closed {partial} bytes into a response to GET {path} (reset: {reset})"
                        ));
                        continue 'connection;
                    }
                    Err(err) => {
                        tally.violations.push(format!("GET {path}: {err}"));
                        continue 'connection;
                    }
                }
            }
        }
    }
    tally
}

/// `POST /echo` with `Expect: 100-continue`, one at a time, until the
/// server is gone: once `100 Continue` came, the answer must come whole.
fn expect_client(addr: SocketAddr, id: usize, flags: &Flags) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0usize;
    'connection: while !flags.stop.load(Ordering::SeqCst) {
        let Some(mut stream) = open(addr, flags, &mut tally) else {
            break;
        };
        let mut buf = Vec::new();
        loop {
            if flags.stop.load(Ordering::SeqCst) {
                break 'connection;
            }
            n += 1;
            let body = format!("client-{id}-request-{n}");
            let head = format!(
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
                body.len()
            );
            if let Err(err) = stream.write_all(head.as_bytes()) {
                if flags.signalled.load(Ordering::SeqCst) {
                    tally.closes_on_write += 1;
                } else {
                    tally
                        .violations
                        .push(format!("write failed before SIGTERM: {err}"));
                }
                continue 'connection;
            }
            match next_response(&mut stream, &mut buf) {
                Ok(Next::Response(response)) if response.status == 100 => {}
                Ok(Next::Response(response)) => {
                    tally
                        .violations
                        .push(format!("{} instead of 100 Continue", response.status));
                    continue 'connection;
                }
                Ok(Next::End { partial: 0, reset }) => {
                    ended_between(&mut tally, flags, reset, "a close before 100 Continue");
                    continue 'connection;
                }
                Ok(Next::End { partial, reset }) => {
                    tally.violations.push(format!(
                        "closed {partial} bytes into 100 Continue (reset: {reset})"
                    ));
                    continue 'connection;
                }
                Err(err) => {
                    tally.violations.push(format!("100 Continue: {err}"));
                    continue 'connection;
                }
            }
            // The server read this request's head: it must answer it.
            if let Err(err) = stream.write_all(body.as_bytes()) {
                tally
                    .violations
                    .push(format!("a read request's body could not be sent: {err}"));
                continue 'connection;
            }
            match next_response(&mut stream, &mut buf) {
                Ok(Next::Response(response))
                    if response.status == 200 && response.body == body.as_bytes() =>
                {
                    tally.responses += 1;
                    tally.continued += 1;
                    if flags.signalled.load(Ordering::SeqCst) {
                        tally.responses_after_signal += 1;
                    }
                    if response.close {
                        expect_clean_end(&mut stream, &mut buf, &mut tally, flags);
                        continue 'connection;
                    }
                }
                Ok(Next::Response(response)) => {
                    tally.violations.push(format!(
                        "a read request answered {} {:?}",
                        response.status,
                        String::from_utf8_lossy(&response.body)
                    ));
                    continue 'connection;
                }
                Ok(Next::End { partial, reset }) => {
                    tally.violations.push(format!(
                        "a read request (100 Continue sent) was not answered: closed after \
                         {partial} bytes of its response (reset: {reset})"
                    ));
                    continue 'connection;
                }
                Err(err) => {
                    tally
                        .violations
                        .push(format!("a read request's answer: {err}"));
                    continue 'connection;
                }
            }
        }
    }
    tally
}

/// wrk's summary, as far as it goes.
#[derive(Debug, Default)]
struct WrkSummary {
    requests: u64,
    socket_errors: String,
    non_2xx: u64,
}

fn parse_wrk(output: &str) -> WrkSummary {
    let mut summary = WrkSummary::default();
    for line in output.lines().map(str::trim) {
        if let Some(errors) = line.strip_prefix("Socket errors: ") {
            summary.socket_errors = errors.to_string();
        } else if let Some(count) = line.strip_prefix("Non-2xx or 3xx responses: ") {
            summary.non_2xx = count.trim().parse().unwrap_or(u64::MAX);
        } else if line.contains(" requests in ") {
            summary.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    if summary.socket_errors.is_empty() {
        summary.socket_errors = "none".into();
    }
    summary
}

fn have_wrk() -> bool {
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[derive(Clone, Copy, Debug)]
struct Load {
    workers: usize,
    /// Of load before SIGTERM.
    before: Duration,
    wrk_connections: usize,
    wrk_threads: usize,
    pipelining_clients: usize,
    expect_clients: usize,
}

/// One run: load, SIGTERM, checks. Returns the tally for the caller to print.
fn sigterm_under_load(load: Load) {
    let grace = format!("{}s", GRACE.as_secs());
    let (mut server, addr) = common::http_server(load.workers, &["--grace", &grace]);
    let flags = Arc::new(Flags {
        signalled: AtomicBool::new(false),
        stop: AtomicBool::new(false),
    });
    let wrk = have_wrk().then(|| {
        // Runs on past the exit; connect errors then are expected.
        let seconds = load.before.as_secs() + 2;
        Command::new("wrk")
            .args([
                &format!("-t{}", load.wrk_threads),
                &format!("-c{}", load.wrk_connections),
                &format!("-d{seconds}s"),
                &format!("http://{addr}/"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wrk")
    });
    if wrk.is_none() {
        eprintln!("wrk is not installed: only the checking clients load the server");
    }
    let mut clients = Vec::new();
    for _ in 0..load.pipelining_clients {
        let flags = Arc::clone(&flags);
        clients.push(std::thread::spawn(move || pipelining_client(addr, &flags)));
    }
    for id in 0..load.expect_clients {
        let flags = Arc::clone(&flags);
        clients.push(std::thread::spawn(move || expect_client(addr, id, &flags)));
    }
    std::thread::sleep(load.before);
    flags.signalled.store(true, Ordering::SeqCst);
    server.sigterm();
    let (status, waited) = server.wait(GRACE);
    // Clients end on their first refused connect; `stop` is a backstop.
    let watchdog = {
        let flags = Arc::clone(&flags);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(30));
            flags.stop.store(true, Ordering::SeqCst);
        })
    };
    let mut tally = Tally::default();
    for client in clients {
        tally.add(client.join().expect("a client panicked"));
    }
    drop(watchdog);
    let wrk = wrk.map(|child| {
        let output = child.wait_with_output().expect("wait for wrk");
        parse_wrk(&String::from_utf8_lossy(&output.stdout))
    });

    eprintln!(
        "{} worker(s), {:?} of load: exit {status:?} {waited:?} after SIGTERM",
        load.workers, load.before
    );
    eprintln!("checking clients: {tally:?}");
    if let Some(wrk) = &wrk {
        eprintln!(
            "wrk -c{}: {} requests, socket errors: {}, non-2xx: {}",
            load.wrk_connections, wrk.requests, wrk.socket_errors, wrk.non_2xx
        );
    }
    assert!(status.success(), "http_server exited with {status:?}");
    assert!(waited < GRACE, "exit took {waited:?}");
    assert!(
        tally.violations.is_empty(),
        "{} violations: {:#?}",
        tally.violations.len(),
        tally.violations
    );
    assert!(tally.responses > 0, "the checking clients got no response");
    assert!(
        tally.refused > 0,
        "the clients should have ended on a refused connect"
    );
    if let Some(wrk) = wrk {
        assert!(wrk.requests > 0, "wrk made no request");
        assert_eq!(wrk.non_2xx, 0, "wrk got answers other than 200");
    }
}

#[test]
fn sigterm_under_wrk_load_one_worker() {
    sigterm_under_load(Load {
        workers: 1,
        before: Duration::from_secs(2),
        wrk_connections: 32,
        wrk_threads: 1,
        pipelining_clients: 4,
        expect_clients: 4,
    });
}

#[test]
fn sigterm_under_wrk_load_two_workers() {
    sigterm_under_load(Load {
        workers: 2,
        before: Duration::from_secs(2),
        wrk_connections: 32,
        wrk_threads: 1,
        pipelining_clients: 4,
        expect_clients: 4,
    });
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v:?}")))
        .unwrap_or(default)
}

#[test]
#[ignore = "about a minute; `just shutdown-load` runs it in release"]
fn sigterm_under_heavy_load() {
    let rounds = env_or("SHUTDOWN_LOAD_ROUNDS", 5);
    let before = Duration::from_secs(env_or("SHUTDOWN_LOAD_SECONDS", 5));
    let connections = env_or("SHUTDOWN_LOAD_CONNECTIONS", 256) as usize;
    for round in 1..=rounds {
        for workers in [1, 2] {
            eprintln!("--- round {round}/{rounds}, {workers} worker(s)");
            sigterm_under_load(Load {
                workers,
                before,
                wrk_connections: connections,
                wrk_threads: 2,
                pipelining_clients: 16,
                expect_clients: 16,
            });
        }
    }
}
