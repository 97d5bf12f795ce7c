//! An HTTP/1.1 server with keep-alive and one fibrio task per connection,
//! written as plain blocking code and parsed with `httparse`. The server
//! itself is `fibrio_examples::http1` (examples/src/http1.rs), whose module
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
//!   `Connection: close` without its request being read, and closed.
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
//! The timeouts cost the request path no timer and no clock read: one
//! sweeper task per worker checks every connection's deadline each tick (a
//! quarter of the shortest timeout, 5-250 ms), so they fire up to two
//! ticks late.

use std::sync::Arc;
use std::time::Duration;

use fibrio::net::TcpListener;
use fibrio_examples::http1::{self, Config, Server};

fn serve(addr: &str, server: &Arc<Server>) -> std::io::Result<()> {
    let listener = TcpListener::bind_reuseport(addr)?;
    eprintln!(
        "worker {} serving http://{}",
        fibrio::worker_index().unwrap_or(0),
        listener.local_addr()?
    );
    server.serve(listener)
}

fn main() {
    let mut addr = "127.0.0.1:8080".to_string();
    let mut workers = 1;
    let mut grace = Duration::from_secs(10);
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--addr" => addr = value,
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
    let server = Server::new(config);
    let outcomes = fibrio::Runtime::builder()
        .stack_pool(16 * 1024)
        .shutdown_on_signals(grace)
        .workers(workers)
        .run(move || serve(&addr, &server));
    let mut failed = false;
    for (worker, outcome) in outcomes.into_iter().enumerate() {
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
        "{problem}\nusage: http_server [--addr HOST:PORT] [--workers N] [--grace D] \
         [--header-timeout D] [--idle-timeout D] [--max-connections N] [--max-header-bytes N] [--max-body-bytes N]"
    );
    std::process::exit(2)
}
