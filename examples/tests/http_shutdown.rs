//! Graceful shutdown of the real `http_server` binary (built by `cargo
//! test`, or here if missing), in a child process: with kept-alive
//! connections idle and requests in flight, SIGTERM makes it stop
//! accepting, close the idle connections at once, answer every request
//! whose head it had read in full with `Connection: close`, and exit 0
//! within the grace period. With `--workers 1` and `--workers 2`.
//!
//! Wall-clock bounds are 10x or more away from what is measured.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fibrio_examples::http_client::{connect, parse_responses, read_to_close};

const GRACE: Duration = Duration::from_secs(30);

/// Reads one response head and its `Content-Length` body.
fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut byte = [0; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "closed mid-head: {bytes:?}"
        );
        bytes.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&bytes).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    bytes.extend_from_slice(&body);
    bytes
}

fn graceful_shutdown_with_connections_in_flight(workers: usize) {
    let (mut server, addr) =
        common::http_server(workers, &["--grace", &format!("{}s", GRACE.as_secs())]);
    // Kept-alive connections, idle after one request each.
    let mut idle: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut stream = connect(addr);
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let response = parse_responses(&read_response(&mut stream), &[false]);
            assert_eq!(response[0].status, 200);
            assert_eq!(response[0].header("connection"), Some("keep-alive"));
            stream
        })
        .collect();
    // Requests in flight: their heads read (the server answered `100
    // Continue`), the last byte of their bodies not sent yet.
    let in_flight: Vec<TcpStream> = (0..4)
        .map(|i| {
            let mut stream = connect(addr);
            let head = format!(
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\nbody-{i}"
            );
            stream.write_all(head.as_bytes()).unwrap();
            let mut continue_line = [0; 25];
            stream.read_exact(&mut continue_line).unwrap();
            assert_eq!(&continue_line, b"HTTP/1.1 100 Continue\r\n\r\n");
            stream
        })
        .collect();
    let signalled = Instant::now();
    server.sigterm();
    // Idle kept-alive connections are closed at once, without an answer.
    for stream in &mut idle {
        assert!(read_to_close(stream).is_empty());
    }
    let idle_closed = signalled.elapsed();
    // Every request in flight gets its full answer, then the close.
    for (i, mut stream) in in_flight.into_iter().enumerate() {
        stream.write_all(format!("{i}").as_bytes()).unwrap();
        let response = read_to_close(&mut stream);
        let responses = parse_responses(&response, &[false]);
        assert_eq!(
            responses.len(),
            1,
            "{:?}",
            String::from_utf8_lossy(&response)
        );
        assert_eq!(responses[0].status, 200);
        assert_eq!(responses[0].body, format!("body-{i}{i}").into_bytes());
        assert_eq!(responses[0].header("connection"), Some("close"));
    }
    let (status, waited) = server.wait(GRACE);
    assert!(status.success(), "http_server exited with {status:?}");
    assert!(waited < GRACE, "{waited:?}");
    eprintln!(
        "workers {workers}: idle connections closed {idle_closed:?} after SIGTERM, exit 0 {:?} after it",
        signalled.elapsed()
    );
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_err(),
        "nothing listens after the exit"
    );
}

#[test]
fn sigterm_answers_requests_in_flight_closes_idle_connections_and_exits_0() {
    graceful_shutdown_with_connections_in_flight(1);
}

#[test]
fn sigterm_with_two_workers_does_the_same() {
    graceful_shutdown_with_connections_in_flight(2);
}
