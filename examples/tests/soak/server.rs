//! A running example server ([`Server`]): started with two workers and
//! its admin listener, sampled (open fds from `/proc/PID/fd`, RSS from
//! `VmRSS`, tasks alive and stacks mapped summed over the workers from
//! the admin's `/metrics`), and killed when dropped.
//!
//! Invariants: a server is killed when dropped; a binary without an
//! `--admin` flag is started without it, and then only its fds and RSS
//! are sampled.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::common::{example_binary, free_addr};
use super::samples::Sample;

/// A running example server, killed when dropped.
pub(super) struct Server {
    pub(super) name: &'static str,
    child: Child,
    pub(super) addr: SocketAddr,
    admin: Option<SocketAddr>,
}

impl Server {
    /// Starts `name` with two workers and, if `with_admin`, its admin
    /// listener; waits until both workers print `ready`. `None` if it
    /// exited at once (an unknown flag).
    fn try_start(name: &'static str, ready: &'static str, with_admin: bool) -> Option<Server> {
        let addr = free_addr();
        let admin = with_admin.then(free_addr);
        let mut command = Command::new(example_binary(name));
        command.args(["--addr", &addr.to_string(), "--workers", "2"]);
        if let Some(admin) = admin {
            command.args(["--admin", &admin.to_string()]);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("start {name}: {err}"));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{name}: {line}");
                let _ = tx.send(line);
            }
        });
        let mut server = Server {
            name,
            child,
            addr,
            admin,
        };
        let mut workers = 0;
        let start = Instant::now();
        while workers < 2 {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains(ready) => workers += 1,
                Ok(_) => {}
                Err(_) => {
                    if let Some(status) = server.child.try_wait().unwrap() {
                        eprintln!("{name} exited at start: {status}");
                        return None;
                    }
                    assert!(
                        start.elapsed() < Duration::from_secs(60),
                        "{name} did not start within 60 s"
                    );
                }
            }
        }
        if let Some(admin) = admin {
            while metrics(admin).is_none() {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "{name}'s admin listener did not answer within 60 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Some(server)
    }

    /// Starts `name` with its admin listener, or without if the binary
    /// has no `--admin` flag (then tasks and stacks are not sampled).
    pub(super) fn start(name: &'static str, ready: &'static str) -> Server {
        Server::try_start(name, ready, true).unwrap_or_else(|| {
            eprintln!("{name} has no --admin flag: sampling fds and RSS only");
            Server::try_start(name, ready, false)
                .unwrap_or_else(|| panic!("{name} exited at start"))
        })
    }

    pub(super) fn sample(&mut self, at: Duration) -> Sample {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} died during the soak: {status}", self.name);
        }
        let pid = self.child.id();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("read /proc/PID/fd")
            .count() as u64;
        let rss_kib = crate::common::rss_bytes(pid as libc::pid_t) / 1024;
        let text = self.admin.and_then(metrics);
        let sum = |family: &str| text.as_deref().and_then(|t| metric_sum(t, family));
        Sample {
            at,
            fds,
            rss_kib,
            tasks: sum("fibrio_tasks_alive"),
            stacks: sum("fibrio_stacks_mapped"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The admin's `/metrics` page, or `None` if it does not answer.
fn metrics(admin: SocketAddr) -> Option<String> {
    let mut conn = TcpStream::connect_timeout(&admin, Duration::from_secs(5)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut page = String::new();
    conn.read_to_string(&mut page).ok()?;
    page.starts_with("HTTP/1.1 200").then_some(page)
}

/// The sum over workers of a Prometheus family's samples.
fn metric_sum(text: &str, family: &str) -> Option<u64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|line| {
            line.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() as u64)
}
