//! The echo peer built on tokio, for `just bench-http`: one task per
//! connection, reading and writing back, like fibrio's
//! `examples/echo_server.rs`.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --example tokio_echo -- --addr 127.0.0.1:7000 --workers 1
//! cargo run --release -p fibrio-examples --example echo_client -- --addr 127.0.0.1:7000 \
//!     --connections 100 --messages 1000 --size 64
//! ```
//!
//! `--workers 1` runs a current-thread tokio runtime; `--workers N` with
//! N > 1 a multi-thread runtime with N workers.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

async fn serve(addr: String) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("tokio echoing on {}", listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo(stream));
            }
            Err(err) => eprintln!("accept failed: {err}"),
        }
    }
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
    let runtime = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_io()
            .build()
    };
    let runtime = runtime.unwrap_or_else(|err| {
        eprintln!("cannot start tokio: {err}");
        std::process::exit(1)
    });
    if let Err(err) = runtime.block_on(serve(addr)) {
        eprintln!("{err}");
        std::process::exit(1);
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: tokio_echo [--addr HOST:PORT] [--workers N]");
    std::process::exit(2)
}
