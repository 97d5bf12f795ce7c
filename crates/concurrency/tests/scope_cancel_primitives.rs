//! Cancelling a `CancelScope` whose task is parked in each kind of
//! primitive: the `run` returns `None` at once, the task goes on, and the
//! primitive is left consistent (no waiter left queued, nothing taken).

use std::sync::Arc;
use std::time::Duration;

use fibrio::sync::{Barrier, Condvar, Event, Mutex, Notify, RwLock, WaitGroup};
use fibrio::task::TaskRef;
use fibrio::{channel, CancelScope, Semaphore};

/// Runs `block` in a scope in a new task, cancels the scope once the task
/// has parked, and checks that the task left the scope and went on.
fn cancel_while_parked(block: impl FnOnce() + 'static) {
    let scope = CancelScope::new();
    let inner = scope.clone();
    let task = fibrio::spawn(move || {
        let outcome = inner.run(block);
        fibrio::yield_now(); // the task itself is not cancelled
        outcome.is_none()
    });
    let watcher: TaskRef = task.task_ref();
    fibrio::sleep(Duration::from_millis(2));
    assert!(
        !watcher.is_finished(),
        "the task must be parked in the primitive"
    );
    scope.cancel();
    assert!(task.join().unwrap(), "the scope's run returned a value");
}

#[test]
fn a_scope_cancel_reaches_every_kind_of_wait() {
    fibrio::run(|| {
        let mutex = Arc::new(Mutex::new(0));
        let guard = mutex.lock().unwrap();
        let m = mutex.clone();
        cancel_while_parked(move || {
            let _ = m.lock();
        });
        assert_eq!(mutex.statistics().waiters, 0);
        drop(guard);
        assert!(
            mutex.try_lock().is_ok(),
            "the cancelled waiter did not take the lock"
        );

        let rw = Arc::new(RwLock::new(0));
        let writer = rw.write().unwrap();
        let r = rw.clone();
        cancel_while_parked(move || {
            let _ = r.read();
        });
        drop(writer);
        assert!(rw.try_write().is_ok());

        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p = pair.clone();
        cancel_while_parked(move || {
            let (lock, cvar) = &*p;
            let guard = lock.lock().unwrap();
            drop(cvar.wait(guard));
        });
        assert!(
            pair.0.try_lock().is_ok(),
            "the condvar waiter released the mutex"
        );
        assert_eq!(pair.1.statistics().waiters, 0);

        let event = Arc::new(Event::new());
        let e = event.clone();
        cancel_while_parked(move || {
            let _ = e.wait();
        });
        assert_eq!(event.statistics().waiters, 0);

        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        cancel_while_parked(move || {
            let _ = n.wait();
        });
        assert_eq!(notify.statistics().waiters, 0);

        let group = WaitGroup::new();
        group.add(1);
        let g = group.clone();
        cancel_while_parked(move || {
            let _ = g.wait();
        });
        assert_eq!(group.statistics().waiters, 0);
        group.done();

        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        cancel_while_parked(move || {
            let _ = b.wait();
        });
        assert_eq!(barrier.statistics().waiting, 0, "the arrival was withdrawn");

        let sem = Semaphore::new(0);
        let s = sem.clone();
        cancel_while_parked(move || {
            let _ = s.acquire();
        });
        assert_eq!(sem.statistics().waiters, 0);

        let (tx, rx) = channel::bounded::<u8>(0);
        let r = rx.clone();
        cancel_while_parked(move || {
            let _ = r.recv();
        });
        let t = tx.clone();
        cancel_while_parked(move || {
            let _ = t.send(1);
        });
        assert_eq!(
            rx.try_recv().ok(),
            None,
            "the cancelled send delivered nothing"
        );

        cancel_while_parked(|| fibrio::sleep(Duration::from_secs(60)));
        let blocker = fibrio::spawn(|| fibrio::sleep(Duration::from_secs(60)));
        let blocker_ref = blocker.task_ref();
        cancel_while_parked(move || {
            let _ = blocker.join();
        });
        assert!(
            !blocker_ref.is_finished(),
            "the joined task is not in the scope"
        );
        blocker_ref.cancel();
        blocker_ref.wait().unwrap();
        assert_eq!(fibrio_core::task::pending_timers(), Some(0));
    });
}
