//! The `--listen` modes of `tls_echo` and `websocket_echo` stay up on a
//! given address and serve outside clients: `openssl s_client` (the
//! OpenSSL command-line client) through a TLS handshake that trusts the
//! certificate file the server wrote, and `tungstenite`'s client on a
//! plain std socket in this test process. Each server also outlives a
//! client that misbehaves.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The example binary `name` beside this test's, built if missing.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let binary = profile_dir.join("examples").join(name);
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", name, "-p", "fibrio-examples"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    binary
}

/// A server started with `--listen 127.0.0.1:0`, killed when dropped.
struct Listening {
    child: Child,
    /// Its first line of output.
    banner: String,
}

impl Listening {
    fn start(name: &str) -> Listening {
        let mut child = Command::new(example_binary(name))
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the example");
        let mut banner = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut banner)
            .expect("read the banner");
        Listening { child, banner }
    }

    /// The `ip:port` in the banner.
    fn addr(&self) -> String {
        let start = self
            .banner
            .find("127.0.0.1:")
            .expect("an address in the banner");
        self.banner[start..]
            .split(|c: char| c == ';' || c == '/' || c.is_whitespace())
            .next()
            .unwrap()
            .to_owned()
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn openssl_s_client_talks_to_tls_echo_listen() {
    if Command::new("openssl").arg("version").output().is_err() {
        println!("SKIP: openssl is not installed");
        return;
    }
    let mut server = Listening::start("tls_echo");
    let addr = server.addr();
    let port = addr.rsplit(':').next().unwrap();
    let pem = std::env::temp_dir().join(format!("fibrio-tls-echo-{port}.pem"));
    assert!(
        pem.exists(),
        "the server wrote its certificate: {}",
        server.banner
    );
    for round in 0..2 {
        let mut client = Command::new("openssl")
            .args(["s_client", "-connect", &addr, "-CAfile"])
            .arg(&pem)
            .args(["-verify_return_error", "-quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start openssl s_client");
        let line = format!("hello over TLS, round {round}\n");
        client
            .stdin
            .as_mut()
            .unwrap()
            .write_all(line.as_bytes())
            .unwrap();
        let mut echoed = vec![0; line.len()];
        client
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut echoed)
            .unwrap();
        assert_eq!(String::from_utf8(echoed).unwrap(), line);
        drop(client.stdin.take()); // s_client closes the connection
        let _ = client.kill();
        let _ = client.wait();
    }
    // A client that connects and sends garbage does not stop the server.
    let mut junk = std::net::TcpStream::connect(&addr).unwrap();
    junk.write_all(b"this is not TLS\r\n\r\n").unwrap();
    let _ = junk.read(&mut [0; 64]);
    std::thread::sleep(Duration::from_millis(100));
    assert!(server.still_running());
}

#[test]
fn a_tungstenite_client_talks_to_websocket_echo_listen() {
    let mut server = Listening::start("websocket_echo");
    let addr = server.addr();
    for round in 0..2 {
        let stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (mut socket, response) =
            tungstenite::client(format!("ws://{addr}/echo"), stream).expect("handshake");
        assert_eq!(response.status(), 101);
        let text = tungstenite::Message::text(format!("hello over WebSocket, round {round}"));
        socket.send(text.clone()).unwrap();
        assert_eq!(socket.read().unwrap(), text);
        let binary = tungstenite::Message::binary(vec![round as u8; 300]);
        socket.send(binary.clone()).unwrap();
        assert_eq!(socket.read().unwrap(), binary);
        socket.close(None).unwrap();
        while socket.read().is_ok() {}
    }
    // A client that leaves mid-handshake does not stop the server.
    let mut rude = std::net::TcpStream::connect(&addr).unwrap();
    rude.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    drop(rude);
    std::thread::sleep(Duration::from_millis(100));
    assert!(server.still_running());
}
