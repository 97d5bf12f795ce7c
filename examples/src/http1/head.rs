//! Request heads: the facts of a parsed head the server acts on.
//!
//! # Invariants
//!
//! * At most [`MAX_HEADERS`] header lines (more → `431`). An HTTP/1.1
//!   request needs exactly one `Host`, an HTTP/1.0 one at most one (else
//!   `400`).
//! * **Framing (RFC 9112 §6).** A request's body is `chunked` if
//!   `Transfer-Encoding` says so, else `Content-Length` bytes, else empty.
//!   `Transfer-Encoding` together with `Content-Length`,
//!   `Transfer-Encoding` in HTTP/1.0, an invalid `Content-Length` or several
//!   differing ones → `400`; a transfer coding other than a final `chunked`
//!   → `501` (RFC 9112 §6.1).
//! * **Persistence.** `Connection` is a comma-separated, case-insensitive
//!   token list; `close` anywhere closes. HTTP/1.1 connections persist
//!   unless `close`; HTTP/1.0 ones only with `keep-alive`.

use super::error_response::Status;

/// The most header lines a request may have; more gets `431`.
pub const MAX_HEADERS: usize = 32;

/// What a request's head says about its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    Empty,
    Length(u64),
    Chunked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Head,
    Post,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    Root,
    Json,
    Echo,
    NotFound,
}

/// The facts of a parsed head the server acts on; it borrows nothing, so the
/// input buffer is free to move on.
#[derive(Clone, Copy, Debug)]
pub(super) struct Head {
    pub(super) method: Method,
    pub(super) route: Route,
    pub(super) keep_alive: bool,
    pub(super) framing: Framing,
    pub(super) expect_continue: bool,
}

impl Head {
    pub(super) fn from_request(request: &httparse::Request<'_, '_>) -> Result<Head, Status> {
        let http10 = request.version == Some(0);
        let mut hosts = 0;
        let mut length: Option<u64> = None;
        let mut transfer_encoding = false;
        let mut chunked = false;
        let mut close = false;
        let mut keep_alive = false;
        let mut expect_continue = false;
        for header in request.headers.iter() {
            let name = header.name;
            if name.eq_ignore_ascii_case("host") {
                hosts += 1;
            } else if name.eq_ignore_ascii_case("content-length") {
                // `5` or the list `5, 5`: every value must be the same number.
                for part in header.value.split(|&b| b == b',') {
                    let value = parse_decimal(trim(part)).ok_or(Status::BadRequest)?;
                    if length.is_some_and(|l| l != value) {
                        return Err(Status::BadRequest);
                    }
                    length = Some(value);
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                transfer_encoding = true;
                for token in header.value.split(|&b| b == b',').map(trim) {
                    if token.is_empty() {
                        continue;
                    }
                    if chunked {
                        // Something after `chunked`: the body's end is unknowable.
                        return Err(Status::BadRequest);
                    }
                    if token.eq_ignore_ascii_case(b"chunked") {
                        chunked = true;
                    } else {
                        return Err(Status::NotImplemented);
                    }
                }
            } else if name.eq_ignore_ascii_case("connection") {
                for token in header.value.split(|&b| b == b',').map(trim) {
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("expect") && !http10 {
                // HTTP/1.0 requests' `100-continue` is ignored (RFC 9110 §10.1.1).
                if trim(header.value).eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = true;
                } else {
                    return Err(Status::ExpectationFailed);
                }
            }
        }
        if transfer_encoding && (!chunked || length.is_some() || http10) {
            return Err(Status::BadRequest);
        }
        if hosts > 1 || (hosts == 0 && !http10) {
            return Err(Status::BadRequest);
        }
        let framing = match (chunked, length) {
            (true, _) => Framing::Chunked,
            (false, Some(0) | None) => Framing::Empty,
            (false, Some(n)) => Framing::Length(n),
        };
        let method = match request.method {
            Some("GET") => Method::Get,
            Some("HEAD") => Method::Head,
            Some("POST") => Method::Post,
            _ => Method::Other,
        };
        let path = request.path.unwrap_or("");
        let path = path.split_once('?').map_or(path, |(path, _query)| path);
        let route = match path {
            "/" => Route::Root,
            "/json" => Route::Json,
            "/echo" => Route::Echo,
            _ => Route::NotFound,
        };
        Ok(Head {
            method,
            route,
            keep_alive: if http10 { keep_alive && !close } else { !close },
            framing,
            expect_continue: expect_continue && framing != Framing::Empty,
        })
    }
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// `1*DIGIT` as a u64; `None` if empty, not all digits, or too large.
fn parse_decimal(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_lengths_are_digits_only_and_fit_in_a_u64() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"0012"), Some(12));
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"+5"), None);
        assert_eq!(parse_decimal(b"-1"), None);
        assert_eq!(parse_decimal(b"1 2"), None);
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
    }
}
