//! HTTP/1.1 framing of the `http_server` example (RFC 9112), case by case,
//! against the server of `fibrio_examples::http1` run in-process on its own
//! thread and a free port (`Background`, stopped when dropped, even when a
//! test fails). Real clients where one fits (curl; ab and h2load when
//! installed, else the test prints SKIP), raw sockets for exact bytes.
//!
//! Every socket has a 10 s timeout and every client process a deadline, so
//! a server that hangs fails a test instead of hanging it.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use fibrio_examples::http1::{Background, Config};
use fibrio_examples::http_client::{
    connect, curl, exchange, have, parse_responses, read_to_close, run, Response,
};

fn server() -> Background {
    Background::start(Config::default()).expect("start the server")
}

fn url(server: &Background, path: &str) -> String {
    format!("http://{}{path}", server.addr())
}

/// Sends `request`, half-closes, and parses every response until the close.
fn answers(server: &Background, request: &[u8], heads: &[bool]) -> Vec<Response> {
    parse_responses(&exchange(server.addr(), request), heads)
}

fn statuses(responses: &[Response]) -> Vec<u16> {
    responses.iter().map(|r| r.status).collect()
}

/// One error response with `status`, `Connection: close`, and then the close
/// (with more requests sent after the bad one, which must go unanswered).
fn assert_rejected(request: &[u8], status: u16) {
    let server = server();
    let mut bytes = request.to_vec();
    bytes.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let responses = answers(&server, &bytes, &[]);
    assert_eq!(statuses(&responses), [status], "{responses:?}");
    assert_eq!(responses[0].header("connection"), Some("close"));
}

// --- HEAD ----------------------------------------------------------------------

#[test]
fn curl_head_gets_the_get_headers_and_no_body() {
    let server = server();
    let (head, _) = curl(&["-I", &url(&server, "/")]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 13\r\n"), "{head}");
    assert!(head.contains("Date: "), "{head}");
    assert!(
        head.ends_with("\r\n\r\n"),
        "a body came after the head: {head:?}"
    );
    let (get, _) = curl(&["-i", &url(&server, "/json")]);
    let (head, _) = curl(&["-I", &url(&server, "/json")]);
    let length = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("Content-Length:"))
            .map(str::to_owned)
    };
    assert_eq!(length(&head), length(&get));
    let (missing, _) = curl(&["-I", &url(&server, "/nope")]);
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    assert!(missing.contains("Content-Length: 9\r\n"), "{missing}");
}

#[test]
fn head_keeps_a_kept_alive_connection_in_sync() {
    let server = server();
    let responses = answers(
        &server,
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n\
          HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /nope HTTP/1.1\r\nHost: x\r\n\r\n\
          GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[true, true, false, false],
    );
    assert_eq!(statuses(&responses), [200, 404, 404, 200]);
    assert!(responses[0].body.is_empty());
    assert_eq!(responses[0].header("content-length"), Some("13"));
    assert_eq!(responses[1].header("content-length"), Some("9"));
    assert_eq!(responses[2].body, b"Not Found");
    assert_eq!(responses[3].body, b"Hello, World!");
}

#[test]
fn other_methods_on_known_paths_get_405_and_the_connection_stays_usable() {
    let server = server();
    let responses = answers(
        &server,
        b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
    );
    assert_eq!(statuses(&responses), [405, 405, 200]);
    assert_eq!(responses[0].header("allow"), Some("GET, HEAD"));
    assert_eq!(responses[1].header("allow"), Some("POST"));
}

// --- request bodies --------------------------------------------------------------

#[test]
fn curl_post_body_is_read_and_echoed() {
    let server = server();
    let (body, _) = curl(&["-d", "hello=world", &url(&server, "/echo")]);
    assert_eq!(body, "hello=world");
    // The body of a POST to a route that ignores it is still read: the next
    // request on the connection (curl reuses it) is answered normally.
    let (both, stderr) = curl(&[
        "-v",
        "-d",
        "hello=world",
        &url(&server, "/"),
        "--next",
        &url(&server, "/"),
    ]);
    assert_eq!(both, "Method Not AllowedHello, World!");
    assert!(stderr.contains("Re-using existing connection"), "{stderr}");
}

#[test]
fn curl_chunked_body_is_decoded() {
    let server = server();
    let (body, _) = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "-d",
        "hello chunked world",
        &url(&server, "/echo"),
    ]);
    assert_eq!(body, "hello chunked world");
}

#[test]
fn chunk_extensions_and_trailers_are_skipped_and_the_next_request_follows() {
    let server = server();
    let responses = answers(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\n\
          GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
    );
    assert_eq!(statuses(&responses), [200, 200]);
    assert_eq!(responses[0].body, b"hello 0123456789");
    assert_eq!(responses[1].body, b"Hello, World!");
}

/// Found by the soak (`tests/soak.rs`): an empty echo after a non-empty one
/// on the same connection answered the previous request's body.
#[test]
fn an_empty_body_after_a_full_one_echoes_nothing() {
    let server = server();
    let responses = answers(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
          POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
    );
    assert_eq!(statuses(&responses), [200, 200, 200]);
    assert_eq!(responses[0].body, b"hello");
    assert_eq!(responses[1].body, b"");
    assert_eq!(responses[1].header("content-length"), Some("0"));
    assert_eq!(responses[2].body, b"");
}

#[test]
fn a_body_arriving_in_pieces_is_read_to_its_end() {
    let server = server();
    let mut stream = connect(server.addr());
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    stream.write_all(b"defghij").unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let responses = parse_responses(&read_to_close(&mut stream), &[]);
    assert_eq!(statuses(&responses), [200, 200]);
    assert_eq!(responses[0].body, b"abcdefghij");
}

#[test]
fn a_body_that_looks_like_a_request_gets_exactly_one_response() {
    let server = server();
    let inner = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        inner.len()
    )
    .into_bytes();
    request.extend_from_slice(inner);
    let responses = answers(&server, &request, &[]);
    assert_eq!(statuses(&responses), [200], "{responses:?}");
    assert_eq!(responses[0].body, inner);

    // The same through chunked framing.
    let mut request =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    request.extend_from_slice(format!("{:x}\r\n", inner.len()).as_bytes());
    request.extend_from_slice(inner);
    request.extend_from_slice(b"\r\n0\r\n\r\n");
    let responses = answers(&server, &request, &[]);
    assert_eq!(statuses(&responses), [200], "{responses:?}");
    assert_eq!(responses[0].body, inner);
}

#[test]
fn identical_repeated_content_lengths_are_one_length() {
    let server = server();
    let responses = answers(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello\
          POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
        &[],
    );
    assert_eq!(statuses(&responses), [200, 200]);
    assert_eq!(responses[0].body, b"hello");
    assert_eq!(responses[1].body, b"abc");
}

#[test]
fn transfer_encoding_with_content_length_is_400_and_close() {
    assert_rejected(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn invalid_content_lengths_are_400_and_close() {
    for value in [
        "abc",
        "-1",
        "+5",
        "1 2",
        "",
        "5,",
        "99999999999999999999999",
    ] {
        let request =
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\nhello");
        assert_rejected(request.as_bytes(), 400);
    }
}

#[test]
fn differing_content_lengths_are_400_and_close() {
    assert_rejected(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    );
    assert_rejected(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
        400,
    );
}

#[test]
fn unknown_transfer_codings_are_501_and_misplaced_chunked_is_400() {
    // RFC 9112 section 6.1: a coding the server does not understand is 501.
    assert_rejected(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        501,
    );
    assert_rejected(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    );
    // `chunked` must be the last coding, applied once.
    assert_rejected(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
    );
    assert_rejected(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
    // Transfer-Encoding in HTTP/1.0 is faulty framing (RFC 9112 section 6.1).
    assert_rejected(
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn malformed_chunks_are_400_and_close() {
    for chunks in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhelloXX0\r\n\r\n",
        b"fffffffffffffffffff\r\n",
    ] {
        let mut request =
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        request.extend_from_slice(chunks);
        assert_rejected(&request, 400);
    }
}

#[test]
fn a_body_cut_short_by_the_client_closes_without_a_response() {
    let server = server();
    let answer = exchange(
        server.addr(),
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
    );
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
}

// --- HTTP/1.0 --------------------------------------------------------------------

#[test]
fn http10_closes_unless_the_client_asks_for_keep_alive() {
    let server = server();
    let responses = answers(
        &server,
        b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        &[],
    );
    assert_eq!(statuses(&responses), [200], "closed after the first");
    assert_eq!(responses[0].header("connection"), Some("close"));

    let responses = answers(
        &server,
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        &[],
    );
    assert_eq!(statuses(&responses), [200, 200, 200]);
    let connection: Vec<_> = responses
        .iter()
        .map(|r| r.header("connection").unwrap())
        .collect();
    assert_eq!(connection, ["keep-alive", "keep-alive", "close"]);
}

#[test]
fn curl_http10_with_keep_alive_reuses_the_connection() {
    let server = server();
    let (body, stderr) = curl(&[
        "-v",
        "--http1.0",
        "-H",
        "Connection: keep-alive",
        &url(&server, "/"),
        &url(&server, "/"),
    ]);
    assert_eq!(body, "Hello, World!Hello, World!");
    assert!(stderr.contains("Re-using existing connection"), "{stderr}");
}

#[test]
fn ab_keep_alive_keeps_every_connection() {
    if !have("ab") {
        println!("SKIP: ab is not installed (apt-get install -y apache2-utils)");
        return;
    }
    let server = server();
    let output = run(
        Command::new("ab").args([
            "-k",
            "-n",
            "2000",
            "-c",
            "8",
            "-s",
            "10",
            &url(&server, "/"),
        ]),
        Duration::from_secs(60),
    );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let count = |label: &str| -> u64 {
        report
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} in {report}"))
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(count("Complete requests:"), 2000, "{report}");
    assert_eq!(count("Failed requests:"), 0, "{report}");
    assert_eq!(count("Keep-Alive requests:"), 2000, "{report}");
}

#[test]
fn h2load_over_http1_gets_every_response() {
    if !have("h2load") {
        println!("SKIP: h2load is not installed (apt-get install -y nghttp2-client)");
        return;
    }
    let server = server();
    let output = run(
        Command::new("h2load").args([
            "--h1",
            "-n",
            "2000",
            "-c",
            "8",
            "-m",
            "4",
            &url(&server, "/"),
        ]),
        Duration::from_secs(60),
    );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(
        report.contains("2000 succeeded, 0 failed, 0 errored"),
        "{report}"
    );
}

// --- Expect: 100-continue ----------------------------------------------------------

#[test]
fn curl_expect_100_continue_gets_100_before_sending_the_body() {
    let server = server();
    let (body, stderr) = curl(&[
        "-v",
        "-H",
        "Expect: 100-continue",
        "-d",
        "hello",
        &url(&server, "/echo"),
    ]);
    assert_eq!(body, "hello");
    assert!(stderr.contains("< HTTP/1.1 100 Continue"), "{stderr}");
}

#[test]
fn the_100_comes_before_the_body_is_sent() {
    let server = server();
    let mut stream = connect(server.addr());
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let expected = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut interim = vec![0; expected.len()];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(interim, expected);
    stream.write_all(b"hello").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let responses = parse_responses(&read_to_close(&mut stream), &[]);
    assert_eq!(statuses(&responses), [200]);
    assert_eq!(responses[0].body, b"hello");
}

#[test]
fn expect_100_continue_with_a_body_over_the_limit_is_413_without_100() {
    let server = Background::start(Config {
        max_body_bytes: 100,
        ..Config::default()
    })
    .unwrap();
    let responses = answers(
        &server,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n",
        &[],
    );
    assert_eq!(statuses(&responses), [413]);
    assert_eq!(responses[0].header("connection"), Some("close"));
}

#[test]
fn other_expectations_are_417() {
    assert_rejected(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: teapot\r\n\r\nhello",
        417,
    );
}

// --- heads -----------------------------------------------------------------------

#[test]
fn more_headers_than_the_limit_is_431_and_close() {
    let mut request = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..40 {
        request.extend_from_slice(format!("X-Header-{i}: {i}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    assert_rejected(&request, 431);
}

#[test]
fn malformed_heads_are_400_and_close() {
    for request in [
        &b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        assert_rejected(request, 400);
    }
}

#[test]
fn http11_needs_exactly_one_host() {
    assert_rejected(b"GET / HTTP/1.1\r\n\r\n", 400);
    assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    assert_rejected(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    // HTTP/1.0 may leave it out.
    let server = server();
    let responses = answers(&server, b"GET / HTTP/1.0\r\n\r\n", &[]);
    assert_eq!(statuses(&responses), [200]);
}

#[test]
fn connection_is_a_case_insensitive_token_list_and_close_wins() {
    let server = server();
    for value in ["keep-alive, close", "Upgrade, CLOSE", "close,keep-alive"] {
        let request = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: {value}\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        let responses = answers(&server, request.as_bytes(), &[]);
        assert_eq!(statuses(&responses), [200], "Connection: {value}");
        assert_eq!(responses[0].header("connection"), Some("close"));
    }
    // Two Connection lines combine.
    let responses = answers(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
    );
    assert_eq!(statuses(&responses), [200]);
    // Without close, HTTP/1.1 stays open.
    let responses = answers(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        &[],
    );
    assert_eq!(statuses(&responses), [200, 200]);
}

#[test]
fn every_response_has_a_date_error_responses_included() {
    // parse_responses asserts Date (and Content-Length and Connection) on
    // every final response; check the format here.
    let server = server();
    let responses = answers(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        &[],
    );
    assert_eq!(statuses(&responses), [200, 404, 400]);
    for response in &responses {
        let date = response.header("date").unwrap();
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    }
}
