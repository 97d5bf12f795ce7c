//! A TCP echo server: one fibrio task per connection, plain blocking-style
//! reads and writes.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7000 --workers 1
//! ```
//!
//! and talk to it with `cargo run --release --example echo_client`, or
//! `nc 127.0.0.1 7000`. With `--workers N` it runs N share-nothing runtimes
//! on N threads, each accepting on the same port (`SO_REUSEPORT`).
//!
//! With `--admin HOST:PORT` (a loopback address) it also serves fibrio's
//! admin listener ([`fibrio::admin`]) there, covering every worker:
//! `curl http://127.0.0.1:7001/metrics` gives the Prometheus text (tasks,
//! stacks, timers per worker), `/debug/tasks` the task dump. The soak test
//! (examples/tests/soak.rs, `just soak`) reads it.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use fibrio::admin::AdminOptions;
use fibrio::net::{TcpListener, TcpStream};
use fibrio::Workers;

fn serve(addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind_reuseport(addr)?;
    eprintln!(
        "worker {} echoing on {}",
        fibrio::worker_index().unwrap_or(0),
        listener.local_addr()?
    );
    // `incoming` survives running out of file descriptors: it logs and
    // backs off instead of spinning.
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let spawned = fibrio::task::Builder::new()
                    .stack_size(32 * 1024)
                    .spawn(move || echo(stream));
                if let Err(err) = spawned {
                    eprintln!("cannot start a connection task: {err}");
                }
            }
            Err(err) => eprintln!("accept failed: {err}"),
        }
    }
    Ok(())
}

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

fn main() {
    let args = Args::parse();
    let addr = args.addr.clone();
    let workers = fibrio::Runtime::builder()
        .stack_pool(16 * 1024)
        .workers(args.workers)
        .start(move || serve(&addr));
    if let Some(admin) = &args.admin {
        match start_admin(&workers, admin) {
            Ok(addr) => eprintln!("admin on http://{addr}/metrics"),
            Err(err) => {
                eprintln!("cannot start the admin listener on {admin}: {err}");
                std::process::exit(1);
            }
        }
    }
    for (worker, outcome) in workers.join().into_iter().enumerate() {
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("worker {worker}: {err}"),
            Err(err) => eprintln!("{err}"),
        }
    }
}

/// Starts the admin listener on worker 0, covering the other workers
/// through their handles; returns the address it listens on.
fn start_admin<T: Send + 'static>(workers: &Workers<T>, addr: &str) -> std::io::Result<SocketAddr> {
    let not_started = || std::io::Error::other("worker 0 did not start");
    let first = workers.handle(0).ok_or_else(not_started)?;
    let others = (1..workers.len())
        .filter_map(|i| workers.handle(i))
        .collect();
    let addr = addr.to_string();
    let (started, listening) = std::sync::mpsc::channel();
    // The task keeps the listener alive for as long as the server runs.
    let _admin = first.spawn(move || {
        match fibrio::admin::serve_with(addr, AdminOptions::new().runtimes(others)) {
            Ok(server) => {
                let _ = started.send(Ok(server.local_addr()));
                loop {
                    fibrio::sleep(Duration::from_secs(3600));
                }
            }
            Err(err) => {
                let _ = started.send(Err(err));
            }
        }
    });
    listening.recv().map_err(|_| not_started())?
}

struct Args {
    addr: String,
    workers: usize,
    admin: Option<String>,
}

impl Args {
    fn parse() -> Args {
        let mut args = Args {
            addr: "127.0.0.1:7000".into(),
            workers: 1,
            admin: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
            match flag.as_str() {
                "--addr" => args.addr = value,
                "--workers" => {
                    args.workers = value
                        .parse()
                        .unwrap_or_else(|_| usage("--workers takes a number (0 = one per CPU)"))
                }
                "--admin" => args.admin = Some(value),
                other => usage(&format!("unknown flag {other}")),
            }
        }
        args
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: echo_server [--addr HOST:PORT] [--workers N] [--admin HOST:PORT]");
    std::process::exit(2)
}
