//! Channel behaviour: FIFO delivery, bounded back-pressure, rendezvous,
//! closing from either side, timeouts, iteration, cancellation of tasks
//! parked in `send` and `recv` (nothing lost or stolen), MPMC, and
//! threads feeding a runtime.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::task::JoinError;
use fibrio_concurrency::channel::{
    self, RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError,
};

#[test]
fn bounded_send_waits_for_room_and_keeps_order() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(2);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        let tx2 = tx.clone();
        let blocked = fibrio::spawn(move || tx2.send(3));
        fibrio::yield_now();
        assert_eq!(tx.statistics().waiting_senders, 1);
        assert_eq!(rx.recv(), Ok(1)); // room: 3 moves into the queue
        assert_eq!(rx.statistics().queued, 2);
        blocked.join().unwrap().unwrap();
        assert_eq!(rx.recv(), Ok(2));
        assert_eq!(rx.recv(), Ok(3));
        let stats = rx.statistics();
        assert_eq!((stats.sent, stats.received, stats.queued), (3, 3, 0));
    });
}

#[test]
fn rendezvous_send_waits_for_a_receiver() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(0);
        assert!(matches!(tx.try_send(1), Err(TrySendError::Full(1))));
        let log = Rc::new(RefCell::new(Vec::new()));
        let l2 = log.clone();
        let sender = fibrio::spawn(move || {
            tx.send(7).unwrap();
            l2.borrow_mut().push("sent");
        });
        fibrio::yield_now();
        assert!(log.borrow().is_empty(), "send returned with no receiver");
        assert_eq!(rx.statistics().waiting_senders, 1);
        assert_eq!(rx.statistics().queued, 0);
        assert_eq!(rx.recv(), Ok(7));
        sender.join().unwrap();
        assert_eq!(*log.borrow(), ["sent"]);
        // A waiting receiver makes try_send succeed.
        let (tx, rx) = channel::bounded(0);
        let receiver = fibrio::spawn(move || rx.recv());
        fibrio::yield_now();
        tx.try_send(8).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(8));
    });
}

#[test]
fn dropping_every_sender_wakes_every_receiver_after_the_queue_drains() {
    fibrio::run(|| {
        let (tx, rx) = channel::unbounded::<u32>();
        let receivers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                fibrio::spawn(move || rx.recv())
            })
            .collect();
        fibrio::yield_now();
        assert_eq!(rx.statistics().waiting_receivers, 3);
        let tx2 = tx.clone();
        drop(tx);
        fibrio::yield_now();
        assert_eq!(rx.statistics().waiting_receivers, 3, "one sender is left");
        drop(tx2);
        for r in receivers {
            assert_eq!(r.join().unwrap(), Err(RecvError::Disconnected));
        }
        // Messages queued before the close are still received first.
        let (tx, rx) = channel::bounded(4);
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        drop(tx);
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
    });
}

#[test]
fn dropping_every_receiver_hands_blocked_senders_their_messages_back() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(1);
        tx.send(String::from("queued")).unwrap();
        let senders: Vec<_> = (0..2)
            .map(|i| {
                let tx = tx.clone();
                fibrio::spawn(move || tx.send(format!("blocked {i}")))
            })
            .collect();
        fibrio::yield_now();
        drop(rx);
        let mut back: Vec<String> = senders
            .into_iter()
            .map(|s| match s.join().unwrap() {
                Err(SendError::Disconnected(m)) => m,
                other => panic!("expected Disconnected, got {other:?}"),
            })
            .collect();
        back.sort();
        assert_eq!(back, ["blocked 0", "blocked 1"]);
        assert_eq!(tx.send("late".into()).unwrap_err().into_inner(), "late");
        assert!(tx.is_disconnected());
    });
}

#[test]
fn recv_timeout_times_out_then_receives() {
    fibrio::run(|| {
        let (tx, rx) = channel::unbounded();
        let start = Instant::now();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(20)),
            Err(RecvTimeoutError::Timeout)
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(rx.statistics().waiting_receivers, 0);
        fibrio::spawn(move || {
            fibrio::sleep(Duration::from_millis(5));
            tx.send(9).unwrap();
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(9));
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Err(RecvTimeoutError::Disconnected)
        );
    });
}

#[test]
fn iteration_ends_when_the_channel_closes() {
    let got = fibrio::run(|| {
        let (tx, rx) = channel::bounded(1);
        fibrio::spawn(move || {
            for i in 0..10 {
                tx.send(i).unwrap();
            }
        });
        rx.into_iter().collect::<Vec<_>>()
    });
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

#[test]
fn cancelling_a_task_parked_in_send_loses_no_other_message() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(1);
        tx.send(1).unwrap();
        let (tx2, tx3) = (tx.clone(), tx.clone());
        let cancelled = fibrio::spawn(move || tx2.send(2));
        let other = fibrio::spawn(move || tx3.send(3));
        fibrio::yield_now();
        assert_eq!(rx.statistics().waiting_senders, 2);
        cancelled.cancel();
        assert!(matches!(cancelled.join(), Err(JoinError::Cancelled)));
        assert_eq!(rx.statistics().waiting_senders, 1);
        drop(tx);
        assert_eq!(rx.recv(), Ok(1));
        other.join().unwrap().unwrap();
        assert_eq!(rx.recv(), Ok(3));
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
        assert_eq!(rx.statistics().sent, 2); // the cancelled send never happened
    });
}

#[test]
fn cancelling_a_task_parked_in_rendezvous_send_after_handoff_counts_as_sent() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(0);
        let sender = fibrio::spawn(move || tx.send(5));
        fibrio::yield_now();
        assert_eq!(rx.try_recv(), Ok(5)); // taken from the parked sender
                                          // The hand-off woke the sender before the cancel came: the send
                                          // completed and is not undone (trio's rule); the message was
                                          // delivered exactly once.
        sender.cancel();
        assert_eq!(sender.join().unwrap(), Ok(()));
        assert_eq!(rx.recv(), Err(RecvError::Disconnected));
    });
}

#[test]
fn a_cancelled_receiver_passes_its_message_on() {
    fibrio::run(|| {
        let (tx, rx) = channel::unbounded();
        let spawn_receiver = || {
            let rx = rx.clone();
            fibrio::spawn(move || rx.recv())
        };
        let a = spawn_receiver();
        let b = spawn_receiver();
        fibrio::yield_now();
        assert_eq!(rx.statistics().waiting_receivers, 2);
        // `a` is cancelled while parked, then a message is handed to it
        // before it runs: the cancellation woke it, so it unwinds and passes
        // the message on to `b`.
        a.cancel();
        tx.send(1).unwrap();
        assert!(matches!(a.join(), Err(JoinError::Cancelled)));
        assert_eq!(b.join().unwrap(), Ok(1));
        // With nobody else waiting, the message goes back to the queue front.
        let c = spawn_receiver();
        fibrio::yield_now();
        c.cancel();
        tx.send(2).unwrap(); // handed to the cancelled `c`
        tx.send(3).unwrap(); // queued
        assert!(matches!(c.join(), Err(JoinError::Cancelled)));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Ok(3));
        // A receiver woken by a hand-off *before* its cancellation keeps the
        // message: the receive completed (trio's rule); nothing is lost.
        let d = spawn_receiver();
        fibrio::yield_now();
        tx.send(4).unwrap();
        d.cancel();
        assert_eq!(d.join().unwrap(), Ok(4));
        let stats = rx.statistics();
        assert_eq!(
            (stats.sent, stats.received, stats.waiting_receivers),
            (4, 4, 0)
        );
    });
}

#[test]
fn a_cancelled_idle_receiver_leaves_the_queue() {
    fibrio::run(|| {
        let (tx, rx) = channel::unbounded::<()>();
        let rx2 = rx.clone();
        let r = fibrio::spawn(move || rx2.recv());
        fibrio::yield_now();
        r.cancel();
        assert!(matches!(r.join(), Err(JoinError::Cancelled)));
        assert_eq!(rx.statistics().waiting_receivers, 0);
        tx.send(()).unwrap();
        assert_eq!(rx.statistics().queued, 1);
    });
}

#[test]
fn mpmc_delivers_every_message_exactly_once() {
    let mut got = fibrio::run(|| {
        let (tx, rx) = channel::bounded(3);
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let tx = tx.clone();
                fibrio::spawn(move || {
                    for i in 0..50 {
                        tx.send(p * 1000 + i).unwrap();
                        if i % 7 == 0 {
                            fibrio::yield_now();
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                fibrio::spawn(move || rx.iter().collect::<Vec<u32>>())
            })
            .collect();
        drop(rx);
        for p in producers {
            p.join().unwrap();
        }
        consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    got.sort_unstable();
    let mut want: Vec<u32> = (0..4)
        .flat_map(|p| (0..50).map(move |i| p * 1000 + i))
        .collect();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[test]
fn a_thread_feeds_a_runtime_through_a_bounded_channel() {
    let (tx, rx) = channel::bounded(4);
    let feeders: Vec<_> = (0..2u64)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    tx.send(t * 10_000 + i).unwrap(); // blocks the thread when full
                }
            })
        })
        .collect();
    drop(tx);
    let (sum, count) = fibrio::run(move || {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                fibrio::spawn(move || rx.iter().fold((0u64, 0usize), |(s, c), v| (s + v, c + 1)))
            })
            .collect();
        drop(rx);
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .fold((0, 0), |(s, c), (s2, c2)| (s + s2, c + c2))
    });
    for f in feeders {
        f.join().unwrap();
    }
    let want: u64 = (0..2u64)
        .flat_map(|t| (0..500).map(move |i| t * 10_000 + i))
        .sum();
    assert_eq!((sum, count), (want, 1000));
}

#[test]
fn a_thread_receives_from_tasks() {
    let (tx, rx) = channel::bounded::<u32>(0);
    let thread = std::thread::spawn(move || rx.iter().sum::<u32>());
    fibrio::run(move || {
        for i in 1..=10 {
            tx.send(i).unwrap();
        }
    });
    assert_eq!(thread.join().unwrap(), 55);
}

#[test]
fn sender_and_receiver_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<channel::Sender<String>>();
    assert_send_sync::<channel::Receiver<String>>();
    assert_send_sync::<fibrio_concurrency::Semaphore>();
    assert_send_sync::<fibrio_concurrency::SemaphorePermit>();
}

#[test]
fn recv_timeout_on_a_plain_thread() {
    let (tx, rx) = channel::unbounded::<u8>();
    let start = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_millis(10)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(start.elapsed() >= Duration::from_millis(10));
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        tx.send(1).unwrap();
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(1));
    feeder.join().unwrap();
}

#[test]
fn blocking_calls_in_drop_during_cancellation_never_suspend() {
    struct SendOnDrop(channel::Sender<u8>, Rc<RefCell<Option<SendError<u8>>>>);
    impl Drop for SendOnDrop {
        fn drop(&mut self) {
            *self.1.borrow_mut() = self.0.send(2).err(); // channel is full
        }
    }
    struct RecvOnDrop(channel::Receiver<u8>, Rc<RefCell<Option<RecvError>>>);
    impl Drop for RecvOnDrop {
        fn drop(&mut self) {
            *self.1.borrow_mut() = self.0.recv().err(); // channel is empty
        }
    }
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(1);
        tx.send(1).unwrap();
        let send_err = Rc::new(RefCell::new(None));
        let guard = SendOnDrop(tx.clone(), send_err.clone());
        let t = fibrio::spawn(move || {
            let _guard = guard;
            fibrio::task::park().unwrap();
        });
        fibrio::yield_now();
        t.cancel();
        assert!(matches!(t.join(), Err(JoinError::Cancelled)));
        assert!(matches!(*send_err.borrow(), Some(SendError::Unwinding(2))));

        let (_tx2, rx2) = channel::bounded::<u8>(1);
        let recv_err = Rc::new(RefCell::new(None));
        let guard = RecvOnDrop(rx2, recv_err.clone());
        let t = fibrio::spawn(move || {
            let _guard = guard;
            fibrio::task::park().unwrap();
        });
        fibrio::yield_now();
        t.cancel();
        assert!(matches!(t.join(), Err(JoinError::Cancelled)));
        assert_eq!(*recv_err.borrow(), Some(RecvError::Unwinding));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.statistics().waiting_senders, 0);
    });
}
