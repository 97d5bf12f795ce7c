//! Network faults in a `fibrio::sim::Sim`: partitions make connects and
//! reads wait (so timeouts fire) and repairs deliver what waited, in
//! order; holds delay; crashes reset the peers and cancel the host's
//! tasks; bounces run the host's main again; faults outside a Sim panic.

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use fibrio::net::{TcpListener, TcpStream};
use fibrio::sim::{self, net, Sim};
use fibrio::time::Instant;

/// Echoes every byte of every connection.
fn echo_server() {
    let listener = TcpListener::bind("0.0.0.0:7").unwrap();
    loop {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        fibrio::spawn(move || {
            let mut buf = [0; 256];
            loop {
                match (&stream).read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if (&stream).write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

fn latency_sim(seed: u64) -> Sim {
    Sim::builder()
        .seed(seed)
        .latency(Duration::from_millis(1), Duration::from_millis(5))
        .build()
}

#[test]
fn a_partition_makes_reads_time_out_and_the_repair_delivers_in_order() {
    for seed in 0..32 {
        let mut sim = latency_sim(seed);
        sim.host("server", echo_server);
        sim.client("client", || {
            let mut stream = TcpStream::connect("server:7").unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            net::partition("client", "server");
            let sent_at = Instant::now();
            for chunk in [&b"one,"[..], b"two,", b"three"] {
                stream.write_all(chunk).unwrap();
            }
            let mut buf = [0; 64];
            let err = stream.read(&mut buf).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TimedOut);
            assert_eq!(
                sent_at.elapsed(),
                Duration::from_secs(2),
                "at the exact virtual instant"
            );
            net::repair("server", "client");
            let mut echoed = Vec::new();
            while echoed.len() < 13 {
                let n = stream.read(&mut buf).unwrap();
                echoed.extend_from_slice(&buf[..n]);
            }
            assert_eq!(echoed, b"one,two,three");
        });
        sim.run().unwrap();
    }
}

#[test]
fn a_connect_across_a_partition_times_out_then_succeeds_after_the_repair() {
    let mut sim = latency_sim(5);
    sim.host("server", echo_server);
    sim.client("client", || {
        fibrio::sleep(Duration::from_millis(10)); // the server listens
        net::partition("client", "server");
        let addr = "10.0.0.1:7".parse().unwrap();
        let err = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        assert_eq!(sim::elapsed(), Duration::from_millis(3010));
        net::repair("client", "server");
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap();
    });
    sim.run().unwrap();
}

#[test]
fn a_partition_is_between_two_hosts_only() {
    let mut sim = latency_sim(2);
    sim.host("a", echo_server);
    sim.host("b", echo_server);
    sim.client("client", || {
        fibrio::sleep(Duration::from_millis(10));
        net::partition("client", "a");
        let to_b =
            TcpStream::connect_timeout(&"10.0.0.2:7".parse().unwrap(), Duration::from_secs(1));
        assert!(to_b.is_ok(), "b is still reachable");
        let to_a =
            TcpStream::connect_timeout(&"10.0.0.1:7".parse().unwrap(), Duration::from_secs(1));
        assert_eq!(to_a.unwrap_err().kind(), ErrorKind::TimedOut);
    });
    sim.run().unwrap();
}

#[test]
fn hold_delays_delivery_and_release_sends_it_in_order() {
    let mut sim = latency_sim(9);
    sim.host("server", echo_server);
    sim.client("client", || {
        let mut stream = TcpStream::connect("server:7").unwrap();
        net::hold("client", "server");
        stream.write_all(b"held").unwrap();
        let releaser = fibrio::spawn(|| {
            fibrio::sleep(Duration::from_secs(60));
            net::release("client", "server");
        });
        let start = Instant::now();
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"held");
        assert!(start.elapsed() >= Duration::from_secs(60));
        assert!(start.elapsed() < Duration::from_secs(61));
        releaser.join().unwrap();
    });
    sim.run().unwrap();
}

#[test]
fn a_crash_resets_the_peers_and_cancels_the_hosts_tasks() {
    let cancelled = Rc::new(Cell::new(0));
    let mut sim = latency_sim(4);
    let count = cancelled.clone();
    sim.host("server", move || {
        let listener = TcpListener::bind("0.0.0.0:7").unwrap();
        loop {
            let (stream, _) = listener.accept().unwrap();
            let late = count.clone();
            fibrio::spawn(move || {
                let _stream = stream;
                let _ = fibrio::task::park(); // the crash cancels it here
                late.set(late.get() + 100);
            });
            count.set(count.get() + 1);
        }
    });
    sim.client("client", || {
        let mut a = TcpStream::connect("server:7").unwrap();
        let mut b = TcpStream::connect("server:7").unwrap();
        fibrio::sleep(Duration::from_millis(20));
        net::crash("server");
        let mut buf = [0; 1];
        assert_eq!(
            a.read(&mut buf).unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
        assert_eq!(
            b.read(&mut buf).unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
        // The host is down: a connect waits (no reset, no refusal).
        let addr = "10.0.0.1:7".parse().unwrap();
        let err = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
    });
    sim.run().unwrap();
    // Two connections accepted; no task went past its park.
    assert_eq!(cancelled.get(), 2);
}

#[test]
fn a_bounce_runs_the_hosts_main_again_with_fresh_state() {
    let starts = Rc::new(Cell::new(0));
    let mut sim = latency_sim(6);
    let counter = starts.clone();
    sim.host("server", move || {
        counter.set(counter.get() + 1);
        echo_server();
    });
    sim.client("client", || {
        let mut stream = TcpStream::connect("server:7").unwrap();
        stream.write_all(b"x").unwrap();
        let mut buf = [0; 1];
        stream.read_exact(&mut buf).unwrap();
        net::bounce("server");
        assert_eq!(
            stream.read(&mut buf).unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
        // The new incarnation binds port 7 again and serves.
        let mut fresh = loop {
            match TcpStream::connect("server:7") {
                Ok(stream) => break stream,
                Err(err) => {
                    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
                    fibrio::sleep(Duration::from_millis(1));
                }
            }
        };
        fresh.write_all(b"y").unwrap();
        fresh.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"y");
    });
    sim.run().unwrap();
    assert_eq!(starts.get(), 2);
}

#[test]
fn a_host_that_crashes_itself_is_cancelled_and_can_be_bounced_later() {
    let starts = Rc::new(Cell::new(0));
    let mut sim = latency_sim(1);
    let counter = starts.clone();
    sim.host("flaky", move || {
        counter.set(counter.get() + 1);
        fibrio::sleep(Duration::from_secs(1));
        net::crash("flaky");
        fibrio::sleep(Duration::from_secs(1)); // cancelled here
        unreachable!("a crashed host runs no more code");
    });
    sim.client("client", || {
        fibrio::sleep(Duration::from_secs(5));
        net::bounce("flaky");
        fibrio::sleep(Duration::from_millis(500));
    });
    sim.run().unwrap();
    assert_eq!(starts.get(), 2);
}

#[test]
fn faults_replay_exactly_from_the_seed() {
    let run = |seed| {
        let mut sim = latency_sim(seed);
        sim.host("server", echo_server);
        sim.client("client", || {
            for round in 0..5u8 {
                let Ok(mut stream) = TcpStream::connect("server:7") else {
                    fibrio::sleep(Duration::from_millis(3));
                    continue;
                };
                stream
                    .set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                if sim::random_u64().is_multiple_of(2) {
                    net::partition("client", "server");
                }
                let _ = stream.write_all(&[round]);
                let _ = stream.read(&mut [0; 1]);
                net::repair("client", "server");
                if sim::random_u64().is_multiple_of(3) {
                    net::bounce("server");
                }
            }
        });
        sim.run().unwrap()
    };
    for seed in 0..10 {
        assert_eq!(run(seed), run(seed));
    }
}

#[test]
#[should_panic(expected = "fibrio::sim::net::partition called outside a Sim")]
fn a_fault_outside_a_sim_panics() {
    net::partition("a", "b");
}

#[test]
#[should_panic(expected = "fibrio::sim::net::crash called outside a Sim")]
fn a_fault_in_a_plain_simulation_panics() {
    sim::run(0, || net::crash("main"));
}

#[test]
fn an_unknown_host_in_a_fault_panics_naming_it() {
    let mut sim = Sim::builder().build();
    sim.client("client", || net::partition("client", "nowhere"));
    let err = sim.run().unwrap_err().to_string();
    assert!(err.contains("unknown host 'nowhere'"), "{err}");
}

#[test]
fn a_client_cannot_be_bounced() {
    let mut sim = Sim::builder().build();
    sim.client("client", || net::bounce("client"));
    let err = sim.run().unwrap_err().to_string();
    assert!(err.contains("'client' is a client"), "{err}");
}

#[test]
fn a_crash_loses_what_a_partition_held_back() {
    let mut sim = latency_sim(12);
    sim.host("server", || {
        let listener = TcpListener::bind("0.0.0.0:7").unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        fibrio::sleep(Duration::from_millis(20)); // the handshake completes
        net::partition("server", "client");
        stream.write_all(b"never arrives").unwrap(); // held by the partition
        fibrio::task::park().ok();
    });
    sim.client("client", || {
        let mut stream = TcpStream::connect("server:7").unwrap();
        fibrio::sleep(Duration::from_millis(100)); // the server wrote into the partition
        net::crash("server");
        net::repair("server", "client");
        let mut buf = [0; 32];
        let err = stream.read(&mut buf).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::ConnectionReset,
            "the held bytes died with the host"
        );
    });
    sim.run().unwrap();
}
