//! Slowloris against the real `http_server` binary (built beside this test
//! if missing), in a child process: many connections that each send one
//! byte of a never-ending request head every so often, while a prober
//! makes normal requests on fresh connections.
//!
//! * `slow_heads_are_closed_at_the_header_timeout_while_normal_requests_succeed`
//!   (CI): up to 1,000 slow connections (fewer if `RLIMIT_NOFILE` is low),
//!   one byte a second, `--header-timeout 2s`. Every normal request gets
//!   `200`; every slow connection is answered `408` and closed no earlier
//!   than the header timeout after its connect started and no later than
//!   ten times it. The normal requests' latency percentiles are printed, not
//!   asserted. About 5 s.
//! * `slowloris_p99` (`#[ignore]`; `just slowloris-p99`, release build): the
//!   issue's figure. 2,000 slow connections (one byte every 5 s, reopened
//!   when the server closes them) against the default 10 s header timeout,
//!   and the normal requests' p50/p90/p99/max without and with them.
//!   Settings from the environment: `SLOWLORIS_CONNECTIONS` (2000),
//!   `SLOWLORIS_INTERVAL_MS` (5000), `SLOWLORIS_SECONDS` (30, of load after
//!   the ramp-up), `SLOWLORIS_BASELINE_SECONDS` (5), `SLOWLORIS_WORKERS` (1),
//!   `SLOWLORIS_PROBE_GAP_MS` (2, between normal requests).
//!
//! Wall-clock bounds are 10x away from what is measured; the lower bound
//! (never closed before the header timeout) is what the server promises.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio_examples::http_client::parse_responses;

/// The slow connections' head: it never ends, and stays under the 8 KiB
/// head limit at one byte a second for over two hours.
const SLOW_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ";

/// How a slow connection ended.
#[derive(Debug)]
struct Closed {
    /// From just before its connect to the first sign of the close (the
    /// answer's first byte, the end of the stream or a reset), as seen by
    /// `poll(2)` (within about 5 ms).
    after: Duration,
    /// What the server sent before closing.
    answer: Vec<u8>,
    /// Whether the close was a reset rather than an end of stream.
    reset: bool,
}

/// One slow connection.
struct Slow {
    stream: TcpStream,
    opened: Instant,
    sent: usize,
    next_send: Instant,
    answer: Vec<u8>,
    answered_at: Option<Instant>,
}

/// Slowloris settings.
#[derive(Clone, Copy, Debug)]
struct Attack {
    connections: usize,
    /// Between two bytes of one connection.
    interval: Duration,
    /// New connections opened per second at most (the ramp-up).
    open_per_second: usize,
    /// Reopen a connection the server closed.
    reopen: bool,
    /// Stop after this long (and after every connection closed, if not
    /// reopening).
    limit: Duration,
}

/// Runs the attack on one thread: nonblocking sockets, `poll(2)` at most
/// 5 ms at a time.
/// Returns every close, and the most connections open at once.
fn slowloris(addr: SocketAddr, attack: Attack, stop: &AtomicBool) -> (Vec<Closed>, usize) {
    let start = Instant::now();
    let mut open: Vec<Slow> = Vec::new();
    let mut closed = Vec::new();
    let mut opened = 0usize;
    let mut most = 0;
    let mut buf = [0u8; 1024];
    loop {
        let now = Instant::now();
        let elapsed = now - start;
        if elapsed > attack.limit || stop.load(Ordering::Relaxed) {
            break;
        }
        if !attack.reopen && opened >= attack.connections && open.is_empty() {
            break;
        }
        // Open connections, at most `open_per_second` a second.
        let allowed = ((elapsed.as_secs_f64() + 0.01) * attack.open_per_second as f64) as usize;
        while open.len() < attack.connections
            && opened < allowed
            && (attack.reopen || opened < attack.connections)
        {
            let began = Instant::now();
            let stream = TcpStream::connect(addr).expect("slow connect");
            stream.set_nonblocking(true).unwrap();
            opened += 1;
            open.push(Slow {
                stream,
                opened: began,
                sent: 0,
                next_send: began,
                answer: Vec::new(),
                answered_at: None,
            });
        }
        most = most.max(open.len());
        // Wait up to 5 ms for any connection to become readable.
        let mut fds: Vec<libc::pollfd> = open
            .iter()
            .map(|slow| libc::pollfd {
                fd: slow.stream.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 5) };
        assert!(ready >= 0, "poll: {}", io::Error::last_os_error());
        let now = Instant::now();
        let mut readable = fds.iter().map(|fd| fd.revents != 0);
        open.retain_mut(|slow| {
            let readable = readable.next().unwrap_or(true);
            // Read first, so that nothing is sent once the server answered.
            let end = loop {
                if !readable {
                    break None;
                }
                match (&slow.stream).read(&mut buf) {
                    Ok(0) => break Some(false),
                    Ok(n) => {
                        slow.answered_at.get_or_insert(now);
                        slow.answer.extend_from_slice(&buf[..n]);
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break None,
                    Err(err) if err.kind() == io::ErrorKind::ConnectionReset => break Some(true),
                    Err(err) => panic!("slow connection: {err}"),
                }
            };
            if let Some(reset) = end {
                closed.push(Closed {
                    after: slow.answered_at.unwrap_or(now) - slow.opened,
                    answer: std::mem::take(&mut slow.answer),
                    reset,
                });
                return false;
            }
            if slow.answer.is_empty() && now >= slow.next_send {
                let byte = if slow.sent < SLOW_HEAD.len() {
                    SLOW_HEAD[slow.sent]
                } else {
                    b'a'
                };
                match (&slow.stream).write(&[byte]) {
                    Ok(_) => slow.sent += 1,
                    // Closed meanwhile: the next read tells how.
                    Err(err)
                        if matches!(
                            err.kind(),
                            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                        ) => {}
                    Err(err) => panic!("slow write: {err}"),
                }
                slow.next_send += attack.interval;
            }
            true
        });
    }
    (closed, most)
}

/// Normal requests, one per fresh connection, `gap` apart, until `stop`:
/// each one's latency (connect to the end of the response). Panics on any
/// answer but a whole `200`.
fn probe(addr: SocketAddr, gap: Duration, stop: &AtomicBool) -> Vec<Duration> {
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        let mut stream = TcpStream::connect(addr)
            .unwrap_or_else(|err| panic!("normal request {}: connect: {err}", latencies.len()));
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .unwrap_or_else(|err| panic!("normal request {}: read: {err}", latencies.len()));
        let elapsed = began.elapsed();
        let responses = parse_responses(&answer, &[false]);
        assert_eq!(responses.len(), 1, "{:?}", String::from_utf8_lossy(&answer));
        assert_eq!(responses[0].status, 200);
        assert_eq!(responses[0].body, b"Hello, World!");
        latencies.push(elapsed);
        if !gap.is_zero() {
            std::thread::sleep(gap);
        }
    }
    latencies
}

/// `p50 … max` of `latencies`, in milliseconds.
fn percentiles(latencies: &mut [Duration]) -> String {
    if latencies.is_empty() {
        return "no requests".into();
    }
    latencies.sort();
    let at = |p: f64| {
        let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1].as_secs_f64() * 1e3
    };
    format!(
        "{} requests: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        latencies.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(0.999),
        at(1.0)
    )
}

/// Runs `attack` with the prober alongside; returns the closes, the most
/// slow connections open at once, and the normal requests' latencies.
fn attack_while_probing(
    addr: SocketAddr,
    attack: Attack,
    probe_gap: Duration,
) -> (Vec<Closed>, usize, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || probe(addr, probe_gap, &stop))
    };
    let attacker = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || slowloris(addr, attack, &stop))
    };
    let attacked = attacker.join();
    stop.store(true, Ordering::Relaxed);
    let latencies = prober.join().expect("a normal request failed");
    let (closed, most) = attacked.expect("the slowloris thread panicked");
    (closed, most, latencies)
}

#[test]
fn slow_heads_are_closed_at_the_header_timeout_while_normal_requests_succeed() {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
    let fds = common::raise_fd_limit_to_hard();
    // One fd per slow connection on each side (client here, server in
    // its own process), and room for everything else.
    let connections = 1000.min(fds.saturating_sub(200) as usize);
    assert!(connections >= 100, "RLIMIT_NOFILE {fds} is too low");
    let (_server, addr) = common::http_server(1, &["--header-timeout", "2s"]);
    let started = Instant::now();
    let (closed, most, mut latencies) = attack_while_probing(
        addr,
        Attack {
            connections,
            interval: Duration::from_secs(1),
            open_per_second: 100_000,
            reopen: false,
            limit: HEADER_TIMEOUT * 10 + Duration::from_secs(5),
        },
        Duration::from_millis(5),
    );
    let took = started.elapsed();
    assert_eq!(
        closed.len(),
        connections,
        "slow connections still open after {took:?}"
    );
    let mut resets = 0;
    for slow in &closed {
        assert!(
            slow.after >= HEADER_TIMEOUT,
            "a slow connection was closed after {:?}, before the header timeout",
            slow.after
        );
        assert!(
            slow.after < HEADER_TIMEOUT * 10,
            "a slow connection was closed only after {:?}",
            slow.after
        );
        if slow.answer.is_empty() && slow.reset {
            // Our byte crossed the server's close: counted, not failed.
            resets += 1;
            continue;
        }
        let responses = parse_responses(&slow.answer, &[false]);
        assert_eq!(responses.len(), 1, "{responses:?}");
        assert_eq!(responses[0].status, 408);
        assert_eq!(responses[0].header("connection"), Some("close"));
    }
    assert!(
        resets * 10 < connections,
        "{resets} of {connections} slow connections reset without a 408"
    );
    let mut after: Vec<Duration> = closed.iter().map(|c| c.after).collect();
    after.sort();
    eprintln!(
        "{connections} slow connections (at most {most} open at once), header timeout \
         {HEADER_TIMEOUT:?}: closed {:?} to {:?} after their connect ({resets} resets without \
         the 408); all done in {took:?}",
        after[0],
        after[after.len() - 1]
    );
    eprintln!("normal requests meanwhile: {}", percentiles(&mut latencies));
    assert!(!latencies.is_empty());
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .map(|value| {
            value
                .parse()
                .unwrap_or_else(|_| panic!("{name}={value:?} is not a number"))
        })
        .unwrap_or(default)
}

/// The issue's figure: "under 2,000 slowloris connections (one header byte
/// every 5 s), normal requests keep p99 under 10 ms". Printed, not
/// asserted; run it on a release build (`just slowloris-p99`).
#[test]
#[ignore = "a measurement of a minute; `just slowloris-p99` runs it in release"]
fn slowloris_p99() {
    let connections: usize = env_or("SLOWLORIS_CONNECTIONS", 2000);
    let interval = Duration::from_millis(env_or("SLOWLORIS_INTERVAL_MS", 5000));
    let seconds: u64 = env_or("SLOWLORIS_SECONDS", 30);
    let baseline_seconds: u64 = env_or("SLOWLORIS_BASELINE_SECONDS", 5);
    let workers: usize = env_or("SLOWLORIS_WORKERS", 1);
    let gap = Duration::from_millis(env_or("SLOWLORIS_PROBE_GAP_MS", 2));
    let fds = common::raise_fd_limit_to_hard();
    assert!(
        fds as usize > connections + 200,
        "RLIMIT_NOFILE {fds} is too low for {connections} connections"
    );
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; `just slowloris-p99` measures a release one");
    }
    // The default header timeout (10 s).
    let (_server, addr) = common::http_server(workers, &[]);

    let stop = Arc::new(AtomicBool::new(false));
    let baseline = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || probe(addr, gap, &stop))
    };
    std::thread::sleep(Duration::from_secs(baseline_seconds));
    stop.store(true, Ordering::Relaxed);
    let mut baseline = baseline.join().expect("a normal request failed");

    // Ramp up over one interval, so the bytes (and the closes at the
    // header timeout) spread out, then hold `seconds`.
    let ramp = interval.max(Duration::from_secs(1));
    let open_per_second = (connections as f64 / ramp.as_secs_f64()).ceil() as usize;
    let (closed, most, mut latencies) = attack_while_probing(
        addr,
        Attack {
            connections,
            interval,
            open_per_second,
            reopen: true,
            limit: ramp + Duration::from_secs(seconds),
        },
        gap,
    );
    let answered_408 = closed
        .iter()
        .filter(|c| c.answer.starts_with(b"HTTP/1.1 408 "))
        .count();
    let mut after: Vec<Duration> = closed.iter().map(|c| c.after).collect();
    after.sort();
    eprintln!(
        "slowloris: {connections} connections (at most {most} open at once), a byte every \
         {interval:?}, {workers} worker(s), ramp-up {ramp:?} then {seconds} s; {} closed by the \
         server ({answered_408} with 408), {:?} to {:?} after their connect",
        closed.len(),
        after.first().copied().unwrap_or_default(),
        after.last().copied().unwrap_or_default(),
    );
    eprintln!(
        "normal requests without slowloris: {}",
        percentiles(&mut baseline)
    );
    eprintln!(
        "normal requests under slowloris:   {}",
        percentiles(&mut latencies)
    );
}
