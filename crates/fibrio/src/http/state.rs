//! [`ClientInner`]: the state a [`Client`](super::Client) and its clones
//! share (its settings and its per-host pools), with the one exchange it
//! makes on a pooled connection; and [`Redirects`], one of those settings.
//!
//! Invariants: the settings never change after
//! [`ClientBuilder::build`](super::ClientBuilder::build); `hosts` only
//! grows (one pool per scheme, host and port ever used); `opened` only
//! grows. A connection goes back to its host's idle list only after its
//! response was read to the end (see `host_pool`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use fibrio_concurrency::{RetryPolicy, Semaphore, SemaphorePermit};
use http_body_util::{BodyExt, Full};

use super::host_pool::{host_key, origin_form, Conn, HostKey, HostPool};
use super::request::Request;
use super::{header, Error, HeaderMap, HeaderValue, HyperIo, Response};
use crate::compat::{block_on, spawn_future};

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

/// The state of a client, shared by its clones.
pub(super) struct ClientInner {
    pub(super) timeout: Option<Duration>,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) max_per_host: usize,
    pub(super) redirects: Redirects,
    pub(super) retry: Option<RetryPolicy<Error>>,
    pub(super) max_retry_after: Duration,
    pub(super) headers: HeaderMap,
    pub(super) header_error: Option<String>,
    pub(super) tls: tokio_rustls::TlsConnector,
    pub(super) hosts: RefCell<HashMap<HostKey, Rc<HostPool>>>,
    /// Connections opened so far, for statistics.
    pub(super) opened: Cell<u64>,
}

impl ClientInner {
    /// Sends `request` once on a pooled connection, and reads the whole
    /// response.
    pub(super) fn send_once(&self, request: &Request) -> Result<Response, Error> {
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

    pub(super) fn host_pool(&self, key: &HostKey) -> Rc<HostPool> {
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
    pub(super) fn checkout(
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
}
