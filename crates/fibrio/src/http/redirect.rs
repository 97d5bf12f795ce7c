//! Redirects: following (or refusing) 301, 302, 303, 307 and 308
//! responses, as [`Redirects`](super::Redirects) says.
//!
//! Invariants: at most `Follow(n)` redirects are followed per request; a
//! 303, and a 301 or 302 answering a POST, become a GET without a body;
//! credentials (`Authorization`, `Cookie`) are never sent on to another
//! host.

use std::fmt;

use bytes::Bytes;

use super::request::Request;
use super::state::ClientInner;
use super::{header, Error, Method, Redirects, Response, StatusCode, Uri};

impl ClientInner {
    pub(super) fn send_following(&self, mut request: Request) -> Result<Response, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(base: &str, location: &str) -> String {
        resolve_location(&base.parse().unwrap(), location)
            .unwrap()
            .to_string()
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let base = "http://a.test:8080/dir/page?q=1";
        assert_eq!(resolve(base, "https://b.test/x"), "https://b.test/x");
        assert_eq!(resolve(base, "/root?y=2"), "http://a.test:8080/root?y=2");
        assert_eq!(resolve(base, "other"), "http://a.test:8080/dir/other");
        assert_eq!(resolve("http://a.test", "next"), "http://a.test/next");
        assert!(matches!(
            resolve_location(&base.parse().unwrap(), "bad location"),
            Err(Error::InvalidUrl(_))
        ));
    }
}
