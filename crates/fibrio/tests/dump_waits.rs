//! A dump of 10,000 parked tasks in every kind of wait names each reason
//! correctly; the runtime keeps working after the dump.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use fibrio::channel;
use fibrio::net::{TcpListener, TcpStream};
use fibrio::sync::{Barrier, Condvar, Event, Mutex, Notify, RwLock, WaitGroup};
use fibrio::task::{self, WaitKind};
use fibrio::{Semaphore, TaskStatus};

#[test]
fn ten_thousand_parked_tasks_in_every_kind_of_wait() {
    fibrio::run(|| {
        let mut expected: HashMap<u64, WaitKind> = HashMap::new();
        let mut handles = Vec::new();
        macro_rules! add {
            ($kind:expr, $handle:expr $(,)?) => {{
                let handle: fibrio::JoinHandle<()> = $handle;
                expected.insert(handle.id(), $kind);
                handles.push(handle);
            }};
        }
        let per_kind = 700;

        let mutex = Arc::new(Mutex::new(()));
        let held = mutex.lock().unwrap();
        let read_locked = Arc::new(RwLock::new(()));
        let read_guard = read_locked.read().unwrap();
        let write_locked = Arc::new(RwLock::new(()));
        let write_guard = write_locked.write().unwrap();
        let semaphore = Arc::new(Semaphore::new(0));
        let (full_tx, full_rx) = channel::bounded::<u32>(1);
        full_tx.send(0).unwrap();
        let (empty_tx, empty_rx) = channel::unbounded::<u32>();
        let condvar = Arc::new((Mutex::new(()), Condvar::new()));
        let event = Arc::new(Event::new());
        let notify = Arc::new(Notify::new());
        let barrier = Arc::new(Barrier::new(per_kind + 1));
        let group = Arc::new(WaitGroup::new());
        group.add(1);
        for _ in 0..per_kind {
            add!(WaitKind::Park, fibrio::spawn(|| ignore(task::park())));
            add!(
                WaitKind::Sleep,
                fibrio::spawn(|| fibrio::sleep(Duration::from_secs(3600)))
            );
            let m = mutex.clone();
            add!(WaitKind::Mutex, fibrio::spawn(move || ignore(m.lock())));
            let l = read_locked.clone();
            add!(
                WaitKind::RwLockWrite,
                fibrio::spawn(move || ignore(l.write()))
            );
            let l = write_locked.clone();
            add!(
                WaitKind::RwLockRead,
                fibrio::spawn(move || ignore(l.read()))
            );
            let s = semaphore.clone();
            add!(
                WaitKind::Semaphore,
                fibrio::spawn(move || ignore(s.acquire()))
            );
            let tx = full_tx.clone();
            add!(WaitKind::Send, fibrio::spawn(move || ignore(tx.send(1))));
            let rx = empty_rx.clone();
            add!(WaitKind::Recv, fibrio::spawn(move || ignore(rx.recv())));
            let cv = condvar.clone();
            add!(
                WaitKind::Condvar,
                fibrio::spawn(move || {
                    let guard = cv.0.lock().unwrap();
                    ignore(cv.1.wait(guard));
                }),
            );
            let e = event.clone();
            add!(WaitKind::Event, fibrio::spawn(move || ignore(e.wait())));
            let n = notify.clone();
            add!(WaitKind::Notify, fibrio::spawn(move || ignore(n.wait())));
            let b = barrier.clone();
            add!(WaitKind::Barrier, fibrio::spawn(move || ignore(b.wait())));
            let g = group.clone();
            add!(WaitKind::WaitGroup, fibrio::spawn(move || ignore(g.wait())));
        }
        // Joins, of the parked tasks; and a few of the kinds that hold
        // threads or sockets.
        let parked: Vec<_> = handles.iter().take(50).map(|h| h.task_ref()).collect();
        for target in parked.iter().take(40) {
            let target = target.clone();
            add!(WaitKind::Join, fibrio::spawn(move || ignore(target.wait())));
        }
        let any = parked.clone();
        add!(
            WaitKind::JoinAny,
            fibrio::spawn(move || ignore(task::wait_any(&any)))
        );
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        for _ in 0..4 {
            let rx = release_rx.clone();
            add!(
                WaitKind::Blocking,
                fibrio::spawn(move || {
                    let _ = fibrio::spawn_blocking(move || rx.lock().unwrap().recv());
                }),
            );
        }
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut peers = Vec::new();
        for _ in 0..8 {
            let client = TcpStream::connect(addr).unwrap();
            let (server, _) = listener.accept().unwrap();
            peers.push(server);
            add!(
                WaitKind::Read,
                fibrio::spawn(move || {
                    let mut client = client;
                    let mut buf = [0u8; 8];
                    let _ = client.read(&mut buf);
                }),
            );
        }
        // An accept shows `Accept` on the listener's fd.
        add!(
            WaitKind::Accept,
            fibrio::spawn(move || ignore(listener.accept()))
        );
        let total = expected.len();
        assert!(total >= 9_000, "{total}");
        // Everything runs once and parks.
        while fibrio::dump()
            .tasks
            .iter()
            .any(|t| t.status != TaskStatus::Parked && t.status != TaskStatus::Running)
        {
            fibrio::sleep(Duration::from_millis(1));
        }

        let dump = fibrio::dump();
        assert_eq!(dump.tasks.len(), total + 1);
        let main_id = task::current_id().unwrap();
        for info in &dump.tasks {
            if info.id == main_id {
                continue;
            }
            let want = expected[&info.id];
            let wait = info
                .wait
                .unwrap_or_else(|| panic!("task {} not parked: {info:?}", info.id));
            assert_eq!(wait.kind, want, "task {}", info.id);
            if want == WaitKind::Mutex {
                assert_eq!(wait.holder, main_id, "the holder is named");
            }
        }
        let text = dump.to_string();
        for phrase in [
            "a Mutex held by task",
            "a RwLock write lock",
            "a channel send",
            "a channel receive",
            "a spawn_blocking job",
            "a read on fd",
            "a WaitGroup",
            "(mutex#1)",
        ] {
            assert!(text.contains(phrase), "{phrase} missing");
        }

        // Release everything, and check that the runtime keeps working.
        for handle in &handles {
            handle.cancel();
        }
        drop((held, read_guard, write_guard, full_rx, empty_tx, peers));
        drop(release_tx);
        for handle in handles {
            let _ = handle.join();
        }
        assert_eq!(fibrio::spawn(|| 42).join().unwrap(), 42);
        assert_eq!(fibrio::dump().tasks.len(), 1);
    });
}

/// Drops a result that may be `Copy` (the waits' outcomes do not matter).
fn ignore<T>(_value: T) {}
