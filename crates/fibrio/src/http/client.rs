//! [`Client`]: the handle requests start from, and the state its clones
//! share.
//!
//! Invariants: a `Client` is an `Rc` of its state, so clones share one
//! pool of connections per host, and it is `!Send` (it owns fibrio
//! sockets): one per runtime (per worker). The counters only grow.

use std::fmt;
use std::rc::Rc;

use bytes::Bytes;

use super::request::RequestBuilder;
use super::state::ClientInner;
use super::{HeaderMap, Method};

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

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("hosts", &self.inner.hosts.borrow().len())
            .field("connections_opened", &self.inner.opened.get())
            .finish_non_exhaustive()
    }
}

impl Client {
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
