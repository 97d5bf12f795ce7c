//! The admin listener: a tiny HTTP/1.1 server, run by fibrio's own tasks
//! on the runtime that starts it, that shows the runtime's internals.
//!
//! | request | answer |
//! |---|---|
//! | `GET /metrics` | the Prometheus text exposition ([`prometheus_text`](crate::prometheus_text)), `text/plain; version=0.0.4` |
//! | `GET /healthz` | `200` and a JSON health snapshot ([`health_json`](crate::health_json)); `503` if a runtime does not answer |
//! | `GET /debug/tasks` | the task dump as text; `?stacks=1` adds every task's backtrace |
//! | another path | `404` |
//! | another method | `405` |
//! | a malformed request | `400`, then the connection closes |
//!
//! # Why loopback only
//!
//! A dump names every task and, with stacks, shows the code it runs and
//! where: internals an outsider should not see. [`serve`] therefore
//! refuses any address that is not a loopback one;
//! [`AdminOptions::allow_non_loopback`] opts in, for deployments that put
//! their own access control in front of it.
//!
//! # Invariants
//!
//! * One request per connection: every answer carries `Connection: close`
//!   and the connection closes after it. A request head must arrive within
//!   [`AdminOptions::read_timeout`] and fit in 16 KiB, else `400`.
//! * The runtime the listener runs on is read directly (its own tasks do
//!   it); other runtimes ([`AdminOptions::runtimes`], e.g. the other
//!   workers) are asked through their [`Handle`]s on the blocking pool, so
//!   a stuck worker never blocks the admin's runtime.
//! * Dropping the [`AdminServer`] (or [`AdminServer::shutdown`]) cancels
//!   the accepting task: the listener closes; requests in progress finish.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::net::{TcpListener, TcpStream};
use crate::{DumpError, DumpOptions, Handle, Health, JoinHandle, RuntimeMetrics, TaskDump};

/// The largest request head the listener reads.
const MAX_HEAD: usize = 16 * 1024;

/// How to run the admin listener; see [`serve_with`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use fibrio::admin::AdminOptions;
///
/// let options = AdminOptions::new().read_timeout(Duration::from_secs(2));
/// assert!(!options.allows_non_loopback());
/// ```
#[derive(Debug, Clone)]
pub struct AdminOptions {
    allow_non_loopback: bool,
    runtimes: Vec<Handle>,
    read_timeout: Duration,
}

impl Default for AdminOptions {
    fn default() -> AdminOptions {
        AdminOptions {
            allow_non_loopback: false,
            runtimes: Vec::new(),
            read_timeout: Duration::from_secs(5),
        }
    }
}

impl AdminOptions {
    /// Loopback only, the runtime it runs on only, a 5 s read timeout.
    ///
    /// # Examples
    ///
    /// See [`AdminOptions`].
    pub fn new() -> AdminOptions {
        AdminOptions::default()
    }

    /// Allows a non-loopback address. The listener shows task names and
    /// stacks: put access control in front of it.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(fibrio::admin::AdminOptions::new().allow_non_loopback(true).allows_non_loopback());
    /// ```
    pub fn allow_non_loopback(mut self, allow: bool) -> AdminOptions {
        self.allow_non_loopback = allow;
        self
    }

    /// Whether a non-loopback address is allowed.
    ///
    /// # Examples
    ///
    /// See [`AdminOptions`].
    pub fn allows_non_loopback(&self) -> bool {
        self.allow_non_loopback
    }

    /// Also covers these runtimes (the other workers, from
    /// [`Workers::handle`](crate::Workers::handle)): they are reported as
    /// workers 1, 2, ... after the one the listener runs on (worker 0).
    /// A live `Handle` turns off a runtime's deadlock detection.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let options = fibrio::admin::AdminOptions::new().runtimes(Vec::new());
    ///     assert!(!options.allows_non_loopback());
    /// });
    /// ```
    pub fn runtimes(mut self, handles: Vec<Handle>) -> AdminOptions {
        self.runtimes = handles;
        self
    }

    /// How long a request head may take to arrive.
    ///
    /// # Examples
    ///
    /// See [`AdminOptions`].
    pub fn read_timeout(mut self, timeout: Duration) -> AdminOptions {
        self.read_timeout = timeout;
        self
    }
}

/// A running admin listener, from [`serve`]. Dropping it stops it.
///
/// # Examples
///
/// See [`serve`].
#[derive(Debug)]
pub struct AdminServer {
    local_addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl AdminServer {
    /// The address it listens on (the port picked for `127.0.0.1:0`).
    ///
    /// # Examples
    ///
    /// See [`serve`].
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and closes the listener; requests in progress
    /// finish.
    ///
    /// # Cancellation
    ///
    /// A checkpoint: it waits for the accepting task to unwind.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio::run(|| {
    ///     let server = fibrio::admin::serve("127.0.0.1:0").unwrap();
    ///     let addr = server.local_addr();
    ///     server.shutdown();
    ///     assert!(std::net::TcpStream::connect(addr).is_err());
    /// });
    /// ```
    pub fn shutdown(mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.cancel();
            let _ = acceptor.join();
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.cancel();
        }
    }
}

/// Starts the admin listener on `addr` (a loopback address; `127.0.0.1:0`
/// picks a port), served by tasks of the runtime this is called in.
///
/// # Errors
///
/// [`io::ErrorKind::PermissionDenied`] for a non-loopback address (see
/// [`serve_with`] to opt in), and the errors of binding the listener.
///
/// # Panics
///
/// Outside a runtime.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
///
/// fibrio::run(|| {
///     let server = fibrio::admin::serve("127.0.0.1:0").unwrap();
///     let addr = server.local_addr();
///     let page = fibrio::spawn_blocking(move || {
///         let mut conn = std::net::TcpStream::connect(addr).unwrap();
///         conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
///         let mut page = String::new();
///         conn.read_to_string(&mut page).unwrap();
///         page
///     })
///     .unwrap();
///     assert!(page.starts_with("HTTP/1.1 200 OK\r\n"));
///     assert!(page.contains("\"status\":\"ok\""));
/// });
/// ```
pub fn serve(addr: impl ToSocketAddrs) -> io::Result<AdminServer> {
    serve_with(addr, AdminOptions::new())
}

/// [`serve`] with `options`.
///
/// # Errors
///
/// As [`serve`]; a non-loopback address is accepted only with
/// [`AdminOptions::allow_non_loopback`].
///
/// # Panics
///
/// Outside a runtime.
///
/// # Examples
///
/// ```
/// use fibrio::admin::{serve_with, AdminOptions};
///
/// fibrio::run(|| {
///     let refused = serve_with("0.0.0.0:0", AdminOptions::new()).unwrap_err();
///     assert_eq!(refused.kind(), std::io::ErrorKind::PermissionDenied);
/// });
/// ```
pub fn serve_with(addr: impl ToSocketAddrs, options: AdminOptions) -> io::Result<AdminServer> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no address to listen on",
        ));
    }
    if !options.allow_non_loopback {
        if let Some(open) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "the admin listener shows task names and stacks: it serves loopback \
                     addresses only, not {open}, unless AdminOptions::allow_non_loopback is set"
                ),
            ));
        }
    }
    let listener = TcpListener::bind(&addrs[..])?;
    let local_addr = listener.local_addr()?;
    let acceptor = crate::task::Builder::new()
        .name("fibrio-admin")
        .spawn(move || accept_loop(listener, options))
        .map_err(io::Error::other)?;
    Ok(AdminServer {
        local_addr,
        acceptor: Some(acceptor),
    })
}

fn accept_loop(listener: TcpListener, options: AdminOptions) {
    loop {
        let Ok((conn, _)) = listener.accept() else {
            // Out of fds, say: back off a little and go on.
            crate::sleep(Duration::from_millis(10));
            continue;
        };
        let options = options.clone();
        let spawned = crate::task::Builder::new()
            .name("fibrio-admin-conn")
            .spawn(move || {
                let _ = handle_connection(conn, &options);
            });
        drop(spawned);
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics,
    Health,
    Tasks { stacks: bool },
}

/// An answer: status line, content type, body.
struct Answer {
    status: &'static str,
    content_type: &'static str,
    body: String,
}

impl Answer {
    fn text(status: &'static str, body: impl Into<String>) -> Answer {
        Answer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

fn handle_connection(mut conn: TcpStream, options: &AdminOptions) -> io::Result<()> {
    conn.set_read_timeout(Some(options.read_timeout))?;
    let answer = match read_request(&mut conn) {
        Ok(Ok(route)) => answer(route, options),
        Ok(Err(answer)) => answer,
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
        Err(_) => Answer::text("400 Bad Request", "bad request\n"),
    };
    let head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        answer.status,
        answer.content_type,
        answer.body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(answer.body.as_bytes())?;
    conn.flush()?;
    let _ = conn.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// Reads one request head: the route, or the answer to give instead
/// (400, 404, 405). `Err` for a connection that closed or timed out.
fn read_request(conn: &mut TcpStream) -> io::Result<Result<Route, Answer>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return if buf.is_empty() {
                Err(io::ErrorKind::UnexpectedEof.into())
            } else {
                Ok(Err(Answer::text("400 Bad Request", "incomplete request\n")))
            };
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let (Some(method), Some(path)) = (request.method, request.path) else {
                    return Ok(Err(Answer::text("400 Bad Request", "bad request\n")));
                };
                return Ok(route(method, path));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                return Ok(Err(Answer::text(
                    "400 Bad Request",
                    "request head too large\n",
                )))
            }
            Err(err) => return Ok(Err(Answer::text("400 Bad Request", format!("{err}\n")))),
        }
    }
}

fn route(method: &str, target: &str) -> Result<Route, Answer> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let route = match path {
        "/metrics" => Route::Metrics,
        "/healthz" => Route::Health,
        "/debug/tasks" => Route::Tasks {
            stacks: query
                .split('&')
                .any(|pair| pair == "stacks=1" || pair == "stacks=true"),
        },
        _ => return Err(Answer::text("404 Not Found", "not found\n")),
    };
    if method != "GET" {
        return Err(Answer::text("405 Method Not Allowed", "only GET\n"));
    }
    Ok(route)
}

/// Asks every other runtime, on the blocking pool.
fn ask_others<R: Send + 'static>(
    options: &AdminOptions,
    ask: fn(&Handle) -> Result<R, DumpError>,
) -> Vec<Result<R, DumpError>> {
    options
        .runtimes
        .iter()
        .map(|handle| {
            let handle = handle.clone();
            crate::spawn_blocking(move || ask(&handle)).unwrap_or(Err(DumpError::Gone))
        })
        .collect()
}

fn answer(route: Route, options: &AdminOptions) -> Answer {
    match route {
        Route::Metrics => {
            let mut all: Vec<RuntimeMetrics> = vec![crate::metrics()];
            all.extend(ask_others(options, Handle::metrics).into_iter().flatten());
            Answer {
                status: "200 OK",
                content_type: crate::PROMETHEUS_CONTENT_TYPE,
                body: crate::prometheus_text(&all),
            }
        }
        Route::Health => {
            let here = crate::Handle::current().health();
            let mut all: Vec<Result<Health, DumpError>> = vec![here];
            all.extend(ask_others(options, Handle::health));
            let ok = all.iter().all(Result::is_ok);
            Answer {
                status: if ok {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                },
                content_type: "application/json",
                body: crate::health_json(&all),
            }
        }
        Route::Tasks { stacks } => {
            let here = if stacks {
                crate::dump_with_stacks()
            } else {
                crate::dump()
            };
            let mut body = here.to_string();
            let dump_options = DumpOptions::new().stacks(stacks);
            for (index, handle) in options.runtimes.iter().enumerate() {
                let handle = handle.clone();
                let other: Result<TaskDump, DumpError> =
                    crate::spawn_blocking(move || handle.dump_with(dump_options))
                        .unwrap_or(Err(DumpError::Gone));
                body.push_str(&format!("\n--- worker {} ---\n", index + 1));
                match other {
                    Ok(dump) => body.push_str(&dump.to_string()),
                    Err(err) => body.push_str(&format!("{err}\n")),
                }
            }
            Answer::text("200 OK", body)
        }
    }
}
