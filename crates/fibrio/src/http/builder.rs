//! [`ClientBuilder`] and [`Redirects`]: a client's configuration.
//!
//! Invariants: the builder only records settings; nothing is validated
//! lazily except header names and values, whose first error is kept and
//! makes every request fail with [`Error::InvalidHeader`]. `build` makes
//! the rustls configuration once (ring, the safe default protocol
//! versions, ALPN `http/1.1`), shared by every connection of the client.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use fibrio_concurrency::RetryPolicy;
use tokio_rustls::rustls;

use super::request::parse_header;
use super::state::{ClientInner, Redirects};
use super::{Client, Error, HeaderMap};

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
    /// no limit). Per request: [`RequestBuilder::timeout`](super::RequestBuilder::timeout).
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
}
