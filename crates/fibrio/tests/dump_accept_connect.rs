//! A task parked in an accept (TCP or Unix) shows `Accept` on the
//! listener's fd in a task dump, and one parked in a TCP connect in
//! progress shows `Connect` (issue 15): the reactor is told what a
//! readiness wait is for, not only its direction.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use fibrio::net::{TcpListener, TcpStream, UnixListener};
use fibrio::task::{WaitKind, WaitReason};
use fibrio::TaskStatus;

/// The wait of task `id` in a fresh dump, if it is parked.
fn wait_of(id: u64) -> Option<WaitReason> {
    fibrio::dump()
        .tasks
        .iter()
        .find(|t| t.id == id)
        .filter(|t| t.status == TaskStatus::Parked)
        .and_then(|t| t.wait)
}

/// Sleeps until `done` holds; panics after 20 s (a hang guard: it holds
/// within a few milliseconds).
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < give_up, "still waiting for {what}");
        fibrio::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_task_parked_in_a_tcp_or_unix_accept_shows_accept_on_the_listener_fd() {
    fibrio::run(|| {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_fd = tcp.as_raw_fd() as u64;
        let path =
            std::env::temp_dir().join(format!("fibrio-dump-accept-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let unix = UnixListener::bind(&path).unwrap();
        let unix_fd = unix.as_raw_fd() as u64;
        let tcp_task = fibrio::spawn(move || drop(tcp.accept()));
        let unix_task = fibrio::spawn(move || drop(unix.accept()));
        wait_until("both accepts to park", || {
            wait_of(tcp_task.id()).is_some() && wait_of(unix_task.id()).is_some()
        });
        for (task, fd) in [(&tcp_task, tcp_fd), (&unix_task, unix_fd)] {
            let wait = wait_of(task.id()).unwrap();
            assert_eq!(wait.kind, WaitKind::Accept, "{wait:?}");
            assert_eq!(wait.object, fd);
            assert!(wait.kind.object_is_fd());
        }
        let text = fibrio::dump().to_string();
        assert!(
            text.contains(&format!("an accept on fd {tcp_fd}")),
            "{text}"
        );
        assert!(
            text.contains(&format!("an accept on fd {unix_fd}")),
            "{text}"
        );
        tcp_task.cancel();
        unix_task.cancel();
        assert!(tcp_task.join().unwrap_err().is_cancelled());
        assert!(unix_task.join().unwrap_err().is_cancelled());
        std::fs::remove_file(&path).unwrap();
    });
}

#[test]
fn a_task_parked_in_a_connect_in_progress_shows_connect() {
    fibrio::run(|| {
        // Nobody accepts, and the accept queue holds two connections at
        // most (a backlog of 1): the kernel drops the SYNs of the connects
        // after those, which stay in progress for as long as the test
        // runs (the first retransmission is a second away, and finds the
        // queue still full).
        let listener = TcpListener::bind_with_backlog("127.0.0.1:0", 1).unwrap();
        let addr = listener.local_addr().unwrap();
        let connects: Vec<_> = (0..6)
            .map(|_| fibrio::spawn(move || TcpStream::connect(addr)))
            .collect();
        let settled = |handle: &fibrio::JoinHandle<_>| {
            handle.is_finished()
                || wait_of(handle.id()).is_some_and(|w| w.kind == WaitKind::Connect)
        };
        // Each either connected (one of the queue's) or is parked.
        wait_until("the connects to settle", || connects.iter().all(settled));
        let in_progress: Vec<_> = connects.iter().filter(|h| !h.is_finished()).collect();
        assert!(
            !in_progress.is_empty(),
            "every connect completed: the accept queue was not full"
        );
        let text = fibrio::dump().to_string();
        for handle in &in_progress {
            let wait = wait_of(handle.id()).expect("a connect in progress is parked");
            assert_eq!(wait.kind, WaitKind::Connect, "{wait:?}");
            assert!(wait.kind.object_is_fd());
            assert!(
                text.contains(&format!("a connect on fd {}", wait.object)),
                "{text}"
            );
        }
        for handle in connects {
            handle.cancel();
            match handle.join() {
                Ok(stream) => drop(stream.unwrap()),
                Err(err) => assert!(err.is_cancelled(), "{err:?}"),
            }
        }
        drop(listener);
    });
}
