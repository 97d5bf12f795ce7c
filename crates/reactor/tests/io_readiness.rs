//! The reactor's readiness bookkeeping, on every backend: a wait after
//! `WouldBlock` forgets readiness that the failed call used up (so the task
//! parks instead of failing a second time), yet never loses a readiness
//! change, whether it happens before the wait, while the task parks, or
//! while other tasks wait on the same fd. On the edge-triggered backends a
//! lost change would leave a task asleep forever, so every check here runs
//! under a deadline and fails instead of hanging.

mod common;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use common::block_on;
use fibrio_core::task::{self, JoinHandle};
use fibrio_reactor::io::Registration;
use fibrio_reactor::net::{TcpListener, UdpSocket, UnixStream};
use fibrio_reactor::{sleep, BackendKind, Direction};
use proptest::prelude::*;

/// How long a check may take before it is declared stuck.
const STUCK: Duration = Duration::from_secs(20);

/// Waits (parking this task) until every handle has finished, or panics
/// with `what` after `STUCK`.
fn await_all<T>(handles: &[JoinHandle<T>], what: &str) {
    let deadline = Instant::now() + STUCK;
    while !handles.iter().all(JoinHandle::is_finished) {
        assert!(
            Instant::now() < deadline,
            "{what}: {} of {} tasks still parked after {STUCK:?} (a lost wake-up)",
            handles.iter().filter(|h| !h.is_finished()).count(),
            handles.len()
        );
        sleep(Duration::from_millis(1));
    }
}

/// Reads from `a` until `WouldBlock`; returns what was read.
fn drain(a: &mut StdUnixStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        match a.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return all,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Readiness reported before a read that then fails with `WouldBlock` is
/// used up: the next wait parks until new data, rather than returning at
/// once for a second failing read.
fn would_block_forgets_used_readiness(kind: BackendKind) {
    block_on(kind, || {
        let (mut a, mut b) = StdUnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let registration = Registration::new(&a).unwrap();
        b.write_all(b"first").unwrap();
        // Let the reactor take the readiness in (an edge, on epoll/kqueue)
        // while no task waits for it.
        sleep(Duration::from_millis(5));
        assert_eq!(drain(&mut a), b"first");

        let start = Instant::now();
        let deadline = start + Duration::from_millis(30);
        let err = registration
            .wait_until(Direction::Read, Some(deadline))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "woke for used readiness");
        assert!(Instant::now() >= deadline);

        // New data still wakes it.
        let writer = task::spawn(move || {
            sleep(Duration::from_millis(5));
            b.write_all(b"second").unwrap();
            b
        });
        registration
            .wait_until(Direction::Read, Some(Instant::now() + STUCK))
            .unwrap();
        assert_eq!(drain(&mut a), b"second");
        drop(writer.join().unwrap());
    });
}

/// Data that arrives after the failed read but before the wait parks
/// (still in the kernel, not yet seen by the reactor) wakes the wait.
fn readiness_between_would_block_and_park_is_kept(kind: BackendKind) {
    block_on(kind, || {
        let (mut a, mut b) = StdUnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let registration = Registration::new(&a).unwrap();
        for round in 0..20u8 {
            if round % 2 == 1 {
                // Odd rounds: the reactor has seen readiness already.
                b.write_all(&[round]).unwrap();
                sleep(Duration::from_millis(1));
                assert_eq!(drain(&mut a), [round]);
            }
            assert_eq!(
                a.read(&mut [0u8; 8]).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            // The race window, made deterministic: data lands here.
            b.write_all(&[100 + round]).unwrap();
            let start = Instant::now();
            registration
                .wait_until(Direction::Read, Some(start + STUCK))
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert!(start.elapsed() < STUCK);
            assert_eq!(drain(&mut a), [100 + round]);
        }
    });
}

/// The same window for writes: room made after the failed write, before
/// the wait parks, wakes the wait.
fn room_between_would_block_and_park_is_kept(kind: BackendKind) {
    block_on(kind, || {
        let (mut a, mut b) = StdUnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let registration = Registration::new(&a).unwrap();
        for round in 0..5 {
            let chunk = [7u8; 4096];
            loop {
                match a.write(&chunk) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            // The peer makes room before the writer waits.
            assert!(!drain(&mut b).is_empty());
            registration
                .wait_until(Direction::Write, Some(Instant::now() + STUCK))
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    });
}

/// Many tasks accepting on one listener, and a burst of connections from
/// another thread: every acceptor gets one, none is left parked while
/// connections wait in the backlog.
fn many_acceptors_on_one_listener_all_accept(kind: BackendKind) {
    const ACCEPTORS: usize = 16;
    block_on(kind, || {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let accepted = Rc::new(Cell::new(0));
        let acceptors: Vec<_> = (0..ACCEPTORS)
            .map(|_| {
                let listener = listener.clone();
                let accepted = accepted.clone();
                task::spawn(move || {
                    let (stream, _) = listener.accept().unwrap();
                    accepted.set(accepted.get() + 1);
                    stream
                })
            })
            .collect();
        // Let every acceptor fail its first accept and park.
        task::yield_now();
        let clients = thread::spawn(move || {
            (0..ACCEPTORS)
                .map(|_| StdTcpStream::connect(addr).unwrap())
                .collect::<Vec<_>>()
        });
        await_all(&acceptors, "acceptors");
        assert_eq!(accepted.get(), ACCEPTORS);
        drop(clients.join().unwrap());
    });
}

/// Several tasks receiving on one UDP socket while another thread sends:
/// every datagram is received.
fn many_receivers_on_one_udp_socket_lose_nothing(kind: BackendKind) {
    const RECEIVERS: usize = 4;
    const DATAGRAMS: usize = 200;
    block_on(kind, || {
        let socket = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let addr: SocketAddr = socket.local_addr().unwrap();
        let received = Rc::new(Cell::new(0));
        let receivers: Vec<_> = (0..RECEIVERS)
            .map(|_| {
                let socket = socket.clone();
                let received = received.clone();
                task::spawn(move || {
                    let mut buf = [0u8; 16];
                    while received.get() < DATAGRAMS {
                        socket.recv_from(&mut buf).unwrap();
                        received.set(received.get() + 1);
                    }
                })
            })
            .collect();
        task::yield_now();
        let sender = thread::spawn(move || {
            let out = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            for i in 0..DATAGRAMS {
                out.send_to(&(i as u32).to_le_bytes(), addr).unwrap();
                if i % 16 == 0 {
                    // Paced, so the receive buffer never overflows.
                    thread::sleep(Duration::from_micros(200));
                }
            }
        });
        let deadline = Instant::now() + STUCK;
        while received.get() < DATAGRAMS {
            assert!(
                Instant::now() < deadline,
                "received {} of {DATAGRAMS} datagrams (a lost wake-up)",
                received.get()
            );
            sleep(Duration::from_millis(1));
        }
        sender.join().unwrap();
        // The receivers that still wait for a datagram are cancelled.
        for receiver in receivers {
            receiver.cancel();
        }
    });
}

/// A short read empties the receive buffer, so the next read may wait for
/// new data without a failing system call; but an end of stream that came
/// with the data (no further edge will follow) must still be read, and so
/// must data that arrives later.
fn short_reads_then_end_of_stream(kind: BackendKind) {
    block_on(kind, || {
        let (a, mut b) = StdUnixStream::pair().unwrap();
        let a = UnixStream::from_std(a).unwrap();
        let mut buf = [0u8; 64];
        // Force registration: a read that parks until the first data.
        let writer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            b.write_all(b"first").unwrap();
            thread::sleep(Duration::from_millis(5));
            b.write_all(b"second").unwrap();
            // Data and the end of stream together: one edge for both.
            b.write_all(b"last").unwrap();
            drop(b);
        });
        let mut got = Vec::new();
        let start = Instant::now();
        loop {
            let n = (&a).read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            assert!(start.elapsed() < STUCK, "a read never woke up");
            if got.ends_with(b"second") {
                // Let "last" and the hang-up arrive before the next read.
                thread::sleep(Duration::from_millis(20));
            }
        }
        assert_eq!(got, b"firstsecondlast");
        writer.join().unwrap();
    });
}

per_backend!(
    short_reads_then_end_of_stream,
    would_block_forgets_used_readiness,
    readiness_between_would_block_and_park_is_kept,
    room_between_would_block_and_park_is_kept,
    many_acceptors_on_one_listener_all_accept,
    many_receivers_on_one_udp_socket_lose_nothing,
);

/// One stream of a random scenario: how much another thread sends to a
/// task and how, how much the task sends back, and how each side paces
/// itself.
#[derive(Debug, Clone, Copy)]
struct StreamPlan {
    /// Bytes the thread writes to the task.
    inbound: usize,
    /// Size of each of the thread's writes.
    inbound_chunk: usize,
    /// Bytes the task writes to the thread.
    outbound: usize,
    /// Size of the task's reads.
    read_size: usize,
    /// Pause of the thread between its writes and reads, in microseconds.
    pause_us: u64,
    /// Whether the task yields between its reads.
    task_yields: bool,
}

fn stream_plan() -> impl Strategy<Value = StreamPlan> {
    (
        0usize..300_000,
        1usize..70_000,
        0usize..300_000,
        64usize..9_000,
        0u64..300,
        any::<bool>(),
    )
        .prop_map(
            |(inbound, inbound_chunk, outbound, read_size, pause_us, task_yields)| StreamPlan {
                inbound,
                // At most about 40 writes, so the pauses stay short.
                inbound_chunk: inbound_chunk.max(inbound / 40 + 1),
                outbound,
                read_size,
                pause_us,
                task_yields,
            },
        )
}

fn byte(stream: usize, i: usize) -> u8 {
    (i as u8).wrapping_mul(13).wrapping_add(stream as u8)
}

/// Random traffic in both directions between fibrio tasks and a plain
/// thread, whose writes and reads land at arbitrary moments relative to
/// the tasks' failed calls and parks: everything arrives, nobody hangs.
fn random_traffic_loses_no_wake_up(kind: BackendKind, plans: Vec<StreamPlan>) {
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in &plans {
        let (a, b) = StdUnixStream::pair().unwrap();
        ours.push(a);
        b.set_read_timeout(Some(STUCK)).unwrap();
        b.set_write_timeout(Some(STUCK)).unwrap();
        theirs.push(b);
    }
    let thread_plans = plans.clone();
    let peer = thread::spawn(move || {
        let mut workers = Vec::new();
        for (index, (mut b, plan)) in theirs.into_iter().zip(thread_plans).enumerate() {
            let mut reader = b.try_clone().unwrap();
            let pause = Duration::from_micros(plan.pause_us);
            workers.push(thread::spawn(move || {
                let sent: Vec<u8> = (0..plan.inbound).map(|i| byte(index, i)).collect();
                for chunk in sent.chunks(plan.inbound_chunk) {
                    b.write_all(chunk).unwrap();
                    thread::sleep(pause);
                }
            }));
            workers.push(thread::spawn(move || {
                let mut got = vec![0u8; plan.outbound];
                let mut filled = 0;
                while filled < got.len() {
                    let end = got.len().min(filled + 8192);
                    let n = reader.read(&mut got[filled..end]).unwrap();
                    assert!(n > 0, "stream {index}: early EOF");
                    filled += n;
                    thread::sleep(pause);
                }
                assert!(
                    got.iter()
                        .enumerate()
                        .all(|(i, &v)| v == byte(index + 100, i)),
                    "stream {index}: outbound bytes garbled"
                );
            }));
        }
        for worker in workers {
            worker.join().unwrap();
        }
    });
    block_on(kind, move || {
        let mut tasks = Vec::new();
        for (index, (a, plan)) in ours.into_iter().zip(plans).enumerate() {
            let a = Rc::new(UnixStream::from_std(a).unwrap());
            let reader = a.clone();
            tasks.push(task::spawn(move || {
                let mut got = Vec::with_capacity(plan.inbound);
                let mut buf = vec![0u8; plan.read_size];
                while got.len() < plan.inbound {
                    let n = (&*reader).read(&mut buf).unwrap();
                    assert!(n > 0, "stream {index}: early EOF");
                    got.extend_from_slice(&buf[..n]);
                    if plan.task_yields {
                        task::yield_now();
                    }
                }
                assert!(
                    got.iter().enumerate().all(|(i, &v)| v == byte(index, i)),
                    "stream {index}: inbound bytes garbled"
                );
            }));
            tasks.push(task::spawn(move || {
                let sent: Vec<u8> = (0..plan.outbound).map(|i| byte(index + 100, i)).collect();
                (&*a).write_all(&sent).unwrap();
            }));
        }
        await_all(&tasks, "random traffic");
        for task in tasks {
            task.join().unwrap();
        }
    });
    peer.join().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_traffic_loses_no_wake_up_edge(plans in proptest::collection::vec(stream_plan(), 1..5)) {
        random_traffic_loses_no_wake_up(BackendKind::Auto, plans);
    }

    #[test]
    fn random_traffic_loses_no_wake_up_poll(plans in proptest::collection::vec(stream_plan(), 1..5)) {
        random_traffic_loses_no_wake_up(BackendKind::Poll, plans);
    }
}
