//! An echo load client: opens many connections at once, each in its own
//! fibrio task, sends fixed-size messages one at a time, checks every echo,
//! and reports messages per second.
//!
//! Run the server first, then:
//!
//! ```text
//! cargo run --release --example echo_client -- --addr 127.0.0.1:7000 \
//!     --connections 100 --messages 1000 --size 64
//! ```

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use fibrio::net::TcpStream;

struct Args {
    addr: String,
    connections: usize,
    messages: usize,
    size: usize,
}

fn client(addr: &str, messages: usize, size: usize, id: usize) -> std::io::Result<Vec<Duration>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut message = vec![0u8; size];
    let mut reply = vec![0u8; size];
    let mut latencies = Vec::with_capacity(messages);
    for m in 0..messages {
        for (i, byte) in message.iter_mut().enumerate() {
            *byte = (id + m + i) as u8;
        }
        let start = Instant::now();
        stream.write_all(&message)?;
        stream.read_exact(&mut reply)?;
        latencies.push(start.elapsed());
        if reply != message {
            return Err(std::io::Error::other(format!(
                "connection {id}: echo {m} differs"
            )));
        }
    }
    Ok(latencies)
}

fn main() {
    let args = parse();
    let (connections, size) = (args.connections, args.size);
    let (elapsed, mut latencies, failures) = fibrio::Runtime::builder()
        .stack_size(64 * 1024)
        .build()
        .expect("runtime")
        .run(move || {
            let start = Instant::now();
            let tasks: Vec<_> = (0..args.connections)
                .map(|id| {
                    let addr = args.addr.clone();
                    fibrio::spawn(move || client(&addr, args.messages, args.size, id))
                })
                .collect();
            let mut latencies = Vec::new();
            let mut failures = 0;
            for task in tasks {
                match task.join() {
                    Ok(Ok(l)) => latencies.extend(l),
                    Ok(Err(err)) => {
                        eprintln!("{err}");
                        failures += 1;
                    }
                    Err(err) => {
                        eprintln!("{err}");
                        failures += 1;
                    }
                }
            }
            (start.elapsed(), latencies, failures)
        });
    latencies.sort();
    let total = latencies.len();
    let pct = |p: f64| {
        latencies
            .get(((total as f64 * p) as usize).min(total.saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{total} echoes of {} bytes over {} connections in {:.3} s: {:.0} messages/s, p50 {:?}, p99 {:?}, {failures} failed connections",
        size,
        connections,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
    );
    if failures > 0 {
        std::process::exit(1);
    }
}

fn parse() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:7000".into(),
        connections: 100,
        messages: 1000,
        size: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        let number = || value.parse::<usize>().unwrap_or_else(|_| usage(&flag));
        match flag.as_str() {
            "--addr" => args.addr = value.clone(),
            "--connections" => args.connections = number(),
            "--messages" => args.messages = number(),
            "--size" => args.size = number().max(1),
            _ => usage(&flag),
        }
    }
    args
}

fn usage(flag: &str) -> ! {
    eprintln!("bad flag {flag}\nusage: echo_client [--addr HOST:PORT] [--connections N] [--messages N] [--size BYTES]");
    std::process::exit(2)
}
