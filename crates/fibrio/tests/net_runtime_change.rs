//! A socket outlives the runtime it was first used in (issue 12, fault 3).
//!
//! A socket registers its fd with the reactor of the runtime where a call
//! first had to wait. Used again in a later `fibrio::run` on the same
//! thread, its calls must wait on *that* runtime's reactor (the
//! registration moves), not on the finished one's, which nothing turns any
//! more: there a read, even with a timeout, used to hang for good. Used on
//! the plain thread between runtimes, a call waits in `poll(2)`.
//!
//! Every check runs in a child process (this test binary re-run with
//! `FIBRIO_TEST_CHILD` set) that the parent kills after `CHILD_LIMIT`, so a
//! regression fails the test instead of hanging CI. Each runs on the
//! default backend (edge-triggered epoll or kqueue) and on `poll`.
//!
//! Sockets are `!Send` (see `fibrio::net`), so a registered socket cannot
//! reach a runtime on another thread; `into_std` drops the registration.

use std::io::{ErrorKind, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fibrio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use fibrio::{Backend, Runtime};

/// How long a child may take. Each check needs well under a second.
const CHILD_LIMIT: Duration = Duration::from_secs(30);
/// The read timeout under test, and the bound a timed-out call must meet:
/// 20 times the timeout (the bug was a wait that never ended).
const TIMEOUT: Duration = Duration::from_millis(100);
const TIMEOUT_BOUND: Duration = Duration::from_secs(2);
/// How long a helper waits before it sends, so the receiver is parked.
const DELAY: Duration = Duration::from_millis(20);

/// Runs test `name` again in a child process with `FIBRIO_TEST_CHILD` set
/// to `name`, and fails if it fails or is still running after
/// `CHILD_LIMIT` (then it is killed).
fn in_child(name: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("FIBRIO_TEST_CHILD", name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > CHILD_LIMIT {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{name} still ran after {CHILD_LIMIT:?} (a socket waited on a dead reactor?)\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "{name} failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("CHILD-OK"),
        "{name} did not finish:\n{stdout}\n{stderr}"
    );
}

/// True in the child re-run for `name`.
fn is_child(name: &str) -> bool {
    std::env::var("FIBRIO_TEST_CHILD").as_deref() == Ok(name)
}

fn run_on<T: 'static>(backend: Backend, main: impl FnOnce() -> T + 'static) -> T {
    Runtime::builder()
        .backend(backend)
        .build()
        .unwrap()
        .run(main)
}

fn assert_timed_out(result: std::io::Result<usize>, started: Instant) {
    let elapsed = started.elapsed();
    let err = result.expect_err("nothing was sent, so the read must time out");
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(elapsed >= TIMEOUT, "timed out early, after {elapsed:?}");
    assert!(
        elapsed < TIMEOUT_BOUND,
        "a {TIMEOUT:?} timeout took {elapsed:?}"
    );
}

/// A connected pair, and the client's fd registered with this runtime's
/// reactor (a read had to wait, and timed out).
fn registered_tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    let err = (&client).read(&mut [0; 8]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(fibrio_reactor::registered_fds(), Some(1));
    (client, server)
}

/// In the current runtime: a read times out, then a read gets the data a
/// task sends after `DELAY`, so the reader was parked when it arrived.
fn read_times_out_then_gets_data(client: &TcpStream, server: TcpStream, text: &'static [u8]) {
    let started = Instant::now();
    assert_timed_out((&*client).read(&mut [0; 8]), started);
    let writer = fibrio::spawn(move || {
        fibrio::sleep(DELAY);
        (&server).write_all(text).unwrap();
        server
    });
    let mut buf = [0; 16];
    let n = (&*client).read(&mut buf).unwrap();
    assert_eq!(&buf[..n], text);
    writer.join().unwrap();
}

fn tcp_read_timeout_across_runtimes(backend: Backend) {
    let (client, server) = run_on(backend, registered_tcp_pair);
    // The reactor the client registered with is gone with its runtime.
    let (client, server) = run_on(backend, move || {
        let started = Instant::now();
        assert_timed_out((&client).read(&mut [0; 8]), started);
        // The fd moved: this runtime's reactor holds it, and only it.
        assert_eq!(fibrio_reactor::registered_fds(), Some(1));
        let writer = fibrio::spawn(move || {
            fibrio::sleep(DELAY);
            (&server).write_all(b"second").unwrap();
            server
        });
        let mut buf = [0; 16];
        let n = (&client).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"second");
        (client, writer.join().unwrap())
    });
    // And on to a third runtime, and back to waiting.
    run_on(backend, move || {
        read_times_out_then_gets_data(&client, server, b"third");
        drop(client);
        assert_eq!(
            fibrio_reactor::registered_fds(),
            Some(0),
            "dropping the socket deregisters it from this runtime's reactor"
        );
    });
}

#[test]
fn tcp_read_with_timeout_in_a_later_runtime_times_out_or_reads() {
    let name = "tcp_read_with_timeout_in_a_later_runtime_times_out_or_reads";
    if !is_child(name) {
        return in_child(name);
    }
    tcp_read_timeout_across_runtimes(Backend::Auto);
    tcp_read_timeout_across_runtimes(Backend::Poll);
    println!("CHILD-OK");
}

fn listener_across_runtimes(backend: Backend) {
    // The listener registers in the first runtime: its accept parks until
    // a task connects.
    let listener = run_on(backend, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = fibrio::spawn(move || {
            fibrio::sleep(DELAY);
            TcpStream::connect(addr).unwrap()
        });
        let (_stream, _) = listener.accept().unwrap();
        client.join().unwrap();
        assert_eq!(fibrio_reactor::registered_fds(), Some(1));
        listener
    });
    // In the second, accept parks again, and the connection wakes it.
    let (accepted, elapsed) = run_on(backend, move || {
        let addr = listener.local_addr().unwrap();
        let started = Instant::now();
        let client = fibrio::spawn(move || {
            fibrio::sleep(DELAY);
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(b"hi").unwrap();
            stream
        });
        let (mut stream, _) = listener.accept().unwrap();
        let elapsed = started.elapsed();
        let mut buf = [0; 2];
        stream.read_exact(&mut buf).unwrap();
        drop(client.join().unwrap());
        (buf, elapsed)
    });
    assert_eq!(&accepted, b"hi");
    assert!(elapsed < TIMEOUT_BOUND, "accept took {elapsed:?}");
}

#[test]
fn a_listener_from_an_earlier_runtime_accepts_in_a_later_one() {
    let name = "a_listener_from_an_earlier_runtime_accepts_in_a_later_one";
    if !is_child(name) {
        return in_child(name);
    }
    listener_across_runtimes(Backend::Auto);
    listener_across_runtimes(Backend::Poll);
    println!("CHILD-OK");
}

fn udp_across_runtimes(backend: Backend) {
    let (socket, sender) = run_on(backend, || {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        let err = socket.recv_from(&mut [0; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        (socket, sender)
    });
    run_on(backend, move || {
        let started = Instant::now();
        assert_timed_out(socket.recv(&mut [0; 8]), started);
        let to = socket.local_addr().unwrap();
        let sending = fibrio::spawn(move || {
            fibrio::sleep(DELAY);
            sender.send_to(b"datagram", to).unwrap();
        });
        let mut buf = [0; 16];
        let (n, _) = socket.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"datagram");
        sending.join().unwrap();
    });
}

#[test]
fn udp_recv_in_a_later_runtime_times_out_or_receives() {
    let name = "udp_recv_in_a_later_runtime_times_out_or_receives";
    if !is_child(name) {
        return in_child(name);
    }
    udp_across_runtimes(Backend::Auto);
    udp_across_runtimes(Backend::Poll);
    println!("CHILD-OK");
}

fn plain_thread_between_runtimes(backend: Backend) {
    let (client, server) = run_on(backend, registered_tcp_pair);
    // No runtime: the calls block the thread in poll(2).
    let started = Instant::now();
    assert_timed_out((&client).read(&mut [0; 8]), started);
    // Sockets are `!Send`: the writer thread gets the std stream.
    let mut server = server.into_std().unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(DELAY);
        server.write_all(b"plain").unwrap();
        server
    });
    let mut buf = [0; 16];
    let n = (&client).read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"plain");
    let server = TcpStream::from_std(writer.join().unwrap()).unwrap();
    // And the socket still works in a runtime afterwards.
    run_on(backend, move || {
        read_times_out_then_gets_data(&client, server, b"again");
    });
}

#[test]
fn a_registered_socket_falls_back_to_poll_outside_a_runtime() {
    let name = "a_registered_socket_falls_back_to_poll_outside_a_runtime";
    if !is_child(name) {
        return in_child(name);
    }
    plain_thread_between_runtimes(Backend::Auto);
    plain_thread_between_runtimes(Backend::Poll);
    println!("CHILD-OK");
}

fn unix_stream_across_backends(first: Backend, second: Backend) {
    let (a, b) = run_on(first, || {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_read_timeout(Some(TIMEOUT)).unwrap();
        let err = (&a).read(&mut [0; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        (a, b)
    });
    run_on(second, move || {
        let started = Instant::now();
        assert_timed_out((&a).read(&mut [0; 8]), started);
        let writer = fibrio::spawn(move || {
            fibrio::sleep(DELAY);
            (&b).write_all(b"unix").unwrap();
            b
        });
        let mut buf = [0; 8];
        let n = (&a).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"unix");
        drop(writer.join().unwrap());
    });
}

#[test]
fn a_unix_stream_moves_between_runtimes_on_different_backends() {
    let name = "a_unix_stream_moves_between_runtimes_on_different_backends";
    if !is_child(name) {
        return in_child(name);
    }
    unix_stream_across_backends(Backend::Auto, Backend::Poll);
    unix_stream_across_backends(Backend::Poll, Backend::Auto);
    println!("CHILD-OK");
}

/// The public `fibrio::io::Registration` moves too; a closed one does not.
fn registration_across_runtimes(backend: Backend) {
    use fibrio::io::Registration;
    use fibrio_reactor::Direction;

    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let registration = run_on(backend, move || {
        let registration = Registration::new(&a).unwrap();
        let deadline = Instant::now() + DELAY;
        let err = registration
            .wait_until(Direction::Read, Some(deadline))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        (registration, a)
    });
    let registration = run_on(backend, move || {
        let (registration, a) = registration;
        let started = Instant::now();
        let err = registration
            .wait_until(Direction::Read, Some(started + TIMEOUT))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(started.elapsed() < TIMEOUT_BOUND);
        b.write_all(b"x").unwrap();
        registration.wait_readable().unwrap();
        registration.close();
        (registration, a, b)
    });
    run_on(backend, move || {
        let (registration, _a, _b) = registration;
        let err = registration.wait_readable().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotConnected, "{err}");
        assert_eq!(fibrio_reactor::registered_fds(), Some(0));
    });
}

#[test]
fn an_io_registration_moves_to_the_current_runtime_unless_closed() {
    let name = "an_io_registration_moves_to_the_current_runtime_unless_closed";
    if !is_child(name) {
        return in_child(name);
    }
    registration_across_runtimes(Backend::Auto);
    registration_across_runtimes(Backend::Poll);
    println!("CHILD-OK");
}
