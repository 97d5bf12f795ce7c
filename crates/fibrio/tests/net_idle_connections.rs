//! 10,000 idle connections held open at once in one runtime, each served by
//! a task parked in `read`, and the memory they cost. The clients live in a
//! child process (this test binary re-run), so each process needs about
//! 10,100 file descriptors; the test raises `RLIMIT_NOFILE` to that where
//! it can, and skips, saying so, where it cannot.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fibrio::net::TcpListener;
use fibrio::Runtime;

const CONNECTIONS: usize = 10_000;
const FDS_NEEDED: u64 = CONNECTIONS as u64 + 256;

fn raise_fd_limit(wanted: u64) -> Result<(), String> {
    // SAFETY: `limit` is a valid out-pointer, then a valid input.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err("getrlimit failed".into());
        }
        if limit.rlim_cur >= wanted {
            return Ok(());
        }
        limit.rlim_cur = wanted;
        limit.rlim_max = limit.rlim_max.max(wanted);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(format!(
                "cannot raise RLIMIT_NOFILE to {wanted}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

fn resident_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The child: opens the connections, reports on stdout, then holds them
/// until its stdin closes.
fn clients(addr: &str) {
    raise_fd_limit(FDS_NEEDED).unwrap();
    let streams: Vec<_> = (0..CONNECTIONS)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    println!("CONNECTED {}", streams.len());
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read(&mut [0u8; 1]);
}

#[test]
fn ten_thousand_idle_connections_stay_open_at_once() {
    if let Ok(addr) = std::env::var("FIBRIO_TEST_IDLE_ADDR") {
        clients(&addr);
        return;
    }
    if let Err(why) = raise_fd_limit(FDS_NEEDED) {
        eprintln!(
            "SKIP: {why}; {CONNECTIONS} idle connections need about {FDS_NEEDED} descriptors"
        );
        return;
    }
    let (open, rss_per_connection, elapsed) = Runtime::builder()
        .stack_size(16 * 1024)
        .build()
        .unwrap()
        .run(|| {
            // A backlog of 1024 (bind_reuseport) rather than std's default,
            // so a busy machine does not drop SYNs and stall the clients.
            let listener = TcpListener::bind_reuseport("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "ten_thousand_idle_connections_stay_open_at_once",
                    "--nocapture",
                ])
                .env("FIBRIO_TEST_IDLE_ADDR", addr.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            let before = resident_kib();
            let start = Instant::now();
            let mut servers = Vec::with_capacity(CONNECTIONS);
            for _ in 0..CONNECTIONS {
                let (mut stream, _) = listener.accept().unwrap();
                servers.push(fibrio::spawn(move || {
                    stream.read(&mut [0u8; 1]).map(|_| ())
                }));
            }
            fibrio::sleep(Duration::from_millis(50));
            let elapsed = start.elapsed();
            let open = servers.iter().filter(|s| !s.is_finished()).count();
            let rss = (resident_kib().saturating_sub(before) * 1024) / CONNECTIONS;
            drop(child.stdin.take()); // the child exits and its sockets close
            let _ = child.wait();
            for server in servers {
                let _ = server.join();
            }
            (open, rss, elapsed)
        });
    eprintln!(
        "{CONNECTIONS} idle connections accepted in {elapsed:?}, each a task parked in read: \
         about {rss_per_connection} bytes of RSS per connection (16 KiB stacks)"
    );
    assert_eq!(
        open, CONNECTIONS,
        "every connection's task stayed parked in read"
    );
}
