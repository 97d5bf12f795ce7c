//! The admin listener: /metrics, /healthz, /debug/tasks (with stacks),
//! 404, 405 and 400, and loopback only unless opted in.

use std::io::{Read, Write};
use std::net::SocketAddr;

use fibrio::admin::{self, AdminOptions};

/// Sends `request` raw and reads the answer to the end (the listener
/// closes every connection after its answer).
fn exchange(addr: SocketAddr, request: &'static [u8]) -> String {
    fibrio::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.write_all(request).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    })
    .unwrap()
}

fn split(answer: &str) -> (&str, &str) {
    answer.split_once("\r\n\r\n").expect("a head and a body")
}

#[test]
fn the_admin_endpoints_answer() {
    fibrio::run(|| {
        let server = admin::serve("127.0.0.1:0").unwrap();
        let addr = server.local_addr();
        assert!(addr.ip().is_loopback() && addr.port() != 0);

        let answer = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        let (head, body) = split(&answer);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4"),
            "{head}"
        );
        assert!(head.contains("Connection: close"));
        assert!(body.contains("# TYPE fibrio_tasks_alive gauge\n"), "{body}");
        assert!(body.contains("fibrio_tasks_spawned_total{worker=\"0\"}"));

        let answer = exchange(addr, b"GET /healthz HTTP/1.1\r\n\r\n");
        let (head, body) = split(&answer);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(head.contains("Content-Type: application/json"));
        assert!(
            body.starts_with("{\"status\":\"ok\",\"workers\":[{\"worker\":0,"),
            "{body}"
        );
        assert!(body.contains("\"uptime_secs\":") && body.contains("\"longest_unparked_secs\":"));

        let answer = exchange(addr, b"GET /debug/tasks HTTP/1.1\r\n\r\n");
        let (head, body) = split(&answer);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(body.starts_with("fibrio task dump:"), "{body}");
        assert!(body.contains("\"fibrio-admin\" [parked"), "{body}");
        assert!(body.contains("\"main\" [parked"), "{body}");

        let answer = exchange(addr, b"GET /debug/tasks?stacks=1 HTTP/1.1\r\n\r\n");
        let body = split(&answer).1;
        assert!(body.contains("accept_loop"), "the acceptor's stack: {body}");

        let answer = exchange(addr, b"GET /nope HTTP/1.1\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        let answer = exchange(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 405 "), "{answer}");
        let answer = exchange(addr, b"\x01\x02 garbage\r\n\r\n");
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(answer.contains("Connection: close"));

        // The runtime keeps working, and the listener stops on shutdown.
        assert_eq!(fibrio::spawn(|| 1).join().unwrap(), 1);
        server.shutdown();
        let refused = fibrio::spawn_blocking(move || std::net::TcpStream::connect(addr)).unwrap();
        assert!(refused.is_err());
    });
}

#[test]
fn only_loopback_unless_opted_in() {
    fibrio::run(|| {
        let err = admin::serve("0.0.0.0:0").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("loopback"), "{err}");
        let opted = admin::serve_with("0.0.0.0:0", AdminOptions::new().allow_non_loopback(true));
        assert!(opted.is_ok());
    });
}

#[test]
fn other_runtimes_are_covered_as_workers() {
    let other = fibrio::Runtime::builder().workers(1).start(|| {
        fibrio::sleep(std::time::Duration::from_millis(300));
    });
    let handle = other.handle(0).unwrap();
    fibrio::run(move || {
        let server =
            admin::serve_with("127.0.0.1:0", AdminOptions::new().runtimes(vec![handle])).unwrap();
        let answer = exchange(server.local_addr(), b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(
            answer.contains("fibrio_tasks_alive{worker=\"1\"}"),
            "{answer}"
        );
        let answer = exchange(server.local_addr(), b"GET /debug/tasks HTTP/1.1\r\n\r\n");
        assert!(answer.contains("--- worker 1 ---"), "{answer}");
    });
    other.join();
}
