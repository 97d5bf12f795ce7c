//! Checks that cover every primitive of `fibrio_concurrency::sync` at once:
//! they are `Send` and `Sync` like their `std` counterparts, and a wait in
//! `Drop` during cancellation returns `Unwinding` from each of them, leaving
//! nothing queued.

mod common;

use common::{assert_cancelled, park_until_cancelled};

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use fibrio_concurrency::sync::{
    Barrier, Condvar, Event, LockError, Mutex, Notify, RwLock, WaitError, WaitGroup,
};

#[test]
fn primitives_are_send_and_sync_like_std() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Mutex<Vec<u8>>>();
    send_sync::<Mutex<std::cell::Cell<u8>>>(); // T: Send is enough, as in std
    send_sync::<RwLock<Vec<u8>>>();
    send_sync::<Condvar>();
    send_sync::<Event>();
    send_sync::<Notify>();
    send_sync::<WaitGroup>();
    send_sync::<Barrier>();
    send::<fibrio_concurrency::sync::WaitGroupGuard>();
    send_sync::<LockError>();
    send_sync::<WaitError>();
}

#[test]
fn blocking_in_drop_during_cancellation_returns_unwinding() {
    #[derive(Debug, PartialEq)]
    struct Outcomes {
        mutex: Option<LockError>,
        read: Option<LockError>,
        write: Option<LockError>,
        condvar: Option<WaitError>,
        event: Option<WaitError>,
        notify: Option<WaitError>,
        wait_group: Option<WaitError>,
        barrier: Option<WaitError>,
    }
    struct Prims {
        mutex: Arc<Mutex<()>>,
        free_mutex: Arc<Mutex<()>>,
        rwlock: Arc<RwLock<()>>,
        condvar: Arc<Condvar>,
        event: Arc<Event>,
        notify: Arc<Notify>,
        wg: WaitGroup,
        barrier: Arc<Barrier>,
    }
    struct BlockOnDrop(Rc<Prims>, Rc<RefCell<Option<Outcomes>>>);
    impl Drop for BlockOnDrop {
        fn drop(&mut self) {
            let p = &self.0;
            let condvar = {
                // A free mutex locks at once, even while unwinding; the
                // condvar wait cannot.
                let g = p.free_mutex.lock().unwrap();
                p.condvar.wait(g).err()
            };
            *self.1.borrow_mut() = Some(Outcomes {
                mutex: p.mutex.lock().err(),
                read: p.rwlock.read().err(),
                write: p.rwlock.write_timeout(Duration::from_secs(5)).err(),
                condvar,
                event: p.event.wait().err(),
                notify: p.notify.wait().err(),
                wait_group: p.wg.wait().err(),
                barrier: p.barrier.wait().err(),
            });
        }
    }
    fibrio::run(|| {
        let prims = Rc::new(Prims {
            mutex: Arc::new(Mutex::new(())),
            free_mutex: Arc::new(Mutex::new(())),
            rwlock: Arc::new(RwLock::new(())),
            condvar: Arc::new(Condvar::new()),
            event: Arc::new(Event::new()),
            notify: Arc::new(Notify::new()),
            wg: WaitGroup::new(),
            barrier: Arc::new(Barrier::new(2)),
        });
        let _held = prims.mutex.lock().unwrap();
        let _written = prims.rwlock.write().unwrap();
        let _job = prims.wg.guard();
        let outcomes = Rc::new(RefCell::new(None));
        let guard = BlockOnDrop(prims.clone(), outcomes.clone());
        let t = fibrio::spawn(move || {
            let _guard = guard;
            park_until_cancelled();
        });
        fibrio::yield_now();
        t.cancel();
        assert_cancelled(t.join());
        let u = Some(LockError::Unwinding);
        let w = Some(WaitError::Unwinding);
        assert_eq!(
            outcomes.borrow_mut().take(),
            Some(Outcomes {
                mutex: u,
                read: u,
                write: u,
                condvar: w,
                event: w,
                notify: w,
                wait_group: w,
                barrier: w,
            })
        );
        // Nothing was left queued, and the barrier did not count the call.
        assert_eq!(prims.mutex.statistics().waiters, 0);
        assert!(!prims.free_mutex.statistics().locked);
        let rw = prims.rwlock.statistics();
        assert_eq!((rw.waiting_readers, rw.waiting_writers), (0, 0));
        assert_eq!(prims.condvar.statistics().waiters, 0);
        assert_eq!(prims.event.statistics().waiters, 0);
        assert_eq!(prims.notify.statistics().waiters, 0);
        assert_eq!(prims.wg.statistics().waiters, 0);
        assert_eq!(prims.barrier.statistics().waiting, 0);
    });
}
