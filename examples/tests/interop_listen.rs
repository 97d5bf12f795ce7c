//! The `--listen` modes of `tls_echo` and `websocket_echo` stay up on a
//! given address and serve outside clients: `openssl s_client` (the
//! OpenSSL command-line client) through a TLS handshake that trusts the
//! certificate file the server wrote, and `tungstenite`'s client on a
//! plain std socket in this test process. Each server also outlives a
//! client that misbehaves.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Example;

/// Starts the example `name` with `--listen 127.0.0.1:0` and waits for
/// its banner: the process, the `ip:port` it listens on, and the banner.
fn start_listening(name: &str) -> (Example, String, String) {
    let mut server = Example::start(name, &["--listen", "127.0.0.1:0"]);
    let banner = server.wait_for_line(common::START_TIMEOUT, |line| line.contains("127.0.0.1:"));
    let addr = common::addr_in(&banner)
        .unwrap_or_else(|| panic!("no address in the banner {banner:?}"))
        .to_string();
    (server, addr, banner)
}

#[test]
fn openssl_s_client_talks_to_tls_echo_listen() {
    if Command::new("openssl").arg("version").output().is_err() {
        println!("SKIP: openssl is not installed");
        return;
    }
    let (mut server, addr, banner) = start_listening("tls_echo");
    let port = addr.rsplit(':').next().unwrap();
    let pem = std::env::temp_dir().join(format!("fibrio-tls-echo-{port}.pem"));
    assert!(pem.exists(), "the server wrote its certificate: {}", banner);
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
    let (mut server, addr, _) = start_listening("websocket_echo");
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
