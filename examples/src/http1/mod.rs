//! A small HTTP/1.1 server, one fibrio task per connection, written as plain
//! blocking code: the server behind `examples/http_server.rs`, kept here so
//! the tests can run it in-process on a free port.
//!
//! Routes: `GET`/`HEAD /` (`Hello, World!`), `GET`/`HEAD /json` (a small JSON
//! object) and `POST /echo` (answers the request body). Other methods on
//! those paths get `405`, other paths `404`.
//!
//! # Invariants
//!
//! * **Framing (RFC 9112 §6).** A request's body is `chunked` if
//!   `Transfer-Encoding` says so, else `Content-Length` bytes, else empty.
//!   Every body is read to its end (kept for `/echo`, discarded otherwise)
//!   before the response is written, so the next request is parsed from
//!   exactly the byte after the body. Whatever cannot be framed without
//!   guessing gets an error response and the connection closes:
//!   `Transfer-Encoding` together with `Content-Length`, `Transfer-Encoding`
//!   in HTTP/1.0, an invalid `Content-Length` or several differing ones, a
//!   malformed chunk → `400`; a transfer coding other than a final `chunked`
//!   → `501` (RFC 9112 §6.1); a body over [`Config::max_body_bytes`] → `413`.
//! * **Every error response closes the connection** (`Connection: close`),
//!   after which the server stops writing, reads and discards what the
//!   client still sends for up to [`LINGER`] (so the client reads the
//!   error instead of a reset), and closes. (After a timeout the read side
//!   is already shut, so there is nothing to drain.)
//! * **Heads.** At most [`MAX_HEADERS`] header lines (more → `431`) and
//!   [`Config::max_head_bytes`] bytes (more → `431`); anything `httparse`
//!   rejects → `400`. An HTTP/1.1 request needs exactly one `Host`, an
//!   HTTP/1.0 one at most one (else `400`).
//! * **Persistence.** `Connection` is a comma-separated, case-insensitive
//!   token list; `close` anywhere closes. HTTP/1.1 connections persist
//!   unless `close`; HTTP/1.0 ones only with `keep-alive` (then answered with
//!   `Connection: keep-alive`). Every response says `Connection: close` or
//!   `keep-alive`, and carries `Date` (cached per thread, formatted at most
//!   once a second) and `Content-Length`; `HEAD` gets `GET`'s headers and
//!   no body.
//! * **`Expect: 100-continue`** on an HTTP/1.1 request with a body gets
//!   `100 Continue` before the body is read, unless the declared length is
//!   over the limit (then `413` and close, and no `100`). Any other
//!   expectation gets `417` and close.
//! * **Timeouts.** The first head must be complete within
//!   [`Config::header_timeout`] of the accept; later heads within it of
//!   their first byte being seen (`408` and close if some of the head came,
//!   silent close if none). Between requests a connection may stay idle for
//!   [`Config::idle_timeout`] (then it is closed silently); each read of a
//!   body must bring bytes, and each batch of responses must be written,
//!   within that timeout too (else the connection closes).
//! * **Timeouts cost the request path nothing**: no timer and no clock
//!   read per request. Each worker runs one sweeper task that wakes every
//!   tick (a quarter of the shortest timeout, within 5-250 ms), reads the
//!   clock once, refreshes the cached `Date`, and shuts down the socket of
//!   every connection past its deadline, which wakes the connection's
//!   blocked read (with end-of-file) or write (with an error). A connection
//!   only writes its deadline, from the sweeper's coarse clock, into a
//!   `Cell` before it blocks. So timeouts fire up to two ticks late, and
//!   `Date` may be a tick old.
//! * **Connection limit.** At most [`Config::max_connections`] connections
//!   are served at once, over all workers. One over the limit is accepted,
//!   sent `503` with `Connection: close` straight away (without reading its
//!   request) and closed; a client whose request had already arrived may
//!   see a reset instead of the `503`.
//! * **Graceful shutdown** (`fibrio::shutdown`, requested by SIGTERM or
//!   SIGINT when the runtime is built with `shutdown_on_signals`): the
//!   accept loop ends (the listener's `incoming` ends at shutdown); a
//!   request whose head was read is answered in full, with
//!   `Connection: close`, and the connection then closes as after an error
//!   response (stop writing, drain briefly); a connection idle between
//!   requests (nothing of a next request read) is closed at once: the
//!   sweeper wakes at the request and shuts its read side, and a
//!   connection that finishes a response after the request does not wait
//!   for another. A request that arrives as its idle connection is being
//!   closed is answered (with `Connection: close`) if its head came whole
//!   and it has no body; otherwise the connection closes without an answer
//!   and without `100 Continue`, as if it had come a moment later: once
//!   the read side is shut, a body still on its way would read as the end
//!   of the stream. The runtime's grace period bounds all of it.
//! * **An idle connection holds no buffer and one stack page.** A
//!   connection is served by one task at a time, of two kinds. A waiting
//!   task, on a 32 KiB stack, waits for the first bytes of a request by
//!   reading them onto its stack (at most 1 KiB), then spawns a request
//!   task, on a 64 KiB stack, hands it the connection and ends. The
//!   request task puts those bytes in a 4 KiB input buffer (growing up to
//!   the head limit) and answers requests through an 8 KiB output buffer.
//!   Between two requests, once every response is written and no byte of
//!   a next request is left (pipelined bytes already read are never
//!   dropped), it gives both buffers back (to a per-thread cache of 8 of
//!   each, else to `malloc`) and waits for the next request's first bytes
//!   on its own stack, inside a cancel scope. If that wait lasts a whole
//!   sweeper tick (the sweeper counts two sweeps), the sweeper cancels the
//!   scope: the read unwinds having read nothing, and the request task
//!   spawns a waiting task, hands it the connection (with the same idle
//!   deadline) and ends. So a busy connection costs no spawn per request,
//!   and an idle one, after a tick or two, holds no buffer and touches the
//!   top page of a 32 KiB stack. The two stack sizes differ so that the
//!   stack pool, which is keyed by size, never hands a request task's
//!   stack, its pages touched by parsing and responding, to a waiting
//!   task; the pool gives those pages back after its quiet period (10 s).
//!   When a task cannot be spawned (the runtime's `max_tasks`), the task
//!   that has the connection keeps it and does the other's work on its own
//!   stack. The connection's place among [`Config::max_connections`] is
//!   given back when the last of its tasks ends.
//!   Measured (release build, 10,000 idle keep-alive connections, each
//!   after one request; `cargo test --release -p fibrio-examples --test
//!   http_memory -- --ignored --nocapture`): 5,285-5,652 B of RSS per
//!   connection once the quiet period has passed (12,961-13,351 B before
//!   this design, with one 64 KiB-stack task per connection parked in
//!   `read` with its 4 KiB input buffer and 8 KiB `BufWriter`).
//! * **Fast path.** A `GET` on a kept-alive connection parses its head once,
//!   allocates nothing (its buffers come from the per-thread cache), and
//!   costs one flush per batch of pipelined requests.

mod accept;
mod background;
mod body;
mod connection;
pub mod date;
mod error_response;
mod head;
mod input;
mod requests;
mod response;
mod server;
mod spare;
mod sweeper;

pub use background::Background;
pub use error_response::{Status, LINGER};
pub use head::MAX_HEADERS;
pub use server::{parse_duration, Config, Server};
