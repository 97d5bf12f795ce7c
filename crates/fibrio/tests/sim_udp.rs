//! Simulated UDP in `fibrio::sim`: `fibrio::net::UdpSocket` between hosts
//! by name, a seeded drop rate whose losses replay exactly, partitions
//! that lose datagrams, holds that delay them, timeouts on virtual time.

use std::io::ErrorKind;
use std::time::Duration;

use fibrio::net::UdpSocket;
use fibrio::sim::{self, net, Sim};
use fibrio::time::Instant;

/// Answers every datagram with the same bytes, to its sender.
fn udp_echo() {
    let socket = UdpSocket::bind("0.0.0.0:53").unwrap();
    let mut buf = [0; 512];
    loop {
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        socket.send_to(&buf[..n], from).unwrap();
    }
}

#[test]
fn datagrams_travel_between_hosts_by_name() {
    for seed in 0..16 {
        let mut sim = Sim::builder().seed(seed).build();
        sim.host("dns", udp_echo);
        sim.client("client", || {
            fibrio::sleep(Duration::from_millis(1)); // the server binds
            let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
            assert_eq!(socket.local_addr().unwrap().port(), 49152);
            socket.send_to(b"query", "dns:53").unwrap();
            let mut buf = [0; 16];
            let (n, from) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"query");
            assert_eq!(from.to_string(), "10.0.0.1:53");
            // A connected socket: send and recv.
            socket.connect("dns:53").unwrap();
            assert_eq!(socket.peer_addr().unwrap().to_string(), "10.0.0.1:53");
            socket.send(b"again").unwrap();
            assert_eq!(socket.recv(&mut buf).unwrap(), 5);
        });
        sim.run().unwrap();
    }
}

#[test]
fn a_datagram_longer_than_the_buffer_is_cut_and_peek_keeps_it() {
    sim::run(1, || {
        let a = UdpSocket::bind("localhost:1").unwrap();
        let b = UdpSocket::bind("localhost:0").unwrap();
        b.send_to(b"0123456789", "localhost:1").unwrap();
        let mut small = [0; 4];
        assert_eq!(a.peek_from(&mut small).unwrap().0, 4);
        assert_eq!(a.recv(&mut small).unwrap(), 4);
        assert_eq!(&small, b"0123");
        a.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        assert_eq!(
            a.recv(&mut small).unwrap_err().kind(),
            ErrorKind::TimedOut,
            "the rest is gone"
        );
    });
}

#[test]
fn bind_errors_are_a_real_sockets() {
    sim::run(0, || {
        let _a = UdpSocket::bind("0.0.0.0:9").unwrap();
        assert_eq!(
            UdpSocket::bind("0.0.0.0:9").unwrap_err().kind(),
            ErrorKind::AddrInUse
        );
        assert_eq!(
            UdpSocket::bind("10.0.0.9:9").unwrap_err().kind(),
            ErrorKind::AddrNotAvailable
        );
        assert_eq!(
            UdpSocket::bind("nowhere:9").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let tcp = fibrio::net::TcpListener::bind("0.0.0.0:9");
        assert!(tcp.is_ok(), "TCP and UDP ports are separate");
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        assert_eq!(
            socket.send(b"x").unwrap_err().kind(),
            ErrorKind::NotConnected
        );
        assert_eq!(
            socket.send_to(&[0; 70_000], "main:9").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            socket.into_std().unwrap_err().kind(),
            ErrorKind::Unsupported
        );
    });
}

/// Sends 1,000 numbered datagrams with a 30% drop rate; returns which
/// arrived.
fn lossy_run(seed: u64) -> Vec<u16> {
    let received = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut sim = Sim::builder().seed(seed).udp_drop_rate(0.3).build();
    let sink = received.clone();
    sim.client("receiver", move || {
        let socket = UdpSocket::bind("0.0.0.0:9").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0; 2];
        while let Ok(n) = socket.recv(&mut buf) {
            assert_eq!(n, 2);
            sink.borrow_mut().push(u16::from_be_bytes(buf));
        }
    });
    sim.client("sender", || {
        fibrio::sleep(Duration::from_millis(1));
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        for i in 0..1000u16 {
            socket.send_to(&i.to_be_bytes(), "receiver:9").unwrap();
        }
    });
    sim.run().unwrap();
    received.take()
}

#[test]
fn the_drop_rate_is_honoured_and_its_losses_replay_exactly() {
    for seed in 0..4 {
        let first = lossy_run(seed);
        let lost = 1000 - first.len();
        assert!(
            (230..=370).contains(&lost),
            "seed {seed}: lost {lost} of 1000 at a 30% rate"
        );
        assert_eq!(
            lossy_run(seed),
            first,
            "seed {seed} loses the same datagrams"
        );
        let mut sorted = first.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), first.len(), "no datagram arrives twice");
    }
    assert_ne!(lossy_run(0), lossy_run(1));
}

#[test]
fn a_partition_loses_datagrams_and_a_hold_delays_them() {
    let mut sim = Sim::builder().seed(3).build();
    sim.host("dns", udp_echo);
    sim.client("client", || {
        fibrio::sleep(Duration::from_millis(1));
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut buf = [0; 8];

        net::partition("client", "dns");
        socket.send_to(b"lost", "dns:53").unwrap();
        assert_eq!(
            socket.recv(&mut buf).unwrap_err().kind(),
            ErrorKind::TimedOut
        );
        net::repair("client", "dns");
        assert_eq!(
            socket.recv(&mut buf).unwrap_err().kind(),
            ErrorKind::TimedOut,
            "lost for good"
        );

        net::hold("client", "dns");
        socket.send_to(b"late", "dns:53").unwrap();
        let releaser = fibrio::spawn(|| {
            fibrio::sleep(Duration::from_secs(5));
            net::release("client", "dns");
        });
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let start = Instant::now();
        let n = socket.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"late");
        assert!(start.elapsed() >= Duration::from_secs(5));
        releaser.join().unwrap();
    });
    sim.run().unwrap();
}

#[test]
fn a_crashed_hosts_udp_socket_fails_and_its_port_is_free_after_a_bounce() {
    let mut sim = Sim::builder().seed(2).build();
    sim.host("dns", udp_echo);
    sim.client("client", || {
        fibrio::sleep(Duration::from_millis(1));
        net::bounce("dns");
        fibrio::sleep(Duration::from_millis(1));
        let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        socket.send_to(b"back?", "dns:53").unwrap();
        let mut buf = [0; 8];
        assert_eq!(
            socket.recv(&mut buf).unwrap(),
            5,
            "the restarted server bound port 53 again"
        );
    });
    sim.run().unwrap();
}
