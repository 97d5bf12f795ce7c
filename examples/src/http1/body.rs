//! Request bodies: reading the body a head's framing describes
//! (`Content-Length` bytes or `chunked`), kept for `/echo` and discarded
//! otherwise.
//!
//! # Invariants
//!
//! * Every body is read to its end before the response is written, so the
//!   next request is parsed from exactly the byte after the body. A
//!   malformed chunk → `400`; a body over [`Config::max_body_bytes`] →
//!   `413`.

use std::io::{self, Write};

use super::error_response::{Failure, Status};
use super::head::Framing;
use super::input::Input;
use super::server::Config;

/// The longest chunk-size line (with extensions) accepted.
const MAX_CHUNK_LINE: usize = 1024;

/// Reads the body `framing` describes, into `body` if `keep`.
pub(super) fn read_body(
    input: &mut Input<'_>,
    out: &mut impl Write,
    framing: Framing,
    keep: bool,
    body: &mut Vec<u8>,
    config: &Config,
) -> Result<(), Failure> {
    match framing {
        Framing::Empty => Ok(()),
        Framing::Length(n) => read_exact(input, out, n, keep, body),
        Framing::Chunked => {
            let mut total = 0u64;
            loop {
                let (line, size) = loop {
                    match httparse::parse_chunk_size(input.pending()) {
                        Ok(httparse::Status::Complete(parsed)) => break parsed,
                        Ok(httparse::Status::Partial) => {
                            if input.pending().len() > MAX_CHUNK_LINE {
                                return Err(Failure::Status(Status::BadRequest));
                            }
                            more(input, out)?;
                        }
                        Err(_) => return Err(Failure::Status(Status::BadRequest)),
                    }
                };
                input.consume(line);
                if size == 0 {
                    return skip_trailers(input, out, config);
                }
                total = total.saturating_add(size);
                if total > config.max_body_bytes {
                    return Err(Failure::Status(Status::PayloadTooLarge));
                }
                read_exact(input, out, size, keep, body)?;
                while input.pending().len() < 2 {
                    more(input, out)?;
                }
                if &input.pending()[..2] != b"\r\n" {
                    return Err(Failure::Status(Status::BadRequest));
                }
                input.consume(2);
            }
        }
    }
}

/// Reads more body input; the end of the stream mid-body closes.
fn more(input: &mut Input<'_>, out: &mut impl Write) -> Result<(), Failure> {
    let deadline = input.sweeper.deadline(input.idle_ms);
    match input.fill(out, deadline) {
        Ok(0) => Err(Failure::Close(io::ErrorKind::UnexpectedEof.into())),
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::OutOfMemory => {
            Err(Failure::Status(Status::BadRequest))
        }
        Err(err) => Err(Failure::Close(err)),
    }
}

fn read_exact(
    input: &mut Input<'_>,
    out: &mut impl Write,
    mut left: u64,
    keep: bool,
    body: &mut Vec<u8>,
) -> Result<(), Failure> {
    while left > 0 {
        if input.pending().is_empty() {
            more(input, out)?;
        }
        let pending = input.pending();
        let take = pending
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        if keep {
            body.extend_from_slice(&pending[..take]);
        }
        input.consume(take);
        left -= take as u64;
    }
    Ok(())
}

/// Skips the trailer section after the last chunk, up to its empty line.
fn skip_trailers(
    input: &mut Input<'_>,
    out: &mut impl Write,
    config: &Config,
) -> Result<(), Failure> {
    let mut size = 0;
    loop {
        let Some(end) = input.pending().iter().position(|&b| b == b'\n') else {
            if size + input.pending().len() >= config.max_head_bytes {
                return Err(Failure::Status(Status::HeaderFieldsTooLarge));
            }
            more(input, out)?;
            continue;
        };
        let line = &input.pending()[..=end];
        let blank = line == b"\r\n" || line == b"\n";
        size += line.len();
        input.consume(end + 1);
        if blank {
            return Ok(());
        }
        if size >= config.max_head_bytes {
            return Err(Failure::Status(Status::HeaderFieldsTooLarge));
        }
    }
}
