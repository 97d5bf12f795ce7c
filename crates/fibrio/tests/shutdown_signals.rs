//! `Builder::shutdown_on_signals` with real signals, in a child process
//! (this test binary re-run): SIGTERM with requests in flight lets them
//! finish and `run` return, so the process exits 0 well within the grace
//! period, with one runtime and with `workers(2)`; a second signal ends the
//! grace period at once; and once `run` has returned, SIGTERM terminates
//! the process again.
//!
//! Wall-clock bounds are 10x or more away from what is measured.

#[path = "common/child.rs"]
mod child;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use child::{free_port, ChildTest};
use fibrio::net::TcpListener;
use fibrio::Runtime;

const MODE: &str = "FIBRIO_TEST_SHUTDOWN_MODE";
const PORT: &str = "FIBRIO_TEST_SHUTDOWN_PORT";
const GRACE: Duration = Duration::from_secs(30);
/// How long the child may take to start and print its first line.
const STARTUP: Duration = Duration::from_secs(60);

/// The server the child runs: each connection's request line is read,
/// reported (`got`), answered 300 ms later (`done <line>`), and closed.
/// With `stubborn`, a connection instead sleeps for an hour after `got`.
fn serve(port: u16, stubborn: bool) -> &'static str {
    let listener = TcpListener::bind_reuseport(("127.0.0.1", port)).unwrap();
    println!("ready {}", fibrio::worker_index().unwrap_or(0));
    for stream in listener.incoming() {
        let stream = stream.unwrap();
        fibrio::spawn(move || {
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            println!("got {}", line.trim());
            let pause = if stubborn { 3600 * 1000 } else { 300 };
            fibrio::sleep(Duration::from_millis(pause));
            (&stream)
                .write_all(format!("done {line}").as_bytes())
                .unwrap();
        });
    }
    // The loop ends at shutdown; the connections get the grace period.
    println!("accept loop ended");
    "clean"
}

/// The child's side: runs the server as `FIBRIO_TEST_SHUTDOWN_MODE` says.
#[test]
fn signal_child() {
    let Ok(mode) = std::env::var(MODE) else {
        return; // not the child: nothing to do
    };
    let port: u16 = std::env::var(PORT).unwrap().parse().unwrap();
    match mode.as_str() {
        "one" | "stubborn" => {
            let value = Runtime::builder()
                .shutdown_on_signals(if mode == "one" {
                    GRACE
                } else {
                    Duration::from_secs(3600)
                })
                .build()
                .unwrap()
                .run(|| serve(port, mode == "stubborn"));
            assert_eq!(value, "clean");
        }
        "workers" => {
            let outcomes = Runtime::builder()
                .shutdown_on_signals(GRACE)
                .workers(2)
                .run(|| serve(port, false));
            assert_eq!(outcomes.len(), 2);
            for outcome in outcomes {
                assert_eq!(outcome.unwrap(), "clean");
            }
        }
        "restored" => {
            let value = Runtime::builder()
                .shutdown_on_signals(GRACE)
                .build()
                .unwrap()
                .run(|| 3);
            assert_eq!(value, 3);
            println!("ready 0");
            // SIGTERM has its default action again: it ends us here.
            std::thread::sleep(Duration::from_secs(120));
        }
        other => panic!("unknown mode {other}"),
    }
    println!("exiting");
}

fn start_child(mode: &str) -> (ChildTest, u16) {
    let port = free_port();
    let child = ChildTest::start(
        "signal_child",
        &[(MODE, mode.to_string()), (PORT, port.to_string())],
    );
    (child, port)
}

fn request(port: u16, i: usize) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(format!("request-{i}\n").as_bytes())
        .unwrap();
    stream
}

/// Requests in flight on `clients` connections, SIGTERM, then: every
/// request gets its full answer and the child exits 0 within the grace.
fn sigterm_with_requests_in_flight(mode: &str, workers: usize) {
    let (mut child, port) = start_child(mode);
    for _ in 0..workers {
        child.expect_line("ready", STARTUP);
    }
    let clients = 6;
    let mut streams: Vec<TcpStream> = (0..clients).map(|i| request(port, i)).collect();
    for _ in 0..clients {
        child.expect_line("got request-", GRACE);
    }
    child.signal(libc::SIGTERM);
    for (i, stream) in streams.iter_mut().enumerate() {
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, format!("done request-{i}\n"));
    }
    child.expect_line("accept loop ended", GRACE);
    let (status, waited) = child.wait(GRACE);
    assert!(status.success(), "child exit status {status:?}");
    assert!(waited < GRACE, "{waited:?}");
}

#[test]
fn sigterm_lets_in_flight_requests_finish_and_the_process_exit_0() {
    sigterm_with_requests_in_flight("one", 1);
}

#[test]
fn sigterm_shuts_down_two_workers_the_same_way() {
    sigterm_with_requests_in_flight("workers", 2);
}

#[test]
fn a_second_sigterm_ends_the_grace_period_at_once() {
    let (mut child, port) = start_child("stubborn");
    child.expect_line("ready", STARTUP);
    let mut stream = request(port, 0);
    child.expect_line("got request-0", GRACE);
    child.signal(libc::SIGTERM);
    child.expect_line("accept loop ended", GRACE);
    // The grace period is an hour, and the connection ignores shutdown.
    std::thread::sleep(Duration::from_millis(100));
    child.signal(libc::SIGTERM);
    let (status, waited) = child.wait(GRACE);
    assert!(status.success(), "child exit status {status:?}");
    assert!(waited < GRACE, "{waited:?}");
    // The connection was cancelled: closed without an answer.
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert_eq!(answer, "");
}

#[test]
fn after_run_returns_sigterm_terminates_the_process_again() {
    let (mut child, _) = start_child("restored");
    child.expect_line("ready", STARTUP);
    child.signal(libc::SIGTERM);
    let (status, _) = child.wait(GRACE);
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}
