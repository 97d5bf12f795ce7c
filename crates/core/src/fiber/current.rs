//! The running fiber: its header, the thread-local pointer to it,
//! [`suspend`], [`current`] and [`FiberRef`].
//!
//! # Invariants
//!
//! * `CURRENT` points at the header of the innermost fiber whose
//!   `start`/`resume`/`throw` has not returned on this thread, or is null on
//!   the thread's own stack. `Fiber::switch_in` stores the fiber's header
//!   before switching in and restores the previous value once the switch
//!   returns (directly through `set_current` when that value is null, the
//!   usual case; through `enter`/`leave` when one fiber runs another), and
//!   the scheduler swaps it per task with `switch_current`. A non-null
//!   `CURRENT` is therefore always a live header, kept alive by the `Fiber`
//!   that is borrowed by that switch.
//! * `FiberHeader::yielder` is written once, by the fiber's body before any
//!   user code runs, and points into the fiber's own stack for as long as the
//!   fiber can run.
//! * `FiberHeader::status()` follows PHP's state machine:
//!   `NotStarted -> Running <-> Suspended`, then `Running -> Returned |
//!   Threw | Closed` (`Closed` also from `Suspended`, when a suspended fiber
//!   is dropped), and `Returned -> ReturnTaken`. Only `Fiber`,
//!   `enter`/`leave` and `switch_current` change the stored value,
//!   `stored_status`, which is
//!   that status except for the innermost running fiber: switching into a
//!   fiber and back is the hot path, so it does not store `Running` and then
//!   `Suspended` again. Instead:
//!   - the header `CURRENT` points at is stored as `Suspended` and reads as
//!     `Running` (a fiber is running exactly when it is `CURRENT` or an
//!     ancestor of it);
//!   - a fiber that starts or resumes another one while running (an
//!     ancestor of `CURRENT`) is stored as `Running`: `enter` stores that
//!     on the previous `CURRENT`, and `leave` stores `Suspended` back when
//!     it becomes `CURRENT` again;
//!   - every other header stores its status as is.
//!
//!   So `stored_status == Suspended && CURRENT != header` is "suspended",
//!   and a fiber is running while a switch into it has not returned.
//! * `FiberHeader::suspend_type` is `TypeId::of::<(I, O)>()` of the fiber's
//!   types until a dropped fiber starts to unwind; then it becomes
//!   `TypeId::of::<ForceClose>()` and never goes back. One comparison in
//!   [`suspend`] thereby checks both the types and the force-close, and
//!   [`suspend`] refuses while the fiber is closing.
//! * `DROPPING_CHAIN` is 0 except while a parked task's coroutine is being
//!   dropped (a [`DroppingTask`] lives); then it is the id of the next
//!   fiber, innermost first, that the forced unwinding will leave: the
//!   task's saved fiber when the drop starts, then each fiber's resumer
//!   (`leave_dropping_chain`, called by `Fiber::finish` once the resumer is
//!   current again), and 0 once the unwinding is back on the task's own
//!   stack. Ids are process-unique and never 0, so no other fiber matches.

use std::any::TypeId;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::mem::MaybeUninit;
use std::ptr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use corosensei::Yielder;

use super::error::FiberError;
use crate::stack::StackOwner;

/// A request, other than a plain value, that the resumer leaves for the
/// fiber's pending `suspend` (see `FiberHeader::signal`).
pub(crate) enum Signal {
    /// Unwind with this payload (`Fiber::throw`).
    Throw(super::error::Payload),
    /// Unwind with `ForceClose` (`Drop` of a suspended fiber).
    Close,
}

/// The private payload that unwinds a fiber being closed by `Drop`.
pub(crate) struct ForceClose;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    NotStarted,
    Running,
    Suspended,
    Returned,
    ReturnTaken,
    Threw,
    Closed,
}

impl FiberHeader {
    /// The fiber's status as PHP reports it (see the module invariants for
    /// how it is stored).
    #[inline]
    pub(crate) fn status(&self) -> Status {
        let stored = self.stored_status.get();
        if stored == Status::Suspended && self.is_current() {
            Status::Running
        } else {
            stored
        }
    }

    /// True if this is the innermost running fiber on this thread.
    #[inline]
    pub(crate) fn is_current(&self) -> bool {
        CURRENT.with(|c| ptr::eq(c.get(), self))
    }

    /// True once the fiber was dropped while suspended and is unwinding.
    pub(crate) fn is_closing(&self) -> bool {
        self.suspend_type.get() == TypeId::of::<ForceClose>()
    }
}

impl Status {
    pub(crate) fn is_terminated(self) -> bool {
        matches!(
            self,
            Status::Returned | Status::ReturnTaken | Status::Threw | Status::Closed
        )
    }
}

/// The part of a fiber that [`FiberRef`], [`suspend`] and the overflow
/// handler see. It is not generic, so it can be reached through a plain
/// pointer; the type ids let `suspend` check its type parameters.
pub(crate) struct FiberHeader {
    pub(crate) id: u64,
    pub(crate) name: Option<Box<str>>,
    /// The status, except that the innermost running fiber (`CURRENT`)
    /// stores `Suspended`; read it through `FiberHeader::status`.
    pub(crate) stored_status: Cell<Status>,
    pub(crate) suspend_type: Cell<TypeId>,
    pub(crate) yielder: Cell<*const ()>,
    /// Set by the resumer, together with `signalled`, instead of passing a
    /// value; taken by the resumed `suspend`. While `signalled` is false the
    /// value passed through the coroutine is initialised.
    pub(crate) signal: Cell<Option<Signal>>,
    pub(crate) signalled: Cell<bool>,
    pub(crate) input_name: &'static str,
    pub(crate) output_name: &'static str,
    pub(crate) guard: (usize, usize),
    pub(crate) stack_size: usize,
}

thread_local! {
    static CURRENT: Cell<*const FiberHeader> = const { Cell::new(ptr::null()) };
    /// Headers of dropped fibers that nothing else references, kept for
    /// reuse so that creating a fiber allocates nothing in steady state.
    static SPARE_HEADERS: RefCell<Vec<Rc<FiberHeader>>> = const { RefCell::new(Vec::new()) };
    /// The next fiber id this thread hands out, and the end of its block.
    static ID_BLOCK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

thread_local! {
    /// The id of the fiber whose root the forced unwinding of a dropped
    /// task reaches next, or 0 (no fiber has id 0) when no task is being
    /// dropped or its unwinding is past every fiber it was parked in; see
    /// [`DroppingTask`].
    static DROPPING_CHAIN: Cell<u64> = const { Cell::new(0) };
}

/// Marks the drop of a suspended task's coroutine (`TaskHeader::drop_coroutine`)
/// for as long as it lives. corosensei unwinds the task's stack with a
/// private payload; a fiber parked inside the task catches it at its root
/// like any panic, and must pass it on (`Fiber::finish`) rather than report
/// it, or the task's code would run on while its coroutine is being
/// dropped.
///
/// Only the fibers the task is parked in pass it on: the chain from the
/// fiber that is current when the mark is made (the task's saved fiber,
/// which `drop_coroutine` makes current first) through each fiber's
/// resumer, in the order the unwinding leaves them. That chain is exactly
/// the fibers whose stacks the forced unwinding crosses. Any other fiber
/// that ends while the mark is set (one that a `Drop` starts or resumes
/// during the unwinding) reports its own panic as `FiberError::Panicked`,
/// as everywhere else: re-raising it there would unwind out of that
/// `Drop`, which aborts the process.
///
/// Marks nest (a `Drop` may drop another parked task); each restores the
/// chain it replaced.
pub(crate) struct DroppingTask {
    outer_chain: u64,
}

impl DroppingTask {
    /// Marks the drop; call it once the task's saved fiber is current
    /// (`switch_current`), right before dropping the coroutine.
    pub(crate) fn enter() -> DroppingTask {
        let head = current_header();
        let head_id = if head.is_null() {
            0
        } else {
            // SAFETY: a non-null CURRENT is a live header (module invariant).
            unsafe { (*head).id }
        };
        DroppingTask {
            outer_chain: DROPPING_CHAIN.with(|chain| chain.replace(head_id)),
        }
    }
}

impl Drop for DroppingTask {
    fn drop(&mut self) {
        DROPPING_CHAIN.with(|chain| chain.set(self.outer_chain));
    }
}

/// Called by `Fiber::finish` for every fiber that ends, once its resumer
/// is current again. Returns true if `header`'s fiber is the next link of
/// the chain that a dropped task's forced unwinding runs through (see
/// [`DroppingTask`]); the chain then moves on to the resumer, and an
/// unwinding that ended the fiber must be passed on to it.
#[cold]
pub(crate) fn leave_dropping_chain(header: &FiberHeader) -> bool {
    DROPPING_CHAIN.with(|chain| {
        // Ids start at 1, so an empty chain (0) matches no fiber.
        if chain.get() != header.id {
            return false;
        }
        let resumer = current_header();
        chain.set(if resumer.is_null() {
            0
        } else {
            // SAFETY: a non-null CURRENT is a live header (module invariant).
            unsafe { (*resumer).id }
        });
        true
    })
}

/// True when a suspended fiber dropped here must be leaked (its stack kept
/// mapped, its frames never run again) rather than unwound: this code runs
/// inside the destruction of this thread's thread-locals, or fibrio cannot
/// tell that it does not. See the "Thread exit" section of the `fiber`
/// module docs for why, and `teardown` for how it is told.
#[cold]
#[inline(never)]
pub(crate) fn must_leak_suspended_stacks() -> bool {
    !teardown::outside_thread_local_destruction()
}

/// Tells whether the running code is (transitively) called by the C
/// runtime's thread-local destructor loop.
///
/// On glibc, every destructor of a Rust `thread_local!` (and of a C++
/// `thread_local`) is registered with `__cxa_thread_atexit_impl` and run
/// by `__call_tls_dtors`, at thread exit and inside `exit` alike (std
/// only falls back to its own list on glibc older than 2.18, which has
/// no `__call_tls_dtors`, so that case reads as unknown). A destructor
/// that drops a fiber therefore always has a `__call_tls_dtors` frame
/// below it, on the thread's stack or, when `exit` was called inside a
/// fiber or task, on a coroutine stack (corosensei's unwind info links
/// each coroutine's frames to its resumer's). This walks the call stack
/// with the unwinder and looks for that frame, and for `exit`'s, which
/// also covers `atexit` handlers. The answer is "outside" only when the
/// walk reached the outermost frame without finding either; a walk that
/// stopped early (a frame without unwind info), or a C runtime without
/// `__call_tls_dtors`, reads as "inside".
///
/// It does not depend on the order in which thread-locals were first
/// used, which no guard thread-local can achieve: a guard's destructor
/// runs at a place in the destructor sequence fixed by when the guard was
/// first touched, and a thread-local first touched later is destroyed
/// before it.
#[cfg(all(
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod teardown {
    use std::ffi::{c_int, c_void, CStr};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// libgcc's `struct _Unwind_Context`, only ever behind a pointer.
    #[repr(C)]
    struct UnwindContext {
        _opaque: [u8; 0],
    }

    type TraceFn = extern "C" fn(*mut UnwindContext, *mut c_void) -> c_int;

    // libgcc_s, which std links on this target for panics.
    extern "C" {
        fn _Unwind_Backtrace(trace: TraceFn, arg: *mut c_void) -> c_int;
        fn _Unwind_GetIP(context: *mut UnwindContext) -> usize;
        fn _Unwind_GetRegionStart(context: *mut UnwindContext) -> usize;
    }

    const URC_NO_REASON: c_int = 0;
    const URC_NORMAL_STOP: c_int = 4;
    const URC_END_OF_STACK: c_int = 5;

    /// Not looked up yet / not found; anything else is an address.
    const UNRESOLVED: usize = 0;
    const MISSING: usize = 1;
    static CALL_TLS_DTORS: AtomicUsize = AtomicUsize::new(UNRESOLVED);
    static EXIT: AtomicUsize = AtomicUsize::new(UNRESOLVED);

    /// The address of the C function `name`, looked up once.
    fn resolve(cache: &AtomicUsize, name: &CStr) -> Option<usize> {
        let mut address = cache.load(Ordering::Relaxed);
        if address == UNRESOLVED {
            // SAFETY: `name` is NUL-terminated; `dlsym` only reads it.
            let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) } as usize;
            address = if found <= MISSING { MISSING } else { found };
            cache.store(address, Ordering::Relaxed);
        }
        (address != MISSING).then_some(address)
    }

    struct Walk {
        targets: [usize; 2],
        found: bool,
        last_ip: usize,
    }

    extern "C" fn visit(context: *mut UnwindContext, walk: *mut c_void) -> c_int {
        // SAFETY: `walk` is the `&mut Walk` that `outside_thread_local_destruction`
        // passed to `_Unwind_Backtrace`, alive and unaliased for the walk.
        let walk = unsafe { &mut *walk.cast::<Walk>() };
        // SAFETY: `context` is the frame the unwinder hands this callback.
        let ip = unsafe { _Unwind_GetIP(context) };
        walk.last_ip = ip;
        if ip != 0 {
            // SAFETY: `context` is the frame the unwinder hands this
            // callback. The result is the start of the function whose
            // unwind info the unwinder found for this frame (for a frame
            // without any, the walk ends here and counts as incomplete).
            let function = unsafe { _Unwind_GetRegionStart(context) };
            if walk.targets.contains(&function) {
                walk.found = true;
                return URC_NORMAL_STOP;
            }
        }
        URC_NO_REASON
    }

    pub(super) fn outside_thread_local_destruction() -> bool {
        let Some(call_tls_dtors) = resolve(&CALL_TLS_DTORS, c"__call_tls_dtors") else {
            return false;
        };
        let exit = resolve(&EXIT, c"exit").unwrap_or(call_tls_dtors);
        let mut walk = Walk {
            targets: [call_tls_dtors, exit],
            found: false,
            last_ip: usize::MAX,
        };
        // SAFETY: `visit` has the callback's signature and never unwinds;
        // `walk` outlives the call.
        let code = unsafe { _Unwind_Backtrace(visit, (&mut walk as *mut Walk).cast()) };
        // The outermost frame (`_start`, or `clone3` for a thread) marks
        // its return address undefined; the unwinder then reports one last
        // frame with ip 0 and `END_OF_STACK`. A frame without unwind info
        // also ends the walk, but at a non-zero ip.
        !walk.found && code == URC_END_OF_STACK && walk.last_ip == 0
    }
}

/// Elsewhere fibrio cannot tell, so it always leaks (see the module docs
/// of `fiber`).
#[cfg(not(all(
    target_os = "linux",
    target_env = "gnu",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod teardown {
    pub(super) fn outside_thread_local_destruction() -> bool {
        false
    }
}

/// How many spare headers each thread keeps.
const SPARE_HEADER_CAPACITY: usize = 256;

/// Ids are handed to threads in blocks, so that most fibers get theirs
/// without touching a shared counter.
const ID_BLOCK_SIZE: u64 = 1024;
static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);

/// Returns a process-unique fiber id.
#[inline]
fn next_id() -> u64 {
    ID_BLOCK.with(|block| {
        let (next, end) = block.get();
        if next < end {
            block.set((next + 1, end));
            return next;
        }
        let start = NEXT_ID_BLOCK.fetch_add(ID_BLOCK_SIZE, Ordering::Relaxed);
        block.set((start + 1, start + ID_BLOCK_SIZE));
        start
    })
}

/// Makes a header for a new fiber, reusing a spare one when there is one.
#[inline]
pub(crate) fn new_header<I: 'static, O: 'static>(
    name: Option<Box<str>>,
    guard: (usize, usize),
    stack_size: usize,
) -> Rc<FiberHeader> {
    let header = FiberHeader {
        id: next_id(),
        name,
        stored_status: Cell::new(Status::NotStarted),
        suspend_type: Cell::new(TypeId::of::<(I, O)>()),
        yielder: Cell::new(ptr::null()),
        signal: Cell::new(None),
        signalled: Cell::new(false),
        input_name: std::any::type_name::<I>(),
        output_name: std::any::type_name::<O>(),
        guard,
        stack_size,
    };
    let spare = SPARE_HEADERS
        .try_with(|spares| spares.borrow_mut().pop())
        .ok()
        .flatten();
    match spare {
        Some(mut rc) => match Rc::get_mut(&mut rc) {
            Some(slot) => {
                *slot = header;
                rc
            }
            None => Rc::new(header),
        },
        None => Rc::new(header),
    }
}

/// Takes back the header of a dropped fiber. It is kept for reuse only if
/// nothing else (a `FiberRef`) still refers to it.
#[inline]
pub(crate) fn recycle_header(header: Rc<FiberHeader>) {
    if Rc::strong_count(&header) != 1 || Rc::weak_count(&header) != 0 {
        return;
    }
    let _ = SPARE_HEADERS.try_with(|spares| {
        let mut spares = spares.borrow_mut();
        if spares.len() < SPARE_HEADER_CAPACITY {
            spares.push(header);
        }
    });
}

/// The current fiber's header, or null on a thread's own stack.
#[inline(always)]
pub(crate) fn current_header() -> *const FiberHeader {
    CURRENT.with(|c| c.get())
}

/// Makes `header` the current fiber, with no other bookkeeping: for
/// `Fiber::switch_in` when no fiber was current (so there is no resumer
/// to mark), and to clear it again afterwards.
///
/// # Safety
///
/// `header` is null, or a live header, stored as `Suspended` (the module
/// invariants), that stays alive for as long as it is `CURRENT` or is
/// saved by `switch_current` for a task parked in the middle of its run:
/// the `Fiber` is borrowed by the switch that calls this, which clears
/// `CURRENT` again before it returns.
#[inline(always)]
pub(crate) unsafe fn set_current(header: *const FiberHeader) {
    CURRENT.with(|c| c.set(header));
}

/// Makes `header` the current fiber in place of the running one, which is
/// then stored as `Running` (it becomes an ancestor) and returned. Returns
/// `None`, changing nothing, if `header` is the running fiber itself (a
/// fiber resuming itself).
///
/// Only for a switch made while a fiber runs (`Fiber::switch_in` handles a
/// thread's own stack without this). The caller has checked that
/// `header`'s stored status is `Suspended` (`Fiber::start` stores that
/// before it switches).
#[inline]
pub(crate) fn enter(header: &FiberHeader) -> Option<*const FiberHeader> {
    CURRENT.with(|c| {
        let previous = c.get();
        if ptr::eq(previous, header) {
            return None;
        }
        if !previous.is_null() {
            // SAFETY: a non-null CURRENT is a live header (module
            // invariant). It becomes an ancestor of the running fiber.
            unsafe { (*previous).stored_status.set(Status::Running) };
        }
        c.set(header);
        Some(previous)
    })
}

/// Swaps the current fiber for `next` and returns the one it replaces: the
/// scheduler's switch between a task's fibers and its own. The fiber that
/// stops being current without returning is stored as `Running` (it is in
/// the middle of a run, parked with its task); `next` is stored as
/// `Suspended`, which reads as `Running` now that it is current.
///
/// # Safety
///
/// `next` is null or a live header: one that an earlier call on this thread
/// returned and whose fiber is still in the middle of a run, either parked
/// with a task whose stack has not been unwound (its `Fiber` is borrowed on
/// that stack by the switch that made it current) or the fiber the caller
/// itself runs in.
#[inline]
pub(crate) unsafe fn switch_current(next: *const FiberHeader) -> *const FiberHeader {
    CURRENT.with(|c| {
        let previous = c.replace(next);
        if !previous.is_null() {
            // SAFETY: a non-null CURRENT is a live header (module invariant).
            unsafe { (*previous).stored_status.set(Status::Running) };
        }
        if !next.is_null() {
            // SAFETY: the caller guarantees `next` is live.
            unsafe { (*next).stored_status.set(Status::Suspended) };
        }
        previous
    })
}

/// Makes `previous` (what `enter` returned) the current fiber again; it
/// reads as `Running` once more through `CURRENT`, so it is stored as
/// `Suspended`.
#[inline]
pub(crate) fn leave(previous: *const FiberHeader) {
    CURRENT.with(|c| c.set(previous));
    if !previous.is_null() {
        // SAFETY: `previous` was CURRENT when `enter` ran and has been an
        // ancestor of the running fiber since, so it is still alive: the
        // `Fiber` that owns it is borrowed by the switch that made it
        // current, which has not returned.
        unsafe { (*previous).stored_status.set(Status::Suspended) };
    }
}

/// Suspends the fiber this code runs in, handing `value` to the caller of the
/// `start`/`resume`/`throw` that ran it, and returns the value passed to the
/// next [`resume`](super::Fiber::resume). It works at any depth of the
/// fiber's stack, like PHP's static `Fiber::suspend()`.
///
/// `I` and `O` must be the fiber's own input and output types.
///
/// # Errors
///
/// * [`FiberError::OutsideFiber`] when not called inside a fiber.
/// * [`FiberError::ForceClosed`] when the fiber is being dropped and is
///   unwinding.
/// * [`FiberError::Unwinding`] when the thread is unwinding from a panic.
/// * [`FiberError::TypeMismatch`] when `I` or `O` differ from the fiber's.
///
/// # Panics
///
/// When the resumer calls [`throw`](super::Fiber::throw), this function
/// unwinds with the thrown payload instead of returning. When the fiber is
/// dropped while suspended, it unwinds with a private payload so that every
/// `Drop` on the fiber's stack runs. Catching either with `catch_unwind` is
/// allowed (PHP's `catch`), but a caught close cannot suspend again.
///
/// # Examples
///
/// ```
/// use fibrio_core::fiber::{suspend, Fiber};
///
/// fn produce(n: u32) {
///     for i in 0..n {
///         suspend::<(), u32>(i).unwrap(); // deep inside the fiber's stack
///     }
/// }
/// let fiber: Fiber<(), u32, ()> = Fiber::new(|()| produce(3));
/// assert_eq!(fiber.start(()).unwrap(), Some(0));
/// assert_eq!(fiber.resume(()).unwrap(), Some(1));
/// assert_eq!(fiber.resume(()).unwrap(), Some(2));
/// assert_eq!(fiber.resume(()).unwrap(), None);
/// assert!(suspend::<(), u32>(9).is_err()); // not inside a fiber
/// ```
pub fn suspend<I: 'static, O: 'static>(value: O) -> Result<I, FiberError> {
    let header = CURRENT.with(|c| c.get());
    if header.is_null() {
        return Err(FiberError::OutsideFiber);
    }
    // SAFETY: a non-null CURRENT is a live header (module invariant).
    let header = unsafe { &*header };
    if header.suspend_type.get() != TypeId::of::<(I, O)>() || std::thread::panicking() {
        return Err(refusal::<I, O>(header));
    }
    // SAFETY: the fiber's body stored a `Yielder<MaybeUninit<I'>, O'>` here
    // before running user code, where `I'`/`O'` are the fiber's types; the
    // type ids just matched, so `I' == I` and `O' == O`. The yielder lives on
    // this fiber's stack, which we are running on.
    let yielder = unsafe { &*(header.yielder.get() as *const Yielder<MaybeUninit<I>, O>) };
    let input = yielder.suspend(value);
    if header.signalled.get() {
        take_signal(header);
    }
    // SAFETY: the resumer passes an initialised value unless it set
    // `signalled` (see `FiberHeader::signal`), and `take_signal` diverges.
    Ok(unsafe { input.assume_init() })
}

/// Acts on the signal the resumer left: unwinds with the thrown payload, or
/// with `ForceClose` after marking the fiber as closing.
#[cold]
#[inline(never)]
fn take_signal(header: &FiberHeader) -> ! {
    header.signalled.set(false);
    match header.signal.take() {
        Some(Signal::Throw(payload)) => std::panic::resume_unwind(payload),
        Some(Signal::Close) | None => {
            header.suspend_type.set(TypeId::of::<ForceClose>());
            std::panic::resume_unwind(Box::new(ForceClose))
        }
    }
}

/// Why `suspend::<I, O>` may not suspend `header`'s fiber; off the hot path.
#[cold]
#[inline(never)]
fn refusal<I: 'static, O: 'static>(header: &FiberHeader) -> FiberError {
    if header.is_closing() {
        FiberError::ForceClosed
    } else if header.suspend_type.get() != TypeId::of::<(I, O)>() {
        FiberError::TypeMismatch {
            expected_input: header.input_name,
            expected_output: header.output_name,
            found_input: std::any::type_name::<I>(),
            found_output: std::any::type_name::<O>(),
        }
    } else {
        FiberError::Unwinding
    }
}

/// Returns a handle to the fiber this code runs in, or `None` on a thread's
/// own stack. Inside nested fibers it is the innermost one.
///
/// # Examples
///
/// ```
/// use fibrio_core::fiber::{current, Fiber};
///
/// assert!(current().is_none());
/// let fiber: Fiber<(), (), u64> = Fiber::new(|()| {
///     let me = current().unwrap();
///     assert!(me.is_running());
///     me.id()
/// });
/// fiber.start(()).unwrap();
/// assert_eq!(fiber.get_return().unwrap(), fiber.id());
/// ```
pub fn current() -> Option<FiberRef> {
    let header = CURRENT.with(|c| c.get());
    if header.is_null() {
        return None;
    }
    // SAFETY: a non-null CURRENT points into a live `Rc<FiberHeader>`
    // allocation (module invariant), so taking one more strong count on it
    // and wrapping it is sound.
    let header = unsafe {
        Rc::increment_strong_count(header);
        Rc::from_raw(header)
    };
    Some(FiberRef { header })
}

/// The overflow report's lookup for fibers (registered by `Fiber::new`):
/// the running fiber, if `addr` lies in its guard page.
///
/// # Safety
///
/// Called by the overflow handler on the thread that faulted (see
/// `stack::overflow::OverflowLookup`). It only reads fields of the current
/// header that never change after creation, and performs no allocation,
/// so it is usable from a signal handler.
pub(crate) unsafe fn overflowed_fiber(addr: usize) -> Option<StackOwner> {
    let header = CURRENT.try_with(|c| c.get()).ok()?;
    if header.is_null() {
        return None;
    }
    // SAFETY: a non-null CURRENT is a live header (module invariant); the
    // fields read here are immutable after creation.
    let header = unsafe { &*header };
    let (lo, hi) = header.guard;
    if addr < lo || addr >= hi {
        return None;
    }
    let name = header.name.as_deref().map(|name| {
        // SAFETY: the name lives as long as the header, which outlives the
        // report: the handler aborts the process before returning.
        unsafe { &*(name as *const str) }
    });
    Some(StackOwner {
        kind: "fiber",
        name,
        id: header.id,
        stack_size: header.stack_size,
    })
}

/// A cloneable, read-only handle to a fiber: its id, name and status.
///
/// It stays valid after the fiber is dropped; a dropped fiber reads as
/// terminated.
///
/// # Examples
///
/// ```
/// use fibrio_core::fiber::Fiber;
///
/// let fiber: Fiber<(), (), ()> = Fiber::new(|()| ());
/// let handle = fiber.as_ref();
/// assert!(!handle.is_started());
/// fiber.start(()).unwrap();
/// assert!(handle.is_terminated());
/// ```
#[derive(Clone)]
pub struct FiberRef {
    pub(crate) header: Rc<FiberHeader>,
}

impl FiberRef {
    /// The fiber's process-unique id.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::Fiber;
    ///
    /// let fiber: Fiber<(), (), ()> = Fiber::new(|()| ());
    /// assert_eq!(fiber.as_ref().id(), fiber.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.header.id
    }

    /// The fiber's name, if the builder gave it one.
    ///
    /// # Examples
    ///
    /// ```
    /// let fiber: fibrio_core::fiber::Fiber<(), (), ()> =
    ///     fibrio_core::fiber::Builder::new().name("io").build(|(): ()| ())?;
    /// assert_eq!(fiber.as_ref().name(), Some("io"));
    /// # Ok::<(), fibrio_core::stack::StackError>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.header.name.as_deref()
    }

    /// True once `start` has been called.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::Fiber;
    ///
    /// let fiber: Fiber<(), (), ()> = Fiber::new(|()| ());
    /// let handle = fiber.as_ref();
    /// assert!(!handle.is_started());
    /// fiber.start(()).unwrap();
    /// assert!(handle.is_started());
    /// ```
    pub fn is_started(&self) -> bool {
        self.header.stored_status.get() != Status::NotStarted
    }

    /// True while the fiber is suspended and can be resumed.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::{suspend, Fiber};
    ///
    /// let fiber: Fiber<(), (), ()> = Fiber::new(|()| suspend::<(), ()>(()).unwrap());
    /// let handle = fiber.as_ref();
    /// fiber.start(()).unwrap();
    /// assert!(handle.is_suspended());
    /// fiber.resume(()).unwrap();
    /// assert!(!handle.is_suspended());
    /// ```
    pub fn is_suspended(&self) -> bool {
        self.header.status() == Status::Suspended
    }

    /// True while a `start`/`resume`/`throw` of this fiber has not returned,
    /// including while a fiber it started is running.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::{current, Fiber};
    ///
    /// let fiber: Fiber<(), (), bool> = Fiber::new(|()| current().unwrap().is_running());
    /// let handle = fiber.as_ref();
    /// fiber.start(()).unwrap();
    /// assert!(fiber.get_return().unwrap()); // running while inside the fiber
    /// assert!(!handle.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        self.header.status() == Status::Running
    }

    /// True once the fiber has returned, panicked, or been closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::Fiber;
    ///
    /// let fiber: Fiber<(), (), ()> = Fiber::new(|()| ());
    /// let handle = fiber.as_ref();
    /// fiber.start(()).unwrap();
    /// assert!(handle.is_terminated());
    /// drop(fiber);
    /// assert!(handle.is_terminated()); // still valid after the fiber is gone
    /// ```
    pub fn is_terminated(&self) -> bool {
        self.header.stored_status.get().is_terminated()
    }
}

impl fmt::Debug for FiberRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FiberRef")
            .field("id", &self.header.id)
            .field("name", &self.header.name)
            .field("status", &self.header.status())
            .finish()
    }
}
