//! Running a child process with a time limit, for tests whose failure mode
//! is a hang: the child is killed when the limit passes, and the output it
//! wrote so far is returned, so the test fails with it instead of hanging.
//!
//! Include it with `#[path = "common/timed_child.rs"] mod timed_child;`.

#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a child did within its time limit.
#[derive(Debug)]
pub struct TimedOutput {
    /// The exit status; `None` if the child was killed for running too long.
    pub status: Option<ExitStatus>,
    /// Everything the child wrote to stdout.
    pub stdout: String,
    /// Everything the child wrote to stderr.
    pub stderr: String,
    /// How long the child ran.
    pub elapsed: Duration,
}

impl TimedOutput {
    /// Stdout and stderr together, for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status {:?} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `command` with piped output, killing it if it runs longer than
/// `limit`.
pub fn output_within(mut command: Command, limit: Duration) -> TimedOutput {
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to start the child process");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child failed") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    TimedOutput {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}
