//! A TLS echo server and its clients in one program, written with
//! `rustls`'s synchronous API (`ServerConnection`, `ClientConnection` and
//! `StreamOwned`), unchanged, over `fibrio::net` sockets.
//!
//! At start-up `rcgen` makes a self-signed certificate for `localhost`; the
//! server presents it and the clients trust it through a root store that
//! holds only that certificate. The server accepts on a loopback port and
//! runs one task per connection; several client tasks connect at once, each
//! doing a full TLS handshake, sending a few messages and checking every
//! echo, then closing with `close_notify`. Every blocking read or write
//! inside rustls parks only the calling task, so all of it runs on one
//! thread. The crypto provider is `ring`.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example tls_echo -- --clients 8 --messages 5
//! ```
//!
//! Or keep the server up on an address of your choosing, with no built-in
//! clients, and point any TLS client at it (it writes its certificate to a
//! PEM file and prints the `openssl s_client` command that trusts it):
//!
//! ```text
//! cargo run --release --example tls_echo -- --listen 127.0.0.1:8443
//! openssl s_client -connect 127.0.0.1:8443 -CAfile /tmp/fibrio-tls-echo-8443.pem -quiet
//! ```

use std::error::Error;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use fibrio::net::{TcpListener, TcpStream};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use rustls::{ProtocolVersion, StreamOwned};

type BoxError = Box<dyn Error>;

/// A server configuration presenting a fresh self-signed certificate for
/// `localhost`, a client configuration trusting exactly that certificate,
/// and the certificate in PEM form.
fn configs() -> Result<(Arc<ServerConfig>, Arc<ClientConfig>, String), BoxError> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let pem = certified.cert.pem();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;

    let mut roots = RootCertStore::empty();
    roots.add(cert)?;
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((Arc::new(server), Arc::new(client), pem))
}

/// Serves one TLS connection: echoes every byte until the client's
/// `close_notify`, then sends its own. Returns how many bytes it echoed.
fn serve_connection(stream: TcpStream, config: Arc<ServerConfig>) -> Result<usize, BoxError> {
    stream.set_nodelay(true)?;
    let mut tls = StreamOwned::new(ServerConnection::new(config)?, stream);
    let mut buf = [0u8; 4096];
    let mut echoed = 0;
    loop {
        // The first read drives the handshake; `Ok(0)` is a clean close.
        let n = tls.read(&mut buf)?;
        if n == 0 {
            break;
        }
        tls.write_all(&buf[..n])?;
        echoed += n;
    }
    tls.conn.send_close_notify();
    tls.flush()?;
    Ok(echoed)
}

/// Accepts `connections` connections, one task each, and waits for them.
fn server(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    connections: usize,
) -> Result<usize, BoxError> {
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (stream, _) = listener.accept()?;
        let config = config.clone();
        tasks.push(fibrio::spawn(move || serve_connection(stream, config)));
    }
    let mut echoed = 0;
    for task in tasks {
        echoed += task.join().map_err(|err| err.to_string())??;
    }
    Ok(echoed)
}

/// One client: connects, sends `messages` messages of up to 7 KB, checks
/// each echo, then closes with `close_notify` and waits for the server's.
/// Returns the negotiated protocol version.
fn client(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    id: usize,
    messages: usize,
) -> Result<ProtocolVersion, BoxError> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let server_name = ServerName::try_from("localhost")?;
    let mut tls = StreamOwned::new(ClientConnection::new(config, server_name)?, stream);
    for n in 0..messages {
        let message: Vec<u8> = format!("client {id}, message {n}: ")
            .into_bytes()
            .into_iter()
            .chain((0..(n % 8) * 1000).map(|i| (i % 251) as u8))
            .collect();
        tls.write_all(&message)?;
        let mut echo = vec![0u8; message.len()];
        tls.read_exact(&mut echo)?;
        if echo != message {
            return Err(format!("client {id}: echo {n} differs from what was sent").into());
        }
    }
    let version = tls
        .conn
        .protocol_version()
        .ok_or("no protocol version after the handshake")?;
    tls.conn.send_close_notify();
    tls.flush()?;
    // The server answers with its own close_notify: a clean end of stream.
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest)?;
    if !rest.is_empty() {
        return Err(format!("client {id}: {} unexpected bytes at close", rest.len()).into());
    }
    Ok(version)
}

/// `--listen`: serves every connection on `addr` until the process is
/// stopped, one task each; a connection's error ends only that connection.
fn serve_forever(addr: &str) -> Result<(), BoxError> {
    let (server_config, _, pem) = configs()?;
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let pem_path = std::env::temp_dir().join(format!("fibrio-tls-echo-{}.pem", addr.port()));
    std::fs::write(&pem_path, pem)?;
    println!(
        "TLS echo server on {addr}; its certificate is in {}",
        pem_path.display()
    );
    println!(
        "try: openssl s_client -connect {addr} -CAfile {} -quiet",
        pem_path.display()
    );
    loop {
        let (stream, peer) = listener.accept()?;
        let config = server_config.clone();
        fibrio::spawn(move || {
            if let Err(err) = serve_connection(stream, config) {
                eprintln!("tls_echo: {peer}: {err}");
            }
        });
    }
}

fn main() {
    let args = Args::parse();
    if let Some(addr) = args.listen.clone() {
        if let Err(err) = fibrio::run(move || serve_forever(&addr)) {
            eprintln!("tls_echo: {err}");
            std::process::exit(1);
        }
        return;
    }
    let (client_count, message_count) = (args.clients, args.messages);
    let outcome = fibrio::run(move || -> Result<(), BoxError> {
        let start = Instant::now();
        let (server_config, client_config, _) = configs()?;
        println!(
            "made a self-signed certificate for localhost in {:.1} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        println!("TLS echo server on {addr}");

        let start = Instant::now();
        let server = fibrio::spawn(move || server(listener, server_config, client_count));
        let clients: Vec<_> = (0..client_count)
            .map(|id| {
                let config = client_config.clone();
                fibrio::spawn(move || client(addr, config, id, message_count))
            })
            .collect();
        let mut versions = Vec::new();
        for (id, task) in clients.into_iter().enumerate() {
            let version = task.join().map_err(|err| format!("client {id}: {err}"))??;
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
        let echoed = server.join().map_err(|err| err.to_string())??;
        println!(
            "{} clients each did a TLS handshake ({versions:?}) and {} echoed messages; \
             all matched ({echoed} bytes echoed) in {:.1} ms, on one thread",
            client_count,
            message_count,
            start.elapsed().as_secs_f64() * 1e3,
        );
        Ok(())
    });
    if let Err(err) = outcome {
        eprintln!("tls_echo: {err}");
        std::process::exit(1);
    }
}

#[derive(Clone)]
struct Args {
    clients: usize,
    messages: usize,
    /// Serve on this address until stopped, with no built-in clients.
    listen: Option<String>,
}

impl Args {
    fn parse() -> Args {
        let mut args = Args {
            clients: 8,
            messages: 5,
            listen: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
            let number = || {
                value
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("{flag} takes a number")))
            };
            match flag.as_str() {
                "--clients" => args.clients = number(),
                "--messages" => args.messages = number(),
                "--listen" => args.listen = Some(value.clone()),
                other => usage(&format!("unknown flag {other}")),
            }
        }
        args
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: tls_echo [--clients N] [--messages M] | tls_echo --listen ADDR");
    std::process::exit(2)
}
