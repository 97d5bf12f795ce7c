//! Runtimes shared by the benchmarks that put fibrio beside its peers:
//! fibrio and tokio (`current_thread`) built the same way every time, and
//! may configured once (one worker, `STACK`-sized stacks) before its first
//! spawn. Included with `mod peers;` by `runtime.rs` and `concurrency.rs`.

/// Stack size for fibrio tasks and may coroutines.
pub const STACK: usize = 32 * 1024;

pub fn fibrio_runtime() -> fibrio::Runtime {
    fibrio::Runtime::builder()
        .stack_size(STACK)
        .build()
        .expect("fibrio runtime")
}

pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// Configures may: one worker, 32 KiB stacks. Must run before may's
/// scheduler starts (its first spawn), so `main` calls it first.
pub fn may_setup() {
    may::config()
        .set_workers(1)
        // may counts its stack size in words.
        .set_stack_size(STACK / std::mem::size_of::<usize>());
}

/// Spawns `f` as a may coroutine.
pub fn may_go<F, T>(f: F) -> may::coroutine::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: may makes spawning unsafe for two reasons. (1) A coroutine that
    // holds a reference to a thread-local across a suspension may resume on
    // another worker thread: may runs one worker here (`may_setup`, called
    // in `main` before any spawn), so every coroutine stays on that thread,
    // and the closures in this file touch no thread-locals of their own
    // anyway. (2) A stack overflow is only caught by a guard page: these
    // closures use a few hundred bytes of stack (no recursion, no large
    // locals; vectors live on the heap), far under the 32 KiB stack.
    unsafe { may::coroutine::spawn(f) }
}

/// Runs `f` in a may coroutine and waits for its value from this thread.
pub fn may_block_on<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    may_go(f).join().expect("may main coroutine panicked")
}
