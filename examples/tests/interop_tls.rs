//! `rustls`'s synchronous API (`ServerConnection`, `ClientConnection`,
//! `StreamOwned`) works unchanged over `fibrio::net::TcpStream`: TLS 1.2 and
//! 1.3 handshakes and echoes for several client tasks on one thread, with a
//! self-signed certificate made by `rcgen`; other tasks keep running while a
//! client waits for its reply; and a certificate the client does not trust
//! fails the handshake on both sides instead of hanging.
//!
//! Every socket has five-second read and write timeouts, so a regression
//! fails the test instead of hanging it.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fibrio::net::{TcpListener, TcpStream};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ProtocolVersion, RootCertStore, ServerConfig};
use rustls::{ServerConnection, StreamOwned, SupportedProtocolVersion};

const IO_TIMEOUT: Option<Duration> = Some(Duration::from_secs(5));

/// How many ticks the server holds each reply for, when it holds them.
const HOLD_TICKS: u64 = 10;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A fresh self-signed `localhost` certificate and a server configuration
/// presenting it.
fn server_config() -> (CertificateDer<'static>, Arc<ServerConfig>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    (cert, Arc::new(config))
}

/// A client configuration trusting only `cert`, speaking `versions`.
fn client_config(
    cert: CertificateDer<'static>,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

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

/// Serves one TLS connection: echoes every byte until the client's
/// `close_notify`, then sends its own; with `hold`, each piece only after
/// the ticker has ticked [`HOLD_TICKS`] times since it arrived. Returns the
/// bytes echoed.
fn serve_connection(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    hold: Option<Ticks>,
) -> io::Result<usize> {
    bounded(&stream);
    let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), stream);
    let mut buf = [0u8; 8192];
    let mut echoed = 0;
    loop {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if let Some(ticks) = &hold {
            ticks.wait_for(HOLD_TICKS);
        }
        tls.write_all(&buf[..n])?;
        echoed += n;
    }
    tls.conn.send_close_notify();
    tls.flush()?;
    Ok(echoed)
}

/// Accepts `connections` connections, one task each. Returns each
/// connection's outcome.
fn spawn_server(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    connections: usize,
    hold: Option<Ticks>,
) -> fibrio::JoinHandle<Vec<io::Result<usize>>> {
    fibrio::spawn(move || {
        let tasks: Vec<_> = (0..connections)
            .map(|_| {
                let (stream, _) = listener.accept().unwrap();
                let (config, hold) = (config.clone(), hold.clone());
                fibrio::spawn(move || serve_connection(stream, config, hold))
            })
            .collect();
        tasks.into_iter().map(|task| task.join().unwrap()).collect()
    })
}

fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> StreamOwned<ClientConnection, TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    bounded(&stream);
    let name = ServerName::try_from("localhost").unwrap();
    StreamOwned::new(ClientConnection::new(config, name).unwrap(), stream)
}

/// Sends `close_notify` and reads the server's: a clean end of stream.
fn close(mut tls: StreamOwned<ClientConnection, TcpStream>) {
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{} bytes after close_notify", rest.len());
}

#[test]
fn tls_echo_returns_every_message_to_concurrent_tls12_and_tls13_clients() {
    const CLIENTS: usize = 4;
    let (results, server_results) = fibrio::run(|| {
        let (cert, server) = server_config();
        let tls12 = client_config(cert.clone(), &[&rustls::version::TLS12]);
        let tls13 = client_config(cert, &[&rustls::version::TLS13]);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn_server(listener, server, CLIENTS, None);
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let config = if id % 2 == 0 { &tls12 } else { &tls13 }.clone();
                fibrio::spawn(move || {
                    let mut tls = connect(addr, config);
                    let mut sent = 0;
                    // From one byte to several full 16 KiB TLS records. The
                    // client reads the echo only after writing it all, so the
                    // largest stays well within the socket buffers.
                    for size in [1, 100, 16 * 1024 + 1, 40 * 1024] {
                        let message: Vec<u8> = (0..size).map(|i| (i * 13 + id) as u8).collect();
                        tls.write_all(&message).unwrap();
                        let mut echo = vec![0u8; size];
                        tls.read_exact(&mut echo).unwrap();
                        assert!(echo == message, "client {id}: echo of {size} bytes differs");
                        sent += size;
                    }
                    let version = tls.conn.protocol_version().unwrap();
                    close(tls);
                    (version, sent)
                })
            })
            .collect();
        let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        (results, server.join().unwrap())
    });
    for (id, (version, sent)) in results.iter().enumerate() {
        let expected = if id % 2 == 0 {
            ProtocolVersion::TLSv1_2
        } else {
            ProtocolVersion::TLSv1_3
        };
        assert_eq!(*version, expected, "client {id}");
        assert_eq!(*sent, 1 + 100 + 16 * 1024 + 1 + 40 * 1024);
    }
    let echoed: usize = server_results.into_iter().map(Result::unwrap).sum();
    assert_eq!(echoed, results.iter().map(|(_, sent)| sent).sum::<usize>());
}

#[test]
fn a_task_waiting_for_a_tls_reply_lets_other_tasks_run() {
    const CLIENTS: usize = 3;
    const ROUNDS: usize = 3;
    // The server holds each reply until a ticker task, sleeping 1 ms at a
    // time, has ticked HOLD_TICKS more times. The ticker can only tick while
    // the client waits if the client's blocking read (inside rustls) parked
    // the task instead of the thread; otherwise nothing would progress.
    let (ticks_per_wait, server_results) = fibrio::run(|| {
        let stop = Rc::new(Cell::new(false));
        let (ticks, ticker) = spawn_ticker(stop.clone());
        let (cert, server) = server_config();
        let client = client_config(cert, rustls::DEFAULT_VERSIONS);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn_server(listener, server, CLIENTS, Some(ticks.clone()));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let (ticks, config) = (ticks.clone(), client.clone());
                fibrio::spawn(move || {
                    let mut tls = connect(addr, config);
                    let mut ticks_per_wait = Vec::new();
                    for round in 0..ROUNDS {
                        let message = format!("client {id}, round {round}");
                        let before = ticks.get();
                        tls.write_all(message.as_bytes()).unwrap();
                        let mut echo = vec![0u8; message.len()];
                        tls.read_exact(&mut echo).unwrap();
                        assert_eq!(echo, message.as_bytes());
                        ticks_per_wait.push(ticks.get() - before);
                    }
                    close(tls);
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
    for result in server_results {
        result.unwrap();
    }
    assert_eq!(ticks_per_wait.len(), CLIENTS * ROUNDS);
    for ticks in &ticks_per_wait {
        assert!(
            *ticks >= HOLD_TICKS,
            "the ticker stalled while a client waited: {ticks_per_wait:?}"
        );
    }
}

#[test]
fn a_tls_client_rejects_a_certificate_it_does_not_trust() {
    let (client_error, server_result) = fibrio::run(|| {
        let (_, server) = server_config();
        // The client trusts a different self-signed certificate.
        let (other_cert, _) = server_config();
        let client = client_config(other_cert, rustls::DEFAULT_VERSIONS);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn_server(listener, server, 1, None);
        let mut tls = connect(addr, client);
        let client_error = tls.write_all(b"hello").unwrap_err();
        drop(tls);
        (client_error, server.join().unwrap().pop().unwrap())
    });
    assert_eq!(client_error.kind(), io::ErrorKind::InvalidData);
    let tls_error = client_error
        .get_ref()
        .and_then(|err| err.downcast_ref::<rustls::Error>());
    assert!(
        matches!(tls_error, Some(rustls::Error::InvalidCertificate(_))),
        "{client_error}"
    );
    let server_error = server_result.unwrap_err();
    assert_eq!(
        server_error.kind(),
        io::ErrorKind::InvalidData,
        "{server_error}"
    );
}
