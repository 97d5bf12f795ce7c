//! [`RequestBuilder`]: a request being built, and [`send`](RequestBuilder::send),
//! which runs it under its timeout.
//!
//! Invariants: a builder never touches the network before `send`; the
//! first invalid header it is given is kept and `send` fails with it. A
//! request's own headers replace the client's default headers of the same
//! name. The timeout covers the whole exchange: checkout, connecting,
//! redirects, retries and their pauses, and the body.

use std::time::Duration;

use bytes::Bytes;

use super::{Client, Error, HeaderMap, HeaderName, HeaderValue, Method, Response, Uri};

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
    pub(super) client: Client,
    pub(super) method: Method,
    pub(super) url: String,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) timeout: Option<Duration>,
    pub(super) error: Option<String>,
}

pub(super) fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
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
    /// See the [module docs](super).
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
pub(super) struct Request {
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}
