//! `Sender::send_timeout`: times out on a full channel (and on a rendezvous
//! channel with no receiver) handing the message back, succeeds when room
//! frees up in time, reports disconnection, keeps FIFO order among
//! senders, survives cancellation, and works from plain threads.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio_concurrency::channel::{self, RecvTimeoutError, SendTimeoutError, TryRecvError};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn times_out_on_a_full_channel_and_returns_the_message() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(1);
        tx.send(String::from("first")).unwrap();
        let start = Instant::now();
        let err = tx.send_timeout(String::from("second"), ms(20)).unwrap_err();
        assert!(
            start.elapsed() >= ms(20),
            "gave up early: {:?}",
            start.elapsed()
        );
        assert!(err.is_timeout() && !err.is_disconnected());
        assert_eq!(err.into_inner(), "second");
        let stats = tx.statistics();
        assert_eq!((stats.queued, stats.sent, stats.waiting_senders), (1, 1, 0));
        assert_eq!(rx.recv().as_deref(), Ok("first"));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn a_zero_timeout_waits_for_nothing() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(1);
        tx.send_timeout(1, Duration::ZERO).unwrap(); // room: sent

        // A task that is ready to run: it runs only if the send suspends.
        let ran = Rc::new(Cell::new(false));
        let bystander = {
            let ran = ran.clone();
            fibrio::spawn(move || ran.set(true))
        };
        assert!(matches!(
            tx.send_timeout(2, Duration::ZERO),
            Err(SendTimeoutError::Timeout(2))
        ));
        assert!(!ran.get(), "a zero timeout suspended the sender");
        bystander.join().unwrap();
        assert_eq!(tx.statistics().waiting_senders, 0);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1]);
    });
}

#[test]
fn succeeds_when_a_receiver_frees_room_before_the_deadline() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(1);
        tx.send(1).unwrap();
        let receiver = fibrio::spawn(move || {
            fibrio::sleep(ms(10));
            let first = rx.recv().unwrap();
            let second = rx.recv().unwrap();
            (first, second)
        });
        let start = Instant::now();
        tx.send_timeout(2, Duration::from_secs(5)).unwrap();
        let waited = start.elapsed();
        assert!(waited >= ms(10), "did not wait for room: {waited:?}");
        assert!(waited < Duration::from_secs(5), "waited out the timeout");
        assert_eq!(receiver.join().unwrap(), (1, 2));
        assert_eq!(tx.statistics().sent, 2);
    });
}

#[test]
fn rendezvous_times_out_without_a_receiver() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(0);
        let start = Instant::now();
        let err = tx.send_timeout(vec![7u8], ms(15)).unwrap_err();
        assert!(start.elapsed() >= ms(15));
        assert!(matches!(&err, SendTimeoutError::Timeout(v) if v == &[7]));
        // The message was not left behind for a later receiver.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let stats = rx.statistics();
        assert_eq!((stats.sent, stats.waiting_senders), (0, 0));
    });
}

#[test]
fn rendezvous_succeeds_when_a_receiver_comes_in_time() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(0);
        let receiver = fibrio::spawn(move || {
            fibrio::sleep(ms(5));
            rx.recv()
        });
        tx.send_timeout("hi", Duration::from_secs(5)).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok("hi"));
        // A receiver already waiting: no wait at all, even with no time.
        let (tx, rx) = channel::bounded(0);
        let receiver = fibrio::spawn(move || rx.recv());
        fibrio::yield_now();
        tx.send_timeout("now", Duration::ZERO).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok("now"));
    });
}

#[test]
fn disconnected_returns_the_message() {
    fibrio::run(|| {
        // Receivers gone before the call.
        let (tx, rx) = channel::bounded(1);
        drop(rx);
        assert!(matches!(
            tx.send_timeout(1, ms(50)),
            Err(SendTimeoutError::Disconnected(1))
        ));

        // Receivers gone while the sender waits: it wakes at once.
        let (tx, rx) = channel::bounded(1);
        tx.send(1).unwrap();
        let sender = fibrio::spawn(move || tx.send_timeout(2, Duration::from_secs(5)));
        fibrio::yield_now();
        assert_eq!(rx.statistics().waiting_senders, 1);
        let start = Instant::now();
        drop(rx);
        let err = sender.join().unwrap().unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(err.is_disconnected());
        assert_eq!(err.into_inner(), 2);
    });
}

#[test]
fn a_timed_out_sender_leaves_the_queue_and_the_next_one_keeps_its_turn() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(1);
        tx.send(0).unwrap();
        let (tx1, tx2) = (tx.clone(), tx.clone());
        let impatient = fibrio::spawn(move || tx1.send_timeout(1, ms(10)));
        fibrio::yield_now();
        let patient = fibrio::spawn(move || tx2.send(2));
        fibrio::yield_now();
        assert_eq!(rx.statistics().waiting_senders, 2);
        assert!(matches!(
            impatient.join().unwrap(),
            Err(SendTimeoutError::Timeout(1))
        ));
        assert_eq!(rx.statistics().waiting_senders, 1);
        assert_eq!(rx.recv(), Ok(0)); // room: 2 moves in
        patient.join().unwrap().unwrap();
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

#[test]
fn cancelling_a_task_in_send_timeout_delivers_nothing() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(1);
        tx.send(0).unwrap();
        let tx2 = tx.clone();
        let sender = fibrio::spawn(move || tx2.send_timeout(1, Duration::from_secs(10)));
        fibrio::yield_now();
        assert_eq!(rx.statistics().waiting_senders, 1);
        let start = Instant::now();
        sender.cancel();
        assert!(sender.join().unwrap_err().is_cancelled());
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(rx.statistics().waiting_senders, 0);
        assert_eq!(rx.recv(), Ok(0));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(fibrio_core::task::pending_timers(), Some(0));
    });
}

#[test]
fn an_unrepresentable_timeout_waits_as_long_as_it_takes() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(0);
        let receiver = fibrio::spawn(move || {
            fibrio::sleep(ms(5));
            rx.recv()
        });
        tx.send_timeout(9, Duration::MAX).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(9));
    });
}

#[test]
fn send_timeout_from_a_plain_thread() {
    // Timing out: the thread blocks, then gets the message back.
    let (tx, rx) = channel::bounded(1);
    tx.send(1).unwrap();
    let start = Instant::now();
    let err = std::thread::spawn(move || tx.send_timeout(2, ms(20)))
        .join()
        .unwrap()
        .unwrap_err();
    assert!(start.elapsed() >= ms(20));
    assert!(matches!(err, SendTimeoutError::Timeout(2)));
    assert_eq!(rx.try_recv(), Ok(1));

    // Succeeding: a task in a runtime frees room in time.
    let (tx, rx) = channel::bounded(1);
    tx.send(1).unwrap();
    let feeder = std::thread::spawn(move || tx.send_timeout(2, Duration::from_secs(5)));
    let got: Vec<i32> = fibrio::run(move || {
        fibrio::sleep(ms(10));
        rx.iter().collect() // ends when the thread's sender is dropped
    });
    feeder.join().unwrap().unwrap();
    assert_eq!(got, [1, 2]);
}

#[test]
fn every_message_is_received_or_handed_back_across_threads() {
    // Tight timeouts on a rendezvous channel with the receiver on another
    // thread: a timed-out sender must leave the queue before it takes its
    // message back, or the receiver could pop an empty node.
    const N: u32 = 2_000;
    let (tx, rx) = channel::bounded(0);
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        loop {
            match rx.recv_timeout(ms(1)) {
                Ok(m) => got.push(m),
                Err(RecvTimeoutError::Timeout) => {}
                Err(e) => {
                    assert_eq!(e, RecvTimeoutError::Disconnected);
                    return got;
                }
            }
        }
    });
    let returned: Vec<u32> = fibrio::run(move || {
        let mut returned = Vec::new();
        for i in 0..N {
            let timeout = Duration::from_micros(u64::from(i % 7) * 20);
            match tx.send_timeout(i, timeout) {
                Ok(()) => {}
                Err(SendTimeoutError::Timeout(m)) => returned.push(m),
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        returned
    });
    let received = receiver.join().unwrap();
    let received_set: BTreeSet<u32> = received.iter().copied().collect();
    let returned_set: BTreeSet<u32> = returned.iter().copied().collect();
    assert_eq!(
        received_set.len(),
        received.len(),
        "a message arrived twice"
    );
    assert!(
        received_set.is_disjoint(&returned_set),
        "sent and handed back"
    );
    assert_eq!(
        received.len() + returned.len(),
        N as usize,
        "a message was lost"
    );
    // Received messages keep the send order.
    assert!(received.windows(2).all(|w| w[0] < w[1]));
}
