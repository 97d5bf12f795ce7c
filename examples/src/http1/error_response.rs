//! Error responses: an error status the server answers with, always
//! closing afterwards, and how reading a request ends short of a response.
//!
//! # Invariants
//!
//! * **Every error response closes the connection** (`Connection: close`),
//!   after which the server stops writing, reads and discards what the
//!   client still sends for up to [`LINGER`] (so the client reads the
//!   error instead of a reset), and closes.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use super::date;
use super::input::Input;

/// How long a connection closed after an error response keeps draining
/// what the client still sends.
pub const LINGER: Duration = Duration::from_secs(2);

/// The most bytes drained after an error response before closing anyway.
const LINGER_BYTES: usize = 256 * 1024;

/// An error status the server answers with, always closing afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 400: malformed or ambiguous framing.
    BadRequest,
    /// 408: the head did not arrive within the header timeout.
    RequestTimeout,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 417: an `Expect` other than `100-continue`.
    ExpectationFailed,
    /// 431: too many header lines, or too many header bytes.
    HeaderFieldsTooLarge,
    /// 501: a transfer coding other than `chunked`.
    NotImplemented,
    /// 503: over the connection limit.
    ServiceUnavailable,
}

impl Status {
    /// The status code and reason phrase.
    pub fn line(self) -> &'static str {
        match self {
            Status::BadRequest => "400 Bad Request",
            Status::RequestTimeout => "408 Request Timeout",
            Status::PayloadTooLarge => "413 Content Too Large",
            Status::ExpectationFailed => "417 Expectation Failed",
            Status::HeaderFieldsTooLarge => "431 Request Header Fields Too Large",
            Status::NotImplemented => "501 Not Implemented",
            Status::ServiceUnavailable => "503 Service Unavailable",
        }
    }
}

pub(super) fn write_error_head(out: &mut impl Write, status: Status) -> io::Result<()> {
    let line = status.line();
    // The body is the reason phrase, after the three-digit code and a space.
    let body = &line[4..];
    write!(
        out,
        "HTTP/1.1 {line}\r\nServer: fibrio\r\nDate: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        date::now(),
        body.len()
    )
}

/// How reading a request ended short of a response.
pub(super) enum Failure {
    /// Answer with this status and close.
    Status(Status),
    /// Close without a response (the client left, or an I/O error).
    Close(io::Error),
    /// The last response (with `Connection: close`) was written because
    /// the server is shutting down: flush it, then close as after an error
    /// response, so a request the client sent meanwhile cannot turn the
    /// close into a reset that destroys the response.
    Closing,
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Failure {
        Failure::Close(err)
    }
}

/// After an error response: stop writing, drain what the client still sends
/// (bounded in time and bytes) so it reads the response, not a reset.
pub(super) fn linger(input: &mut Input<'_>) -> io::Result<()> {
    input.watched.deadline_ms.set(u64::MAX);
    input.stream.shutdown(Shutdown::Write)?;
    input.stream.set_read_timeout(Some(LINGER))?;
    let deadline = Instant::now() + LINGER;
    let mut drained = 0;
    while drained < LINGER_BYTES && Instant::now() < deadline {
        match (&*input.stream).read(&mut input.buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    Ok(())
}
