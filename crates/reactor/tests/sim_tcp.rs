//! The simulated network under a deterministic scheduler built directly
//! (no `fibrio::sim`): configurable latency and window, back-pressure,
//! write and connect timeouts at exact virtual instants, the trace hash of
//! a seed, cancellation of a blocked read, and the state left behind.

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use fibrio_core::scheduler::{DetConfig, DetStats, Scheduler, SchedulerConfig};
use fibrio_core::task::{self, det};
use fibrio_reactor::net::{TcpListener, TcpStream};
use fibrio_reactor::sim::{self, SimNet, SimNetConfig};

/// Runs `main` in a simulation seeded `seed` on a network with `config`;
/// returns its value, the run's figures and the network.
fn simulate<T>(seed: u64, config: SimNetConfig, main: impl FnOnce() -> T) -> (T, DetStats, SimNet) {
    let net = SimNet::new(config);
    let _enter = net.enter();
    let scheduler = Scheduler::deterministic(
        SchedulerConfig::default(),
        Box::new(net.driver()),
        DetConfig::new(seed),
    );
    let (result, stats) = scheduler.block_on_deterministic(main);
    match result {
        Ok(value) => (value, stats, net.clone()),
        Err(failure) => panic!("seed {seed}: {failure:?}"),
    }
}

fn elapsed() -> Duration {
    det::elapsed().unwrap()
}

#[test]
fn sockets_are_simulated_only_while_a_net_is_entered() {
    assert!(!sim::active());
    let net = SimNet::new(SimNetConfig::default());
    {
        let _enter = net.enter();
        assert!(sim::active());
        let listener = TcpListener::bind("main:80").unwrap();
        assert_eq!(net.open_sockets(), (1, 0));
        drop(listener);
        assert_eq!(net.open_sockets(), (0, 0));
    }
    assert!(!sim::active());
    // Outside: a real socket again.
    let real = TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(!format!("{real:?}").contains("simulated"));
}

#[test]
fn latency_stays_in_the_configured_range() {
    let config =
        SimNetConfig::default().latency(Duration::from_millis(5), Duration::from_millis(7));
    for seed in 0..16 {
        let (rtts, _, _) = simulate(seed, config.clone(), || {
            let listener = TcpListener::bind("main:80").unwrap();
            let server = task::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buf = [0; 1];
                while stream.read(&mut buf).unwrap() == 1 {
                    stream.write_all(&buf).unwrap();
                }
            });
            let start = elapsed();
            let mut client = TcpStream::connect("main:80").unwrap();
            let mut rtts = vec![elapsed() - start];
            for _ in 0..20 {
                let start = elapsed();
                client.write_all(b"x").unwrap();
                client.read_exact(&mut [0]).unwrap();
                rtts.push(elapsed() - start);
            }
            drop(client);
            server.join().unwrap();
            rtts
        });
        for rtt in rtts {
            assert!(
                rtt >= Duration::from_millis(10) && rtt <= Duration::from_millis(14),
                "seed {seed}: round trip {rtt:?}"
            );
        }
    }
}

#[test]
fn a_full_window_holds_the_writer_until_the_reader_reads() {
    let config = SimNetConfig::default().window(1024);
    let ((wrote_at, reads_from), _, _) = simulate(1, config, || {
        let listener = TcpListener::bind("main:80").unwrap();
        let reader = task::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            task::sleep(Duration::from_secs(1)); // reads nothing for a while
            let start = elapsed();
            let mut got = Vec::new();
            stream.read_to_end(&mut got).unwrap();
            assert_eq!(got.len(), 10 * 1024);
            start
        });
        let mut client = TcpStream::connect("main:80").unwrap();
        // One window's worth goes at once; the rest waits for reads.
        assert_eq!(client.write(&[7; 4096]).unwrap(), 1024);
        client.write_all(&[7; 9 * 1024]).unwrap();
        let wrote_at = elapsed();
        drop(client);
        (wrote_at, reader.join().unwrap())
    });
    assert!(wrote_at >= reads_from, "{wrote_at:?} < {reads_from:?}");
}

#[test]
fn a_write_timeout_fires_when_the_window_stays_full() {
    let config = SimNetConfig::default().window(16);
    let ((err, waited), _, _) = simulate(2, config, || {
        let listener = TcpListener::bind("main:80").unwrap();
        let client = TcpStream::connect("main:80").unwrap();
        let _server = listener.accept().unwrap(); // never reads
        client
            .set_write_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        (&client).write_all(&[0; 16]).unwrap();
        let start = elapsed();
        let err = (&client).write(&[0; 1]).unwrap_err();
        (err, elapsed() - start)
    });
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert_eq!(waited, Duration::from_millis(300));
}

#[test]
fn connect_timeout_fires_when_the_answer_is_slower() {
    let slow = SimNetConfig::default().latency(Duration::from_secs(1), Duration::from_secs(1));
    let ((err, waited, then), _, net) = simulate(3, slow.clone(), || {
        let listener = TcpListener::bind("main:80").unwrap();
        let addr = listener.local_addr().unwrap();
        let start = elapsed();
        let err = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).unwrap_err();
        let waited = elapsed() - start;
        let start = elapsed();
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        (err, waited, elapsed() - start)
    });
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert_eq!(waited, Duration::from_millis(500));
    assert_eq!(then, Duration::from_secs(2)); // SYN there, SYN-ACK back
                                              // Everything was closed by the end of the run.
    assert_eq!(net.open_sockets(), (0, 0));
}

fn chatter() -> u64 {
    let listener = TcpListener::bind("main:80").unwrap();
    let server = task::spawn(move || {
        let mut served = 0;
        for _ in 0..4 {
            let (mut stream, _) = listener.accept().unwrap();
            served += 1;
            task::spawn(move || {
                let mut buf = [0; 64];
                loop {
                    match stream.read(&mut buf).unwrap() {
                        0 => break,
                        n => stream.write_all(&buf[..n]).unwrap(),
                    }
                }
            });
        }
        served
    });
    let clients: Vec<_> = (0..4u8)
        .map(|i| {
            task::spawn(move || {
                let mut stream = TcpStream::connect("main:80").unwrap();
                for j in 0..10u8 {
                    stream.write_all(&[i, j]).unwrap();
                    let mut echo = [0; 2];
                    stream.read_exact(&mut echo).unwrap();
                    assert_eq!(echo, [i, j]);
                }
            })
        })
        .collect();
    clients.into_iter().for_each(|c| c.join().unwrap());
    server.join().unwrap()
}

#[test]
fn the_same_seed_gives_the_same_trace_hash() {
    let hash = |seed| {
        simulate(seed, SimNetConfig::default(), chatter)
            .1
            .trace_hash
    };
    for seed in 0..8 {
        assert_eq!(hash(seed), hash(seed), "seed {seed}");
    }
    let distinct: std::collections::BTreeSet<u64> = (0..8).map(hash).collect();
    assert!(distinct.len() > 1, "every seed ran the same trace");
}

#[test]
fn a_cancelled_read_leaves_the_connection_usable() {
    let (got, _, net) = simulate(4, SimNetConfig::default(), || {
        let listener = TcpListener::bind("main:80").unwrap();
        let client = std::rc::Rc::new(TcpStream::connect("main:80").unwrap());
        let (mut server, _) = listener.accept().unwrap();
        let blocked = task::spawn({
            let client = client.clone();
            move || (&*client).read(&mut [0; 8]).map(|_| ())
        });
        task::sleep(Duration::from_millis(5));
        blocked.cancel();
        assert!(blocked.join().is_err());
        server.write_all(b"later").unwrap();
        let mut buf = [0; 5];
        (&*client).read_exact(&mut buf).unwrap();
        buf
    });
    assert_eq!(&got, b"later");
    assert_eq!(net.open_sockets(), (0, 0));
}
