//! [`Error`]: what can go wrong with a request.
//!
//! Invariants: every failure of [`Client`](super::Client) is one of these
//! variants, with the host or the limit it concerns in its message; a 4xx
//! or 5xx response is never an error. [`Error::is_transient`] is true only
//! for failures a new attempt may fix (no connection, a timeout, a
//! connection that broke mid-request).

use std::time::Duration;

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
    /// allowed ([`ClientBuilder::redirects`](super::ClientBuilder::redirects)).
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
