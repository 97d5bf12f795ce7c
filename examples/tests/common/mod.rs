//! Shared by the tests that run a real example binary in a child process
//! (`http_server`, `production`, `tls_echo`, ...): build it if missing,
//! start it with arguments, wait for a line of its output (its
//! "listening" banner) and read the address in it, send it signals, wait
//! for its exit, and kill it when the test is done.
//!
//! Invariants:
//!
//! * Every wait has a deadline, so a binary that hangs fails the test
//!   with everything it printed instead of hanging it.
//! * Both stdout and stderr are read to their end by threads of their
//!   own (a full pipe never blocks the child), echoed to the test's
//!   stderr with the binary's name (shown when a test fails), and kept in
//!   order: [`Example::output`] holds every line so far.
//! * Dropping an [`Example`] kills the child and reaps it.
//!
//! Each test file that uses this compiles its own copy, and uses only
//! part of it: hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a binary may take to print its banner (a cold build of the
/// example may be on the way).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The example binary `name` beside this test's (same profile), built with
/// `cargo build --example` if missing.
///
/// # Panics
///
/// If the build fails.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let binary = profile_dir.join("examples").join(name);
    if !binary.exists() {
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--example", name, "-p", "fibrio-examples"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    binary
}

/// A loopback address with a port that was free a moment ago (for
/// binaries that take `--addr` but do not print the port they bound).
pub fn free_addr() -> SocketAddr {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port();
    ([127, 0, 0, 1], port).into()
}

/// The first `ip:port` socket address in `line` (after `http://` or on
/// its own), if any.
pub fn addr_in(line: &str) -> Option<SocketAddr> {
    line.split(|c: char| c.is_whitespace() || c == '/' || c == ';' || c == ',')
        .find_map(|word| word.trim_end_matches(['.', ')']).parse().ok())
}

/// Starts `http_server` on a free loopback port with `--workers workers`
/// and `args`, and waits until every worker prints `serving http://`: the
/// process and its address.
///
/// # Panics
///
/// As [`Example::start`] and [`Example::wait_for_line`].
pub fn http_server(workers: usize, args: &[&str]) -> (Example, SocketAddr) {
    let addr = free_addr();
    let (addr_text, workers_text) = (addr.to_string(), workers.to_string());
    let mut all = vec!["--addr", &addr_text, "--workers", &workers_text];
    all.extend_from_slice(args);
    let mut server = Example::start("http_server", &all);
    server.wait_for_lines("serving http://", workers.max(1));
    (server, addr)
}

/// A running example binary, killed when dropped.
pub struct Example {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    output: Arc<Mutex<Vec<String>>>,
    /// Lines received from `lines`, and whether a wait returned each.
    seen: Vec<(String, bool)>,
}

impl Example {
    /// Starts the example `name` with `args`, stdout and stderr piped.
    ///
    /// # Panics
    ///
    /// If it cannot be built or started.
    pub fn start(name: &str, args: &[&str]) -> Example {
        Example::start_binary(name, &example_binary(name), args)
    }

    /// Waits up to `limit` for a line of output (either stream) for which
    /// `wanted` is true and that no wait returned before, and returns it.
    /// Lines printed earlier count too, so the order of two waits need not
    /// be the order of the lines.
    ///
    /// # Panics
    ///
    /// If no such line comes within `limit`, or the process ends first.
    pub fn wait_for_line(&mut self, limit: Duration, wanted: impl Fn(&str) -> bool) -> String {
        if let Some((line, returned)) = self
            .seen
            .iter_mut()
            .find(|(line, returned)| !*returned && wanted(line))
        {
            *returned = true;
            return line.clone();
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = wanted(&line);
                    self.seen.push((line.clone(), found));
                    if found {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "{} printed no expected line within {limit:?}; its output:\n{}",
                    self.name,
                    self.output()
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    panic!(
                        "{} ended ({status:?}) before the expected line; its output:\n{}",
                        self.name,
                        self.output()
                    )
                }
            }
        }
    }

    /// Waits for `count` lines containing `needle` (one per worker, say),
    /// each within [`START_TIMEOUT`], and returns them.
    ///
    /// # Panics
    ///
    /// As [`wait_for_line`](Example::wait_for_line).
    pub fn wait_for_lines(&mut self, needle: &str, count: usize) -> Vec<String> {
        (0..count)
            .map(|_| self.wait_for_line(START_TIMEOUT, |line| line.contains(needle)))
            .collect()
    }

    /// Waits for a line containing `needle` and returns the socket address
    /// in it (the part after `needle` first).
    ///
    /// # Panics
    ///
    /// As [`wait_for_line`](Example::wait_for_line), and if that line holds
    /// no address.
    pub fn wait_for_addr(&mut self, needle: &str) -> SocketAddr {
        let line = self.wait_for_line(START_TIMEOUT, |line| line.contains(needle));
        let after = &line[line.find(needle).unwrap() + needle.len()..];
        addr_in(after)
            .or_else(|| addr_in(&line))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    }

    /// Everything printed so far, stdout and stderr, one line each.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// The child's process id.
    pub fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t")
    }

    /// Sends `signal` (`libc::SIGTERM`, ...).
    ///
    /// # Panics
    ///
    /// If `kill(2)` fails.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child with a valid signal number has
        // no memory-safety preconditions.
        let sent = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(sent, 0, "kill({}, {signal})", self.pid());
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Whether it is still running.
    pub fn still_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for the exit, up to `limit`: its status and how long it took.
    ///
    /// # Panics
    ///
    /// If it is still running after `limit`.
    pub fn wait(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < limit,
                "{} still running after {limit:?}; its output:\n{}",
                self.name,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `stream` line by line to its end on a thread of its own: each
/// line is echoed, kept in `output` and sent on `tx`.
fn forward(
    name: &str,
    stream: impl Read + Send + 'static,
    tx: mpsc::Sender<String>,
    output: Arc<Mutex<Vec<String>>>,
) {
    let name = name.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            eprintln!("{name}: {line}");
            output.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
}

/// The resident set size of process `pid` (`VmRSS` in
/// `/proc/PID/status`), in bytes.
///
/// # Panics
///
/// If the file cannot be read or has no `VmRSS` line (the process ended).
pub fn rss_bytes(pid: libc::pid_t) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|err| panic!("read /proc/{pid}/status: {err}"));
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    kib * 1024
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (children
/// started afterwards, an example binary say, inherit it) and returns the
/// soft limit now in force.
///
/// # Panics
///
/// If `getrlimit` fails.
pub fn raise_fd_limit_to_hard() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct passed,
    // which lives across the calls.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// The example binary `name` built in release (`target/release/examples`),
/// whatever profile the test runs in: `cargo build --release --example` is
/// run every time (a no-op when it is up to date), so it is never stale.
/// For figures that only a release build has (memory per connection:
/// debug builds' stack frames are several times larger).
///
/// # Panics
///
/// If the build fails.
pub fn release_example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/release/examples/<name>
    let target_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .and_then(|profile| profile.parent())
        .expect("target dir");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--example",
            name,
            "-p",
            "fibrio-examples",
        ])
        .env("CARGO_TARGET_DIR", target_dir)
        .status()
        .expect("run cargo build");
    assert!(
        status.success(),
        "cargo build --release --example {name} failed"
    );
    target_dir.join("release").join("examples").join(name)
}

impl Example {
    /// Starts the program `binary` (an example built by
    /// [`release_example_binary`], say), named `name` in messages, with
    /// `args`, stdout and stderr piped.
    ///
    /// # Panics
    ///
    /// If it cannot be started.
    pub fn start_binary(name: &str, binary: &std::path::Path, args: &[&str]) -> Example {
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("start {}: {err}", binary.display()));
        let (tx, lines) = mpsc::channel();
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        forward(name, stdout, tx.clone(), Arc::clone(&output));
        forward(name, stderr, tx, Arc::clone(&output));
        Example {
            name: name.to_owned(),
            child,
            lines,
            output,
            seen: Vec::new(),
        }
    }
}
