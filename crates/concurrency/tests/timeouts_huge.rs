//! A timeout too large to add to `Instant::now()` (such as `Duration::MAX`)
//! means "no deadline" everywhere: it never panics, and the call still
//! succeeds as soon as it can.

use std::sync::Arc;
use std::time::Duration;

use fibrio::sync::{Condvar, Event, Mutex, Notify, RwLock, WaitGroup};
use fibrio::{channel, Semaphore};

#[test]
fn duration_max_timeouts_wait_without_a_deadline() {
    fibrio::run(|| {
        let (tx, rx) = channel::bounded(1);
        let sender = fibrio::spawn(move || {
            fibrio::yield_now();
            tx.send(7).unwrap();
        });
        assert_eq!(rx.recv_timeout(Duration::MAX), Ok(7));
        sender.join().unwrap();

        let sem = Semaphore::new(1);
        assert!(sem.acquire_timeout(Duration::MAX).is_ok());

        let mutex = Mutex::new(1);
        assert_eq!(*mutex.lock_timeout(Duration::MAX).unwrap(), 1);
        let rw = RwLock::new(2);
        assert_eq!(*rw.read_timeout(Duration::MAX).unwrap(), 2);
        assert_eq!(*rw.write_timeout(Duration::MAX).unwrap(), 2);

        let event = Arc::new(Event::new());
        event.set();
        assert_eq!(event.wait_timeout(Duration::MAX), Ok(true));

        let notify = Notify::new();
        notify.notify_one();
        assert_eq!(notify.wait_timeout(Duration::MAX), Ok(true));

        let group = WaitGroup::new();
        assert_eq!(group.wait_timeout(Duration::MAX), Ok(true));

        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p = pair.clone();
        fibrio::spawn(move || {
            *p.0.lock().unwrap() = true;
            p.1.notify_all();
        });
        let guard = pair.0.lock().unwrap();
        let (guard, result) = pair
            .1
            .wait_timeout_while(guard, Duration::MAX, |ready| !*ready)
            .unwrap();
        assert!(*guard && !result.timed_out());
    });
}
