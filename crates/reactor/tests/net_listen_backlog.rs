//! `TcpListener::bind` listens with a backlog of 1024 (std's `bind` uses
//! 128): a burst of connects completes at once while nobody accepts, where
//! std's backlog would leave most of them waiting for SYN retransmissions.
//! `bind_with_backlog` sets another size.

use std::net::TcpStream as StdStream;
use std::time::Duration;

use fibrio_reactor::net::TcpListener;

/// The kernel's cap on a listen backlog.
fn somaxconn() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(128)
}

/// Connects `n` times to `listener` without accepting; returns how many
/// connects completed within a second each.
fn burst(listener: &TcpListener, n: usize) -> usize {
    let addr = listener.local_addr().unwrap();
    let mut open = Vec::new();
    for _ in 0..n {
        if let Ok(stream) = StdStream::connect_timeout(&addr, Duration::from_secs(1)) {
            open.push(stream);
        } else {
            break; // the queue is full: later connects would wait too
        }
    }
    open.len()
}

#[test]
fn a_burst_of_600_connects_completes_without_an_accept() {
    if somaxconn() < 700 {
        println!(
            "SKIP: net.core.somaxconn is {} (< 700) on this machine",
            somaxconn()
        );
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    assert_eq!(burst(&listener, 600), 600);
}

#[test]
fn bind_with_backlog_sets_a_smaller_queue() {
    // With a backlog of 8, Linux completes backlog + 1 connections and
    // then stops answering SYNs until the program accepts.
    let listener = TcpListener::bind_with_backlog("127.0.0.1:0", 8).unwrap();
    let completed = burst(&listener, 40);
    assert!(
        completed < 40,
        "a backlog of 8 queued all {completed} connects"
    );
    assert!(
        completed >= 8,
        "only {completed} connects completed with a backlog of 8"
    );
}
