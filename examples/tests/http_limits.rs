//! Timeouts and limits of the `http_server` example: header timeout
//! (slowloris), keep-alive idle timeout, connection limit, the runtime's
//! `max_tasks`, head and body size limits. The server (`fibrio_examples::http1`) runs in-process on
//! its own thread and a free port, with short timeouts, and stops when its
//! `Background` drops, even when a test fails.
//!
//! Time bounds are loose on purpose (10x or more over the configured
//! timeouts) so a loaded machine does not fail them; the checks that
//! matter are what the server answers and that it closes at all.

use std::io::Write;
use std::time::{Duration, Instant};

use fibrio_examples::http1::{Background, Config};
use fibrio_examples::http_client::{
    connect, curl, exchange, parse_responses, read_to_close, trickle, Response,
};

fn start(config: Config) -> Background {
    Background::start(config).expect("start the server")
}

fn statuses(responses: &[Response]) -> Vec<u16> {
    responses.iter().map(|r| r.status).collect()
}

fn get(server: &Background) -> Vec<u16> {
    statuses(&parse_responses(
        &exchange(server.addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        &[],
    ))
}

/// Waits up to 10 s for `condition`.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

// --- header timeout ------------------------------------------------------------------

#[test]
fn a_slow_head_is_closed_at_the_header_timeout_while_others_are_served() {
    let server = start(Config {
        header_timeout: Duration::from_millis(200),
        ..Config::default()
    });
    let addr = server.addr();
    // 64 slowloris clients: one byte of a never-ending head every 50 ms.
    let slow: Vec<_> = (0..64)
        .map(|_| {
            std::thread::spawn(move || {
                let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                trickle(addr, head, Duration::from_millis(50), Duration::from_secs(5))
            })
        })
        .collect();
    // Meanwhile normal requests succeed.
    for _ in 0..20 {
        assert_eq!(get(&server), [200]);
        std::thread::sleep(Duration::from_millis(10));
    }
    for client in slow {
        let (took, answer) = client.join().unwrap();
        assert!(
            took < Duration::from_secs(5),
            "a slow client was still open after {took:?}"
        );
        let responses = parse_responses(&answer, &[]);
        assert_eq!(statuses(&responses), [408], "after {took:?}");
        assert_eq!(responses[0].header("connection"), Some("close"));
    }
}

#[test]
fn a_connection_that_sends_nothing_is_closed_silently_at_the_header_timeout() {
    let server = start(Config {
        header_timeout: Duration::from_millis(200),
        ..Config::default()
    });
    let start = Instant::now();
    let mut stream = connect(server.addr());
    let answer = read_to_close(&mut stream);
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn the_header_timeout_does_not_cut_a_kept_alive_connection_between_requests() {
    let server = start(Config {
        header_timeout: Duration::from_millis(100),
        idle_timeout: Duration::from_secs(30),
        ..Config::default()
    });
    let mut stream = connect(server.addr());
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Idle for several header timeouts, then a second request.
    std::thread::sleep(Duration::from_millis(600));
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let responses = parse_responses(&read_to_close(&mut stream), &[]);
    assert_eq!(statuses(&responses), [200, 200]);
}

// --- idle timeout --------------------------------------------------------------------

#[test]
fn an_idle_kept_alive_connection_is_closed_at_the_idle_timeout() {
    let server = start(Config {
        idle_timeout: Duration::from_millis(300),
        ..Config::default()
    });
    let mut stream = connect(server.addr());
    // Requests 30 ms apart keep it open well past the idle timeout...
    let start = Instant::now();
    let mut served = 0;
    while start.elapsed() < Duration::from_millis(900) {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut response = [0; 4096];
        let n = std::io::Read::read(&mut stream, &mut response).unwrap();
        assert!(response[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
        served += 1;
        std::thread::sleep(Duration::from_millis(30));
    }
    assert!(served > 1);
    // ...and then silence closes it, without a response.
    let idle = Instant::now();
    let rest = read_to_close(&mut stream);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert!(
        idle.elapsed() < Duration::from_secs(5),
        "{:?}",
        idle.elapsed()
    );
}

// --- connection limit ------------------------------------------------------------------

/// A connection to `addr` that has had one `GET` answered `200` and stays
/// open (kept alive).
fn served_connection(addr: std::net::SocketAddr) -> std::net::TcpStream {
    let mut stream = connect(addr);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut response = [0; 4096];
    let n = std::io::Read::read(&mut stream, &mut response).unwrap();
    assert!(response[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    stream
}

#[test]
fn connections_over_the_limit_get_503_and_a_freed_place_is_reused() {
    let server = start(Config {
        max_connections: 2,
        ..Config::default()
    });
    let open: Vec<_> = (0..2).map(|_| served_connection(server.addr())).collect();
    assert_eq!(server.server().open_connections(), 2);
    // The third connection is accepted, told 503, and closed, its request
    // unread (it sends none here, so no reset can hide the answer).
    let mut third = connect(server.addr());
    let responses = parse_responses(&read_to_close(&mut third), &[]);
    assert_eq!(statuses(&responses), [503]);
    assert_eq!(responses[0].header("connection"), Some("close"));
    drop(open);
    eventually("the closed connections free their places", || {
        server.server().open_connections() == 0
    });
    let (body, _) = curl(&[&format!("http://{}/", server.addr())]);
    assert_eq!(body, "Hello, World!");
}

#[test]
fn connections_over_max_tasks_get_503_and_the_server_keeps_serving() {
    // Main and the timeout sweeper take two of the four tasks.
    let server = Background::start_on(Config::default(), fibrio::Runtime::builder().max_tasks(4))
        .expect("start the server");
    let mut open: Vec<_> = (0..2).map(|_| served_connection(server.addr())).collect();
    // No task for the third: accepted, told 503, closed, request unread.
    let mut third = connect(server.addr());
    let responses = parse_responses(&read_to_close(&mut third), &[]);
    assert_eq!(statuses(&responses), [503]);
    assert_eq!(responses[0].header("connection"), Some("close"));
    // The connections it has are still served.
    for stream in &mut open {
        stream
            .write_all(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut response = [0; 4096];
        let n = std::io::Read::read(stream, &mut response).unwrap();
        assert!(response[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    }
    drop(open);
    eventually("a task is free again", || get(&server) == [200]);
}

// --- size limits ---------------------------------------------------------------------

#[test]
fn a_head_over_the_byte_limit_is_431_and_close() {
    let server = start(Config {
        max_head_bytes: 1024,
        ..Config::default()
    });
    // Complete but too large, and incomplete and already too large.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(2000)
    );
    let responses = parse_responses(&exchange(server.addr(), big.as_bytes()), &[]);
    assert_eq!(statuses(&responses), [431]);
    assert_eq!(responses[0].header("connection"), Some("close"));
    let endless = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}", "a".repeat(5000));
    let responses = parse_responses(&exchange(server.addr(), endless.as_bytes()), &[]);
    assert_eq!(statuses(&responses), [431]);
    // Just under the limit is fine.
    let fits = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(900)
    );
    let responses = parse_responses(&exchange(server.addr(), fits.as_bytes()), &[]);
    assert_eq!(statuses(&responses), [200]);
}

#[test]
fn a_body_over_the_limit_is_413_and_close() {
    let server = start(Config {
        max_body_bytes: 1000,
        ..Config::default()
    });
    let at_limit = "x".repeat(1000);
    let (body, _) = curl(&[
        "--data-binary",
        &at_limit,
        &format!("http://{}/echo", server.addr()),
    ]);
    assert_eq!(body, at_limit);

    let over = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n{}",
        "x".repeat(1001)
    );
    let responses = parse_responses(&exchange(server.addr(), over.as_bytes()), &[]);
    assert_eq!(statuses(&responses), [413]);
    assert_eq!(responses[0].header("connection"), Some("close"));

    // Chunked: the sum of the chunks counts.
    let mut chunked =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("190\r\n{}\r\n", "y".repeat(400)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let responses = parse_responses(&exchange(server.addr(), &chunked), &[]);
    assert_eq!(statuses(&responses), [413]);

    // curl, through the same limit.
    let output = fibrio_examples::http_client::run(
        std::process::Command::new("curl").args([
            "--silent",
            "--max-time",
            "10",
            "--write-out",
            "%{http_code}",
            "--output",
            "/dev/null",
            "--data-binary",
            &"z".repeat(5000),
            &format!("http://{}/echo", server.addr()),
        ]),
        Duration::from_secs(20),
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "413");
}

#[test]
fn a_large_body_within_the_limit_arrives_whole() {
    let server = start(Config::default());
    let body: Vec<u8> = (0..512 * 1024).map(|i| (i % 251) as u8).collect();
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    let responses = parse_responses(&exchange(server.addr(), &request), &[]);
    assert_eq!(statuses(&responses), [200]);
    assert!(responses[0].body == body, "the echo differs");
}

#[test]
fn a_client_that_stops_reading_is_closed_at_the_idle_timeout() {
    let server = start(Config {
        idle_timeout: Duration::from_millis(300),
        max_body_bytes: 64 * 1024 * 1024,
        ..Config::default()
    });
    // A 32 MiB echo the client never reads: more than loopback's socket
    // buffers hold, so the server's write blocks until the timeout.
    let body = vec![b'x'; 32 * 1024 * 1024];
    let mut stream = connect(server.addr());
    stream
        .write_all(
            format!(
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
    stream.write_all(&body).unwrap();
    eventually("the stalled connection is closed", || {
        server.server().open_connections() == 0
    });
    drop(stream);
}
