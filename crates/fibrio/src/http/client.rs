//! [`Client`]: the handle requests start from, and the state its clones
//! share.
//!
//! Invariants: a `Client` is an `Rc` of its state, so clones share one
//! pool of connections per host, and it is `!Send` (it owns fibrio
//! sockets): one per runtime (per worker). The counters only grow.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use fibrio_concurrency::RetryPolicy;

use super::builder::ClientBuilder;
use super::host_pool::{HostKey, HostPool};
use super::request::RequestBuilder;
use super::{Error, HeaderMap, Method, Redirects};

/// A blocking-style HTTP/1.1 client with a keep-alive connection pool:
/// see the [module docs](super). Cloning it shares the pool.
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
    pub(super) inner: Rc<ClientInner>,
}

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
    /// See the [module docs](super).
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
