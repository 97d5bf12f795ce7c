//! An accept loop survives running out of file descriptors: `accept`
//! returns `EMFILE` to the caller, and `incoming()` backs off instead of
//! spinning, then accepts again once descriptors are freed. Checked in a
//! child process (this binary re-run) with a lowered `RLIMIT_NOFILE`.

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use fibrio_core::scheduler::{Scheduler, SchedulerConfig};
use fibrio_core::task;
use fibrio_reactor::net::TcpListener;
use fibrio_reactor::{sleep, BackendKind, Reactor};

const CONNECTIONS: usize = 30;
const SPARE_FDS: u64 = 6;

fn cpu_time() -> Duration {
    // SAFETY: `usage` is a valid out-pointer for the whole call.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Lowers the soft `RLIMIT_NOFILE` to `soft`, keeping the hard limit.
fn limit_fds(soft: u64) {
    // SAFETY: `current` is a valid out-pointer, then a valid input.
    unsafe {
        let mut current: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut current), 0);
        current.rlim_cur = soft.min(current.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &current), 0);
    }
}

/// The fd limit that leaves exactly `free` descriptors to allocate: new
/// fds take the lowest free numbers below the limit, holes included.
fn limit_leaving(free: u64) -> u64 {
    let open: std::collections::BTreeSet<u64> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut available = 0;
    let mut limit = 0;
    while available < free {
        if !open.contains(&limit) {
            available += 1;
        }
        limit += 1;
    }
    limit
}

fn child() {
    let reactor = Reactor::new(BackendKind::Auto).unwrap();
    let _enter = reactor.enter();
    Scheduler::new(SchedulerConfig::default(), reactor.driver())
        .block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            // Establish every connection first: they wait in the backlog.
            let clients: Vec<_> = (0..CONNECTIONS)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            limit_fds(limit_leaving(SPARE_FDS));

            let held = Rc::new(RefCell::new(Vec::new()));
            let h = held.clone();
            let acceptor = task::spawn(move || {
                let mut accepted = 0;
                for stream in listener.incoming() {
                    let stream = stream.unwrap();
                    assert!(stream.as_raw_fd() >= 0);
                    h.borrow_mut().push(stream);
                    accepted += 1;
                    if accepted == CONNECTIONS {
                        break;
                    }
                }
                accepted
            });
            // Let the acceptor saturate, then watch it while saturated.
            sleep(Duration::from_millis(100));
            let saturated_at = held.borrow().len();
            assert!(saturated_at < CONNECTIONS, "the fd limit never hit");
            let cpu_before = cpu_time();
            let wall = Instant::now();
            sleep(Duration::from_millis(500));
            let cpu_spent = cpu_time() - cpu_before;
            let wall_spent = wall.elapsed();
            // Free the descriptors: the loop must pick up the rest.
            held.borrow_mut().clear();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !acceptor.is_finished() {
                assert!(Instant::now() < deadline, "accepting never resumed");
                held.borrow_mut().clear();
                sleep(Duration::from_millis(10));
            }
            let accepted = acceptor.join().unwrap();
            drop(clients);
            println!(
                "FD-EXHAUSTION-OK accepted {accepted} (stalled at {saturated_at}); \
                 {cpu_spent:?} of CPU during {wall_spent:?} saturated"
            );
            assert_eq!(accepted, CONNECTIONS);
            assert!(
                cpu_spent < Duration::from_millis(150),
                "the saturated accept loop spun: {cpu_spent:?} CPU in {wall_spent:?}"
            );
        })
        .unwrap();
}

#[test]
fn incoming_backs_off_when_out_of_fds_and_resumes_when_freed() {
    if std::env::var("FIBRIO_TEST_CHILD").as_deref() == Ok("fd-exhaustion") {
        child();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "incoming_backs_off_when_out_of_fds_and_resumes_when_freed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FIBRIO_TEST_CHILD", "fd-exhaustion")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("FD-EXHAUSTION-OK"), "{stdout}\n{stderr}");
}

#[test]
fn accept_returns_emfile_to_the_caller() {
    if std::env::var("FIBRIO_TEST_CHILD").as_deref() == Ok("emfile") {
        let reactor = Reactor::new(BackendKind::Auto).unwrap();
        let _enter = reactor.enter();
        Scheduler::new(SchedulerConfig::default(), reactor.driver())
            .block_on(|| {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let _clients: Vec<_> = (0..4)
                    .map(|_| std::net::TcpStream::connect(addr).unwrap())
                    .collect();
                // Wait for the reactor's own fds to exist before limiting.
                sleep(Duration::from_millis(1));
                limit_fds(limit_leaving(2));
                let mut held = Vec::new();
                let err = loop {
                    match listener.accept() {
                        Ok((stream, _)) => held.push(stream),
                        Err(err) => break err,
                    }
                    assert!(
                        held.len() < 4,
                        "every connection was accepted: the limit never hit"
                    );
                };
                assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
                println!("EMFILE-OK {err}");
            })
            .unwrap();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "accept_returns_emfile_to_the_caller",
            "--nocapture",
        ])
        .env("FIBRIO_TEST_CHILD", "emfile")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("EMFILE-OK"), "{stdout}\n{stderr}");
}
