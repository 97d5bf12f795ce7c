//! Issue 18's memory targets for the `http_server` binary, measured on the
//! real process through its `VmRSS` (`/proc/PID/status`):
//!
//! 1. **An idle keep-alive connection costs under 8 KiB.** N connections
//!    each send one `GET /`, read the answer and stay open;
//!    `(RSS with them idle - RSS before) / N` must be under 8,192 bytes
//!    once they have reached their steady state: a connection's request
//!    task, on its deeper stack, ends when the connection has been idle
//!    for a whole sweeper tick, and the pool gives that stack's pages back
//!    after its quiet period (10 s; within two, 20 s). The test waits up to
//!    30 s for the figure to come under the target. The fixed costs of the
//!    first connections (the first stack batches, the sweeper's list) are
//!    charged to them too, so this is an upper bound of the per-connection
//!    cost.
//! 2. **Memory comes back after the load.** The connections close; within
//!    30 s RSS must be at most `2 x baseline + floor`, where the baseline is
//!    the RSS of the idle server before the load, and the floor is what the
//!    stack pool keeps by design: up to `POOL_TRIM_FLOOR` (1,024) stacks
//!    per thread stay mapped, but their pages are released with
//!    `madvise(MADV_DONTNEED)`, so they cost address space and page tables,
//!    not RSS: the floor adds 0 bytes of RSS, and the assert is
//!    `RSS <= 2 x baseline`. The server runs with its defaults: the pool's
//!    10 s quiet period, so its stacks go within two quiet periods (a trim
//!    releases the stacks not taken during a whole window of 10 s).
//!
//! The normal run uses 2,000 connections (fewer, down to 500, if the file
//! descriptor limit is lower: the test raises its soft limit to the hard
//! one, and the server, its child, inherits it); the ignored
//! `ten_thousand_idle_connections_memory` the issue's 10,000:
//!
//! ```text
//! cargo build --release -p fibrio-examples --example http_server
//! cargo test --release -p fibrio-examples --test http_memory -- --ignored --nocapture
//! ```
//!
//! The server is the release build whatever profile the test runs in (it
//! is built first if needed): the targets are for the binary as it is run
//! (`cargo run --release`); a debug build's stack frames are several times
//! larger, and its waiting connection touches three stack pages, not one.
//!
//! Nothing here bounds wall-clock time except the issue's own 30 s for the
//! memory to come back (a third of it spare over the two quiet periods).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{free_addr, raise_fd_limit_to_hard, release_example_binary, rss_bytes, Example};

/// The issue's target for an idle keep-alive connection.
const PER_CONNECTION_TARGET: u64 = 8 * 1024;

/// How long after the load RSS may take to come back (the issue's target).
const COME_BACK_WITHIN: Duration = Duration::from_secs(30);

/// How long idle connections may take to reach their steady state: their
/// request tasks end within two sweeper ticks (500 ms), and the pool
/// releases those tasks' stacks within two quiet periods (20 s).
const SETTLE_WITHIN: Duration = Duration::from_secs(30);

/// The RSS the pool's floor of `POOL_TRIM_FLOOR` stacks per thread adds
/// once trimmed: none, their pages are `MADV_DONTNEED`ed.
const FLOOR_RSS: u64 = 0;

/// File descriptors kept free for everything else, in each process.
const SPARE_FDS: u64 = 128;

/// What one run measured.
#[derive(Debug)]
struct Figures {
    connections: usize,
    baseline: u64,
    idle: u64,
    idle_after: Duration,
    per_connection: u64,
    /// RSS when it came within the target, and how long after the close.
    after: u64,
    came_back_in: Option<Duration>,
}

/// Starts `http_server` (1 worker, `--max-connections` above `wanted`),
/// holds `wanted` idle keep-alive connections, closes them and watches the
/// RSS come back.
fn measure(wanted: usize) -> Figures {
    let fds = raise_fd_limit_to_hard();
    let connections = wanted.min(usize::try_from(fds.saturating_sub(SPARE_FDS)).unwrap_or(wanted));
    assert!(
        connections >= 500.min(wanted),
        "RLIMIT_NOFILE is {fds}: too low for {wanted} connections; raise it (ulimit -n {})",
        wanted as u64 + SPARE_FDS
    );
    let limit = (connections + 64).to_string();
    let addr = free_addr();
    let addr_text = addr.to_string();
    let binary = release_example_binary("http_server");
    let args = [
        "--addr",
        &addr_text,
        "--workers",
        "1",
        "--max-connections",
        &limit,
    ];
    let mut server = Example::start_binary("http_server", &binary, &args);
    server.wait_for_lines("serving http://", 1);
    let pid = server.pid();
    // Let the startup's last allocations settle.
    std::thread::sleep(Duration::from_millis(300));
    let baseline = rss_bytes(pid);

    let streams = open_idle(addr, connections, &mut server);
    // The request tasks end a sweeper tick or two after their connections
    // went idle, and the pool gives their stacks' pages back within two
    // quiet periods: wait for that steady state (or 30 s), then measure.
    let opened = Instant::now();
    let per_connection = |rss: u64| rss.saturating_sub(baseline) / connections as u64;
    let mut idle = rss_bytes(pid);
    while per_connection(idle) >= PER_CONNECTION_TARGET && opened.elapsed() < SETTLE_WITHIN {
        assert!(
            server.still_running(),
            "http_server exited: {}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(250));
        idle = rss_bytes(pid);
    }
    let idle_after = opened.elapsed();
    let per_connection = per_connection(idle);
    eprintln!(
        "http_memory: {connections} idle keep-alive connections: RSS {baseline} B before, \
         {idle} B with them open ({idle_after:.1?} after the last answer): \
         {per_connection} B per connection"
    );

    drop(streams);
    let closed = Instant::now();
    let target = 2 * baseline + FLOOR_RSS;
    let mut after = rss_bytes(pid);
    let mut came_back_in = None;
    let mut last_print = Instant::now();
    while closed.elapsed() < COME_BACK_WITHIN {
        assert!(
            server.still_running(),
            "http_server exited: {}",
            server.output()
        );
        after = rss_bytes(pid);
        if after <= target {
            came_back_in = Some(closed.elapsed());
            break;
        }
        if last_print.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "http_memory: {:.0?} after the close: RSS {after} B",
                closed.elapsed()
            );
            last_print = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "http_memory: RSS {after} B {:?} after the close (target {target} B = 2 x {baseline} B \
         baseline + {FLOOR_RSS} B floor)",
        came_back_in.unwrap_or(COME_BACK_WITHIN)
    );
    Figures {
        connections,
        baseline,
        idle,
        idle_after,
        per_connection,
        after,
        came_back_in,
    }
}

/// Opens `count` connections, sends each one `GET /` and reads each
/// answer in full; returns them open.
fn open_idle(addr: SocketAddr, count: usize, server: &mut Example) -> Vec<TcpStream> {
    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const BODY: &[u8] = b"Hello, World!";
    let mut streams = Vec::with_capacity(count);
    for i in 0..count {
        let mut stream = TcpStream::connect(addr).unwrap_or_else(|err| {
            panic!(
                "connection {i} of {count}: {err}; server output:\n{}",
                server.output()
            )
        });
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.write_all(REQUEST).unwrap();
        streams.push(stream);
    }
    let mut buf = [0; 1024];
    for (i, stream) in streams.iter_mut().enumerate() {
        let mut answer = Vec::new();
        while !answer.ends_with(BODY) {
            let n = stream.read(&mut buf).unwrap_or_else(|err| {
                panic!(
                    "connection {i}: reading the answer: {err} (got {:?})",
                    String::from_utf8_lossy(&answer)
                )
            });
            assert!(
                n > 0,
                "connection {i} closed after {:?}",
                String::from_utf8_lossy(&answer)
            );
            answer.extend_from_slice(&buf[..n]);
        }
        assert!(
            answer.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "connection {i}: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    streams
}

fn check(figures: &Figures) {
    assert!(
        figures.per_connection < PER_CONNECTION_TARGET,
        "an idle keep-alive connection costs {} B of RSS {:?} after the last answer, over the \
         {PER_CONNECTION_TARGET} B target: {figures:?}",
        figures.per_connection,
        figures.idle_after
    );
    assert!(
        figures.came_back_in.is_some(),
        "{COME_BACK_WITHIN:?} after {} connections closed, RSS is {} B, over 2 x the {} B \
         baseline + {FLOOR_RSS} B: {figures:?}",
        figures.connections,
        figures.after,
        figures.baseline
    );
    assert!(figures.idle > figures.baseline, "{figures:?}");
}

#[test]
fn idle_keep_alive_connections_cost_under_8_kib_and_their_memory_comes_back() {
    check(&measure(2_000));
}

/// Issue 18's figure: 10,000 connections (about 10,100 file descriptors in
/// each process).
#[test]
#[ignore = "10,000 connections: run with --ignored, in release"]
fn ten_thousand_idle_connections_memory() {
    check(&measure(10_000));
}
