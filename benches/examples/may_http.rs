//! The HTTP peer built on may_minihttp (stackful coroutines on `may`), for
//! `just bench-http`: it answers like fibrio's `examples/http_server.rs`.
//!
//! * `GET /` answers `Hello, World!` (text/plain).
//! * Anything else answers `404 Not Found`.
//!
//! may_minihttp always writes its own `Server: M` and a `Date` header; the
//! other headers match fibrio's (`Content-Type`, `Content-Length`,
//! `Connection: keep-alive`).
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --example may_http -- --addr 127.0.0.1:8080 --workers 1
//! wrk -t2 -c256 -d10s http://127.0.0.1:8080/
//! ```
//!
//! `--workers N` runs may's scheduler on N worker threads (one accepting
//! coroutine; connections spread over the workers by may).

use std::io;

use may_minihttp::{HttpServer, HttpService, Request, Response};

/// Answers `GET /`, and 404 for the rest.
#[derive(Clone, Debug)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        rsp.header("Content-Type: text/plain")
            .header("Connection: keep-alive");
        if req.method() == "GET" && req.path() == "/" {
            rsp.body("Hello, World!");
        } else {
            rsp.status_code(404, "Not Found").body("Not Found");
        }
        Ok(())
    }
}

fn main() {
    let mut addr = "127.0.0.1:8080".to_string();
    let mut workers = 1;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--addr" => addr = value,
            "--workers" => match value.parse() {
                Ok(n) if n > 0 => workers = n,
                _ => usage("--workers takes a number, at least 1"),
            },
            other => usage(&format!("unknown flag {other}")),
        }
    }
    // Must run before may's scheduler starts (the first spawn, in `start`).
    // may counts its stack size in words: 64 KiB, as fibrio's connections.
    may::config()
        .set_workers(workers)
        .set_stack_size(64 * 1024 / std::mem::size_of::<usize>());
    let server = match HttpServer(Hello).start(addr.as_str()) {
        Ok(server) => server,
        Err(err) => {
            eprintln!("cannot listen on {addr}: {err}");
            std::process::exit(1);
        }
    };
    eprintln!("may_minihttp ({workers} workers) serving http://{addr}");
    if server.join().is_err() {
        eprintln!("the accepting coroutine panicked");
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: may_http [--addr HOST:PORT] [--workers N]");
    std::process::exit(2)
}
