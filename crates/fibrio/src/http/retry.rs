//! Retries: which responses are retried (408, 429, 5xx), how long to
//! wait (`Retry-After`, or the policy's backoff), and the retry loop.
//!
//! Invariants: a request is sent at most `1 + max_retries` times; a
//! `Retry-After` longer than the client's `max_retry_after` ends the
//! retries and that response is returned; the pause is a fibrio sleep,
//! a cancellation checkpoint that parks only the task.

use std::time::{Duration, SystemTime};

use super::request::Request;
use super::state::ClientInner;
use super::{header, Error, HeaderMap, Response, StatusCode};

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
    pub(super) fn send_with_retries(&self, request: Request) -> Result<Response, Error> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_408_429_and_5xx_are_retried() {
        for code in [408, 429, 500, 502, 503, 599] {
            assert!(
                retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [200, 301, 400, 401, 404, 409] {
            assert!(
                !retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(header::RETRY_AFTER, " 7 ".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        // A date in the past: no wait at all.
        headers.insert(
            header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        // A date ahead: about that long (the clock moves meanwhile).
        let ahead = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        headers.insert(header::RETRY_AFTER, ahead.parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(60) && wait <= Duration::from_secs(120));
        headers.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
