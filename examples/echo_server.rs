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

use std::io::{Read, Write};

use fibrio::net::{TcpListener, TcpStream};

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
    let outcomes = fibrio::Runtime::builder()
        .stack_pool(16 * 1024)
        .workers(args.workers)
        .run(move || serve(&addr));
    for (worker, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("worker {worker}: {err}"),
            Err(err) => eprintln!("{err}"),
        }
    }
}

struct Args {
    addr: String,
    workers: usize,
}

impl Args {
    fn parse() -> Args {
        let mut args = Args {
            addr: "127.0.0.1:7000".into(),
            workers: 1,
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
                other => usage(&format!("unknown flag {other}")),
            }
        }
        args
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: echo_server [--addr HOST:PORT] [--workers N]");
    std::process::exit(2)
}
