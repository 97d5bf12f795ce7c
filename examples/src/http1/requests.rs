//! The request loop of a batch: parses heads, reads bodies, writes
//! responses, and between requests waits for the next one's first bytes.
//!
//! # Invariants
//!
//! * The first head must be complete within [`Config::header_timeout`] of
//!   the accept; later heads within it of their first byte being seen
//!   (`408` and close if some of the head came, silent close if none).
//! * Between requests, once every response is written and no byte of a
//!   next request is left, both buffers go back to [`spare`] while the
//!   request task waits on its own stack, inside the batch's cancel scope.
//!
//! [`Config::header_timeout`]: super::Config::header_timeout
//! [`spare`]: super::spare

use std::io::{self, Read, Write};

use super::body::read_body;
use super::error_response::{Failure, Status};
use super::head::{Framing, Head, Method, Route, MAX_HEADERS};
use super::input::{Input, FIRST_READ, INITIAL_BUFFER};
use super::response::{respond, Output, OUTPUT_BUFFER};
use super::spare;
use super::sweeper::millis;

/// What a connection does after a [`Batch`].
///
/// [`Batch`]: super::connection::Batch
pub(super) enum Next {
    /// Its input is used up and its responses written: wait for the next
    /// request (until this idle deadline, if given).
    Wait(Option<u64>),
    /// It is over (the error, if any, is only logged).
    Closed(io::Result<()>),
}

/// Answers requests until the connection should close:
/// `Ok(Next::Closed(Ok(())))` for a clean end, `Failure` for an error
/// response or an abrupt one (responses may be left to flush). Between
/// requests it waits in [`wait_for_request`], where the sweeper may end it
/// by cancelling the batch's scope. `head_deadline` is the deadline of the head under
/// way, if one applies already.
///
/// `read_shut` is set when the sweeper shut the read side at shutdown (the
/// connection was idle) while a request was arriving: what is buffered may
/// be read, but a read that finds nothing more returns end-of-file, so a
/// body still on its way would be lost.
pub(super) fn requests(
    input: &mut Input<'_>,
    out: &mut Output<'_>,
    body: &mut Vec<u8>,
    mut head_deadline: Option<u64>,
    mut read_shut: bool,
) -> Result<Next, Failure> {
    let sweeper = input.sweeper;
    let config = &sweeper.config;
    let header_ms = millis(config.header_timeout);
    loop {
        let parsed = {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(input.pending()) {
                Ok(httparse::Status::Complete(len)) if len > config.max_head_bytes => {
                    Err(Status::HeaderFieldsTooLarge)
                }
                Ok(httparse::Status::Complete(len)) => {
                    Head::from_request(&request).map(|head| Some((head, len)))
                }
                Ok(httparse::Status::Partial) => Ok(None),
                Err(httparse::Error::TooManyHeaders) => Err(Status::HeaderFieldsTooLarge),
                Err(_) => Err(Status::BadRequest),
            }
        };
        let Some((head, len)) = parsed.map_err(Failure::Status)? else {
            // An incomplete head: read more, within its deadline.
            let pending = input.pending().len();
            if read_shut {
                // Shutting down, the rest may never be readable: close, as
                // with a connection idle at shutdown (nothing was answered).
                return Ok(Next::Closed(Ok(())));
            }
            if pending == 0 {
                match wait_for_request(input, out, head_deadline, &mut read_shut)? {
                    Some(closed) => return Ok(closed),
                    None => continue,
                }
            }
            if pending >= config.max_head_bytes {
                return Err(Failure::Status(Status::HeaderFieldsTooLarge));
            }
            let deadline = *head_deadline.get_or_insert_with(|| sweeper.deadline(header_ms));
            if sweeper.passed(deadline) {
                return head_timed_out(pending);
            }
            match input.fill(out, deadline) {
                Ok(0) => return Ok(Next::Closed(Ok(()))),
                Ok(_) => continue,
                Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                    return head_timed_out(input.pending().len());
                }
                Err(err) => return Err(Failure::Close(err)),
            }
        };
        if read_shut && head.framing != Framing::Empty {
            // Its body may be cut off by the shut read side: close before
            // reading it or answering `100 Continue`, as if the request had
            // come a moment later, after the idle connection was closed.
            return Ok(Next::Closed(Ok(())));
        }
        input.consume(len);
        head_deadline = None;
        if let Framing::Length(n) = head.framing {
            if n > config.max_body_bytes {
                return Err(Failure::Status(Status::PayloadTooLarge));
            }
        }
        if head.expect_continue {
            input.watched.writing_until(input.write_deadline());
            out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let keep_body = head.route == Route::Echo && head.method == Method::Post;
        // Before the framing test: an empty body must not echo the last one.
        body.clear();
        if head.framing != Framing::Empty {
            read_body(input, out, head.framing, keep_body, body, config)?;
        }
        input.watched.writing_until(input.write_deadline());
        // At shutdown this is the connection's last response.
        let closing = head.keep_alive && fibrio::shutdown::requested();
        let head = Head {
            keep_alive: head.keep_alive && !closing,
            ..head
        };
        respond(&head, if keep_body { body } else { &[] }, out)?;
        if closing {
            return Err(Failure::Closing);
        }
        if !head.keep_alive {
            return Ok(Next::Closed(Ok(())));
        }
    }
}

fn head_timed_out<T>(pending: usize) -> Result<T, Failure> {
    if pending == 0 {
        // Nothing of a request came: close quietly.
        Err(Failure::Close(io::ErrorKind::TimedOut.into()))
    } else {
        Err(Failure::Status(Status::RequestTimeout))
    }
}

/// Waits, in the request task, for the first bytes of the next request,
/// every response written first: `Ok(None)` when some came, `Ok(Some(_))`
/// when the connection closes instead. Sets `read_shut` when the sweeper
/// shut the read side at shutdown meanwhile (it takes the `idle` flag
/// then): what came may be served, but nothing more is read.
///
/// # Cancellation
///
/// The sweeper cancels the batch's scope ([`Watched::demote`]) once the
/// wait has lasted a whole tick: the read unwinds having read nothing, out
/// of the batch.
///
/// [`Watched::demote`]: super::sweeper::Watched::demote
fn wait_for_request(
    input: &mut Input<'_>,
    out: &mut Output<'_>,
    head_deadline: Option<u64>,
    read_shut: &mut bool,
) -> Result<Option<Next>, Failure> {
    // Between requests: at shutdown, close instead of waiting.
    if fibrio::shutdown::requested() {
        return Ok(Some(Next::Closed(Ok(()))));
    }
    let sweeper = input.sweeper;
    let deadline = match head_deadline {
        Some(deadline) if sweeper.passed(deadline) => return head_timed_out(0),
        Some(deadline) => deadline,
        None => sweeper.deadline(input.idle_ms),
    };
    // Written before the wait, so that a demotion cannot cut them short.
    input.watched.writing_until(input.write_deadline());
    out.flush()?;
    // Both buffers are empty: they wait for the next batch in `spare`, and
    // the first bytes come onto this (already deep) stack, as in the
    // connection's own task.
    debug_assert!(input.pending().is_empty());
    spare::give(std::mem::take(&mut input.buf), INITIAL_BUFFER);
    spare::give(std::mem::take(&mut out.buf), OUTPUT_BUFFER);
    let watched = input.watched;
    let mut first = [0; FIRST_READ];
    watched.idle.set(true);
    watched.idle_sweeps.set(0);
    watched.demotable.set(true);
    watched.reading.set(true);
    watched.deadline_ms.set(deadline);
    let read = (&watched.stream).read(&mut first);
    watched.demotable.set(false);
    if !watched.idle.replace(false) {
        *read_shut = true;
    }
    input.buf = spare::take(INITIAL_BUFFER);
    out.buf = spare::take(OUTPUT_BUFFER);
    match read {
        Ok(0) if watched.expired.get() && head_deadline.is_some() => head_timed_out(0),
        Ok(0) if watched.expired.get() => Err(Failure::Close(io::ErrorKind::TimedOut.into())),
        Ok(0) => Ok(Some(Next::Closed(Ok(())))),
        Ok(n) => {
            input.buf[..n].copy_from_slice(&first[..n]);
            input.consumed = 0;
            input.filled = n;
            Ok(None)
        }
        Err(err) => Err(Failure::Close(err)),
    }
}
