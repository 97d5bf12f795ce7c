//! The echo peer built on `may` coroutines, for `just bench-http`: one
//! coroutine per connection, plain blocking-style reads and writes, like
//! fibrio's `examples/echo_server.rs`.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --example may_echo -- --addr 127.0.0.1:7000 --workers 1
//! cargo run --release -p fibrio-examples --example echo_client -- --addr 127.0.0.1:7000 \
//!     --connections 100 --messages 1000 --size 64
//! ```
//!
//! `--workers N` runs may's scheduler on N worker threads (one accepting
//! coroutine; connections spread over the workers by may).

use std::io::{Read, Write};

use may::net::{TcpListener, TcpStream};

/// Each connection's stack, as fibrio's echo server: 32 KiB.
const STACK: usize = 32 * 1024;

fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

fn serve(addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    eprintln!(
        "may ({} workers) echoing on {}",
        may::config().get_workers(),
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                // SAFETY: may makes spawning unsafe for two reasons. (1) A
                // coroutine that holds a reference to a thread-local across a
                // suspension may resume on another worker thread: `echo`
                // touches no thread-locals. (2) A stack overflow is only
                // caught by a guard page: `echo` uses its 4 KiB buffer and a
                // few hundred bytes more (no recursion), far under `STACK`.
                let spawned = unsafe { may::coroutine::spawn(move || echo(stream)) };
                drop(spawned);
            }
            Err(err) => eprintln!("accept failed: {err}"),
        }
    }
    Ok(())
}

fn main() {
    let mut addr = "127.0.0.1:7000".to_string();
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
    // Must run before may's scheduler starts (the first spawn). may counts
    // its stack size in words.
    may::config()
        .set_workers(workers)
        .set_stack_size(STACK / std::mem::size_of::<usize>());
    // SAFETY: as for the connections in `serve`: the accepting coroutine
    // touches no thread-locals of its own, and uses a few hundred bytes of
    // stack, far under `STACK`.
    let server = unsafe { may::coroutine::spawn(move || serve(&addr)) };
    match server.join() {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            eprintln!("{err}");
            std::process::exit(1);
        }
        Err(_) => eprintln!("the accepting coroutine panicked"),
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: may_echo [--addr HOST:PORT] [--workers N]");
    std::process::exit(2)
}
