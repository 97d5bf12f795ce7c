//! The simulated TCP network of `fibrio::sim`: `fibrio::net` sockets made
//! inside a simulation talk to each other on virtual time, with the error
//! kinds of real sockets, and replay from the seed.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use fibrio::net::{TcpListener, TcpStream};
use fibrio::sim;

/// Serves one connection: echoes each line until the client closes.
fn echo_one(listener: &TcpListener) -> std::io::Result<()> {
    let (stream, _) = listener.accept()?;
    let mut lines = BufReader::new(&stream);
    let mut line = String::new();
    while lines.read_line(&mut line)? > 0 {
        (&stream).write_all(line.as_bytes())?;
        line.clear();
    }
    Ok(())
}

fn ask(stream: &TcpStream, question: &str) -> String {
    let mut stream = stream;
    stream
        .write_all(format!("{question}\n").as_bytes())
        .unwrap();
    let mut answer = Vec::new();
    let mut byte = [0];
    while answer.last() != Some(&b'\n') {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "echo closed early");
        answer.push(byte[0]);
    }
    String::from_utf8(answer).unwrap().trim_end().to_owned()
}

#[test]
fn echo_server_and_clients_by_name_by_address_and_as_localhost() {
    for seed in 0..8 {
        let answers = sim::run(seed, || {
            // All interfaces: 10.0.0.1 and loopback (a listener bound to
            // 10.0.0.1 alone refuses connections to 127.0.0.1, as on Linux).
            let listener = TcpListener::bind("0.0.0.0:80").unwrap();
            assert_eq!(
                listener.local_addr().unwrap(),
                "0.0.0.0:80".parse().unwrap()
            );
            let server = fibrio::spawn(move || {
                for _ in 0..3 {
                    echo_one(&listener).unwrap();
                }
            });
            let mut answers = Vec::new();
            for target in ["main:80", "10.0.0.1:80", "localhost:80"] {
                let client = TcpStream::connect(target).unwrap();
                answers.push(ask(&client, &format!("hello {target}")));
                answers.push(ask(&client, "again"));
            }
            server.join().unwrap();
            answers
        });
        assert_eq!(
            answers,
            [
                "hello main:80",
                "again",
                "hello 10.0.0.1:80",
                "again",
                "hello localhost:80",
                "again"
            ]
        );
    }
}

#[test]
fn addresses_of_both_ends() {
    sim::run(1, || {
        let listener = TcpListener::bind("0.0.0.0:8080").unwrap();
        let server = fibrio::spawn(move || {
            let (stream, peer) = listener.accept().unwrap();
            (
                stream.local_addr().unwrap(),
                stream.peer_addr().unwrap(),
                peer,
            )
        });
        let client = TcpStream::connect(("main", 8080)).unwrap();
        let (server_local, server_peer, accepted_peer) = server.join().unwrap();
        let local = client.local_addr().unwrap();
        assert_eq!(
            client.peer_addr().unwrap(),
            "10.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(local.ip(), "10.0.0.1".parse::<std::net::IpAddr>().unwrap());
        assert!(local.port() >= 49152, "{local}");
        assert_eq!(server_local, client.peer_addr().unwrap());
        assert_eq!(server_peer, local);
        assert_eq!(accepted_peer, local);

        // Through loopback, both ends see loopback addresses.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
        let client = TcpStream::connect(addr).unwrap();
        let (_server, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(peer.ip().is_loopback());
    });
}

#[test]
fn a_listener_on_the_host_address_refuses_loopback_connections() {
    let err = sim::run(2, || {
        let _listener = TcpListener::bind("main:80").unwrap();
        TcpStream::connect("localhost:80").unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn connecting_where_nobody_listens_is_refused() {
    let err = sim::run(2, || TcpStream::connect("localhost:81").unwrap_err());
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    // A listener that is gone refuses too.
    let err = sim::run(3, || {
        let listener = TcpListener::bind("main:81").unwrap();
        drop(listener);
        TcpStream::connect("main:81").unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn an_unknown_host_is_not_found_and_never_reaches_dns() {
    let err = sim::run(4, || TcpStream::connect("db.example.com:5432").unwrap_err());
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string().contains("unknown host 'db.example.com'"),
        "{err}"
    );
    let err = sim::run(4, || {
        TcpListener::bind(("nosuch".to_owned(), 1)).unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = sim::run(4, || TcpStream::connect("main").unwrap_err());
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let err = sim::run(4, || TcpStream::connect("10.0.0.9:80").unwrap_err());
    assert_eq!(err.kind(), ErrorKind::HostUnreachable, "{err}");
}

#[test]
fn a_taken_port_is_addr_in_use_and_free_again_once_closed() {
    sim::run(5, || {
        let first = TcpListener::bind("main:9000").unwrap();
        let err = TcpListener::bind("0.0.0.0:9000").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        let err = TcpListener::bind("10.0.0.2:9001").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrNotAvailable, "{err}");
        drop(first);
        TcpListener::bind("main:9000").unwrap();
    });
}

#[test]
fn a_read_timeout_fires_at_the_exact_virtual_instant() {
    for seed in 0..8 {
        let (err, waited) = sim::run(seed, || {
            let listener = TcpListener::bind("main:80").unwrap();
            let client = TcpStream::connect("main:80").unwrap();
            let (_server, _) = listener.accept().unwrap(); // sends nothing
            client
                .set_read_timeout(Some(Duration::from_millis(250)))
                .unwrap();
            let start = sim::elapsed();
            let err = (&client).read(&mut [0; 16]).unwrap_err();
            (err, sim::elapsed() - start)
        });
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert_eq!(waited, Duration::from_millis(250));
    }
}

#[test]
fn the_peer_closing_ends_the_stream_and_later_writes_fail_with_broken_pipe() {
    for seed in 0..8 {
        sim::run(seed, || {
            let listener = TcpListener::bind("main:80").unwrap();
            let server = fibrio::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                stream.write_all(b"bye").unwrap();
            }); // dropped: closed
            let mut client = TcpStream::connect("main:80").unwrap();
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"bye");
            assert_eq!(client.read(&mut [0; 4]).unwrap(), 0);
            server.join().unwrap();
            let err = client.write(b"late").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
        });
    }
}

#[test]
fn shutdown_write_ends_the_peers_reads_and_the_reply_still_comes() {
    sim::run(6, || {
        let listener = TcpListener::bind("main:80").unwrap();
        let server = fibrio::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = String::new();
            stream.read_to_string(&mut request).unwrap();
            stream.write_all(request.to_uppercase().as_bytes()).unwrap();
        });
        let mut client = TcpStream::connect("main:80").unwrap();
        client.write_all(b"half closed").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let err = client.write(b"more").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "HALF CLOSED");
        server.join().unwrap();
    });
}

#[test]
fn closing_with_unread_data_resets_the_peer() {
    for seed in 0..8 {
        let err = sim::run(seed, || {
            let listener = TcpListener::bind("main:80").unwrap();
            let server = fibrio::spawn(move || {
                let (stream, _) = listener.accept().unwrap();
                fibrio::sleep(Duration::from_millis(10)); // the request arrives, unread
                drop(stream);
            });
            let mut client = TcpStream::connect("main:80").unwrap();
            client.write_all(b"never read").unwrap();
            server.join().unwrap();
            fibrio::sleep(Duration::from_millis(10)); // the reset arrives
            let err = client.read(&mut [0; 8]).unwrap_err();
            let write = client.write(b"x").unwrap_err();
            assert_eq!(write.kind(), ErrorKind::BrokenPipe, "{write}");
            err
        });
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    }
}

/// One MiB from client to server, checked byte for byte; returns the
/// virtual time it took.
fn transfer_one_mib() -> Duration {
    const LEN: usize = 1 << 20;
    let data: Vec<u8> = (0..LEN).map(|i| (i * 31 % 251) as u8).collect();
    let listener = TcpListener::bind("main:80").unwrap();
    let server = fibrio::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        let mut chunk = vec![0; 3000]; // not a divisor of the writes
        loop {
            match stream.read(&mut chunk).unwrap() {
                0 => break got,
                n => got.extend_from_slice(&chunk[..n]),
            }
        }
    });
    let start = sim::elapsed();
    let mut client = TcpStream::connect("main:80").unwrap();
    for piece in data.chunks(8192) {
        client.write_all(piece).unwrap();
    }
    drop(client);
    let got = server.join().unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got == data, "the bytes arrived changed or out of order");
    sim::elapsed() - start
}

#[test]
fn a_mebibyte_arrives_intact_and_in_order_under_random_latency() {
    let times: Vec<Duration> = (0..32)
        .map(|seed| sim::run(seed, transfer_one_mib))
        .collect();
    assert!(
        times.iter().any(|t| *t != times[0]),
        "latency never varied: {times:?}"
    );
    assert_eq!(sim::run(7, transfer_one_mib), times[7]);
}

/// Ping-pong with timestamps: what a run observes, to compare runs.
fn observed_timeline() -> Vec<(u8, Duration)> {
    let listener = TcpListener::bind("main:7").unwrap();
    let server = fibrio::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0; 1];
        while stream.read(&mut buf).unwrap() == 1 {
            stream.write_all(&buf).unwrap();
        }
    });
    let mut client = TcpStream::connect("main:7").unwrap();
    let mut timeline = Vec::new();
    for i in 0..50u8 {
        client.write_all(&[i]).unwrap();
        let mut buf = [0; 1];
        client.read_exact(&mut buf).unwrap();
        timeline.push((buf[0], sim::elapsed()));
    }
    drop(client);
    server.join().unwrap();
    timeline
}

#[test]
fn the_same_seed_replays_the_same_network_timeline() {
    let a = sim::run(11, observed_timeline);
    assert_eq!(a, sim::run(11, observed_timeline));
    assert_ne!(a, sim::run(12, observed_timeline));
    // And check finds nothing to report in a correct program.
    sim::check(|| {
        observed_timeline();
    });
}

#[test]
fn a_simulated_stream_debug_names_it_and_has_no_fd() {
    use std::os::fd::AsRawFd;
    sim::run(13, || {
        let listener = TcpListener::bind("main:80").unwrap();
        let client = TcpStream::connect("main:80").unwrap();
        assert_eq!(client.as_raw_fd(), -1);
        assert!(format!("{client:?}").contains("simulated"));
        assert_eq!(
            client.into_std().unwrap_err().kind(),
            ErrorKind::Unsupported
        );
        let _first = listener.accept().unwrap();
        client_nodelay_and_clone(&listener);
    });
}

fn client_nodelay_and_clone(listener: &TcpListener) {
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.set_nodelay(true).unwrap();
    assert!(client.nodelay().unwrap());
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let clone = client.try_clone().unwrap();
    assert_eq!(clone.read_timeout().unwrap(), None);
    assert_eq!(clone.peer_addr().unwrap(), client.peer_addr().unwrap());
    let (mut server, _) = listener.accept().unwrap();
    (&clone).write_all(b"via the clone").unwrap();
    drop(clone); // the connection stays open: `client` still holds it
    let mut buf = [0; 13];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"via the clone");
    assert!(client.set_write_timeout(Some(Duration::ZERO)).is_err());
}

#[test]
fn an_hour_of_messages_every_10ms_takes_little_real_time() {
    let start = Instant::now();
    let received = sim::run(21, || {
        let listener = TcpListener::bind("main:80").unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let sender = fibrio::spawn(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            let end = Duration::from_secs(3600);
            let mut sent = 0u64;
            while sim::elapsed() < end {
                stream.write_all(&sent.to_le_bytes()).unwrap();
                sent += 1;
                fibrio::sleep(Duration::from_millis(10));
            }
            sent
        });
        let (mut stream, _) = listener.accept().unwrap();
        let mut received = 0u64;
        let mut buf = [0; 8];
        while stream.read_exact(&mut buf).is_ok() {
            assert_eq!(u64::from_le_bytes(buf), received);
            received += 1;
        }
        assert_eq!(sender.join().unwrap(), received);
        received
    });
    assert_eq!(received, 360_000);
    let real = start.elapsed();
    // 360,000 messages: measured at about 3.2 s in a debug build (0.4 s in
    // release); the bound leaves a 10x margin, for slow machines.
    assert!(real < Duration::from_secs(40), "took {real:?}");
}

#[test]
fn a_socket_kept_after_its_simulation_fails_instead_of_hanging() {
    let (client, _server) = sim::run(30, || {
        let listener = TcpListener::bind("main:80").unwrap();
        let client = TcpStream::connect("main:80").unwrap();
        (client, listener.accept().unwrap().0)
    });
    let err = (&client).read(&mut [0; 4]).unwrap_err();
    assert!(err.to_string().contains("simulation that made it"), "{err}");
    // Nor in the next simulation on this thread.
    let err = sim::run(31, move || (&client).read(&mut [0; 4]).unwrap_err());
    assert!(err.to_string().contains("simulation that made it"), "{err}");
}
