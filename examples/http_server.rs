//! An HTTP/1.1 server with keep-alive and one fibrio task per connection,
//! written as plain blocking code and parsed with `httparse`.
//!
//! * `GET /` answers `Hello, World!` (text/plain).
//! * `GET /json` answers a small JSON object, written with
//!   `serde_json::to_writer` straight into the connection's buffered writer.
//! * A malformed request gets `400 Bad Request`, and the connection closes.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example http_server -- --addr 127.0.0.1:8080 --workers 1
//! curl -i http://127.0.0.1:8080/ http://127.0.0.1:8080/json
//! wrk -t2 -c256 -d10s http://127.0.0.1:8080/
//! ```
//!
//! `--workers N` runs N share-nothing runtimes on N threads (0 = one per
//! CPU), each accepting on the same port with `SO_REUSEPORT`.

use std::io::{self, BufWriter, Read, Write};

use fibrio::net::{TcpListener, TcpStream};

/// The most header bytes a request may have.
const MAX_HEAD: usize = 16 * 1024;

fn serve(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind_reuseport(addr)?;
    eprintln!(
        "worker {} serving http://{}",
        fibrio::worker_index().unwrap_or(0),
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let spawned = fibrio::task::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(move || {
                        if let Err(err) = connection(stream) {
                            log::debug!("connection ended: {err}");
                        }
                    });
                if let Err(err) = spawned {
                    eprintln!("cannot start a connection task: {err}");
                }
            }
            Err(err) => eprintln!("accept failed: {err}"),
        }
    }
    Ok(())
}

/// Serves one connection until the client closes it, asks to, or errs.
fn connection(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = &stream;
    let mut out = BufWriter::with_capacity(8 * 1024, &stream);
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    loop {
        // Answer every complete request already buffered (pipelining),
        // then flush once.
        let mut consumed = 0;
        let mut close = false;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buf[consumed..filled]) {
                Ok(httparse::Status::Complete(len)) => {
                    consumed += len;
                    close = respond(&request, &mut out)?;
                    if close {
                        break;
                    }
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => {
                    bad_request(&mut out)?;
                    close = true;
                    break;
                }
            }
        }
        out.flush()?;
        if close {
            return Ok(());
        }
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if filled == buf.len() {
            if buf.len() >= MAX_HEAD {
                bad_request(&mut out)?;
                return out.flush();
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = reader.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
    }
}

/// Writes the response to `request`; returns true if the connection must
/// close afterwards.
fn respond(request: &httparse::Request<'_, '_>, out: &mut impl Write) -> io::Result<bool> {
    let close = request.version == Some(0)
        || request.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close")
        });
    let connection = if close { "close" } else { "keep-alive" };
    match (request.method, request.path) {
        (Some("GET"), Some("/")) => {
            let body = b"Hello, World!";
            write!(
                out,
                "HTTP/1.1 200 OK\r\nServer: fibrio\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
                body.len()
            )?;
            out.write_all(body)?;
        }
        (Some("GET"), Some("/json")) => {
            let value = serde_json::json!({ "message": "Hello, World!", "server": "fibrio" });
            let mut counter = ByteCounter(0);
            serde_json::to_writer(&mut counter, &value)?;
            write!(
                out,
                "HTTP/1.1 200 OK\r\nServer: fibrio\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
                counter.0
            )?;
            serde_json::to_writer(&mut *out, &value)?;
        }
        _ => {
            let body = b"Not Found";
            write!(
                out,
                "HTTP/1.1 404 Not Found\r\nServer: fibrio\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
                body.len()
            )?;
            out.write_all(body)?;
        }
    }
    Ok(close)
}

fn bad_request(out: &mut impl Write) -> io::Result<()> {
    out.write_all(
        b"HTTP/1.1 400 Bad Request\r\nServer: fibrio\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request",
    )
}

/// Counts bytes, so the JSON body's length is known before it is written.
struct ByteCounter(usize);

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
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
                Ok(n) => workers = n,
                Err(_) => usage("--workers takes a number (0 = one per CPU)"),
            },
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let outcomes = fibrio::Runtime::builder()
        .stack_pool(16 * 1024)
        .workers(workers)
        .run(move || serve(&addr));
    for (worker, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("worker {worker}: {err}"),
            Err(err) => eprintln!("{err}"),
        }
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: http_server [--addr HOST:PORT] [--workers N]");
    std::process::exit(2)
}
