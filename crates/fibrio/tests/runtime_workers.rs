//! Multi-worker mode: n share-nothing runtimes, each running main; every
//! worker's value or panic comes back to the caller; a Handle reaches a
//! chosen worker; SO_REUSEPORT listeners share one port.

mod common;

use common::quiet_planned_panics;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fibrio::net::TcpListener;
use fibrio::{Runtime, WorkerError};

#[test]
fn every_worker_runs_main_on_its_own_thread() {
    let outcomes = Runtime::builder().workers(3).run(|| {
        (
            fibrio::worker_index().unwrap(),
            std::thread::current().name().unwrap().to_string(),
        )
    });
    let mut seen: Vec<_> = outcomes.into_iter().map(Result::unwrap).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (0, "fibrio-worker-0".to_string()),
            (1, "fibrio-worker-1".to_string()),
            (2, "fibrio-worker-2".to_string())
        ]
    );
}

#[test]
fn workers_zero_means_one_per_cpu() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(Runtime::builder().workers(0).run(|| ()).len(), cpus);
}

#[test]
fn a_worker_panic_comes_back_and_the_others_finish() {
    quiet_planned_panics();
    let outcomes = Runtime::builder().workers(2).run(|| {
        if fibrio::worker_index() == Some(1) {
            panic!("planned: worker one failed");
        }
        "fine"
    });
    assert!(matches!(outcomes[0], Ok("fine")));
    match &outcomes[1] {
        Err(WorkerError::Start { index: 1, source }) => {
            panic!("expected a panic, got a start error: {source}")
        }
        Err(err @ WorkerError::Panicked { index: 1, .. }) => {
            assert!(err.to_string().contains("worker one failed"), "{err}")
        }
        other => panic!("unexpected outcome {other:?}"),
    }
}

#[test]
fn a_handle_spawns_onto_a_chosen_worker() {
    let workers = Runtime::builder()
        .workers(2)
        .start(|| fibrio::sleep(Duration::from_millis(300)));
    for index in 0..2 {
        let remote = workers.handle(index).unwrap().spawn(fibrio::worker_index);
        assert_eq!(remote.join().unwrap(), Some(index));
    }
    assert!(workers.handle(5).is_none());
    assert!(workers.join().into_iter().all(|o| o.is_ok()));
}

#[test]
fn reuseport_listeners_on_every_worker_share_one_port() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let served = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (counter, stop_flag) = (served.clone(), stop.clone());
    let workers = Runtime::builder().workers(2).start(move || {
        let listener = TcpListener::bind_reuseport(("127.0.0.1", port)).unwrap();
        let counter = counter.clone();
        let acceptor = fibrio::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let counter = counter.clone();
                fibrio::spawn(move || {
                    let mut buf = [0u8; 4];
                    stream.read_exact(&mut buf).unwrap();
                    counter.fetch_add(1, Ordering::SeqCst);
                    stream.write_all(b"done").unwrap();
                });
            }
        });
        while !stop_flag.load(Ordering::SeqCst) {
            fibrio::sleep(Duration::from_millis(5));
        }
        // Returning from main cancels the acceptor, which is parked in accept.
        drop(acceptor);
    });
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..40 {
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        client.write_all(b"work").unwrap();
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"done");
    }
    assert_eq!(served.load(Ordering::SeqCst), 40);
    stop.store(true, Ordering::SeqCst);
    assert!(workers.join().into_iter().all(|o| o.is_ok()));
}

#[test]
fn metrics_come_from_every_worker_with_its_index() {
    // Worker i parks i tasks of its own; worker 2 ends at once.
    let ready = Arc::new(AtomicUsize::new(0));
    let counter = ready.clone();
    let workers = Runtime::builder().workers(3).start(move || {
        let index = fibrio::worker_index().unwrap();
        if index == 2 {
            return;
        }
        let sleepers: Vec<_> = (0..index)
            .map(|_| fibrio::spawn(|| fibrio::sleep(Duration::from_secs(3600))))
            .collect();
        fibrio::yield_now();
        counter.fetch_add(1, Ordering::SeqCst);
        fibrio::shutdown::wait().unwrap();
        drop(sleepers); // returning from main cancels them
    });
    while ready.load(Ordering::SeqCst) < 2 || workers.metrics()[2].1.is_ok() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let all = workers.metrics();
    let indices: Vec<usize> = all.iter().map(|(index, _)| *index).collect();
    assert_eq!(indices, [0, 1, 2]);
    let first = all[0].1.as_ref().unwrap();
    let second = all[1].1.as_ref().unwrap();
    assert_ne!(first.runtime, second.runtime, "one runtime per worker");
    assert_eq!(second.tasks_alive, first.tasks_alive + 1);
    assert!(matches!(all[2].1, Err(fibrio::DumpError::Gone)));

    let text = workers.prometheus_text();
    assert!(text.starts_with("# fibrio: worker 2: "), "{text}");
    assert_eq!(text.matches("# TYPE fibrio_tasks_alive gauge\n").count(), 1);
    let alive: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("fibrio_tasks_alive{"))
        .collect();
    assert_eq!(
        alive,
        [
            format!("fibrio_tasks_alive{{worker=\"0\"}} {}", first.tasks_alive),
            format!("fibrio_tasks_alive{{worker=\"1\"}} {}", second.tasks_alive),
        ]
    );
    workers.request_shutdown();
    let outcomes = workers.join();
    assert!(outcomes.iter().all(Result::is_ok));
}
