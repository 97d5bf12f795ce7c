//! examples/postgres.rs against a private PostgreSQL server (started as in
//! crates/fibrio/tests/postgres_support): notes written and read back over
//! HTTP by concurrent clients. Without PostgreSQL it prints `SKIP` and
//! returns. Needs the `postgres` feature of fibrio-examples (.ci/run
//! passes it).

#![cfg(feature = "postgres")]

#[path = "../../crates/fibrio/tests/postgres_support/mod.rs"]
mod postgres_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The `postgres` example binary beside this test's, built if missing.
fn example_binary() -> PathBuf {
    let test = std::env::current_exe().expect("test path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/postgres
    let profile_dir = test.parent().and_then(|d| d.parent()).expect("target dir");
    let binary = profile_dir.join("examples").join("postgres");
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--example",
                "postgres",
                "-p",
                "fibrio-examples",
                "--features",
                "postgres",
            ])
            .status()
            .expect("run cargo");
        assert!(status.success(), "cargo build --example postgres failed");
    }
    binary
}

/// Kills the example when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One request on a fresh connection; the response's status line and body.
fn request(addr: &str, method: &str, path: &str, body: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete response");
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[test]
fn notes_are_written_and_read_back_over_http() {
    let Some(server) =
        postgres_support::server_or_skip("notes_are_written_and_read_back_over_http")
    else {
        return;
    };
    let mut child = Command::new(example_binary())
        .args(["--addr", "127.0.0.1:0", "--pg"])
        .arg(format!("127.0.0.1:{}", server.port))
        .args(["--password", postgres_support::PASSWORD])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the example");
    let stdout = child.stdout.take().unwrap();
    let _running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    // 20 clients at once, each writing a note.
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || request(&addr, "POST", "/notes", &format!("note {i}")))
        })
        .collect();
    for writer in writers {
        let (status, body) = writer.join().unwrap();
        assert_eq!(status, "HTTP/1.1 201 Created", "{body}");
        assert!(body.contains("\"id\""), "{body}");
    }
    let (status, body) = request(&addr, "GET", "/notes", "");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let notes: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(notes.len(), 20);
    let (status, body) = request(&addr, "GET", "/notes/1", "");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("note "), "{body}");
    let (status, _) = request(&addr, "GET", "/notes/999", "");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    drop(server);
}
