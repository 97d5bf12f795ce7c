//! [`Response`]: a status, headers and a body read to the end.
//!
//! Invariants: a `Response` is plain data, detached from its connection:
//! by the time the client returns one, the whole body has been read and
//! the connection is back in its host's idle list (or closed), so holding
//! a response never holds a connection.

use bytes::Bytes;

use super::{HeaderMap, StatusCode};

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
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
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
