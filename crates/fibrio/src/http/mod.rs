//! A blocking-style HTTP/1.1 client (cargo feature `http-client`):
//! [`Client`], built on hyper's client connection (`hyper::client::conn::
//! http1`) over fibrio sockets, with rustls for HTTPS. No HTTP is parsed
//! here: hyper does it.
//!
//! ```
//! use fibrio::http::Client;
//! # use std::convert::Infallible;
//! # use fibrio::http::HyperIo;
//!
//! fibrio::run(|| {
//! #   let listener = fibrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
//! #   let addr = listener.local_addr().unwrap();
//! #   let _server = fibrio::spawn(move || loop {
//! #       let (stream, _) = listener.accept().unwrap();
//! #       let service = hyper::service::service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
//! #           let body = format!("{} {}", request.method(), request.uri().path());
//! #           Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body))))
//! #       });
//! #       fibrio::compat::spawn_future(
//! #           hyper::server::conn::http1::Builder::new().serve_connection(HyperIo::new(stream), service),
//! #       );
//! #   });
//!     // A local server on `addr` (hidden above) answers "<method> <path>".
//!     let client = Client::new();
//!     let response = client.get(&format!("http://{addr}/hello")).send().unwrap();
//!     assert_eq!(response.status(), 200);
//!     assert_eq!(response.text().unwrap(), "GET /hello");
//! });
//! ```
//!
//! # Design and invariants
//!
//! * Each request runs in the calling task: connecting, the TLS
//!   handshake and waiting for the response park only that task (through
//!   [`compat::block_on`](crate::compat::block_on)); each connection's
//!   hyper driver runs as a task of its own
//!   ([`compat::spawn_future`](crate::compat::spawn_future)).
//! * Keep-alive: a connection whose response was read to the end goes
//!   back to its host's idle list and serves the next request to that
//!   host (scheme, host and port). At most
//!   [`max_connections_per_host`](ClientBuilder::max_connections_per_host)
//!   connections to a host exist at once, in use or idle; a request
//!   beyond that parks (FIFO) until one is free.
//! * A connection that failed, timed out or was cancelled mid-request is
//!   closed (its driver task is cancelled), never reused.
//! * A request that hyper did not send at all on a reused connection (the
//!   server had closed it while it was idle) is sent again on a new one.
//! * Retries ([`ClientBuilder::retry`]) reuse fibrio's
//!   [`RetryPolicy`](crate::RetryPolicy): for 408, 429 and 5xx responses
//!   and for the errors the policy says are retryable, with the policy's
//!   backoff, or the server's `Retry-After` (seconds or an HTTP date)
//!   when it sends one.
//! * Host names are resolved on the blocking pool
//!   ([`net::lookup_host`](crate::net::lookup_host)), never on the
//!   runtime's thread; literal addresses are not looked up.
//! * A [`Client`] is `!Send` (it owns fibrio sockets): make one per
//!   runtime (per worker).

// One concept per file: the configuration (`builder`), the handle
// (`client`), the state its clones share and one exchange (`state`), a
// request (`request`) and its response (`response`), the errors
// (`error`), retries (`retry`), redirects (`redirect`), the per-host
// keep-alive pool (`host_pool`), opening a connection (`connect`), and
// hyper's I/O adapter (`io`). `builder`, `client`, `redirect`, `retry` and
// `connect` use `state`, which uses `host_pool`; none of those is used back
// (tests/module_layers.rs checks that no module cycle exists).
mod builder;
mod client;
mod connect;
mod error;
mod host_pool;
mod io;
mod redirect;
mod request;
mod response;
mod retry;
mod state;

pub use self::builder::ClientBuilder;
pub use self::client::Client;
pub use self::error::Error;
pub use self::io::HyperIo;
pub use self::request::RequestBuilder;
pub use self::response::Response;
pub use self::state::Redirects;

pub use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
