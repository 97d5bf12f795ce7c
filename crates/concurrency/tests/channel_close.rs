//! `Receiver::close`: sends fail at once with `Disconnected` (the message
//! comes back), blocked senders wake with that error and their messages,
//! the messages queued at the close are still received, in order, and only
//! then do receives report `Disconnected`; for bounded, rendezvous and
//! unbounded channels, with statistics and `is_disconnected` to match.

use std::time::Duration;

use fibrio_concurrency::channel::{
    self, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryRecvError,
    TrySendError,
};

/// The three flavours of channel, by name for assertion messages.
fn flavours() -> Vec<(&'static str, Sender<u32>, Receiver<u32>)> {
    let (btx, brx) = channel::bounded(4);
    let (rtx, rrx) = channel::bounded(0);
    let (utx, urx) = channel::unbounded();
    vec![
        ("bounded(4)", btx, brx),
        ("bounded(0)", rtx, rrx),
        ("unbounded", utx, urx),
    ]
}

#[test]
fn queued_messages_are_received_after_close_then_disconnected() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(4);
        for i in 0..3 {
            tx.send(i).unwrap();
        }
        rx.close();
        let stats = rx.statistics();
        assert!(stats.closed);
        assert_eq!((stats.queued, stats.sent, stats.senders), (3, 3, 1));
        assert!(!rx.is_disconnected(), "messages are still queued");
        assert_eq!(rx.recv(), Ok(0));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.recv_timeout(Duration::from_secs(60)), Ok(2));
        // Drained: every receive form reports disconnection, though `tx`
        // is alive, and none of them waits.
        assert!(rx.is_disconnected());
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(60)),
            Err(RecvTimeoutError::Disconnected)
        );
        assert_eq!(rx.iter().count(), 0);
        let stats = rx.statistics();
        assert_eq!((stats.queued, stats.sent, stats.received), (0, 3, 3));
        drop(tx);
    });
}

#[test]
fn every_send_fails_at_once_after_close_for_every_flavour() {
    fibrio::run(|| {
        for (name, tx, rx) in flavours() {
            assert!(!tx.is_disconnected(), "{name}");
            rx.close();
            assert!(tx.is_disconnected(), "{name}");
            assert!(
                matches!(tx.try_send(1), Err(TrySendError::Disconnected(1))),
                "{name}"
            );
            assert!(
                matches!(tx.send(2), Err(SendError::Disconnected(2))),
                "{name}"
            );
            // Reported at once, not after the (long) timeout.
            let err = tx.send_timeout(3, Duration::from_secs(3600)).unwrap_err();
            assert!(err.is_disconnected(), "{name}: {err:?}");
            assert_eq!(err.into_inner(), 3);
            let stats = tx.statistics();
            assert_eq!((stats.sent, stats.queued), (0, 0), "{name}");
            assert!(stats.closed, "{name}");
            // Nothing was queued: the receivers are done at once.
            assert!(rx.is_disconnected(), "{name}");
            assert_eq!(rx.recv(), Err(RecvError::Disconnected), "{name}");
        }
    });
}

#[test]
fn close_wakes_blocked_senders_with_their_messages() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(1);
        tx.send(0).unwrap(); // full
        let blocked: Vec<_> = (1..=3)
            .map(|i| {
                let tx = tx.clone();
                let t = fibrio::spawn(move || tx.send(i));
                fibrio::yield_now(); // it blocks, in spawn order
                t
            })
            .collect();
        assert_eq!(rx.statistics().waiting_senders, 3);
        rx.close();
        // Receiving the queued message frees room, but no blocked sender's
        // message moves in: they are all on their way out.
        assert_eq!(rx.recv(), Ok(0));
        for (i, t) in (1..=3).zip(blocked) {
            match t.join().unwrap() {
                Err(SendError::Disconnected(m)) => assert_eq!(m, i),
                other => panic!("sender {i}: expected Disconnected, got {other:?}"),
            }
        }
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
        let stats = rx.statistics();
        assert_eq!(
            (stats.sent, stats.received, stats.waiting_senders),
            (1, 1, 0)
        );
    });
}

#[test]
fn close_wakes_a_rendezvous_sender_without_delivering_its_message() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(0);
        let sender = fibrio::spawn(move || {
            tx.send_timeout("hello", Duration::from_secs(3600))
                .map_err(|e| (e.is_disconnected(), e.into_inner()))
        });
        fibrio::yield_now(); // the sender waits for a receiver
        assert_eq!(rx.statistics().waiting_senders, 1);
        rx.close();
        // Its message is not taken, even by a receive before it runs.
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(sender.join().unwrap(), Err((true, "hello")));
        assert_eq!(rx.statistics().sent, 0);
    });
}

#[test]
fn close_wakes_waiting_receivers_with_disconnected() {
    fibrio::run(|| {
        let (tx, rx) = channel::unbounded::<u32>();
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                fibrio::spawn(move || rx.recv())
            })
            .collect();
        fibrio::yield_now(); // both wait on the empty channel
        assert_eq!(rx.statistics().waiting_receivers, 2);
        rx.close(); // `tx` is still alive
        for r in receivers {
            assert_eq!(r.join().unwrap(), Err(RecvError::Disconnected));
        }
        assert!(tx.send(1).is_err());
    });
}

#[test]
fn close_from_one_receiver_closes_for_all_and_twice_is_harmless() {
    let (tx, rx) = channel::unbounded();
    let rx2 = rx.clone();
    tx.send('a').unwrap();
    rx2.close();
    rx2.close();
    assert!(rx.statistics().closed);
    assert!(matches!(
        tx.try_send('b'),
        Err(TrySendError::Disconnected('b'))
    ));
    assert_eq!(rx.try_recv(), Ok('a'));
    assert_eq!(rx2.try_recv(), Err(TryRecvError::Disconnected));
    // Dropping the receivers afterwards changes nothing for the sender.
    drop((rx, rx2));
    assert!(tx.is_disconnected());
}

#[test]
fn close_from_a_plain_thread_wakes_a_task_blocked_in_send() {
    let (tx, rx) = channel::bounded(1);
    let closer = std::thread::spawn(move || {
        while rx.statistics().waiting_senders == 0 {
            std::thread::yield_now();
        }
        rx.close();
        rx.recv()
    });
    let result = fibrio::run(move || {
        tx.send(1).unwrap();
        tx.send_timeout(2, Duration::from_secs(3600))
    });
    assert!(matches!(result, Err(SendTimeoutError::Disconnected(2))));
    assert_eq!(closer.join().unwrap(), Ok(1));
}
