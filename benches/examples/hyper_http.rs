//! The HTTP peer built on tokio + hyper 1.x, for `just bench-http`: it
//! answers like fibrio's `examples/http_server.rs`.
//!
//! * `GET /` answers `Hello, World!` (text/plain).
//! * Anything else answers `404 Not Found`.
//!
//! The headers match fibrio's: `Server`, `Content-Type`, `Content-Length`
//! and `Connection: keep-alive`; hyper's automatic `Date` header is off, as
//! fibrio writes none.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --manifest-path benches/Cargo.toml --example hyper_http -- --addr 127.0.0.1:8080 --workers 1
//! wrk -t2 -c256 -d10s http://127.0.0.1:8080/
//! ```
//!
//! `--workers 1` runs a current-thread tokio runtime; `--workers N` with
//! N > 1 a multi-thread runtime with N workers (one accepting task,
//! connections spread by tokio's work stealing).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, SERVER};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = if request.method() == Method::GET && request.uri().path() == "/" {
        (StatusCode::OK, "Hello, World!")
    } else {
        (StatusCode::NOT_FOUND, "Not Found")
    };
    let close = request
        .headers()
        .get(CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static("hyper"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    if !close {
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    Ok(response)
}

async fn serve(addr: String) -> std::io::Result<()> {
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("tokio + hyper serving http://{}", listener.local_addr()?);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.auto_date_header(false);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                eprintln!("accept failed: {err}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(TokioIo::new(stream), service_fn(hello));
        // A connection's error (a client resetting, say) is routine under
        // load, and ends only that connection.
        tokio::spawn(async move {
            let _ = connection.await;
        });
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
    eprintln!("{problem}\nusage: hyper_http [--addr HOST:PORT] [--workers N]");
    std::process::exit(2)
}
