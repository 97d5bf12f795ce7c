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
//!   [`RetryPolicy`]: for 408, 429 and 5xx responses and for the errors
//!   the policy says are retryable, with the policy's backoff, or the
//!   server's `Retry-After` (seconds or an HTTP date) when it sends one.
//! * Host names are resolved on the blocking pool
//!   ([`spawn_blocking`](crate::spawn_blocking)), never on the runtime's
//!   thread; literal addresses are not looked up.
//! * A [`Client`] is `!Send` (it owns fibrio sockets): make one per
//!   runtime (per worker).

mod io;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use fibrio_concurrency::{RetryPolicy, Semaphore, SemaphorePermit};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use tokio_rustls::rustls;

pub use self::io::HyperIo;
use self::io::Stream;
use crate::compat::{block_on, spawn_future};
use crate::net::TcpStream;

pub use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

/// What can go wrong with a request.
///
/// # Examples
///
/// ```
/// use fibrio::http::{Client, Error};
///
/// fibrio::run(|| {
///     let err = Client::new().get("not a url").send().unwrap_err();
///     assert!(matches!(err, Error::InvalidUrl(_)));
/// });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL does not parse, or has no host.
    #[error("fibrio::http: invalid URL: {0}")]
    InvalidUrl(String),
    /// The scheme is neither `http` nor `https`.
    #[error("fibrio::http: unsupported URL scheme {0:?} (only http and https)")]
    UnsupportedScheme(String),
    /// A header name or value given to the request is invalid.
    #[error("fibrio::http: invalid header: {0}")]
    InvalidHeader(String),
    /// Resolving the host or connecting to it failed (`ConnectionRefused`,
    /// ...).
    #[error("fibrio::http: cannot connect to {host}: {source}")]
    Connect {
        /// `host:port`.
        host: String,
        /// The system's error.
        source: std::io::Error,
    },
    /// The TLS handshake failed: a certificate that is invalid or issued
    /// for another name, or a protocol error.
    #[error("fibrio::http: TLS handshake with {host} failed: {source}")]
    Tls {
        /// The name the certificate was checked against.
        host: String,
        /// rustls's error, as an I/O error.
        source: std::io::Error,
    },
    /// The request did not complete within its timeout.
    #[error("fibrio::http: the request timed out after {0:?}")]
    Timeout(Duration),
    /// An HTTP protocol or connection error, from hyper.
    #[error("fibrio::http: {0}")]
    Http(#[from] hyper::Error),
    /// A redirect came when redirects are refused, or more of them than
    /// allowed ([`ClientBuilder::redirects`]).
    #[error("fibrio::http: too many redirects (more than {0})")]
    TooManyRedirects(u32),
}

impl Error {
    /// True for the errors worth retrying by default: failed connections,
    /// timeouts, and connections that broke mid-request.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio::http::Error;
    ///
    /// assert!(Error::Timeout(Duration::from_secs(1)).is_transient());
    /// assert!(!Error::InvalidUrl("x".into()).is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::Timeout(_) => true,
            Error::Http(err) => err.is_closed() || err.is_incomplete_message() || err.is_canceled(),
            _ => false,
        }
    }
}

/// A response, with its whole body read.
///
/// # Examples
///
/// ```
/// use fibrio::http::{Response, StatusCode};
///
/// let response = Response::from_parts(StatusCode::OK, Default::default(), "hi".into());
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.text().unwrap(), "hi");
/// ```
#[derive(Debug, Clone)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Response {
    /// A response made of its parts (for tests and mocks).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::http::{Response, StatusCode};
    ///
    /// let r = Response::from_parts(StatusCode::NOT_FOUND, Default::default(), "".into());
    /// assert!(r.status().is_client_error());
    /// ```
    pub fn from_parts(status: StatusCode, headers: HeaderMap, body: Bytes) -> Response {
        Response {
            status,
            headers,
            body,
        }
    }

    /// The status code.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::http::{Response, StatusCode};
    ///
    /// let r = Response::from_parts(StatusCode::CREATED, Default::default(), "".into());
    /// assert_eq!(r.status(), StatusCode::CREATED);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::http::{header, HeaderMap, Response, StatusCode};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    /// let r = Response::from_parts(StatusCode::OK, headers, "".into());
    /// assert_eq!(r.headers()[header::CONTENT_TYPE], "text/plain");
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::http::{Response, StatusCode};
    ///
    /// let r = Response::from_parts(StatusCode::OK, Default::default(), "abc".into());
    /// assert_eq!(&r.body()[..], b"abc");
    /// ```
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as UTF-8 text.
    ///
    /// # Errors
    ///
    /// If the body is not UTF-8.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::http::{Response, StatusCode};
    ///
    /// let r = Response::from_parts(StatusCode::OK, Default::default(), "héllo".into());
    /// assert_eq!(r.text().unwrap(), "héllo");
    /// ```
    pub fn text(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.body)
    }

    /// The body, taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::http::{Response, StatusCode};
    ///
    /// let r = Response::from_parts(StatusCode::OK, Default::default(), "abc".into());
    /// assert_eq!(r.into_body(), "abc");
    /// ```
    pub fn into_body(self) -> Bytes {
        self.body
    }
}

/// Whether and how far the client follows redirects.
///
/// # Examples
///
/// ```
/// use fibrio::http::{Client, Redirects};
///
/// let client = Client::builder().redirects(Redirects::Follow(5)).build();
/// # drop(client);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redirects {
    /// Return a 3xx response as it is (the default).
    Return,
    /// Fail with [`Error::TooManyRedirects`]`(0)` on a redirect.
    Refuse,
    /// Follow up to this many redirects (301, 302, 303, 307, 308 with a
    /// `Location`), then fail with [`Error::TooManyRedirects`]. A 303, and
    /// a 301 or 302 answering a POST, are followed with a GET without a
    /// body, as browsers do.
    Follow(u32),
}

/// Configures a [`Client`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio::http::Client;
///
/// let client = Client::builder()
///     .timeout(Duration::from_secs(10))
///     .max_connections_per_host(8)
///     .default_header("user-agent", "fibrio-example")
///     .build();
/// # drop(client);
/// ```
pub struct ClientBuilder {
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    max_per_host: usize,
    redirects: Redirects,
    retry: Option<RetryPolicy<Error>>,
    max_retry_after: Duration,
    headers: HeaderMap,
    roots: rustls::RootCertStore,
    header_error: Option<String>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_connections_per_host", &self.max_per_host)
            .field("redirects", &self.redirects)
            .field("retry", &self.retry.as_ref().map(RetryPolicy::max_retries))
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            timeout: Some(Duration::from_secs(30)),
            connect_timeout: Some(Duration::from_secs(10)),
            max_per_host: 32,
            redirects: Redirects::Return,
            retry: None,
            max_retry_after: Duration::from_secs(60),
            headers: HeaderMap::new(),
            roots: rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            header_error: None,
        }
    }
}

impl ClientBuilder {
    /// The time a whole request may take, from the checkout of a
    /// connection to the last byte of the body (30 s by default; `None`:
    /// no limit). Per request: [`RequestBuilder::timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let client = fibrio::http::Client::builder().timeout(Some(Duration::from_secs(5)));
    /// # drop(client);
    /// ```
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> ClientBuilder {
        self.timeout = timeout.into();
        self
    }

    /// The time connecting (TCP and TLS) may take (10 s by default).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let client = fibrio::http::Client::builder().connect_timeout(Duration::from_secs(2));
    /// # drop(client);
    /// ```
    pub fn connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> ClientBuilder {
        self.connect_timeout = timeout.into();
        self
    }

    /// The most connections to one host (scheme, host, port) at once, in
    /// use or idle (32 by default). Requests beyond it park, in order.
    ///
    /// # Panics
    ///
    /// If `max` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = fibrio::http::Client::builder().max_connections_per_host(4).build();
    /// # drop(client);
    /// ```
    pub fn max_connections_per_host(mut self, max: usize) -> ClientBuilder {
        assert!(max > 0, "max_connections_per_host must be at least 1");
        self.max_per_host = max;
        self
    }

    /// Whether to follow redirects ([`Redirects::Return`] by default).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::http::{Client, Redirects};
    /// let client = Client::builder().redirects(Redirects::Refuse).build();
    /// # drop(client);
    /// ```
    pub fn redirects(mut self, redirects: Redirects) -> ClientBuilder {
        self.redirects = redirects;
        self
    }

    /// Retries requests with `policy` (none by default): a 408, 429 or 5xx
    /// response, or an error the policy's `retry_if` accepts (every error
    /// when it has none; [`Error::is_transient`] is a good predicate),
    /// is retried after the policy's pause, or after the response's
    /// `Retry-After` when it has one. A `Retry-After` longer than
    /// [`max_retry_after`](Self::max_retry_after) ends the retries and the
    /// response is returned. After the last retry the last response (or
    /// error) is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio::http::{Client, Error};
    /// use fibrio::RetryPolicy;
    ///
    /// let policy = RetryPolicy::builder()
    ///     .max_retries(3)
    ///     .initial_delay(Duration::from_millis(50))
    ///     .retry_if(Error::is_transient)
    ///     .build()
    ///     .unwrap();
    /// let client = Client::builder().retry(policy).build();
    /// # drop(client);
    /// ```
    pub fn retry(mut self, policy: RetryPolicy<Error>) -> ClientBuilder {
        self.retry = Some(policy);
        self
    }

    /// The longest `Retry-After` the client waits for (60 s by default).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let client = fibrio::http::Client::builder().max_retry_after(Duration::from_secs(5));
    /// # drop(client);
    /// ```
    pub fn max_retry_after(mut self, max: Duration) -> ClientBuilder {
        self.max_retry_after = max;
        self
    }

    /// A header sent with every request (a request's own header of the
    /// same name replaces it).
    ///
    /// An invalid name or value makes every request fail with
    /// [`Error::InvalidHeader`].
    ///
    /// # Examples
    ///
    /// ```
    /// let client = fibrio::http::Client::builder().default_header("user-agent", "me/1.0").build();
    /// # drop(client);
    /// ```
    pub fn default_header(mut self, name: &str, value: &str) -> ClientBuilder {
        match parse_header(name, value) {
            Ok((name, value)) => {
                self.headers.insert(name, value);
            }
            Err(err) => self.header_error = Some(err),
        }
        self
    }

    /// Trusts `certificate` (DER) for HTTPS, besides the Mozilla roots of
    /// `webpki-roots`: for a private CA or a test's self-signed
    /// certificate.
    ///
    /// # Errors
    ///
    /// If rustls cannot parse the certificate.
    ///
    /// # Examples
    ///
    /// ```
    /// let builder = fibrio::http::Client::builder();
    /// assert!(builder.add_root_certificate(b"not DER").is_err());
    /// ```
    pub fn add_root_certificate(mut self, certificate: &[u8]) -> Result<ClientBuilder, Error> {
        let der = rustls::pki_types::CertificateDer::from(certificate.to_vec());
        self.roots.add(der).map_err(|err| Error::Tls {
            host: String::new(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, err),
        })?;
        Ok(self)
    }

    /// The client.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = fibrio::http::Client::builder().build();
    /// # drop(client);
    /// ```
    pub fn build(self) -> Client {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(self.roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Client {
            inner: Rc::new(ClientInner {
                timeout: self.timeout,
                connect_timeout: self.connect_timeout,
                max_per_host: self.max_per_host,
                redirects: self.redirects,
                retry: self.retry,
                max_retry_after: self.max_retry_after,
                headers: self.headers,
                header_error: self.header_error,
                tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
                hosts: RefCell::new(HashMap::new()),
                opened: Cell::new(0),
            }),
        }
    }
}

/// A blocking-style HTTP/1.1 client with a keep-alive connection pool:
/// see the [module docs](self). Cloning it shares the pool.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let client = fibrio::http::Client::new();
///     // Nothing listens there: a clear error, nothing leaked.
///     let err = client.get("http://127.0.0.1:1/").send().unwrap_err();
///     assert!(matches!(err, fibrio::http::Error::Connect { .. }), "{err}");
/// });
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Rc<ClientInner>,
}

struct ClientInner {
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    max_per_host: usize,
    redirects: Redirects,
    retry: Option<RetryPolicy<Error>>,
    max_retry_after: Duration,
    headers: HeaderMap,
    header_error: Option<String>,
    tls: tokio_rustls::TlsConnector,
    hosts: RefCell<HashMap<HostKey, Rc<HostPool>>>,
    /// Connections opened so far, for statistics.
    opened: Cell<u64>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("hosts", &self.inner.hosts.borrow().len())
            .field("connections_opened", &self.inner.opened.get())
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

/// Scheme, host and port: what a pooled connection can serve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HostKey {
    https: bool,
    host: String,
    port: u16,
}

/// One host's connections.
struct HostPool {
    /// One permit per connection in use. A new connection is made only
    /// when no idle one is left, so in use plus idle never exceeds the
    /// permits.
    permits: Semaphore,
    idle: RefCell<Vec<Conn>>,
}

/// A pooled connection. Dropping it closes it: its driver task is
/// cancelled, which drops hyper's connection and the socket.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: crate::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.cancel();
    }
}

impl Client {
    /// A client with the default settings ([`ClientBuilder`]'s).
    ///
    /// # Examples
    ///
    /// ```
    /// let client = fibrio::http::Client::new();
    /// assert_eq!(client.connections_opened(), 0);
    /// ```
    pub fn new() -> Client {
        ClientBuilder::default().build()
    }

    /// A builder, to configure a client.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = fibrio::http::Client::builder().max_connections_per_host(2).build();
    /// # drop(client);
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A GET request to `url`.
    ///
    /// # Examples
    ///
    /// See the [module docs](self).
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A POST request to `url`; give it a body with
    /// [`RequestBuilder::body`].
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let request = fibrio::http::Client::new().post("http://127.0.0.1:1/").body("x");
    ///     assert!(request.send().is_err()); // nothing listens there
    /// });
    /// ```
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A request with any method.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio::http::{Client, Method};
    /// let request = Client::new().request(Method::DELETE, "http://127.0.0.1:1/item/1");
    /// # drop(request);
    /// ```
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method,
            url: url.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: self.inner.timeout,
            error: self.inner.header_error.clone(),
        }
    }

    /// How many connections the client has opened so far: with keep-alive,
    /// far fewer than the requests it sent.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(fibrio::http::Client::new().connections_opened(), 0);
    /// ```
    pub fn connections_opened(&self) -> u64 {
        self.inner.opened.get()
    }

    /// How many idle keep-alive connections the client holds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(fibrio::http::Client::new().idle_connections(), 0);
    /// ```
    pub fn idle_connections(&self) -> usize {
        self.inner
            .hosts
            .borrow()
            .values()
            .map(|host| host.idle.borrow().len())
            .sum()
    }
}

/// A request being built: [`Client::get`], [`Client::post`],
/// [`Client::request`]; [`send`](RequestBuilder::send) sends it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let request = fibrio::http::Client::new()
///     .post("http://127.0.0.1:1/items")
///     .header("content-type", "application/json")
///     .body(r#"{"name":"x"}"#)
///     .timeout(Duration::from_secs(1));
/// # drop(request);
/// ```
#[derive(Debug)]
pub struct RequestBuilder {
    client: Client,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Bytes,
    timeout: Option<Duration>,
    error: Option<String>,
}

fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("{name:?}: {e}"))?;
    let value = HeaderValue::from_str(value).map_err(|e| format!("{name}: {e}"))?;
    Ok((name, value))
}

impl RequestBuilder {
    /// Adds a header (appended: a repeated name sends both).
    ///
    /// # Examples
    ///
    /// ```
    /// let request = fibrio::http::Client::new().get("http://127.0.0.1:1/").header("accept", "*/*");
    /// # drop(request);
    /// ```
    pub fn header(mut self, name: &str, value: &str) -> RequestBuilder {
        match parse_header(name, value) {
            Ok((name, value)) => {
                self.headers.append(name, value);
            }
            Err(err) => self.error = Some(err),
        }
        self
    }

    /// The body.
    ///
    /// # Examples
    ///
    /// ```
    /// let request = fibrio::http::Client::new().post("http://127.0.0.1:1/").body(vec![1, 2, 3]);
    /// # drop(request);
    /// ```
    pub fn body(mut self, body: impl Into<Bytes>) -> RequestBuilder {
        self.body = body.into();
        self
    }

    /// This request's timeout, instead of the client's.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let request = fibrio::http::Client::new().get("http://127.0.0.1:1/").timeout(Duration::from_millis(100));
    /// # drop(request);
    /// ```
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> RequestBuilder {
        self.timeout = timeout.into();
        self
    }

    /// Sends the request, parking the task until the whole response has
    /// arrived, following redirects and retrying as the client is
    /// configured.
    ///
    /// # Errors
    ///
    /// An [`Error`]: an invalid URL or header, a failed connection or TLS
    /// handshake, a timeout, a protocol error, too many redirects.
    /// A 4xx or 5xx response is not an error: check
    /// [`Response::status`].
    ///
    /// # Panics
    ///
    /// Outside a fibrio runtime.
    ///
    /// # Cancellation
    ///
    /// A checkpoint while it waits (for a connection, the server, a
    /// retry's pause). A cancelled request's connection is closed, never
    /// reused.
    ///
    /// # Examples
    ///
    /// See the [module docs](self).
    pub fn send(self) -> Result<Response, Error> {
        if let Some(err) = self.error {
            return Err(Error::InvalidHeader(err));
        }
        let client = self.client.inner.clone();
        let mut headers = client.headers.clone();
        for name in self.headers.keys() {
            headers.remove(name);
        }
        for (name, value) in self.headers {
            if let Some(name) = name {
                headers.append(name, value);
            }
        }
        let request = Request {
            method: self.method,
            uri: self
                .url
                .parse()
                .map_err(|e| Error::InvalidUrl(format!("{}: {e}", self.url)))?,
            headers,
            body: self.body,
        };
        match self.timeout {
            None => client.send_with_retries(request),
            Some(timeout) => crate::fail_after(timeout, || client.send_with_retries(request))
                .unwrap_or(Err(Error::Timeout(timeout))),
        }
    }
}

/// A request, as the client sends it (and resends it).
#[derive(Clone)]
struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// Whether `status` is worth retrying: 408, 429 and 5xx.
fn retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// The pause a `Retry-After` header asks for: seconds, or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

impl ClientInner {
    fn send_with_retries(&self, request: Request) -> Result<Response, Error> {
        let Some(policy) = &self.retry else {
            return self.send_following(request);
        };
        let mut retries = 0;
        loop {
            let result = self.send_following(request.clone());
            let pause = match &result {
                Ok(response) if retryable_status(response.status) => {
                    match retry_after(&response.headers) {
                        Some(wait) if wait > self.max_retry_after => return result,
                        Some(wait) => Some(wait),
                        None => None,
                    }
                }
                Ok(_) => return result,
                Err(err) if policy.is_retryable(err) => None,
                Err(_) => return result,
            };
            if retries >= policy.max_retries() {
                return result;
            }
            retries += 1;
            crate::sleep(pause.unwrap_or_else(|| policy.delay_for(retries)));
        }
    }

    fn send_following(&self, mut request: Request) -> Result<Response, Error> {
        let mut followed = 0;
        loop {
            let response = self.send_once(&request)?;
            let status = response.status;
            let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
            let location = response
                .headers
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok());
            let (Some(location), true) = (location, redirect) else {
                return Ok(response);
            };
            match self.redirects {
                Redirects::Return => return Ok(response),
                Redirects::Refuse => return Err(Error::TooManyRedirects(0)),
                Redirects::Follow(max) if followed >= max => {
                    return Err(Error::TooManyRedirects(max))
                }
                Redirects::Follow(_) => {}
            }
            followed += 1;
            let next = resolve_location(&request.uri, location)?;
            if status == StatusCode::SEE_OTHER
                || (request.method == Method::POST && matches!(status.as_u16(), 301 | 302))
            {
                request.method = Method::GET;
                request.body = Bytes::new();
                request.headers.remove(header::CONTENT_LENGTH);
                request.headers.remove(header::CONTENT_TYPE);
            }
            if next.host() != request.uri.host() {
                request.headers.remove(header::AUTHORIZATION);
                request.headers.remove(header::COOKIE);
            }
            request.uri = next;
        }
    }

    /// Sends `request` once on a pooled connection, and reads the whole
    /// response.
    fn send_once(&self, request: &Request) -> Result<Response, Error> {
        let key = host_key(&request.uri)?;
        let host = self.host_pool(&key);
        let mut fresh_tries = 0;
        loop {
            // The permit is held until the connection is back in the idle
            // list or closed.
            let (mut conn, reused, _permit) = self.checkout(&key, &host)?;
            let mut builder = hyper::Request::builder()
                .method(request.method.clone())
                .uri(origin_form(&request.uri));
            if let Some(headers) = builder.headers_mut() {
                *headers = request.headers.clone();
                if !headers.contains_key(header::HOST) {
                    let host = if key.host.contains(':') {
                        format!("[{}]", key.host) // an IPv6 literal
                    } else {
                        key.host.clone()
                    };
                    let host_header = match (key.https, key.port) {
                        (false, 80) | (true, 443) => host,
                        (_, port) => format!("{host}:{port}"),
                    };
                    if let Ok(value) = HeaderValue::from_str(&host_header) {
                        headers.insert(header::HOST, value);
                    }
                }
            }
            let hyper_request = builder
                .body(Full::new(request.body.clone()))
                .map_err(|e| Error::InvalidUrl(e.to_string()))?;
            let sent = block_on(conn.sender.try_send_request(hyper_request));
            let response = match sent {
                Ok(response) => response,
                Err(mut err) => {
                    let unsent = err.take_message().is_some();
                    drop(conn);
                    // The server closed the idle connection before it took
                    // the request: send it on a new one.
                    if unsent && reused && fresh_tries == 0 {
                        fresh_tries += 1;
                        continue;
                    }
                    return Err(Error::Http(err.into_error()));
                }
            };
            let (parts, body) = response.into_parts();
            // If reading the body fails, or the task is cancelled meanwhile,
            // `conn` is dropped: closed, not reused.
            let body = block_on(body.collect())?.to_bytes();
            if !conn.sender.is_closed() {
                host.idle.borrow_mut().push(conn);
            }
            return Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            });
        }
    }

    fn host_pool(&self, key: &HostKey) -> Rc<HostPool> {
        self.hosts
            .borrow_mut()
            .entry(key.clone())
            .or_insert_with(|| {
                Rc::new(HostPool {
                    permits: Semaphore::new(self.max_per_host),
                    idle: RefCell::new(Vec::new()),
                })
            })
            .clone()
    }

    /// A permit (parking FIFO while the host's connections are all in
    /// use), then an idle connection that is still open, or a new one.
    /// True if reused.
    fn checkout(
        &self,
        key: &HostKey,
        host: &HostPool,
    ) -> Result<(Conn, bool, SemaphorePermit), Error> {
        let permit = host.permits.acquire().map_err(|err| Error::Connect {
            host: format!("{}:{}", key.host, key.port),
            source: std::io::Error::other(err),
        })?;
        loop {
            // Newest first: the likeliest to be still open.
            let idle = host.idle.borrow_mut().pop();
            let Some(mut conn) = idle else {
                break;
            };
            if !conn.sender.is_closed() && block_on(conn.sender.ready()).is_ok() {
                return Ok((conn, true, permit));
            }
        }
        let connect = || self.connect(key);
        let stream = match self.connect_timeout {
            Some(timeout) => crate::fail_after(timeout, connect).unwrap_or_else(|_| {
                Err(Error::Connect {
                    host: format!("{}:{}", key.host, key.port),
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connecting took longer than {timeout:?}"),
                    ),
                })
            }),
            None => connect(),
        }?;
        let (sender, connection) =
            block_on(hyper::client::conn::http1::handshake(HyperIo::new(stream)))?;
        let driver = spawn_future(async move {
            // Ends when the connection closes; its error (if any) reaches
            // the request that was using it.
            let _ = connection.await;
        });
        self.opened.set(self.opened.get() + 1);
        Ok((Conn { sender, driver }, false, permit))
    }

    /// A new connection to `key`: TCP, and TLS for https.
    fn connect(&self, key: &HostKey) -> Result<Stream, Error> {
        let target = format!("{}:{}", key.host, key.port);
        let connect_error = |source| Error::Connect {
            host: target.clone(),
            source,
        };
        let addrs = resolve(&key.host, key.port).map_err(connect_error)?;
        let mut last = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr) {
                Ok(stream) => {
                    tcp = Some(stream);
                    break;
                }
                Err(err) => last = Some(err),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            connect_error(last.unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address for the host")
            }))
        })?;
        let _ = tcp.set_nodelay(true);
        if !key.https {
            return Ok(Stream::Plain(tcp));
        }
        let name =
            rustls::pki_types::ServerName::try_from(key.host.clone()).map_err(|e| Error::Tls {
                host: key.host.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
            })?;
        let tls = block_on(self.tls.connect(name, tcp)).map_err(|source| Error::Tls {
            host: key.host.clone(),
            source,
        })?;
        Ok(Stream::Tls(Box::new(tls)))
    }
}

/// The pool key of `uri`.
fn host_key(uri: &Uri) -> Result<HostKey, Error> {
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => return Err(Error::UnsupportedScheme(other.to_owned())),
        None => return Err(Error::InvalidUrl(format!("{uri}: no scheme"))),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::InvalidUrl(format!("{uri}: no host")))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(HostKey { https, host, port })
}

/// The request target of `uri`: its path and query.
fn origin_form(uri: &Uri) -> Uri {
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    target.parse().unwrap_or_else(|_| Uri::from_static("/"))
}

/// `location` (absolute, or relative to `base`) as an absolute URI.
fn resolve_location(base: &Uri, location: &str) -> Result<Uri, Error> {
    let invalid =
        |e: &dyn fmt::Display| Error::InvalidUrl(format!("redirect to {location:?}: {e}"));
    let parsed: Uri = location.parse().map_err(|e| invalid(&e))?;
    if parsed.scheme().is_some() {
        return Ok(parsed);
    }
    let mut parts = base.clone().into_parts();
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let base_path = base.path();
        let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{location}")
    };
    parts.path_and_query = Some(path.parse().map_err(|e| invalid(&e))?);
    Uri::from_parts(parts).map_err(|e| invalid(&e))
}

/// The addresses of `host`: parsed if it is a literal address, otherwise
/// looked up on the blocking pool, so the runtime's thread never waits on
/// DNS.
fn resolve(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let host = host.to_owned();
    crate::spawn_blocking(move || (host.as_str(), port).to_socket_addrs().map(Vec::from_iter))
        .map_err(|err| std::io::Error::other(err.to_string()))?
}
