//! A WebSocket echo server and its clients in one program, written with
//! `tungstenite`'s synchronous API, unchanged, over `fibrio::net` sockets.
//!
//! `tungstenite::accept` and `tungstenite::client` take any `Read + Write`
//! stream and block on it; handed a `fibrio::net::TcpStream`, each blocking
//! read or write parks only the calling task. The server accepts on a
//! loopback port and runs one task per connection; several client tasks
//! connect at once, each sending text and binary messages and checking every
//! echo, and the program prints a summary. Everything runs on one thread.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example websocket_echo -- --clients 8 --messages 5
//! ```
//!
//! Or keep the server up on an address of your choosing, with no built-in
//! clients, and point any WebSocket client at it:
//!
//! ```text
//! cargo run --release --example websocket_echo -- --listen 127.0.0.1:9001
//! websocat ws://127.0.0.1:9001/echo
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use fibrio::net::{TcpListener, TcpStream};
use tungstenite::Message;

type BoxError = Box<dyn Error>;

/// Serves one WebSocket connection: echoes every text and binary message
/// until the client closes. Returns how many messages it echoed.
fn serve_connection(stream: TcpStream) -> Result<usize, BoxError> {
    stream.set_nodelay(true)?;
    let mut socket = tungstenite::accept(stream)?;
    let mut echoed = 0;
    loop {
        match socket.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                socket.send(message)?;
                echoed += 1;
            }
            // Pings are answered and close frames acknowledged by tungstenite.
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return Ok(echoed),
            Err(err) => return Err(err.into()),
        }
    }
}

/// Accepts `connections` connections, one task each, and waits for them.
fn server(listener: TcpListener, connections: usize) -> Result<usize, BoxError> {
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (stream, _) = listener.accept()?;
        tasks.push(fibrio::spawn(move || serve_connection(stream)));
    }
    let mut echoed = 0;
    for task in tasks {
        echoed += task.join().map_err(|err| err.to_string())??;
    }
    Ok(echoed)
}

/// One client: connects, sends `messages` messages (alternately text and
/// binary), checks each echo, then closes cleanly. Returns the slowest
/// round trip.
fn client(addr: std::net::SocketAddr, id: usize, messages: usize) -> Result<Duration, BoxError> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let (mut socket, response) = tungstenite::client(format!("ws://{addr}/echo"), stream)?;
    if response.status() != 101 {
        return Err(format!("client {id}: handshake answered {}", response.status()).into());
    }
    let mut slowest = Duration::ZERO;
    for n in 0..messages {
        let message = if n % 2 == 0 {
            Message::text(format!("client {id}, message {n}"))
        } else {
            Message::binary(vec![id as u8; 16 + n])
        };
        let start = Instant::now();
        socket.send(message.clone())?;
        let echo = socket.read()?;
        slowest = slowest.max(start.elapsed());
        if echo != message {
            return Err(format!("client {id}: sent {message:?}, got back {echo:?}").into());
        }
    }
    socket.close(None)?;
    // Read until the server acknowledges the close.
    loop {
        match socket.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return Ok(slowest),
            Err(err) => return Err(err.into()),
        }
    }
}

/// `--listen`: serves every connection on `addr` until the process is
/// stopped, one task each; a connection's error ends only that connection.
fn serve_forever(addr: &str) -> Result<(), BoxError> {
    let listener = TcpListener::bind(addr)?;
    println!(
        "WebSocket echo server on ws://{}/echo",
        listener.local_addr()?
    );
    loop {
        let (stream, peer) = listener.accept()?;
        fibrio::spawn(move || {
            if let Err(err) = serve_connection(stream) {
                eprintln!("websocket_echo: {peer}: {err}");
            }
        });
    }
}

fn main() {
    let args = Args::parse();
    if let Some(addr) = args.listen.clone() {
        if let Err(err) = fibrio::run(move || serve_forever(&addr)) {
            eprintln!("websocket_echo: {err}");
            std::process::exit(1);
        }
        return;
    }
    let (client_count, message_count) = (args.clients, args.messages);
    let outcome = fibrio::run(move || -> Result<(), BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        println!("WebSocket echo server on ws://{addr}/echo");
        let start = Instant::now();
        let server = fibrio::spawn(move || server(listener, client_count));
        let clients: Vec<_> = (0..client_count)
            .map(|id| fibrio::spawn(move || client(addr, id, message_count)))
            .collect();
        let mut slowest = Duration::ZERO;
        for (id, task) in clients.into_iter().enumerate() {
            let round_trip = task.join().map_err(|err| format!("client {id}: {err}"))??;
            slowest = slowest.max(round_trip);
        }
        let echoed = server.join().map_err(|err| err.to_string())??;
        println!(
            "{} clients sent {} messages each; all {echoed} echoes matched, in {:.1} ms \
             (slowest round trip {:.2} ms), on one thread",
            client_count,
            message_count,
            start.elapsed().as_secs_f64() * 1e3,
            slowest.as_secs_f64() * 1e3,
        );
        if echoed != client_count * message_count {
            return Err(format!(
                "the server echoed {echoed} messages, expected {}",
                client_count * message_count
            )
            .into());
        }
        Ok(())
    });
    if let Err(err) = outcome {
        eprintln!("websocket_echo: {err}");
        std::process::exit(1);
    }
}

#[derive(Clone)]
struct Args {
    clients: usize,
    messages: usize,
    /// Serve on this address until stopped, with no built-in clients.
    listen: Option<String>,
}

impl Args {
    fn parse() -> Args {
        let mut args = Args {
            clients: 8,
            messages: 5,
            listen: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
            let number = || {
                value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("{flag} takes a number")))
            };
            match flag.as_str() {
                "--clients" => args.clients = number(),
                "--messages" => args.messages = number(),
                "--listen" => args.listen = Some(value.clone()),
                other => usage(&format!("unknown flag {other}")),
            }
        }
        args
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: websocket_echo [--clients N] [--messages M] | websocket_echo --listen ADDR");
    std::process::exit(2)
}
