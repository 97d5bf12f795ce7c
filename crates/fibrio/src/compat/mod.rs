//! The futures bridge: call `async` code from blocking-style fibrio code
//! ([`block_on`]), and run driver futures as fibrio tasks
//! ([`spawn_future`]).
//!
//! Most protocol clients people deploy (tokio-postgres, hyper, ...) are
//! written as futures. [`block_on`] polls such a future *inside the current
//! task*: when the future is not ready, only that task parks; its
//! [`Waker`] unparks it, from any thread, and the runtime runs the other
//! tasks meanwhile. With the cargo features `tokio-io` and `futures-io`,
//! [`net::TcpStream`](crate::net::TcpStream) and
//! [`net::UnixStream`](crate::net::UnixStream) implement the async I/O
//! traits, and their readiness comes from fibrio's own reactor: a waker
//! waits on a socket beside the parked tasks, so there is no second event
//! loop and no extra thread.
//!
//! **No tokio runtime is started anywhere.** A future that needs one (it
//! calls `tokio::spawn`, or uses `tokio::net` or `tokio::time` itself)
//! fails with tokio's own panic message ("there is no reactor running,
//! must be called from the context of a Tokio 1.x runtime"). Crates that
//! take their I/O as a generic `AsyncRead + AsyncWrite` and leave
//! spawning to the caller work: tokio-postgres through `connect_raw`,
//! hyper's `client::conn`, tokio-rustls. See `docs/ecosystem.md`.
//!
//! # Invariants
//!
//! * A [`block_on`] inside a task polls its future only on the task's
//!   own stack, between two parks; the future never moves to another task
//!   or thread, so it need not be `Send`.
//! * The waker of a [`block_on`] is allocated once per call and reused by
//!   every poll (no allocation per poll). It holds an
//!   [`Unparker`]: waking is a wake-up token, so a
//!   wake that arrives while the future is being polled makes the next
//!   park return at once, and none is lost.
//! * Every turn of the loop is a cancellation checkpoint: a cancelled
//!   task unwinds from `block_on`, and the unwinding drops the future.
//! * Outside a fibrio task the future runs on the calling thread, which
//!   sleeps in [`std::thread::park`] between polls.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use fibrio_core::task::{self, JoinHandle, ParkError, Unparker};

/// Wakes a fibrio task: an unpark, from any thread.
struct TaskWaker(Unparker);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Wakes a plain thread blocked in [`block_on`] outside a runtime.
struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Why [`try_block_on`] could not run its future.
///
/// # Examples
///
/// ```
/// use fibrio::compat::BlockOnError;
///
/// let err = BlockOnError::Unwinding;
/// assert!(err.to_string().contains("unwinding"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockOnError {
    /// The task is unwinding (it panicked, or it was cancelled), and the
    /// future was not ready on its first poll: waiting would need a park,
    /// which is not allowed while unwinding. The future has been dropped.
    #[error(
        "fibrio::compat: cannot wait for a future while the task is unwinding \
         (do not block in Drop); the future was dropped"
    )]
    Unwinding,
}

/// Runs `future` to completion from blocking-style code, and returns its
/// output.
///
/// Inside a fibrio task it parks only the current task while the future is
/// pending; the future's [`Waker`] unparks the task (from any thread) and
/// the runtime runs other tasks meanwhile. Outside a runtime it runs the
/// future on the calling thread, which sleeps between polls.
///
/// No tokio runtime is started: a future that calls `tokio::spawn`, or
/// uses `tokio::net`/`tokio::time` itself, panics with tokio's own message
/// (see the [module docs](self)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// fibrio::run(|| {
///     // A oneshot-style future, completed from another OS thread.
///     let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
///     let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
///     let setter = {
///         let flag = flag.clone();
///         std::thread::spawn(move || {
///             let waker = rx.recv().unwrap();
///             std::thread::sleep(Duration::from_millis(5));
///             flag.store(true, std::sync::atomic::Ordering::SeqCst);
///             waker.wake();
///         })
///     };
///     let ticker = fibrio::spawn(|| fibrio::sleep(Duration::from_millis(1)));
///     let mut sent = false;
///     let value = fibrio::compat::block_on(std::future::poll_fn(|cx| {
///         if flag.load(std::sync::atomic::Ordering::SeqCst) {
///             return std::task::Poll::Ready(42);
///         }
///         if !sent {
///             tx.send(cx.waker().clone()).unwrap();
///             sent = true;
///         }
///         std::task::Poll::Pending
///     }));
///     assert_eq!(value, 42);
///     assert!(ticker.is_finished()); // it ran while this task waited
///     setter.join().unwrap();
/// });
///
/// // Outside a runtime: on the calling thread.
/// assert_eq!(fibrio::compat::block_on(async { 7 }), 7);
/// ```
///
/// # Panics
///
/// If the future panics (the panic propagates). Called while the current
/// task is unwinding, it cannot park: it then blocks the whole *thread*
/// until the future completes, which never happens for a future that
/// needs this runtime's reactor (a fibrio socket). Use [`try_block_on`] in
/// `Drop` implementations.
///
/// # Cancellation
///
/// A checkpoint before every poll and while parked: a cancelled task
/// unwinds from here, and the unwinding drops the future (so a
/// tokio-postgres query in flight is abandoned, as when a tokio task is
/// aborted).
pub fn block_on<F: Future>(future: F) -> F::Output {
    match run(future, false) {
        Ok(output) => output,
        Err(BlockOnError::Unwinding) => unreachable!("block_on falls back to the thread"),
    }
}

/// [`block_on`], except that while the current task is unwinding it
/// returns [`BlockOnError::Unwinding`] instead of blocking the thread when
/// the future is not ready on its first poll.
///
/// # Errors
///
/// [`BlockOnError::Unwinding`], as above; the future has been dropped.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     assert_eq!(fibrio::compat::try_block_on(async { 1 + 1 }), Ok(2));
/// });
/// ```
///
/// # Panics
///
/// If the future panics.
///
/// # Cancellation
///
/// As [`block_on`].
pub fn try_block_on<F: Future>(future: F) -> Result<F::Output, BlockOnError> {
    run(future, true)
}

fn run<F: Future>(future: F, fail_when_unwinding: bool) -> Result<F::Output, BlockOnError> {
    let mut future = pin!(future);
    let Some(unparker) = task::Unparker::current() else {
        return Ok(on_thread(future));
    };
    let waker = Waker::from(Arc::new(TaskWaker(unparker)));
    let mut cx = Context::from_waker(&waker);
    loop {
        task::checkpoint_if_cancelled();
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(output);
        }
        match task::park() {
            Ok(()) => {}
            Err(ParkError::Unwinding) if fail_when_unwinding => {
                return Err(BlockOnError::Unwinding)
            }
            // Unwinding (or, impossibly, outside a task): wait on the thread.
            Err(_) => return Ok(on_thread(future)),
        }
    }
}

/// Polls `future` on the calling thread, sleeping between polls.
fn on_thread<F: Future>(mut future: std::pin::Pin<&mut F>) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// Runs `future` as a fibrio task, and returns the task's handle.
///
/// For driver futures that must be polled for other futures to make
/// progress: tokio-postgres's `Connection`, hyper's client connection. The
/// task runs [`block_on`] on the future; [`JoinHandle::join`] returns its
/// output, and [`JoinHandle::cancel`] drops it.
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let task = fibrio::compat::spawn_future(async { 6 * 7 });
///     assert_eq!(task.join().unwrap(), 42);
/// });
/// ```
///
/// # Panics
///
/// Outside a fibrio runtime, as [`spawn`](crate::spawn).
///
/// # Cancellation
///
/// Cancelling the task drops the future at its next checkpoint.
pub fn spawn_future<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    // Boxed: the task's closure stays small whatever the future's size
    // (driver futures such as hyper's connection are large).
    let future = Box::pin(future);
    task::spawn(move || block_on(future))
}
