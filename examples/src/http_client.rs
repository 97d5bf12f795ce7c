//! Test support for `http1`: exact request bytes out over a plain
//! `std::net::TcpStream`, responses parsed strictly back, and real clients
//! (curl, ab, h2load) run as child processes that are killed if they
//! outlive their deadline.
//!
//! Invariants: every socket here has a read and a write timeout
//! ([`IO_TIMEOUT`]), and every child process a deadline, so a server that
//! hangs fails a test instead of hanging it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest any read or write here waits.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection with [`IO_TIMEOUT`] on both directions.
///
/// # Panics
///
/// If it cannot connect.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Sends `request` bytes, ends the sending side, and returns everything the
/// server answers until it closes.
///
/// # Panics
///
/// On an I/O error, including a read that waits over [`IO_TIMEOUT`].
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr);
    stream.write_all(request).expect("write the request");
    stream.shutdown(Shutdown::Write).expect("half-close");
    read_to_close(&mut stream)
}

/// Reads until the server closes.
///
/// # Panics
///
/// On an I/O error, including a read that waits over [`IO_TIMEOUT`].
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read to the close");
    answer
}

/// One parsed response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes; none for `HEAD` and `1xx`).
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits `bytes` into responses. `head_requests[i]` says whether the i-th
/// final (non-`1xx`) response answers a `HEAD` (and so has no body).
///
/// # Panics
///
/// If the bytes are not whole responses, each with a `Content-Length`
/// (unless `1xx`), a `Date` and a `Connection` header: the server's
/// framing contract.
pub fn parse_responses(mut bytes: &[u8], head_requests: &[bool]) -> Vec<Response> {
    let mut responses = Vec::new();
    let mut finals = 0;
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(bytes) {
            Ok(httparse::Status::Complete(len)) => len,
            other => panic!(
                "not a whole response head ({other:?}): {:?}",
                String::from_utf8_lossy(bytes)
            ),
        };
        let status = response.code.unwrap();
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        bytes = &bytes[len..];
        let mut parsed = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if status >= 200 {
            let length: usize = parsed
                .header("content-length")
                .unwrap_or_else(|| panic!("no Content-Length: {parsed:?}"))
                .parse()
                .unwrap();
            assert!(parsed.header("date").is_some(), "no Date: {parsed:?}");
            assert!(
                parsed.header("connection").is_some(),
                "no Connection: {parsed:?}"
            );
            let head = head_requests.get(finals).copied().unwrap_or(false);
            finals += 1;
            if !head {
                assert!(
                    bytes.len() >= length,
                    "body cut short: {length} declared, {} left",
                    bytes.len()
                );
                parsed.body = bytes[..length].to_vec();
                bytes = &bytes[length..];
            }
        }
        responses.push(parsed);
    }
    responses
}

/// Whether `program` can be run (`program --version` succeeds).
pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg(if program == "ab" { "-V" } else { "--version" })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `command` to completion, killing it if it takes over `deadline`.
///
/// # Panics
///
/// If it cannot start, or outlives its deadline (after being killed).
pub fn run(command: &mut Command, deadline: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {command:?}: {err}"));
    // Read the pipes on threads so a chatty child cannot block on them.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} ran over {deadline:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Runs curl with `args` (20 s deadline, `--max-time 10`), returning
/// stdout and stderr as text.
///
/// # Panics
///
/// If curl cannot start or fails.
pub fn curl(args: &[&str]) -> (String, String) {
    let output = run(
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10"])
            .args(args),
        Duration::from_secs(20),
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "curl {args:?} failed: {}\n{stdout}\n{stderr}",
        output.status
    );
    (stdout, stderr)
}

/// Writes `bytes` one at a time, `gap` apart, until the server closes the
/// connection or `limit` passes; returns how long that took and what the
/// server sent.
///
/// # Panics
///
/// On a read error other than the server's close or reset.
pub fn trickle(
    addr: SocketAddr,
    bytes: &[u8],
    gap: Duration,
    limit: Duration,
) -> (Duration, Vec<u8>) {
    let mut stream = connect(addr);
    stream.set_read_timeout(Some(gap)).unwrap();
    let start = Instant::now();
    let mut answer = Vec::new();
    let mut next = 0;
    let mut buf = [0u8; 1024];
    while start.elapsed() < limit {
        if next < bytes.len() && stream.write_all(&bytes[next..=next]).is_ok() {
            next += 1;
        }
        match stream.read(&mut buf) {
            Ok(0) => return (start.elapsed(), answer),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => {
                return (start.elapsed(), answer)
            }
            Err(err) => panic!("trickle: {err}"),
        }
    }
    (start.elapsed(), answer)
}
