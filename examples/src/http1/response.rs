//! Responses to well-framed requests, and the batch's buffered writer they
//! go through.
//!
//! # Invariants
//!
//! * Every response says `Connection: close` or `keep-alive`, and carries
//!   `Date` (cached per thread) and `Content-Length`; `HEAD` gets `GET`'s
//!   headers and no body.
//! * Responses are written when the output buffer is full, and before the
//!   batch waits for input.

use std::io::{self, Write};

use fibrio::net::TcpStream;

use super::date;
use super::head::{Head, Method, Route};

/// The size of a batch's output buffer: responses are written when it is
/// full, and before the batch waits for input.
pub(super) const OUTPUT_BUFFER: usize = 8 * 1024;

/// A batch's buffered writes to its connection (a `BufWriter` whose buffer
/// comes from, and goes back to, [`spare`](super::spare)).
pub(super) struct Output<'s> {
    pub(super) stream: &'s TcpStream,
    pub(super) buf: Vec<u8>,
}

impl Write for Output<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > OUTPUT_BUFFER {
            self.flush()?;
            if data.len() >= OUTPUT_BUFFER {
                return (&*self.stream).write(data);
            }
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    /// Writes everything buffered. On an error the buffer is dropped: the
    /// connection closes after any failed write.
    fn flush(&mut self) -> io::Result<()> {
        let written = (&*self.stream).write_all(&self.buf);
        self.buf.clear();
        written
    }
}

/// Writes the response to a well-framed request whose body was read.
pub(super) fn respond(head: &Head, body: &[u8], out: &mut impl Write) -> io::Result<()> {
    let connection = if head.keep_alive {
        "keep-alive"
    } else {
        "close"
    };
    let date = date::cached();
    let bodyless = head.method == Method::Head;
    let (status, extra, content_type, text): (&[u8], &str, &str, &[u8]) =
        match (head.route, head.method) {
            (Route::Root, Method::Get | Method::Head) => {
                (b"200 OK", "", "text/plain", b"Hello, World!")
            }
            (Route::Json, Method::Get | Method::Head) => {
                let value = serde_json::json!({ "message": "Hello, World!", "server": "fibrio" });
                let mut counter = ByteCounter(0);
                serde_json::to_writer(&mut counter, &value)?;
                write_head(
                    out,
                    b"200 OK",
                    &date,
                    "",
                    "application/json",
                    counter.0,
                    connection,
                )?;
                if !bodyless {
                    serde_json::to_writer(&mut *out, &value)?;
                }
                return Ok(());
            }
            (Route::Echo, Method::Post) => (b"200 OK", "", "application/octet-stream", body),
            (Route::NotFound, _) => (b"404 Not Found", "", "text/plain", b"Not Found"),
            (Route::Echo, _) => (
                b"405 Method Not Allowed",
                "Allow: POST\r\n",
                "text/plain",
                b"Method Not Allowed",
            ),
            (Route::Root | Route::Json, _) => (
                b"405 Method Not Allowed",
                "Allow: GET, HEAD\r\n",
                "text/plain",
                b"Method Not Allowed",
            ),
        };
    write_head(
        out,
        status,
        &date,
        extra,
        content_type,
        text.len(),
        connection,
    )?;
    if !bodyless {
        out.write_all(text)?;
    }
    Ok(())
}

/// A response head; `extra` is whole header lines, or empty.
fn write_head(
    out: &mut impl Write,
    status: &[u8],
    date: &date::HttpDate,
    extra: &str,
    content_type: &str,
    length: usize,
    connection: &str,
) -> io::Result<()> {
    out.write_all(b"HTTP/1.1 ")?;
    out.write_all(status)?;
    out.write_all(b"\r\nServer: fibrio\r\nDate: ")?;
    out.write_all(date.as_bytes())?;
    write!(
        out,
        "\r\n{extra}Content-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: {connection}\r\n\r\n"
    )
}

/// Counts bytes, so the JSON body's length is known before it is written.
struct ByteCounter(usize);

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
