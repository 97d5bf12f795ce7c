//! `fibrio::compat`: `block_on` parks only its task and is a cancellation
//! checkpoint, `spawn_future` runs driver futures, and (features
//! `tokio-io`, `futures-io`) fibrio's sockets are polled as futures with
//! readiness from fibrio's own reactor. `block_on` while the task
//! unwinds is a clear error that leaves no task behind.

use std::cell::Cell;
use std::future::{pending, poll_fn};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use fibrio::compat::{block_on, spawn_future, try_block_on, BlockOnError};

#[path = "common/leaks.rs"]
mod leaks;
use leaks::{assert_no_leak, serial, tasks_and_fds};

/// A future that completes once `flag` is set, handing its waker to
/// another OS thread that sets the flag after `delay`.
fn woken_from_a_thread(delay: Duration) -> impl std::future::Future<Output = u32> {
    let flag = Arc::new(AtomicBool::new(false));
    let mut thread = None;
    poll_fn(move |cx| {
        if flag.load(Ordering::SeqCst) {
            if let Some(thread) = thread.take() {
                std::thread::JoinHandle::join(thread).unwrap();
            }
            return Poll::Ready(7);
        }
        if thread.is_none() {
            let (flag, waker): (_, Waker) = (flag.clone(), cx.waker().clone());
            thread = Some(std::thread::spawn(move || {
                std::thread::sleep(delay);
                flag.store(true, Ordering::SeqCst);
                waker.wake();
            }));
        }
        Poll::Pending
    })
}

#[test]
fn outside_a_runtime_the_future_runs_on_the_calling_thread() {
    let _serial = serial();
    assert_eq!(block_on(async { 1 }), 1);
    assert_eq!(block_on(woken_from_a_thread(Duration::from_millis(5))), 7);
}

#[test]
fn only_the_waiting_task_parks_and_a_foreign_thread_wakes_it() {
    let _serial = serial();
    fibrio::run(|| {
        let ticks = Rc::new(Cell::new(0u32));
        let ticker = fibrio::spawn({
            let ticks = ticks.clone();
            move || {
                for _ in 0..10 {
                    fibrio::sleep(Duration::from_millis(2));
                    ticks.set(ticks.get() + 1);
                }
            }
        });
        // Several tasks wait at once, each woken from its own thread.
        let waiters: Vec<_> = (0..20)
            .map(|_| fibrio::spawn(|| block_on(woken_from_a_thread(Duration::from_millis(40)))))
            .collect();
        assert_eq!(block_on(woken_from_a_thread(Duration::from_millis(40))), 7);
        assert!(
            ticks.get() >= 5,
            "the ticker ran while main waited: {}",
            ticks.get()
        );
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), 7);
        }
        ticker.join().unwrap();
    });
}

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn a_cancelled_task_drops_its_future_and_unwinds() {
    let _serial = serial();
    fibrio::run(|| {
        let dropped = Rc::new(Cell::new(false));
        let after = Rc::new(Cell::new(false));
        let task = fibrio::spawn({
            let (dropped, after) = (dropped.clone(), after.clone());
            move || {
                let guard = DropFlag(dropped);
                block_on(async move {
                    let _guard = guard;
                    pending::<()>().await
                });
                after.set(true);
            }
        });
        fibrio::sleep(Duration::from_millis(5));
        assert!(!dropped.get());
        task.cancel();
        let err = task.join().unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(dropped.get(), "the future was dropped");
        assert!(!after.get(), "the task unwound from block_on");
    });
}

#[test]
fn try_block_on_while_unwinding_is_a_clear_error() {
    let _serial = serial();
    /// Waits for a future in its destructor.
    struct WaitsInDrop(Rc<Cell<Option<Result<(), BlockOnError>>>>);
    impl Drop for WaitsInDrop {
        fn drop(&mut self) {
            // Ready at once: fine even while unwinding.
            assert_eq!(try_block_on(async { 3 }), Ok(3));
            self.0.set(Some(try_block_on(pending::<()>())));
        }
    }
    fibrio::run(|| {
        let baseline = tasks_and_fds();
        let seen = Rc::new(Cell::new(None));
        let task = fibrio::spawn({
            let seen = seen.clone();
            move || {
                let _waits = WaitsInDrop(seen);
                fibrio::sleep(Duration::from_secs(60));
            }
        });
        fibrio::sleep(Duration::from_millis(2));
        task.cancel();
        assert!(task.join().unwrap_err().is_cancelled());
        assert_eq!(seen.take(), Some(Err(BlockOnError::Unwinding)));
        let err = BlockOnError::Unwinding.to_string();
        assert!(err.contains("unwinding"), "{err}");
        // Nothing is left: the task ended, the future was dropped.
        assert_no_leak("block_on while unwinding", baseline);
    });
}

#[test]
fn spawn_future_runs_a_driver_future_as_a_task() {
    let _serial = serial();
    fibrio::run(|| {
        let shared = Rc::new(Cell::new(0));
        let driver = spawn_future({
            let shared = shared.clone();
            async move {
                for i in 1..=3 {
                    shared.set(i);
                    // Yield once to the runtime, as a driver waiting on I/O.
                    let mut yielded = false;
                    poll_fn(|cx| {
                        if yielded {
                            return Poll::Ready(());
                        }
                        yielded = true;
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    })
                    .await;
                }
                "done"
            }
        });
        assert_eq!(driver.join().unwrap(), "done");
        assert_eq!(shared.get(), 3);

        let stuck = spawn_future(pending::<()>());
        fibrio::sleep(Duration::from_millis(1));
        stuck.cancel();
        assert!(stuck.join().unwrap_err().is_cancelled());
    });
}

#[cfg(feature = "tokio-io")]
mod tokio_io {
    use std::io::ErrorKind;
    use std::time::Duration;

    use fibrio::compat::{block_on, spawn_future};
    use fibrio::net::{TcpListener, TcpStream, UnixStream};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // std's Read and Write are not imported: their methods share names
    // with tokio's extension traits, so blocking calls are spelled out.

    /// A blocking-style echo server task: one task per connection.
    fn echo_server(listener: TcpListener, connections: usize) -> fibrio::JoinHandle<()> {
        fibrio::spawn(move || {
            let mut served = Vec::new();
            for _ in 0..connections {
                let (mut stream, _) = listener.accept().unwrap();
                served.push(fibrio::spawn(move || {
                    let mut buf = [0; 1024];
                    loop {
                        match std::io::Read::read(&mut stream, &mut buf).unwrap() {
                            0 => break,
                            n => std::io::Write::write_all(&mut stream, &buf[..n]).unwrap(),
                        }
                    }
                }));
            }
            for task in served {
                task.join().unwrap();
            }
        })
    }

    #[test]
    fn hundreds_of_tasks_talk_tcp_through_the_tokio_traits_on_one_thread() {
        let _serial = super::serial();
        fibrio::run(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = echo_server(listener, 200);
            let clients: Vec<_> = (0..200)
                .map(|i| {
                    fibrio::spawn(move || {
                        let mut stream = TcpStream::connect(addr).unwrap();
                        block_on(async move {
                            for round in 0..5 {
                                let message = format!("client {i} round {round}");
                                stream.write_all(message.as_bytes()).await.unwrap();
                                let mut back = vec![0; message.len()];
                                stream.read_exact(&mut back).await.unwrap();
                                assert_eq!(back, message.as_bytes());
                            }
                            AsyncWriteExt::shutdown(&mut stream).await.unwrap();
                        });
                    })
                })
                .collect();
            for client in clients {
                client.join().unwrap();
            }
            server.join().unwrap();
            assert_eq!(fibrio_reactor::registered_fds(), Some(0));
        });
    }

    #[test]
    fn a_socket_polled_first_then_used_blocking_style_shares_one_registration() {
        let _serial = super::serial();
        fibrio::run(|| {
            for _ in 0..3 {
                let (mut a, mut b) = UnixStream::pair().unwrap();
                // A future polls first: its entry is made for the waker.
                let reader = spawn_future(async move {
                    let mut buf = [0; 5];
                    a.read_exact(&mut buf).await.unwrap();
                    assert_eq!(&buf, b"hello");
                    a
                });
                fibrio::sleep(Duration::from_millis(2));
                std::io::Write::write_all(&mut b, b"hello").unwrap();
                let mut a = reader.join().unwrap();
                // Now blocking-style: the socket's registration adopts it.
                let writer = fibrio::spawn(move || {
                    fibrio::sleep(Duration::from_millis(2));
                    std::io::Write::write_all(&mut b, b"again").unwrap();
                    b
                });
                let mut buf = [0; 5];
                std::io::Read::read_exact(&mut a, &mut buf).unwrap();
                assert_eq!(&buf, b"again");
                let b = writer.join().unwrap();
                drop((a, b));
            }
            // fds closed with an entry made by a poll: a new socket on the
            // same fd number is polled again and still wakes.
            for _ in 0..3 {
                let (mut a, mut b) = UnixStream::pair().unwrap();
                let reader = spawn_future(async move {
                    let mut buf = [0; 2];
                    a.read_exact(&mut buf).await.unwrap();
                    buf
                });
                fibrio::sleep(Duration::from_millis(1));
                std::io::Write::write_all(&mut b, b"ok").unwrap();
                assert_eq!(&reader.join().unwrap(), b"ok");
            }
        });
    }

    #[test]
    fn a_future_cancelled_mid_read_leaves_the_socket_usable() {
        let _serial = super::serial();
        fibrio::run(|| {
            let (a, mut b) = UnixStream::pair().unwrap();
            let a = std::rc::Rc::new(std::cell::RefCell::new(Some(a)));
            let task = fibrio::spawn({
                let a = a.clone();
                move || {
                    let mut stream = a.borrow_mut().take().unwrap();
                    let mut buf = [0; 1];
                    let result = block_on(stream.read(&mut buf));
                    drop(stream);
                    result
                }
            });
            fibrio::sleep(Duration::from_millis(2));
            task.cancel();
            assert!(task.join().unwrap_err().is_cancelled());
            // The peer sees the cancelled task's socket closed.
            let mut buf = [0; 1];
            assert_eq!(std::io::Read::read(&mut b, &mut buf).unwrap(), 0);
        });
    }

    #[test]
    fn a_simulated_socket_cannot_be_polled() {
        let _serial = super::serial();
        fibrio::sim::run(1, || {
            let listener = TcpListener::bind("0.0.0.0:80").unwrap();
            let server = fibrio::spawn(move || listener.accept().map(|(s, _)| s));
            let mut client = TcpStream::connect("main:80").unwrap();
            let err = block_on(client.write_all(b"x")).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported);
            let mut buf = [0; 1];
            let err = block_on(client.read(&mut buf)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported);
            drop(server.join().unwrap());
        });
    }

    #[test]
    fn outside_a_runtime_a_poll_that_would_block_is_an_error() {
        let _serial = super::serial();
        let (mut a, _b) = UnixStream::pair().unwrap();
        let mut buf = [0; 1];
        let err = block_on(a.read(&mut buf)).unwrap_err();
        assert!(err.to_string().contains("inside a fibrio runtime"), "{err}");
    }
}

#[cfg(feature = "futures-io")]
mod futures_io_traits {
    use fibrio::compat::{block_on, spawn_future};
    use fibrio::net::UnixStream;
    use futures_util::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn unix_streams_speak_futures_io_through_a_forwarder() {
        let _serial = super::serial();
        fibrio::run(|| {
            let (mut source, mut forward_in) = UnixStream::pair().unwrap();
            let (mut forward_out, mut sink) = UnixStream::pair().unwrap();
            // More than the socket buffers hold, so every side waits on
            // reads and writes in turn.
            let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
            let forwarder = spawn_future(async move {
                let mut buf = vec![0; 64 * 1024];
                loop {
                    let n = forward_in.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    forward_out.write_all(&buf[..n]).await.unwrap();
                }
                forward_out.close().await.unwrap();
            });
            let writer = spawn_future({
                let data = data.clone();
                async move {
                    source.write_all(&data).await.unwrap();
                    source.close().await.unwrap();
                }
            });
            let mut back = Vec::new();
            block_on(sink.read_to_end(&mut back)).unwrap();
            assert!(back == data, "the data came through intact");
            writer.join().unwrap();
            forwarder.join().unwrap();
        });
    }
}
