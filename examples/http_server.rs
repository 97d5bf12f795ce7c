//! An HTTP/1.1 server with keep-alive and one fibrio task per connection,
//! written as plain blocking code and parsed with `httparse`. The server
//! itself is `fibrio_examples::http1` (examples/src/http1/mod.rs), whose module
//! docs state its framing rules and invariants; this file reads the flags
//! and starts the workers.
//!
//! * `GET /` answers `Hello, World!` (text/plain); `GET /json` a small JSON
//!   object; `POST /echo` the request body. `HEAD` gets `GET`'s headers.
//! * Request bodies (`Content-Length` or `chunked`) are always read to their
//!   end, so the next request starts right after them. Conflicting or
//!   invalid framing gets `400`, a too large body `413`, too many or too
//!   large headers `431`, and the connection closes after any of them.
//! * HTTP/1.1 connections persist unless `Connection: close`; HTTP/1.0 ones
//!   only with `Connection: keep-alive`. `Expect: 100-continue` is honoured.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example http_server -- --addr 127.0.0.1:8080 --workers 1
//! curl -i http://127.0.0.1:8080/ http://127.0.0.1:8080/json
//! curl -i -d 'hello=world' http://127.0.0.1:8080/echo
//! wrk -t2 -c256 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Flags (durations are `250ms`, `10s` or a number of seconds):
//!
//! * `--addr HOST:PORT` (127.0.0.1:8080) where to listen.
//! * `--workers N` (1): N share-nothing runtimes on N threads (0 = one per
//!   CPU), each accepting on the same port with `SO_REUSEPORT`.
//! * `--header-timeout D` (10s): a request head must arrive in full within
//!   D (of the accept for the first request, of its first byte for later
//!   ones); else `408` and close, or a silent close if nothing came. This
//!   is the slowloris protection.
//! * `--idle-timeout D` (60s): a kept-alive connection idle for D between
//!   requests is closed; so is one whose body read brings nothing for D, or
//!   whose responses are not written within D (a client that stops reading).
//! * `--max-connections N` (10000): connections served at once, over all
//!   workers. A connection over the limit is accepted, sent `503` with
//!   `Connection: close` without its request being read, and closed. Each
//!   takes a file descriptor: the server warns at start when the soft
//!   limit (`ulimit -n`) is below N plus a few (raise it with `ulimit -n`
//!   in the shell that starts it; past the limit, accepts fail with
//!   `EMFILE` and are retried after a backoff).
//! * `--max-header-bytes N` (8192): the largest request head; over it, `431`.
//! * `--max-body-bytes N` (1048576): the largest request body; over it, `413`.
//!
//! * `--grace D` (10s): graceful shutdown. On SIGTERM or SIGINT the
//!   server stops accepting, answers every request it has read (with
//!   `Connection: close`), closes idle kept-alive connections at once, and
//!   exits 0 when the last connection is done, within D. Then whatever is
//!   left is cancelled and the process exits 0 all the same. A second
//!   signal ends the grace period at once. See `docs/operations.md`.
//!
//! * `--admin ADDR` (off): serve fibrio's admin endpoints on ADDR (a
//!   loopback address; `127.0.0.1:0` picks a port): `GET /metrics`
//!   (Prometheus text, one `worker` label per worker), `GET /healthz`
//!   (JSON), `GET /debug/tasks` (the task dump; `?stacks=1` adds every
//!   task's backtrace). Worker 0 serves them with its own tasks and asks
//!   the other workers through their `Handle`s, so they cover every
//!   worker. The bound address is printed as `admin listening on
//!   http://ADDR`.
//!
//! ```text
//! cargo run --release --example http_server -- --workers 2 --admin 127.0.0.1:9090
//! curl -s http://127.0.0.1:9090/metrics | grep fibrio_tasks_alive
//! curl -s http://127.0.0.1:9090/healthz
//! curl -s 'http://127.0.0.1:9090/debug/tasks?stacks=1'
//! ```
//!
//! The timeouts cost the request path no timer and no clock read: one
//! sweeper task per worker checks every connection's deadline each tick (a
//! quarter of the shortest timeout, 5-250 ms), so they fire up to two
//! ticks late.
//!
//! Memory: a keep-alive connection idle for more than a sweeper tick or
//! two holds no buffer and touches one page of a 32 KiB stack: its requests
//! are served by a request task on a 64 KiB stack, with a 4 KiB input and
//! an 8 KiB output buffer that are given back between requests, and that
//! task hands the connection to a task on the small stack once the
//! connection has waited a whole tick for a request (the http1 module docs
//! say how). Measured in release with 10,000 idle keep-alive connections:
//! 5,285-5,652 B of RSS each once the stack pool's quiet period (10 s) has
//! passed (12,961-13,351 B before); after they close, RSS comes back from
//! about 56-72 MB to 4.7 MB within 20 s (two quiet periods; 6.3-6.9 MB
//! before the runtime's fd table learnt to shrink), against a 3.1-3.4 MB
//! baseline:
//!
//! ```text
//! cargo test --release -p fibrio-examples --test http_memory -- --ignored --nocapture
//! ```

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fibrio::admin::{AdminOptions, AdminServer};
use fibrio::net::TcpListener;
use fibrio::Handle;
use fibrio_examples::http1::{self, Config, Server};

/// What every worker runs: `--admin`'s address, and where worker 0 gets the
/// other workers' handles from (sent once they have all started).
struct Admin {
    addr: Option<String>,
    others: Mutex<Option<Receiver<Vec<Handle>>>>,
}

fn serve(addr: &str, server: &Arc<Server>, admin: &Admin) -> std::io::Result<()> {
    let worker = fibrio::worker_index().unwrap_or(0);
    // Kept until the accept loop ends: dropping it stops the admin listener.
    let _admin = match &admin.addr {
        Some(admin_addr) if worker == 0 => Some(start_admin(admin_addr, admin)?),
        _ => None,
    };
    let listener = TcpListener::bind_reuseport(addr)?;
    eprintln!("worker {worker} serving http://{}", listener.local_addr()?);
    server.serve(listener)
}

/// Starts the admin listener on worker 0, covering the other workers too.
fn start_admin(addr: &str, admin: &Admin) -> std::io::Result<AdminServer> {
    let receiver = admin.others.lock().unwrap().take();
    // The main thread sends the handles right after starting the workers:
    // wait for them on the blocking pool, not on this worker's thread.
    let others = match receiver {
        Some(receiver) => fibrio::spawn_blocking(move || receiver.recv().unwrap_or_default())
            .map_err(|err| std::io::Error::other(err.to_string()))?,
        None => Vec::new(),
    };
    let server = fibrio::admin::serve_with(addr, AdminOptions::new().runtimes(others))?;
    eprintln!("admin listening on http://{}", server.local_addr());
    Ok(server)
}

fn main() {
    let mut addr = "127.0.0.1:8080".to_string();
    let mut admin_addr = None;
    let mut workers = 1;
    let mut grace = Duration::from_secs(10);
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--addr" => addr = value,
            "--admin" => admin_addr = Some(value),
            "--workers" => workers = number(&flag, &value),
            "--grace" => grace = duration(&flag, &value),
            "--header-timeout" => config.header_timeout = duration(&flag, &value),
            "--idle-timeout" => config.idle_timeout = duration(&flag, &value),
            "--max-connections" => config.max_connections = number(&flag, &value),
            "--max-header-bytes" => config.max_head_bytes = number(&flag, &value),
            "--max-body-bytes" => config.max_body_bytes = number(&flag, &value) as u64,
            other => usage(&format!("unknown flag {other}")),
        }
    }
    warn_if_few_fds(config.max_connections);
    let server = Server::new(config);
    let (send_others, others) = mpsc::channel();
    let admin = Arc::new(Admin {
        addr: admin_addr,
        others: Mutex::new(Some(others)),
    });
    let running = fibrio::Runtime::builder()
        .stack_pool(16 * 1024)
        .shutdown_on_signals(grace)
        .workers(workers)
        .start(move || serve(&addr, &server, &admin));
    let others = (1..running.len())
        .filter_map(|i| running.handle(i))
        .collect();
    // Worker 0 may have failed to start and dropped the receiver: no matter.
    let _ = send_others.send(others);
    let mut failed = false;
    for (worker, outcome) in running.join().into_iter().enumerate() {
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                eprintln!("worker {worker}: {err}");
                failed = true;
            }
            Err(err) => {
                eprintln!("{err}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
    eprintln!("shut down");
}

/// File descriptors beyond the connections' (listeners, epoll, admin).
const SPARE_FDS: u64 = 64;

/// Warns when the soft limit on open files (from `/proc/self/limits`) is
/// too low for `max_connections`: this binary does not raise it itself.
fn warn_if_few_fds(max_connections: usize) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse::<u64>().ok());
    let wanted = max_connections as u64 + SPARE_FDS;
    if let Some(soft) = soft.filter(|&soft| soft < wanted) {
        eprintln!(
            "warning: the open-file limit is {soft}, too low for --max-connections \
             {max_connections}: connections past about {} fail to be accepted; \
             raise it with `ulimit -n {wanted}` (or lower --max-connections)",
            soft.saturating_sub(SPARE_FDS)
        );
    }
}

fn number(flag: &str, value: &str) -> usize {
    value
        .parse()
        .unwrap_or_else(|_| usage(&format!("{flag} takes a number, not {value:?}")))
}

fn duration(flag: &str, value: &str) -> Duration {
    http1::parse_duration(value).unwrap_or_else(|| {
        usage(&format!(
            "{flag} takes a duration above zero (250ms, 10s), not {value:?}"
        ))
    })
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: http_server [--addr HOST:PORT] [--admin HOST:PORT] [--workers N] [--grace D] \
         [--header-timeout D] [--idle-timeout D] [--max-connections N] [--max-header-bytes N] [--max-body-bytes N]"
    );
    std::process::exit(2)
}
