//! TCP and Unix sockets under the runtime, on every backend: echo at scale,
//! half-close, reset, timeouts, refused connections, cancellation while
//! blocked in read, write and accept, and (proptest) arbitrary message
//! sizes and split points arriving intact.

mod common;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::block_on;
use fibrio_core::task;
use fibrio_reactor::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use fibrio_reactor::{registered_fds, sleep, BackendKind};
use proptest::prelude::*;

fn echo_many_connections_loses_nothing(kind: BackendKind) {
    const CONNECTIONS: usize = 1000;
    const MESSAGES: usize = 100;
    let checked = block_on(kind, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = task::spawn(move || {
            for _ in 0..CONNECTIONS {
                let (mut stream, _) = listener.accept().unwrap();
                task::spawn(move || {
                    let mut buf = [0u8; 64];
                    loop {
                        let n = stream.read(&mut buf).unwrap();
                        if n == 0 {
                            break;
                        }
                        stream.write_all(&buf[..n]).unwrap();
                    }
                });
            }
        });
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                task::spawn(move || {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    let mut reply = [0u8; 8];
                    for m in 0..MESSAGES {
                        let message = ((c * MESSAGES + m) as u64).to_le_bytes();
                        stream.write_all(&message).unwrap();
                        stream.read_exact(&mut reply).unwrap();
                        assert_eq!(reply, message, "connection {c} message {m}");
                    }
                    stream.shutdown(Shutdown::Write).unwrap();
                    MESSAGES
                })
            })
            .collect();
        let total: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        server.join().unwrap();
        total
    });
    assert_eq!(checked, CONNECTIONS * MESSAGES);
}

fn half_close_lets_the_peer_finish_writing(kind: BackendKind) {
    block_on(kind, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = task::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            stream.read_to_end(&mut request).unwrap(); // until the client's FIN
            stream.write_all(b"reply after your FIN").unwrap();
            request
        });
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(b"whole request").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "reply after your FIN");
        assert_eq!(server.join().unwrap(), b"whole request");
    });
}

fn peer_reset_surfaces_as_an_error(kind: BackendKind) {
    block_on(kind, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = task::spawn(move || {
            let stream = TcpStream::connect(addr).unwrap();
            // Linger 0: close sends RST instead of FIN.
            let socket = socket2::SockRef::from(&stream);
            socket.set_linger(Some(Duration::ZERO)).unwrap();
            drop(stream);
        });
        let (mut stream, _) = listener.accept().unwrap();
        client.join().unwrap();
        sleep(Duration::from_millis(20));
        let mut buf = [0u8; 16];
        let err = loop {
            match stream.read(&mut buf) {
                Ok(0) => panic!("saw EOF instead of a reset"),
                Ok(_) => continue,
                Err(err) => break err,
            }
        };
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    });
}

fn read_timeout_parks_and_then_times_out(kind: BackendKind) {
    block_on(kind, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _peer = task::spawn(move || {
            // Accept, then stay silent long enough for the read to time out.
            let (stream, _) = listener.accept().unwrap();
            sleep(Duration::from_millis(300));
            drop(stream);
        });
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        assert_eq!(
            stream.read_timeout().unwrap(),
            Some(Duration::from_millis(50))
        );
        let ticks = Rc::new(Cell::new(0));
        let t = ticks.clone();
        let ticker = task::spawn(move || {
            for _ in 0..3 {
                sleep(Duration::from_millis(5));
                t.set(t.get() + 1);
            }
        });
        let start = Instant::now();
        let err = stream.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert_eq!(ticks.get(), 3, "other tasks ran while the read waited");
        ticker.join().unwrap();
        assert!(stream.set_read_timeout(Some(Duration::ZERO)).is_err());
    });
}

fn connect_to_a_closed_port_is_refused(kind: BackendKind) {
    block_on(kind, || {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let err = TcpStream::connect(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let err = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

fn cancelling_a_task_blocked_in_read_unwinds_it(kind: BackendKind) {
    block_on(kind, || {
        let (a, _b) = UnixStream::pair().unwrap();
        let reader = task::spawn(move || {
            let mut a = a;
            a.read(&mut [0u8; 8])
        });
        task::yield_now();
        assert_eq!(registered_fds(), Some(1));
        reader.cancel();
        assert!(reader.join().unwrap_err().is_cancelled());
        assert_eq!(
            registered_fds(),
            Some(0),
            "the socket was dropped by the unwind"
        );
    });
}

fn cancelling_a_task_blocked_in_write_unwinds_it(kind: BackendKind) {
    block_on(kind, || {
        let (a, _b) = UnixStream::pair().unwrap();
        let writer = task::spawn(move || {
            let mut a = a;
            let chunk = vec![7u8; 64 * 1024];
            loop {
                a.write_all(&chunk)?; // the peer never reads: the buffer fills
            }
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        });
        sleep(Duration::from_millis(20));
        assert!(
            !writer.is_finished(),
            "the writer is blocked on a full buffer"
        );
        writer.cancel();
        assert!(writer.join().unwrap_err().is_cancelled());
    });
}

fn cancelling_a_task_blocked_in_accept_unwinds_it(kind: BackendKind) {
    block_on(kind, || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let acceptor = task::spawn(move || listener.accept().map(|_| ()));
        task::yield_now();
        acceptor.cancel();
        assert!(acceptor.join().unwrap_err().is_cancelled());
    });
}

fn shutdown_wakes_a_reader_sharing_the_stream(kind: BackendKind) {
    block_on(kind, || {
        let (a, _b) = UnixStream::pair().unwrap();
        let a = Rc::new(a);
        let reader = {
            let a = a.clone();
            task::spawn(move || (&*a).read(&mut [0u8; 8]))
        };
        task::yield_now();
        a.shutdown(Shutdown::Read).unwrap();
        assert_eq!(reader.join().unwrap().unwrap(), 0, "EOF after shutdown");
    });
}

fn reader_and_writer_tasks_share_one_stream(kind: BackendKind) {
    block_on(kind, || {
        let (a, b) = UnixStream::pair().unwrap();
        let a = Rc::new(a);
        let writer = {
            let a = a.clone();
            task::spawn(move || {
                for i in 0..100u8 {
                    (&*a).write_all(&[i]).unwrap();
                }
            })
        };
        let echo = task::spawn(move || {
            let mut b = b;
            let mut buf = [0u8; 100];
            b.read_exact(&mut buf).unwrap();
            b.write_all(&buf).unwrap();
        });
        let mut got = [0u8; 100];
        (&*a).read_exact(&mut got).unwrap();
        assert!(got.iter().enumerate().all(|(i, &v)| v == i as u8));
        writer.join().unwrap();
        echo.join().unwrap();
    });
}

fn udp_round_trip(kind: BackendKind) {
    block_on(kind, || {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = task::spawn(move || {
            let mut buf = [0u8; 64];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(server_addr).unwrap();
        client.send(b"udp ping").unwrap();
        let mut buf = [0u8; 64];
        let n = client.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"udp ping");
        echo.join().unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        assert_eq!(
            client.recv(&mut buf).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
    });
}

per_backend!(
    echo_many_connections_loses_nothing,
    half_close_lets_the_peer_finish_writing,
    peer_reset_surfaces_as_an_error,
    read_timeout_parks_and_then_times_out,
    connect_to_a_closed_port_is_refused,
    cancelling_a_task_blocked_in_read_unwinds_it,
    cancelling_a_task_blocked_in_write_unwinds_it,
    cancelling_a_task_blocked_in_accept_unwinds_it,
    shutdown_wakes_a_reader_sharing_the_stream,
    reader_and_writer_tasks_share_one_stream,
    udp_round_trip,
);

#[test]
fn sockets_work_outside_a_runtime_by_blocking_the_thread() {
    // fibrio sockets are !Send, so the server thread uses a std listener
    // converted from a fibrio one.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = listener.into_std().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"no runtime needed").unwrap();
    });
    let mut client = TcpStream::connect(addr).unwrap();
    let mut text = String::new();
    client.read_to_string(&mut text).unwrap();
    assert_eq!(text, "no runtime needed");
    server.join().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random message sizes, written in random pieces, arrive intact and in
    /// order through a loopback TCP stream.
    #[test]
    fn random_sizes_and_split_points_arrive_intact(
        sizes in proptest::collection::vec(0usize..20_000, 1..8),
        split in 1usize..4096,
        seed in any::<u8>(),
        poll in any::<bool>(),
    ) {
        let kind = if poll { BackendKind::Poll } else { BackendKind::Auto };
        let sent: Vec<u8> = sizes
            .iter()
            .flat_map(|&n| (0..n).map(move |i| (i as u8).wrapping_mul(31).wrapping_add(seed)))
            .collect();
        let expected = sent.clone();
        let received = block_on(kind, move || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let writer = task::spawn(move || {
                let mut stream = TcpStream::connect(addr).unwrap();
                for piece in sent.chunks(split) {
                    stream.write_all(piece).unwrap();
                    if piece.len() % 3 == 0 {
                        task::yield_now();
                    }
                }
            });
            let (mut stream, _) = listener.accept().unwrap();
            let mut received = Vec::new();
            stream.read_to_end(&mut received).unwrap();
            writer.join().unwrap();
            received
        });
        prop_assert_eq!(received, expected);
    }
}
