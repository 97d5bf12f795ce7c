//! Stack-overflow reports for fibers (Unix).
//!
//! A fiber that runs off the end of its stack touches the guard page below
//! it, and the kernel raises `SIGSEGV` (or `SIGBUS` on some systems). Without
//! help, the process dies with a bare "Segmentation fault". This module
//! installs a handler, once per process, that runs on an alternate signal
//! stack (the faulting stack has no room left), and:
//!
//! * if the faulting address lies in the guard page of the fiber (or the
//!   scheduler task) running on this thread, writes
//!   `fiber '<name>' overflowed its <N> KiB stack` (or `task '<name>' ...`)
//!   to stderr and aborts;
//! * otherwise hands the signal to whatever handler was installed before
//!   (Rust's own thread-overflow reporter, a sanitizer, or the default
//!   action), exactly as if this handler did not exist.
//!
//! # Invariants
//!
//! * The handler only calls async-signal-safe functions (`write`, `abort`,
//!   `sigaction`) and allocates nothing.
//! * The previous handlers are saved in `PREVIOUS` before ours is installed,
//!   so the handler never runs without them. They are never changed again.
//! * Each thread that maps a fiber stack gets an alternate signal stack if it
//!   has none (threads made by `std` already have one). It is freed when the
//!   thread exits.
//! * This module knows nothing of fibers or tasks: the layers above
//!   register an [`OverflowLookup`] each (`register_overflow_lookup`),
//!   which names the running stack's owner if the faulting address is in
//!   its guard page. Lookups are kept in a fixed array of atomics, so the
//!   handler reads them without locking or allocating, and they are never
//!   removed.
//! * The lookups read the running fiber or task through `const`-initialised
//!   thread-locals holding raw pointers, which compile to plain TLS loads
//!   with no lazy initialisation and no allocation.

use std::cell::RefCell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

use libc::{c_int, c_void, siginfo_t};

static INSTALL: Once = Once::new();
static PREVIOUS: [OnceLock<libc::sigaction>; 2] = [OnceLock::new(), OnceLock::new()];
const SIGNALS: [c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];
const ALT_STACK_SIZE: usize = 64 * 1024;

/// What an [`OverflowLookup`] reports about the owner of an overflowed
/// stack.
pub(crate) struct StackOwner {
    /// `"fiber"` or `"task"`.
    pub(crate) kind: &'static str,
    /// The owner's name. `'static` only in the sense that the handler
    /// aborts the process before the owner could go away.
    pub(crate) name: Option<&'static str>,
    pub(crate) id: u64,
    pub(crate) stack_size: usize,
}

/// Names the running stack's owner if `addr` lies in its guard page.
///
/// # Safety
///
/// Called only by the overflow handler, on the faulting thread, in a signal
/// handler: an implementation must only read memory that the running code
/// keeps alive, must not allocate or lock, and must call only
/// async-signal-safe functions.
pub(crate) type OverflowLookup = unsafe fn(addr: usize) -> Option<StackOwner>;

/// The registered lookups, as `fn` pointers cast to `usize`; 0 is empty.
static LOOKUPS: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// Registers `lookup` with the overflow handler, once: registering the
/// same function again does nothing.
#[inline]
pub(crate) fn register_overflow_lookup(lookup: OverflowLookup) {
    let wanted = lookup as usize;
    // The common case, on every fiber's creation: already registered.
    if LOOKUPS[0].load(Ordering::Relaxed) == wanted || LOOKUPS[1].load(Ordering::Relaxed) == wanted
    {
        return;
    }
    register_slow(wanted);
}

#[cold]
fn register_slow(wanted: usize) {
    for slot in &LOOKUPS {
        match slot.compare_exchange(0, wanted, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(present) if present == wanted => return,
            Err(_) => {}
        }
    }
    debug_assert!(false, "more overflow lookups than slots");
}

/// Installs the process-wide handler (once) and makes sure this thread has an
/// alternate signal stack.
pub(crate) fn ensure_installed() {
    INSTALL.call_once(|| {
        for (slot, &signal) in PREVIOUS.iter().zip(SIGNALS.iter()) {
            // SAFETY: an all-zero `sigaction` is a valid value for the kernel
            // to overwrite; we pass a null new action, so nothing changes.
            let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: `old` is a valid out-pointer; a null `act` only reads.
            if unsafe { libc::sigaction(signal, ptr::null(), &mut old) } != 0 {
                continue;
            }
            let _ = slot.set(old);
            // SAFETY: as above, a zeroed `sigaction` is a valid start.
            let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
            new.sa_sigaction = handle_fault as *const () as libc::sighandler_t;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: `new.sa_mask` is a valid sigset to initialise.
            unsafe { libc::sigemptyset(&mut new.sa_mask) };
            // SAFETY: `new` is fully initialised and `handle_fault` has the
            // `SA_SIGINFO` signature; the previous action is already saved.
            unsafe { libc::sigaction(signal, &new, ptr::null_mut()) };
        }
    });
    ensure_alt_stack();
}

struct AltStack {
    base: *mut c_void,
    len: usize,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        // SAFETY: a `ss_flags` of `SS_DISABLE` turns the alternate stack off
        // for this thread before the memory behind it is unmapped; `base` and
        // `len` are exactly the mapping made in `ensure_alt_stack`.
        unsafe {
            let mut disable: libc::stack_t = std::mem::zeroed();
            disable.ss_flags = libc::SS_DISABLE;
            libc::sigaltstack(&disable, ptr::null_mut());
            libc::munmap(self.base, self.len);
        }
    }
}

thread_local! {
    static ALT_STACK: RefCell<Option<Option<AltStack>>> = const { RefCell::new(None) };
}

fn ensure_alt_stack() {
    let _ = ALT_STACK.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_some() {
            return;
        }
        // SAFETY: querying with a null new stack only writes `current`.
        let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: `current` is a valid out-pointer.
        let ok = unsafe { libc::sigaltstack(ptr::null(), &mut current) } == 0;
        if !ok || current.ss_flags & libc::SS_DISABLE == 0 {
            // Either the query failed (keep the defaults) or the thread
            // already has an alternate stack (std's threads do).
            *slot = Some(None);
            return;
        }
        // SAFETY: an anonymous private mapping with no address hint has no
        // preconditions; failure is checked below.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                ALT_STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            *slot = Some(None);
            return;
        }
        let stack = libc::stack_t {
            ss_sp: base,
            ss_flags: 0,
            ss_size: ALT_STACK_SIZE,
        };
        // SAFETY: `stack` describes the live mapping made above, which stays
        // mapped until `AltStack::drop` disables it first.
        unsafe { libc::sigaltstack(&stack, ptr::null_mut()) };
        *slot = Some(Some(AltStack {
            base,
            len: ALT_STACK_SIZE,
        }));
    });
}

/// A fixed buffer for building the message without allocating.
struct Message {
    buf: [u8; 256],
    len: usize,
}

impl Message {
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn push_u64(&mut self, mut value: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

extern "C" fn handle_fault(signal: c_int, info: *mut siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` to `SA_SIGINFO` handlers,
    // and `si_addr` is defined for SIGSEGV and SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    for slot in &LOOKUPS {
        let lookup = slot.load(Ordering::Acquire);
        if lookup == 0 {
            break;
        }
        // SAFETY: non-zero slots hold `OverflowLookup` pointers stored by
        // `register_overflow_lookup`; `fn` pointers and `usize` have the
        // same size on every target we build for.
        let lookup: OverflowLookup =
            unsafe { std::mem::transmute::<usize, OverflowLookup>(lookup) };
        // SAFETY: we are on the faulting thread, in a signal handler, as a
        // lookup's contract asks.
        if let Some(owner) = unsafe { lookup(addr) } {
            report(
                owner.kind.as_bytes(),
                owner.name,
                owner.id,
                owner.stack_size,
            );
        }
    }
    let index = if signal == libc::SIGSEGV { 0 } else { 1 };
    let Some(previous) = PREVIOUS[index].get() else {
        restore_default(signal);
        return;
    };
    let action = previous.sa_sigaction;
    if action == libc::SIG_DFL || action == libc::SIG_IGN {
        // Returning re-runs the faulting instruction, which now gets the
        // default action (death by this signal), as without our handler.
        restore_default(signal);
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it
        // has this signature; we pass the kernel's own arguments through.
        let handler: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) =
            unsafe { std::mem::transmute(action) };
        handler(signal, info, context);
    } else {
        // SAFETY: without SA_SIGINFO the previous handler takes the signal
        // number only.
        let handler: extern "C" fn(c_int) = unsafe { std::mem::transmute(action) };
        handler(signal);
    }
}

/// Writes `<kind> '<name>' overflowed its <N> KiB stack` and aborts.
fn report(kind: &[u8], name: Option<&str>, id: u64, stack_size: usize) -> ! {
    let mut msg = Message {
        buf: [0; 256],
        len: 0,
    };
    msg.push(b"\n");
    msg.push(kind);
    msg.push(b" '");
    match name {
        Some(name) => msg.push(name.as_bytes()),
        None => {
            msg.push(b"<unnamed #");
            msg.push_u64(id);
            msg.push(b">");
        }
    }
    msg.push(b"' overflowed its ");
    msg.push_u64((stack_size / 1024) as u64);
    msg.push(b" KiB stack; give it a larger stack_size\n");
    // SAFETY: `write` and `abort` are async-signal-safe; the buffer is valid
    // for `len` bytes.
    unsafe {
        libc::write(libc::STDERR_FILENO, msg.buf.as_ptr().cast(), msg.len);
        libc::abort()
    }
}

fn restore_default(signal: c_int) {
    // SAFETY: a zeroed `sigaction` with `SIG_DFL` is a valid action, and
    // `sigaction` is async-signal-safe.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signal, &default, ptr::null_mut());
    }
}
