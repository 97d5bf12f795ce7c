//! `tungstenite`'s synchronous WebSocket API works unchanged over
//! `fibrio::net::TcpStream`: a server task per connection and several client
//! tasks on one thread, every echo checked, and other tasks keep running
//! while a client waits for its reply.
//!
//! Every socket has five-second read and write timeouts, so a regression
//! fails the test instead of hanging it.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio::net::{TcpListener, TcpStream};
use tungstenite::Message;

const IO_TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

/// How many ticks the server holds each reply for, when it holds them.
const HOLD_TICKS: u64 = 10;

fn bounded(stream: &TcpStream) {
    stream.set_read_timeout(IO_TIMEOUT).unwrap();
    stream.set_write_timeout(IO_TIMEOUT).unwrap();
    stream.set_nodelay(true).unwrap();
}

/// The wake-up count of a ticker task that sleeps 1 ms at a time.
#[derive(Clone, Default)]
struct Ticks(Rc<Cell<u64>>);

impl Ticks {
    fn get(&self) -> u64 {
        self.0.get()
    }

    /// Parks until the ticker has ticked `n` more times; panics after 5 s.
    fn wait_for(&self, n: u64) {
        let target = self.get() + n;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.get() < target {
            assert!(Instant::now() < deadline, "the ticker stopped ticking");
            fibrio::sleep(Duration::from_millis(1));
        }
    }
}

/// Starts the ticker; it stops at its next tick once `stop` is set.
fn spawn_ticker(stop: Rc<Cell<bool>>) -> (Ticks, fibrio::JoinHandle<()>) {
    let ticks = Ticks::default();
    let task = {
        let ticks = ticks.clone();
        fibrio::spawn(move || {
            while !stop.get() {
                fibrio::sleep(Duration::from_millis(1));
                ticks.0.set(ticks.get() + 1);
            }
        })
    };
    (ticks, task)
}

/// Accepts `connections` WebSocket connections, one task each, echoing every
/// data message; with `hold`, only after the ticker has ticked
/// [`HOLD_TICKS`] times since the message arrived. Returns the number of
/// messages echoed.
fn spawn_server(
    listener: TcpListener,
    connections: usize,
    hold: Option<Ticks>,
) -> fibrio::JoinHandle<usize> {
    fibrio::spawn(move || {
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let (stream, _) = listener.accept().unwrap();
                bounded(&stream);
                let hold = hold.clone();
                fibrio::spawn(move || {
                    let mut socket = tungstenite::accept(stream).unwrap();
                    let mut echoed = 0;
                    loop {
                        match socket.read() {
                            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                                if let Some(ticks) = &hold {
                                    ticks.wait_for(HOLD_TICKS);
                                }
                                socket.send(message).unwrap();
                                echoed += 1;
                            }
                            Ok(_) => {}
                            Err(tungstenite::Error::ConnectionClosed) => return echoed,
                            Err(err) => panic!("server: {err}"),
                        }
                    }
                })
            })
            .collect();
        tasks.into_iter().map(|task| task.join().unwrap()).sum()
    })
}

fn connect(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    bounded(&stream);
    let (socket, response) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
    assert_eq!(response.status(), 101);
    socket
}

fn close(mut socket: tungstenite::WebSocket<TcpStream>) {
    socket.close(None).unwrap();
    loop {
        match socket.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => return,
            Err(err) => panic!("closing: {err}"),
        }
    }
}

#[test]
fn websocket_echo_returns_every_message_to_concurrent_clients() {
    const CLIENTS: usize = 4;
    let (sent, echoed) = fibrio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn_server(listener, CLIENTS, None);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                fibrio::spawn(move || {
                    let mut socket = connect(addr);
                    let messages = [
                        Message::text(format!("hello from client {id}")),
                        Message::binary(vec![id as u8; 3]),
                        Message::text("ünïcödé ✓".to_string()),
                        Message::binary(Vec::new()),
                        // Half a megabyte: the reads arrive in pieces and
                        // the writes may park part-way.
                        Message::binary(
                            (0..512 * 1024)
                                .map(|i| (i * 7 + id) as u8)
                                .collect::<Vec<u8>>(),
                        ),
                        Message::text(format!("goodbye from client {id}")),
                    ];
                    for message in &messages {
                        socket.send(message.clone()).unwrap();
                        let echo = socket.read().unwrap();
                        assert_eq!(&echo, message, "client {id}");
                    }
                    close(socket);
                    messages.len()
                })
            })
            .collect();
        let sent: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        (sent, server.join().unwrap())
    });
    assert_eq!(sent, CLIENTS * 6);
    assert_eq!(echoed, sent);
}

#[test]
fn a_task_waiting_for_a_websocket_reply_lets_other_tasks_run() {
    const CLIENTS: usize = 3;
    const ROUNDS: usize = 3;
    // The server holds each reply until a ticker task, sleeping 1 ms at a
    // time, has ticked HOLD_TICKS more times. The ticker can only tick while
    // the client waits if the client's blocking read parked the task instead
    // of the thread; otherwise nothing would progress.
    let (ticks_per_wait, echoed) = fibrio::run(|| {
        let stop = Rc::new(Cell::new(false));
        let (ticks, ticker) = spawn_ticker(stop.clone());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn_server(listener, CLIENTS, Some(ticks.clone()));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let ticks = ticks.clone();
                fibrio::spawn(move || {
                    let mut socket = connect(addr);
                    let mut ticks_per_wait = Vec::new();
                    for round in 0..ROUNDS {
                        let message = Message::text(format!("client {id}, round {round}"));
                        let before = ticks.get();
                        socket.send(message.clone()).unwrap();
                        assert_eq!(socket.read().unwrap(), message);
                        ticks_per_wait.push(ticks.get() - before);
                    }
                    close(socket);
                    ticks_per_wait
                })
            })
            .collect();
        let ticks_per_wait: Vec<u64> = clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        stop.set(true);
        ticker.join().unwrap();
        (ticks_per_wait, server.join().unwrap())
    });
    assert_eq!(echoed, CLIENTS * ROUNDS);
    assert_eq!(ticks_per_wait.len(), CLIENTS * ROUNDS);
    for ticks in &ticks_per_wait {
        assert!(
            *ticks >= HOLD_TICKS,
            "the ticker stalled while a client waited: {ticks_per_wait:?}"
        );
    }
}
