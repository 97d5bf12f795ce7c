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

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio::net::{TcpListener, TcpStream};
use fibrio::CancelScope;

/// The most header lines a request may have; more gets `431`.
pub const MAX_HEADERS: usize = 32;

/// How long a connection closed after an error response keeps draining
/// what the client still sends.
pub const LINGER: Duration = Duration::from_secs(2);

/// The most bytes drained after an error response before closing anyway.
const LINGER_BYTES: usize = 256 * 1024;

/// The longest chunk-size line (with extensions) accepted.
const MAX_CHUNK_LINE: usize = 1024;

/// The input buffer's initial size.
const INITIAL_BUFFER: usize = 4096;

/// The stack of a connection's waiting task, which waits for the first
/// bytes of a request. Only its top page is touched in a release build
/// (the bytes it reads onto its stack and the reactor's wait are shallow),
/// unless it has to serve requests itself (no task could be spawned for
/// them), which it is sized for.
const CONNECTION_STACK: usize = 32 * 1024;

/// The stack of a connection's request task, which serves requests. A
/// different size from [`CONNECTION_STACK`], so the pool (keyed by size)
/// never hands one of these, its pages touched by parsing and responding,
/// to a waiting task.
const REQUEST_STACK: usize = 64 * 1024;

/// What a waiting task (or a request task between requests) reads onto its
/// stack when bytes arrive; the input buffer continues from there.
const FIRST_READ: usize = 1024;

// The first bytes fit in the input buffer.
const _: () = assert!(FIRST_READ <= INITIAL_BUFFER);

/// The limits and timeouts of a [`Server`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// How long a request head may take to arrive in full (default 10 s).
    pub header_timeout: Duration,
    /// How long a connection may sit idle between requests, and the longest
    /// a body read or a write may wait for progress (default 60 s).
    pub idle_timeout: Duration,
    /// Connections served at once, over all workers (default 10,000).
    pub max_connections: usize,
    /// The largest request head, request line included (default 8 KiB).
    pub max_head_bytes: usize,
    /// The largest request body (default 1 MiB).
    pub max_body_bytes: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_head_bytes: 8 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// A server: its configuration and the count of open connections, shared
/// by every worker that calls [`Server::serve`].
#[derive(Debug)]
pub struct Server {
    config: Config,
    open: AtomicUsize,
    stop: AtomicBool,
}

impl Server {
    /// A server with `config`, serving nothing yet.
    pub fn new(config: Config) -> Arc<Server> {
        Arc::new(Server {
            config,
            open: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Connections being served now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Asks every [`serve`](Server::serve) loop to return after its next
    /// accept. Connections already open are served to their end.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Accepts connections on `listener` and serves each in its own task,
    /// until [`stop`](Server::stop) or until shutdown of the runtime is
    /// requested (`fibrio::shutdown`; the connections then finish as the
    /// module docs say). Must run inside a fibrio runtime.
    ///
    /// # Errors
    ///
    /// If the worker's timeout sweeper task cannot be spawned. Failed
    /// accepts are logged and skipped; a connection whose task cannot be
    /// spawned (over the runtime's `max_tasks`) is answered `503` with
    /// `Connection: close`, as one over `max_connections` is, and closed
    /// (logged with `log::warn!`).
    pub fn serve(self: &Arc<Self>, listener: TcpListener) -> io::Result<()> {
        let sweeper = Sweeper::start(&self.config)?;
        let result = self.accept_loop(listener, &sweeper);
        sweeper.accepting.set(false);
        result
    }

    fn accept_loop(
        self: &Arc<Self>,
        listener: TcpListener,
        sweeper: &Rc<Sweeper>,
    ) -> io::Result<()> {
        for stream in listener.incoming() {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let stream = match stream {
                Ok(stream) => stream,
                Err(err) => {
                    eprintln!("accept failed: {err}");
                    continue;
                }
            };
            let Some(slot) = Slot::take(self) else {
                refuse_busy(&stream);
                continue;
            };
            let watched = sweeper.watch(stream, slot);
            // Kept to answer `503` if the task cannot start (the runtime's
            // `max_tasks`, say): the closure, and the stream in it, is
            // dropped with the failed spawn.
            let refused = Rc::clone(&watched);
            let sweeper = Rc::clone(sweeper);
            let spawned = fibrio::task::Builder::new()
                .stack_size(CONNECTION_STACK)
                .spawn(move || {
                    let result = watched
                        .stream
                        .set_nodelay(true)
                        .and_then(|()| connection(watched, sweeper));
                    if let Err(err) = result {
                        log::debug!("connection ended: {err}");
                    }
                });
            if let Err(err) = spawned {
                log::warn!("connection refused with 503: {err}");
                refuse_busy(&refused.stream);
            }
        }
        Ok(())
    }
}

/// One of the [`Config::max_connections`] places; given back on drop.
#[derive(Debug)]
struct Slot {
    server: Arc<Server>,
}

impl Slot {
    fn take(server: &Arc<Server>) -> Option<Slot> {
        let before = server.open.fetch_add(1, Ordering::AcqRel);
        if before >= server.config.max_connections {
            server.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot {
            server: Arc::clone(server),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.server.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Per-worker timekeeping, so that timeouts cost the request path no clock
/// read and no timer: a task wakes every `tick`, reads the clock once,
/// refreshes the cached `Date`, and shuts down the read side of every
/// connection past its deadline, which wakes its blocked read with
/// end-of-file (and `expired` tells the connection why). A connection sets
/// its deadline from the coarse clock before each read, one `Cell` write.
/// Timeouts fire between `timeout` and `timeout + 2 * tick` late.
#[derive(Debug)]
struct Sweeper {
    epoch: Instant,
    /// Milliseconds from `epoch` to the last sweep.
    now_ms: Cell<u64>,
    tick_ms: u64,
    watched: RefCell<Vec<Weak<Watched>>>,
    /// False once the accept loop has returned: the sweeper ends when the
    /// last connection does.
    accepting: Cell<bool>,
    /// The server's configuration, for the connections of this worker.
    config: Config,
}

/// A connection's socket and deadline, shared with the [`Sweeper`].
#[derive(Debug)]
struct Watched {
    stream: TcpStream,
    /// In the sweeper's milliseconds; `u64::MAX` for none.
    deadline_ms: Cell<u64>,
    /// Whether the deadline is a read's (past it, the read side is shut
    /// down, and the connection may still answer `408`) or a write's (past
    /// it, both sides are, which wakes a blocked write with an error).
    reading: Cell<bool>,
    expired: Cell<bool>,
    /// True while the connection waits for the first byte of a request:
    /// at shutdown the sweeper closes it then.
    idle: Cell<bool>,
    /// While a request task serves the connection: the cancel scope its
    /// batch runs in. The sweeper cancels it once the task has waited a
    /// whole tick for a request (`demotable`), which ends the request
    /// task, and a waiting task takes over, with no buffer.
    demote: RefCell<Option<CancelScope>>,
    /// True while the request task waits for a request.
    demotable: Cell<bool>,
    /// Sweeps since `demotable` was set.
    idle_sweeps: Cell<u8>,
    /// The connection's place among [`Config::max_connections`]: given back
    /// when the last task serving it ends.
    _slot: Slot,
}

impl Watched {
    /// Sets the deadline of the writes that follow.
    fn writing_until(&self, deadline_ms: u64) {
        self.reading.set(false);
        self.deadline_ms.set(deadline_ms);
    }
}

impl Sweeper {
    /// A sweeper ticking at a quarter of the shortest timeout, within
    /// 5-250 ms, and its task.
    fn start(config: &Config) -> io::Result<Rc<Sweeper>> {
        let shortest = config.header_timeout.min(config.idle_timeout);
        let tick = (shortest / 4).clamp(Duration::from_millis(5), Duration::from_millis(250));
        let sweeper = Rc::new(Sweeper {
            epoch: Instant::now(),
            now_ms: Cell::new(0),
            tick_ms: tick.as_millis() as u64,
            watched: RefCell::new(Vec::new()),
            accepting: Cell::new(true),
            config: config.clone(),
        });
        date::refresh();
        let task = Rc::clone(&sweeper);
        fibrio::task::Builder::new()
            .stack_size(32 * 1024)
            .spawn(move || loop {
                if fibrio::shutdown::requested() {
                    fibrio::sleep(tick);
                } else {
                    // Woken early by a shutdown request, to close the idle
                    // connections at once.
                    let _ = fibrio::shutdown::move_on(|| fibrio::sleep(tick));
                }
                if !task.sweep() {
                    return;
                }
            })
            .map_err(|err| io::Error::other(err.to_string()))?;
        Ok(sweeper)
    }

    /// One tick; false when the sweeper should end.
    fn sweep(&self) -> bool {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.now_ms.set(now);
        date::refresh();
        let closing = fibrio::shutdown::requested();
        let mut watched = self.watched.borrow_mut();
        watched.retain(|weak| {
            let Some(connection) = weak.upgrade() else {
                return false;
            };
            if closing && connection.idle.replace(false) {
                // Shutdown: its blocked read ends with end-of-file, and it
                // closes without an answer (no request came).
                let _ = connection.stream.shutdown(Shutdown::Read);
            }
            if connection.deadline_ms.get() <= now && !connection.expired.get() {
                connection.expired.set(true);
                // Wakes a blocked read with end-of-file, a blocked write
                // with an error.
                let how = if connection.reading.get() {
                    Shutdown::Read
                } else {
                    Shutdown::Both
                };
                let _ = connection.stream.shutdown(how);
            }
            if connection.demotable.get() {
                // Waiting since before the previous sweep: a whole tick.
                let sweeps = connection.idle_sweeps.get() + 1;
                connection.idle_sweeps.set(sweeps);
                if sweeps >= 2 {
                    connection.demotable.set(false);
                    if let Some(scope) = connection.demote.take() {
                        scope.cancel();
                    }
                }
            }
            true
        });
        // After a peak of connections, give its room back.
        let len = watched.len();
        if watched.capacity() > 4 * len + 64 {
            watched.shrink_to(2 * len + 16);
        }
        self.accepting.get() || !watched.is_empty()
    }

    fn watch(&self, stream: TcpStream, slot: Slot) -> Rc<Watched> {
        let watched = Rc::new(Watched {
            stream,
            deadline_ms: Cell::new(u64::MAX),
            reading: Cell::new(true),
            expired: Cell::new(false),
            idle: Cell::new(false),
            demote: RefCell::new(None),
            demotable: Cell::new(false),
            idle_sweeps: Cell::new(0),
            _slot: slot,
        });
        self.watched.borrow_mut().push(Rc::downgrade(&watched));
        watched
    }

    /// The deadline `timeout` from now, never early: the coarse clock may
    /// lag a tick behind.
    fn deadline(&self, timeout_ms: u64) -> u64 {
        self.now_ms.get() + timeout_ms + self.tick_ms
    }

    fn passed(&self, deadline_ms: u64) -> bool {
        self.now_ms.get() >= deadline_ms
    }
}

/// Answers a connection over the limit with `503` and closes it, from the
/// accept loop: a fresh socket's send buffer takes the few bytes at once.
fn refuse_busy(stream: &TcpStream) {
    let mut response = Vec::with_capacity(256);
    // Writing to a Vec cannot fail.
    let _ = write_error_head(&mut response, Status::ServiceUnavailable);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = (&*stream).write_all(&response);
    let _ = stream.shutdown(Shutdown::Write);
}

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

fn write_error_head(out: &mut impl Write, status: Status) -> io::Result<()> {
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

/// What a request's head says about its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Post,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Root,
    Json,
    Echo,
    NotFound,
}

/// The facts of a parsed head the server acts on; it borrows nothing, so the
/// input buffer is free to move on.
#[derive(Clone, Copy, Debug)]
struct Head {
    method: Method,
    route: Route,
    keep_alive: bool,
    framing: Framing,
    expect_continue: bool,
}

impl Head {
    fn from_request(request: &httparse::Request<'_, '_>) -> Result<Head, Status> {
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

/// The connection's input: `buf[consumed..filled]` is read and not yet
/// used. It grows up to the head limit and is compacted before reads. It
/// lives only while a batch of requests is served, and gives its buffer
/// back while the batch waits for a request.
struct Input<'s> {
    stream: &'s TcpStream,
    watched: &'s Watched,
    sweeper: &'s Sweeper,
    /// The idle timeout in milliseconds: for body reads and writes.
    idle_ms: u64,
    buf: Vec<u8>,
    consumed: usize,
    filled: usize,
    capacity: usize,
}

impl<'s> Input<'s> {
    /// An input holding `first`, the bytes that woke the connection
    /// (`buf[..filled]`).
    fn new(watched: &'s Watched, sweeper: &'s Sweeper, buf: Vec<u8>, filled: usize) -> Input<'s> {
        let config = &sweeper.config;
        Input {
            stream: &watched.stream,
            watched,
            sweeper,
            idle_ms: millis(config.idle_timeout),
            buf,
            consumed: 0,
            filled,
            capacity: config.max_head_bytes.max(INITIAL_BUFFER),
        }
    }

    /// When writes starting now must have made progress.
    fn write_deadline(&self) -> u64 {
        self.sweeper.deadline(self.idle_ms)
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.consumed..self.filled]
    }

    fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.filled - self.consumed);
        self.consumed += n;
        if self.consumed == self.filled {
            self.consumed = 0;
            self.filled = 0;
        }
    }

    /// Flushes `out` (the client may be waiting for those responses), then
    /// reads more input by `deadline_ms` (the sweeper's clock), else fails
    /// with `TimedOut`. `Ok(0)` is the end of the stream.
    fn fill(&mut self, out: &mut impl Write, deadline_ms: u64) -> io::Result<usize> {
        self.watched.writing_until(self.write_deadline());
        out.flush()?;
        if self.filled == self.buf.len() {
            if self.consumed > 0 {
                self.buf.copy_within(self.consumed..self.filled, 0);
                self.filled -= self.consumed;
                self.consumed = 0;
            } else if self.buf.len() < self.capacity {
                let size = (self.buf.len() * 2).min(self.capacity);
                self.buf.resize(size, 0);
            } else {
                return Err(io::Error::new(io::ErrorKind::OutOfMemory, "input full"));
            }
        }
        self.watched.reading.set(true);
        self.watched.deadline_ms.set(deadline_ms);
        let n = (&*self.stream).read(&mut self.buf[self.filled..])?;
        if n == 0 && self.watched.expired.get() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.filled += n;
        Ok(n)
    }
}

/// How reading a request ended short of a response.
enum Failure {
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

/// Serves a connection just accepted, from its first waiting task (on a
/// [`CONNECTION_STACK`]), until the client closes it, asks to, errs, or
/// times out; see [`wait_for_bytes`].
fn connection(watched: Rc<Watched>, sweeper: Rc<Sweeper>) -> io::Result<()> {
    // The first head must arrive within the header timeout of the accept;
    // later ones within it of their first byte.
    let head_deadline = sweeper.deadline(millis(sweeper.config.header_timeout));
    wait_for_bytes(watched, sweeper, Some(head_deadline), None)
}

/// Waits for the first bytes of a request, with no buffer, then hands the
/// connection to a new request task; serves the requests here instead if
/// no task can be spawned. `head_deadline` applies when a head is under
/// way already (the first request's, from the accept), else the idle
/// timeout, from `idle_deadline` if given (a demoted request task's).
fn wait_for_bytes(
    watched: Rc<Watched>,
    sweeper: Rc<Sweeper>,
    mut head_deadline: Option<u64>,
    mut idle_deadline: Option<u64>,
) -> io::Result<()> {
    let idle_ms = millis(sweeper.config.idle_timeout);
    loop {
        let deadline = match head_deadline {
            Some(deadline) if sweeper.passed(deadline) => {
                return Err(io::ErrorKind::TimedOut.into());
            }
            Some(deadline) => deadline,
            None => idle_deadline
                .take()
                .unwrap_or_else(|| sweeper.deadline(idle_ms)),
        };
        // Between requests: at shutdown, close instead of waiting.
        if fibrio::shutdown::requested() {
            return Ok(());
        }
        let mut first = [0; FIRST_READ];
        watched.idle.set(true);
        watched.reading.set(true);
        watched.deadline_ms.set(deadline);
        let read = (&watched.stream).read(&mut first);
        // The sweeper takes the flag when it shuts the read side at
        // shutdown: what came may be served, but nothing more is read.
        let read_shut = !watched.idle.replace(false);
        let n = match read {
            Ok(0) if watched.expired.get() => return Err(io::ErrorKind::TimedOut.into()),
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) => return Err(err),
        };
        let mut buf = spare::take(INITIAL_BUFFER);
        buf[..n].copy_from_slice(&first[..n]);
        let batch = Batch {
            watched: Rc::clone(&watched),
            sweeper: Rc::clone(&sweeper),
            buf,
            filled: n,
            head_deadline,
            read_shut,
        };
        let Some(batch) = batch.hand_off() else {
            // The request task has the connection now.
            return Ok(());
        };
        match batch.serve() {
            Next::Wait(deadline) => {
                head_deadline = None;
                idle_deadline = deadline;
            }
            Next::Closed(result) => return result,
        }
    }
}

/// The size of a batch's output buffer: responses are written when it is
/// full, and before the batch waits for input.
const OUTPUT_BUFFER: usize = 8 * 1024;

/// A batch's buffered writes to its connection (a `BufWriter` whose buffer
/// comes from, and goes back to, [`spare`]).
struct Output<'s> {
    stream: &'s TcpStream,
    buf: Vec<u8>,
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

/// Buffers of finished batches kept for the next ones on this thread, so
/// that waking a connection costs no `malloc` in the steady state; a few
/// only ([`spare::KEPT`] of each size), so that they add little to the
/// memory left after a peak.
mod spare {
    use std::cell::RefCell;

    /// The most buffers of each size kept per thread.
    pub(super) const KEPT: usize = 8;

    thread_local! {
        static INPUTS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
        static OUTPUTS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    fn list(size: usize) -> &'static std::thread::LocalKey<RefCell<Vec<Vec<u8>>>> {
        if size == super::INITIAL_BUFFER {
            &INPUTS
        } else {
            &OUTPUTS
        }
    }

    /// A buffer of `size` bytes: `vec![0; size]` for an input (whose
    /// length is its room, contents unspecified), an empty one with room
    /// for `size` bytes for an output.
    pub(super) fn take(size: usize) -> Vec<u8> {
        let kept = list(size)
            .try_with(|list| list.borrow_mut().pop())
            .ok()
            .flatten();
        match kept {
            Some(buf) => buf,
            None if size == super::INITIAL_BUFFER => vec![0; size],
            None => Vec::with_capacity(size),
        }
    }

    /// Keeps `buf` for a later [`take`] of `size` if it is still that size
    /// (an input grown for a long head is dropped) and there is room.
    pub(super) fn give(mut buf: Vec<u8>, size: usize) {
        let input = size == super::INITIAL_BUFFER;
        if (input && buf.len() != size) || buf.capacity() != size {
            return;
        }
        if !input {
            buf.clear();
        }
        let _ = list(size).try_with(|list| {
            let mut list = list.borrow_mut();
            if list.len() < KEPT {
                list.push(buf);
            }
        });
    }
}

/// What a connection does after a [`Batch`].
enum Next {
    /// Its input is used up and its responses written: wait for the next
    /// request (until this idle deadline, if given).
    Wait(Option<u64>),
    /// It is over (the error, if any, is only logged).
    Closed(io::Result<()>),
}

/// Requests to serve on a connection, starting with the bytes that woke it.
struct Batch {
    watched: Rc<Watched>,
    sweeper: Rc<Sweeper>,
    /// The input buffer, `buf[..filled]` read.
    buf: Vec<u8>,
    filled: usize,
    /// The deadline of the head under way, if the header timeout applies
    /// already (the connection's first request).
    head_deadline: Option<u64>,
    /// Whether the sweeper shut the read side while the bytes came.
    read_shut: bool,
}

impl Batch {
    /// Serves the batch, and the connection after it, in a request task of
    /// its own on a [`REQUEST_STACK`] (the caller's task then ends); gives
    /// the batch back if no task can be spawned (the runtime's
    /// `max_tasks`), for the caller to serve: a connection that was
    /// accepted is still served.
    fn hand_off(self) -> Option<Batch> {
        let pending = Rc::new(Cell::new(Some(self)));
        let taken = Rc::clone(&pending);
        let spawned = fibrio::task::Builder::new()
            .stack_size(REQUEST_STACK)
            .spawn(move || {
                if let Some(batch) = taken.take() {
                    batch.serve_then_wait();
                }
            });
        match spawned {
            Ok(_) => None,
            Err(err) => {
                log::debug!("requests served on the connection's task: {err}");
                pending.take()
            }
        }
    }

    /// The request task: serves the batch; when the sweeper ends its wait
    /// for a request, hands the connection to a new task on a
    /// [`CONNECTION_STACK`] that waits with no buffer (or waits here if no
    /// task can be spawned).
    fn serve_then_wait(self) {
        let watched = Rc::clone(&self.watched);
        let sweeper = Rc::clone(&self.sweeper);
        let result = match self.serve() {
            Next::Closed(result) => result,
            Next::Wait(deadline) => {
                let (waiting, waiting_sweeper) = (Rc::clone(&watched), Rc::clone(&sweeper));
                let spawned = fibrio::task::Builder::new()
                    .stack_size(CONNECTION_STACK)
                    .spawn(move || {
                        if let Err(err) = wait_for_bytes(waiting, waiting_sweeper, None, deadline) {
                            log::debug!("connection ended: {err}");
                        }
                    });
                match spawned {
                    Ok(_) => Ok(()),
                    Err(_) => wait_for_bytes(watched, sweeper, None, deadline),
                }
            }
        };
        if let Err(err) = result {
            log::debug!("connection ended: {err}");
        }
    }

    /// Serves requests until the connection should close, or the sweeper
    /// ends the wait for a next request ([`Next::Wait`], every response
    /// written, nothing read).
    fn serve(self) -> Next {
        let Batch {
            watched,
            sweeper,
            buf,
            filled,
            head_deadline,
            read_shut,
        } = self;
        let stream = &watched.stream;
        let mut out = Output {
            stream,
            buf: spare::take(OUTPUT_BUFFER),
        };
        let mut input = Input::new(&watched, &sweeper, buf, filled);
        let mut body = Vec::new();
        let scope = CancelScope::new();
        *watched.demote.borrow_mut() = Some(scope.clone());
        let served =
            scope.run(|| requests(&mut input, &mut out, &mut body, head_deadline, read_shut));
        watched.demote.take();
        let next = match served {
            Some(served) => Batch::finish(served, &watched, &mut input, &mut out),
            // Demoted by the sweeper while waiting for a request, with
            // nothing read and every response written: the connection's
            // task waits on, until the same deadline.
            None => Next::Wait(Some(watched.deadline_ms.get())),
        };
        spare::give(out.buf, OUTPUT_BUFFER);
        spare::give(input.buf, INITIAL_BUFFER);
        next
    }

    /// Writes what `served` leaves to write, and says what comes next.
    fn finish(
        served: Result<Next, Failure>,
        watched: &Watched,
        input: &mut Input<'_>,
        out: &mut Output<'_>,
    ) -> Next {
        let result = match served {
            Ok(Next::Wait(deadline)) => {
                // The client may be waiting for these responses.
                watched.writing_until(input.write_deadline());
                return match out.flush() {
                    Ok(()) => Next::Wait(deadline),
                    Err(err) => Next::Closed(Err(err)),
                };
            }
            Ok(Next::Closed(result)) => result.and_then(|()| out.flush()),
            Err(Failure::Status(status)) => {
                watched.writing_until(input.write_deadline());
                write_error_head(out, status)
                    .and_then(|()| out.flush())
                    .and_then(|()| linger(input))
            }
            Err(Failure::Closing) => out.flush().and_then(|()| linger(input)),
            Err(Failure::Close(err)) => {
                let _ = out.flush();
                Err(err)
            }
        };
        Next::Closed(result)
    }
}

/// After an error response: stop writing, drain what the client still sends
/// (bounded in time and bytes) so it reads the response, not a reset.
fn linger(input: &mut Input<'_>) -> io::Result<()> {
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
fn requests(
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

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2)
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

/// Reads the body `framing` describes, into `body` if `keep`.
fn read_body(
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

/// Writes the response to a well-framed request whose body was read.
fn respond(head: &Head, body: &[u8], out: &mut impl Write) -> io::Result<()> {
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

/// The `Date` header's value, formatted at most once a second per thread.
pub mod date {
    use std::cell::Cell;
    use std::fmt;
    use std::time::{SystemTime, UNIX_EPOCH};

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), always 29 bytes.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct HttpDate([u8; 29]);

    impl HttpDate {
        /// The 29 ASCII bytes.
        pub fn as_bytes(&self) -> &[u8; 29] {
            &self.0
        }
    }

    impl fmt::Display for HttpDate {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            // Built from httpdate's ASCII output only.
            f.write_str(std::str::from_utf8(&self.0).unwrap_or("Thu, 01 Jan 1970 00:00:00 GMT"))
        }
    }

    thread_local! {
        static CACHE: Cell<(u64, HttpDate)> = const { Cell::new((u64::MAX, HttpDate([b' '; 29]))) };
    }

    /// The date as of the last [`refresh`] on this thread (the server's
    /// sweeper refreshes it every tick, at most 250 ms apart): no clock read.
    /// Before any refresh, [`now`].
    pub fn cached() -> HttpDate {
        let (secs, date) = CACHE.with(Cell::get);
        if secs == u64::MAX {
            now()
        } else {
            date
        }
    }

    /// Reads the clock and updates the date [`cached`] returns.
    pub fn refresh() {
        now();
    }

    /// The current date: one clock read, and a format when the second changed.
    pub fn now() -> HttpDate {
        let now = SystemTime::now();
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        CACHE.with(|cache| {
            let (cached_secs, cached) = cache.get();
            if cached_secs == secs {
                return cached;
            }
            let text = httpdate::fmt_http_date(now);
            let mut bytes = [b' '; 29];
            if text.len() == bytes.len() {
                bytes.copy_from_slice(text.as_bytes());
            }
            let date = HttpDate(bytes);
            cache.set((secs, date));
            date
        })
    }
}

/// Parses a duration flag: `250ms`, `10s`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let duration = if let Some(ms) = text.strip_suffix("ms") {
        Duration::from_millis(ms.parse().ok()?)
    } else {
        Duration::from_secs(text.strip_suffix('s').unwrap_or(text).parse().ok()?)
    };
    (!duration.is_zero()).then_some(duration)
}

/// A server running on its own thread and runtime, on `127.0.0.1` and a
/// free port: for tests. Dropping it stops the accept loop; connections
/// still open end at their timeouts or when their clients close.
#[derive(Debug)]
pub struct Background {
    addr: SocketAddr,
    server: Arc<Server>,
}

impl Background {
    /// Starts a server with `config`.
    ///
    /// # Errors
    ///
    /// If the runtime cannot start or the port cannot be bound.
    pub fn start(config: Config) -> io::Result<Background> {
        Background::start_on(config, fibrio::Runtime::builder().stack_pool(1024))
    }

    /// Starts a server with `config` on a runtime built by `runtime` (a
    /// `max_tasks`, say).
    ///
    /// # Errors
    ///
    /// If the runtime cannot start or the port cannot be bound.
    pub fn start_on(config: Config, runtime: fibrio::Builder) -> io::Result<Background> {
        let server = Server::new(config);
        let (tx, rx) = std::sync::mpsc::channel();
        let serving = Arc::clone(&server);
        std::thread::Builder::new()
            .name("http1-background".into())
            .spawn(move || {
                let runtime = match runtime.build() {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = tx.send(Err(io::Error::other(err.to_string())));
                        return;
                    }
                };
                runtime.run(move || {
                    let listener = match TcpListener::bind("127.0.0.1:0") {
                        Ok(listener) => listener,
                        Err(err) => {
                            let _ = tx.send(Err(err));
                            return;
                        }
                    };
                    let _ = tx.send(listener.local_addr());
                    if let Err(err) = serving.serve(listener) {
                        eprintln!("background server: {err}");
                    }
                });
            })?;
        let addr = rx
            .recv()
            .map_err(|_| io::Error::other("the server thread ended before binding"))??;
        Ok(Background { addr, server })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server, for its connection count.
    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.server.stop();
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
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

    #[test]
    fn durations_take_ms_s_or_bare_seconds() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("fast"), None);
    }

    #[test]
    fn the_date_is_an_imf_fixdate() {
        let date = date::now().to_string();
        assert_eq!(date.len(), 29);
        assert!(date.ends_with(" GMT"), "{date}");
        assert!(httpdate::parse_http_date(&date).is_ok(), "{date}");
    }
}
