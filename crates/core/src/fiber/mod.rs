//! Fibers with the semantics of PHP's `Fiber` class.
//!
//! A [`Fiber<I, O, R>`] runs a closure `FnOnce(I) -> R` on its own stack.
//! The closure can [`suspend`] at any depth of its call stack, handing an `O`
//! out to whoever started or resumed it, and receiving the next `I` when it
//! is resumed. This is PHP's `Fiber` with types: `start`, `resume`, `throw`,
//! `get_return`, the four `is_*` queries, the static `suspend`, and
//! `current` (PHP's `Fiber::getCurrent`). `docs/php-fiber-parity.md` maps
//! every PHP method and `FiberError` message to its fibrio form.
//!
//! # State machine
//!
//! ```text
//!              start               suspend
//! NotStarted --------> Running <------------> Suspended
//!                         |      resume/throw      |
//!       return / panic /  |                        | Fiber dropped
//!       uncaught throw    v                        v
//!             Returned | Threw | Closed  <---------+
//!                 |
//!                 | get_return
//!                 v
//!            ReturnTaken
//! ```
//!
//! # Invariants
//!
//! * Only the methods of [`Fiber`] change the status, and each checks the
//!   current status first: the coroutine is touched only in `NotStarted` or
//!   `Suspended`, and the status is `Running` for exactly as long as a
//!   switch into the fiber has not returned. That is what makes a re-entrant
//!   call (a fiber resuming itself through an `Rc`) an error rather than
//!   aliasing. (The innermost running fiber is recognised by the
//!   thread-local current-fiber pointer rather than by a stored `Running`,
//!   which keeps two stores off every switch; the `current` module's
//!   invariants say how, and `enter` refuses the fiber that is current.)
//! * `coroutine` is live until the fiber terminates, and is dropped at most
//!   once: by `finish` when the status becomes terminal, or by `Drop` for a
//!   fiber that never started. So the stack goes back to the pool as soon as
//!   the fiber terminates, not when the `Fiber` is dropped. The one
//!   coroutine never dropped is that of a suspended fiber leaked during
//!   thread-local destruction (see "Thread exit"): its stack stays mapped.
//! * `result` is `Some` only in the `Returned` status.
//! * Panics never cross a fiber boundary as unwinding: the fiber's root
//!   catches them and they come out of `start`/`resume`/`throw` as
//!   [`FiberError::Panicked`]. The exceptions belong to the task the fiber
//!   runs in: a task cancellation, and the forced unwinding of a task
//!   dropped while parked, which only the fibers it is parked in pass on
//!   (`current::DroppingTask`); a fiber that merely ends during that drop
//!   reports its own panic as `Panicked`.
//! * Dropping a suspended fiber unwinds its stack (every `Drop` on it runs)
//!   before its stack is reused, or, during thread-local destruction, leaks
//!   it: its frames never run again and its stack is never reused.
//!
//! A `Fiber` is not `Send`: its stack may hold thread-local borrows, and its
//! header is shared through an `Rc`.
//!
//! # Thread exit
//!
//! A fiber can suspend while it borrows a thread-local:
//! `K.with(|k| { ...; suspend(..); ... })` leaves `&k` live on the fiber's
//! stack. When the thread exits (or calls [`std::process::exit`]), std
//! destroys its thread-locals one by one, in an order of its own (on glibc,
//! the one first used last goes first), and a suspended fiber may still be
//! owned by a thread-local destroyed after `K`. Unwinding the fiber then
//! would run its `Drop`s against `K`'s destroyed value: a use after free.
//!
//! The rule: **a suspended fiber dropped while this thread's thread-locals
//! are being destroyed is leaked, not unwound.** It becomes terminated
//! (`is_terminated()`, `get_return()` is [`FiberError::Threw`]), its frames
//! never run again (no `Drop` on its stack runs, no code after its
//! suspend point), and its stack stays mapped until the process ends, so
//! whatever points into it stays valid. "Being destroyed" means the drop is
//! called, however indirectly (by drop glue, from inside another fiber or a
//! task), by a thread-local's destructor, or inside `exit` (which covers
//! `atexit` handlers too).
//!
//! fibrio tells by walking the call stack with the unwinder when a
//! suspended fiber is dropped, looking for the C runtime's destructor loop
//! (glibc's `__call_tls_dtors`, which runs every Rust `thread_local!`
//! destructor at thread exit and in `exit`) or `exit`; corosensei's unwind
//! information links each coroutine's frames to its resumer's, so the walk
//! sees through fibers and tasks. Unlike a guard thread-local (whose
//! destructor runs at a place in the sequence fixed by when it was first
//! used, so that a thread-local first used after it is destroyed before
//! it), this does not depend on the order in which thread-locals were first
//! used: the guarantee holds in every order. It leaks more than strictly
//! necessary: every suspended fiber dropped during thread-local
//! destruction, whether or not it borrows a thread-local. Where fibrio
//! cannot tell (a walk that stops at a frame without unwind information,
//! glibc without `__call_tls_dtors` (older than 2.18, or linked
//! statically), and any target other than Linux with glibc on x86-64 or
//! AArch64), it assumes the worst and leaks every suspended fiber that is
//! dropped. The walk costs a few microseconds per suspended fiber dropped;
//! `start`, `resume`, `suspend` and the drop of a fiber that is not
//! suspended do not pay it.
//!
//! What the rule does not cover: code run by a thread-local's destructor
//! must not [`resume`](Fiber::resume) or [`throw`](Fiber::throw) into a
//! fiber that was suspended before the thread began to exit. fibrio cannot
//! refuse that without a stack walk on every resume, and the resumed frames
//! may use a destroyed thread-local. Nor does it recognise drops made
//! after the C runtime's destructor loop has returned and outside `exit`:
//! destructors of `pthread` keys that code registered through `libc` (on
//! glibc, std runs every `thread_local!` destructor inside the loop).
//!
//! ```compile_fail
//! fn assert_send<T: Send>(_: T) {}
//! let fiber: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Fiber::new(|()| ());
//! assert_send(fiber);
//! ```
//!
//! ```compile_fail
//! fn assert_sync<T: Sync>(_: &T) {}
//! let fiber: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Fiber::new(|()| ());
//! assert_sync(&fiber);
//! ```
//!
//! ```compile_fail
//! fn assert_send<T: Send>(_: T) {}
//! let fiber: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Fiber::new(|()| ());
//! assert_send(fiber.as_ref());
//! ```

mod builder;
pub(crate) mod current;
mod error;

pub use builder::Builder;
pub use current::{current, suspend, FiberRef};
pub use error::{payload_message, FiberError, Payload};

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::rc::Rc;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::stack::{FiberStack, StackError};
use crate::unwind::is_cancellation;
use current::{FiberHeader, ForceClose, Signal, Status};

/// The largest fiber closure moved onto a new stack as it is; larger ones
/// are boxed first (corosensei accepts at most 1,024 bytes, closure and
/// header pointer together, and the input value is passed beside it).
const INLINE_CLOSURE_MAX: usize = 512;

/// How the fiber's closure ended, as seen by its root frame.
enum Outcome<R> {
    Returned(R),
    Panicked(Payload),
    Closed,
}

type FiberCoroutine<I, O, R> = Coroutine<MaybeUninit<I>, O, Outcome<R>, FiberStack>;

/// A fiber: a closure running on its own stack that can suspend itself.
///
/// `I` is the type passed in by [`start`](Fiber::start) and
/// [`resume`](Fiber::resume), `O` the type handed out by [`suspend`], and `R`
/// the closure's return type.
///
/// Dropping a suspended fiber unwinds its stack, so every `Drop` on it
/// runs; during thread exit it is leaked instead (its frames never run
/// again and its stack stays mapped), because they may borrow thread-locals
/// that are already destroyed. Do not resume a fiber from a thread-local's
/// destructor. See "Thread exit" in the [module docs](self).
///
/// # Examples
///
/// A generator, PHP style:
///
/// ```
/// use fibrio_core::fiber::{suspend, Fiber};
///
/// let fiber: Fiber<i32, i32, &str> = Fiber::new(|first: i32| {
///     let mut total = first;
///     while total < 10 {
///         total += suspend::<i32, i32>(total).unwrap();
///     }
///     "done"
/// });
/// assert_eq!(fiber.start(1).unwrap(), Some(1));
/// assert_eq!(fiber.resume(4).unwrap(), Some(5));
/// assert_eq!(fiber.resume(5).unwrap(), None);
/// assert!(fiber.is_terminated());
/// assert_eq!(fiber.get_return().unwrap(), "done");
/// ```
pub struct Fiber<I: 'static, O: 'static, R: 'static> {
    header: ManuallyDrop<Rc<FiberHeader>>,
    /// `Rc::as_ptr(&header)`, kept so that the switch reaches the header
    /// without going through the `Rc` (see `hot_header`).
    header_ptr: NonNull<FiberHeader>,
    coroutine: UnsafeCell<ManuallyDrop<FiberCoroutine<I, O, R>>>,
    result: UnsafeCell<Option<R>>,
}

impl<I: 'static, O: 'static, R: 'static> Fiber<I, O, R> {
    /// Creates a fiber that will run `f` with the value passed to
    /// [`start`](Fiber::start), on a stack of
    /// [`DEFAULT_STACK_SIZE`](crate::stack::DEFAULT_STACK_SIZE) bytes.
    ///
    /// # Panics
    ///
    /// Panics with the [`StackError`] message when no stack can be mapped
    /// (see [`Builder::build`] for the fallible form).
    ///
    /// # Examples
    ///
    /// ```
    /// let fiber: fibrio_core::fiber::Fiber<u8, (), u8> = fibrio_core::fiber::Fiber::new(|x| x + 1);
    /// assert_eq!(fiber.start(1).unwrap(), None);
    /// assert_eq!(fiber.get_return().unwrap(), 2);
    /// ```
    pub fn new<F>(f: F) -> Fiber<I, O, R>
    where
        F: FnOnce(I) -> R + 'static,
    {
        match Builder::new().build(f) {
            Ok(fiber) => fiber,
            Err(err) => panic!("fibrio: cannot create a fiber: {err}"),
        }
    }

    pub(crate) fn create<F>(
        name: Option<Box<str>>,
        stack_size: usize,
        f: F,
    ) -> Result<Fiber<I, O, R>, StackError>
    where
        F: FnOnce(I) -> R + 'static,
    {
        // corosensei moves the closure onto the new stack and refuses one
        // over 1 KiB with a panic: a large closure goes in a box first.
        if std::mem::size_of::<F>() > INLINE_CLOSURE_MAX {
            let boxed: Box<dyn FnOnce(I) -> R> = Box::new(f);
            return Fiber::create_inline(name, stack_size, boxed);
        }
        Fiber::create_inline(name, stack_size, f)
    }

    /// [`create`](Fiber::create) of a closure small enough to move onto the
    /// stack as it is.
    fn create_inline<F>(
        name: Option<Box<str>>,
        stack_size: usize,
        f: F,
    ) -> Result<Fiber<I, O, R>, StackError>
    where
        F: FnOnce(I) -> R + 'static,
    {
        crate::stack::register_overflow_lookup(current::overflowed_fiber);
        let stack = FiberStack::new(stack_size)?;
        let header = current::new_header::<I, O>(name, stack.guard_range(), stack.size());
        let header_ptr: *const FiberHeader = Rc::as_ptr(&header);
        let coroutine = Coroutine::with_stack(
            stack,
            move |yielder: &Yielder<MaybeUninit<I>, O>, first: MaybeUninit<I>| {
                // SAFETY: the `Fiber` owns the header through an `Rc` and
                // drops its coroutine before that `Rc`, so the header outlives
                // every run of this closure.
                let header = unsafe { &*header_ptr };
                header
                    .yielder
                    .set(yielder as *const Yielder<MaybeUninit<I>, O> as *const ());
                // SAFETY: the first switch into a fiber is always `start`,
                // which passes an initialised value (`throw` and the close in
                // `Drop` require a suspended, hence started, fiber).
                let arg = unsafe { first.assume_init() };
                match panic::catch_unwind(AssertUnwindSafe(move || f(arg))) {
                    Ok(value) => Outcome::Returned(value),
                    Err(payload) if payload.is::<ForceClose>() => Outcome::Closed,
                    Err(payload) => Outcome::Panicked(payload),
                }
            },
        );
        Ok(Fiber {
            header_ptr: NonNull::from(&*header),
            header: ManuallyDrop::new(header),
            coroutine: UnsafeCell::new(ManuallyDrop::new(coroutine)),
            result: UnsafeCell::new(None),
        })
    }

    /// Starts the fiber, passing `arg` to its closure, and runs it until it
    /// suspends or ends.
    ///
    /// Returns `Ok(Some(o))` when the fiber suspended with `o`, and
    /// `Ok(None)` when it returned (fetch the value with
    /// [`get_return`](Fiber::get_return)).
    ///
    /// # Errors
    ///
    /// * [`FiberError::AlreadyStarted`] if `start` was called before.
    /// * [`FiberError::Panicked`] if the fiber panicked; it is then
    ///   terminated.
    ///
    /// # Cancellation
    ///
    /// If the fibrio task running this call is cancelled while the fiber
    /// waits at a checkpoint (a `sleep`, a socket read, ...), the
    /// cancellation unwinds the fiber's stack, terminating the fiber, and
    /// then goes on unwinding from this call, through the caller's stack,
    /// like any other checkpoint. It does not come back as
    /// [`FiberError::Panicked`]: it is not the fiber's failure, and the task
    /// (or the [`CancelScope`](crate::task::CancelScope) that was
    /// cancelled) must still end.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::{suspend, Fiber};
    ///
    /// let fiber: Fiber<&str, String, ()> = Fiber::new(|name| {
    ///     suspend::<&str, String>(format!("hello {name}")).unwrap();
    /// });
    /// assert_eq!(fiber.start("php").unwrap().as_deref(), Some("hello php"));
    /// assert!(fiber.start("again").is_err());
    /// ```
    #[inline]
    pub fn start(&self, arg: I) -> Result<Option<O>, FiberError> {
        if self.header.stored_status.get() != Status::NotStarted {
            return Err(FiberError::AlreadyStarted);
        }
        // From here on the fiber is stored as `Suspended`, which reads as
        // `Running` while it is the current fiber (see `current`). A fiber
        // that has not started is never the current one, so `switch_in`
        // does not refuse it.
        self.header.stored_status.set(Status::Suspended);
        self.switch_in(MaybeUninit::new(arg), Propagate::TaskUnwinding)
    }

    /// Resumes a suspended fiber: its pending [`suspend`] returns `value`.
    ///
    /// Returns what [`start`](Fiber::start) returns.
    ///
    /// # Errors
    ///
    /// * [`FiberError::NotSuspended`] if the fiber is not suspended (not
    ///   started, running, or terminated).
    /// * [`FiberError::Panicked`] if the fiber panicked; it is then
    ///   terminated.
    ///
    /// # Cancellation
    ///
    /// As for [`start`](Fiber::start): a task cancellation that unwinds the
    /// fiber goes on unwinding from this call.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::{suspend, Fiber};
    ///
    /// let fiber: Fiber<u32, (), u32> = Fiber::new(|a| a + suspend::<u32, ()>(()).unwrap());
    /// assert!(fiber.resume(1).is_err()); // not started yet
    /// fiber.start(1).unwrap();
    /// assert_eq!(fiber.resume(2).unwrap(), None);
    /// assert_eq!(fiber.get_return().unwrap(), 3);
    /// ```
    #[inline]
    pub fn resume(&self, value: I) -> Result<Option<O>, FiberError> {
        // A stored `Suspended` is either suspended or the current fiber;
        // `switch_in` refuses the latter.
        if self.hot_header().stored_status.get() != Status::Suspended {
            return Err(FiberError::NotSuspended);
        }
        self.switch_in(MaybeUninit::new(value), Propagate::TaskUnwinding)
    }

    /// Resumes a suspended fiber by making its pending [`suspend`] unwind
    /// with `payload`, like PHP's `Fiber::throw`.
    ///
    /// If the fiber does not catch the payload, it terminates and the payload
    /// comes back as `Err(FiberError::Panicked(payload))` (boxed once more if
    /// you passed a `Box<dyn Any + Send>`; pass the value itself). A fiber
    /// that catches it with [`std::panic::catch_unwind`] may carry on and
    /// suspend again, and `throw` then returns that value. The panic hook is
    /// not called: this is not a panic, it is a value travelling up the stack.
    ///
    /// # Errors
    ///
    /// [`FiberError::NotSuspended`] if the fiber is not suspended, and
    /// [`FiberError::Panicked`] as above.
    ///
    /// # Cancellation
    ///
    /// As for [`start`](Fiber::start): a task cancellation that unwinds the
    /// fiber goes on unwinding from this call.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::{suspend, Fiber};
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    ///
    /// let fiber: Fiber<(), &str, ()> = Fiber::new(|()| {
    ///     let caught = catch_unwind(AssertUnwindSafe(|| suspend::<(), &str>("waiting")));
    ///     let payload = caught.unwrap_err();
    ///     assert_eq!(payload.downcast_ref::<&str>(), Some(&"stop"));
    ///     suspend::<(), &str>("caught it").unwrap();
    /// });
    /// fiber.start(()).unwrap();
    /// assert_eq!(fiber.throw("stop").unwrap(), Some("caught it"));
    /// ```
    #[inline]
    pub fn throw(&self, payload: impl Any + Send) -> Result<Option<O>, FiberError> {
        if self.header.status() != Status::Suspended {
            return Err(FiberError::NotSuspended);
        }
        self.signal(Signal::Throw(Box::new(payload)), Propagate::TaskUnwinding)
    }

    /// Moves the fiber's return value out.
    ///
    /// The value is moved, not copied: a second call returns
    /// [`FiberError::ReturnTaken`]. (PHP returns the value again; Rust values
    /// need not be `Clone`.)
    ///
    /// # Errors
    ///
    /// * [`FiberError::NotStarted`] before `start`.
    /// * [`FiberError::NotReturned`] while the fiber is suspended or running.
    /// * [`FiberError::Threw`] when the fiber panicked, did not catch a
    ///   `throw`, or was closed.
    /// * [`FiberError::ReturnTaken`] on a second call.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::{Fiber, FiberError};
    ///
    /// let fiber: Fiber<(), (), String> = Fiber::new(|()| "value".to_string());
    /// assert!(matches!(fiber.get_return(), Err(FiberError::NotStarted)));
    /// fiber.start(()).unwrap();
    /// assert_eq!(fiber.get_return().unwrap(), "value");
    /// assert!(matches!(fiber.get_return(), Err(FiberError::ReturnTaken)));
    /// ```
    pub fn get_return(&self) -> Result<R, FiberError> {
        match self.header.status() {
            Status::NotStarted => Err(FiberError::NotStarted),
            Status::Running | Status::Suspended => Err(FiberError::NotReturned),
            Status::Threw | Status::Closed => Err(FiberError::Threw),
            Status::ReturnTaken => Err(FiberError::ReturnTaken),
            Status::Returned => {
                self.header.stored_status.set(Status::ReturnTaken);
                // SAFETY: `result` is only touched by `finish` (while a
                // switch into the fiber has not returned, which ended when
                // the status became `Returned`) and here; no reference into
                // it outlives either call.
                let value = unsafe { (*self.result.get()).take() };
                value.ok_or(FiberError::ReturnTaken)
            }
        }
    }

    /// True once [`start`](Fiber::start) has been called (PHP
    /// `isStarted`).
    ///
    /// # Examples
    ///
    /// ```
    /// let fiber: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Fiber::new(|()| ());
    /// assert!(!fiber.is_started());
    /// fiber.start(()).unwrap();
    /// assert!(fiber.is_started());
    /// ```
    pub fn is_started(&self) -> bool {
        self.header.stored_status.get() != Status::NotStarted
    }

    /// True while the fiber is suspended and can be resumed (PHP
    /// `isSuspended`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::{suspend, Fiber};
    /// let fiber: Fiber<(), (), ()> = Fiber::new(|()| suspend::<(), ()>(()).unwrap());
    /// fiber.start(()).unwrap();
    /// assert!(fiber.is_suspended());
    /// ```
    pub fn is_suspended(&self) -> bool {
        self.header.status() == Status::Suspended
    }

    /// True while a `start`/`resume`/`throw` of this fiber has not returned,
    /// including while a fiber it started is running (PHP `isRunning`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::{current, Fiber};
    /// let fiber: Fiber<(), (), bool> = Fiber::new(|()| current().unwrap().is_running());
    /// fiber.start(()).unwrap();
    /// assert!(fiber.get_return().unwrap());
    /// assert!(!fiber.is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        self.header.status() == Status::Running
    }

    /// True once the fiber has returned, panicked, or been closed (PHP
    /// `isTerminated`).
    ///
    /// # Examples
    ///
    /// ```
    /// let fiber: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Fiber::new(|()| ());
    /// fiber.start(()).unwrap();
    /// assert!(fiber.is_terminated());
    /// ```
    pub fn is_terminated(&self) -> bool {
        self.header.stored_status.get().is_terminated()
    }

    /// The fiber's process-unique id.
    ///
    /// # Examples
    ///
    /// ```
    /// let a: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Fiber::new(|()| ());
    /// let b: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Fiber::new(|()| ());
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.header.id
    }

    /// The fiber's name, if its [`Builder`] gave it one.
    ///
    /// # Examples
    ///
    /// ```
    /// let fiber: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Builder::new().name("io").build(|(): ()| ())?;
    /// assert_eq!(fiber.name(), Some("io"));
    /// # Ok::<(), fibrio_core::stack::StackError>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.header.name.as_deref()
    }

    /// The usable size of the fiber's stack in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let fiber: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Fiber::new(|()| ());
    /// assert_eq!(fiber.stack_size(), fibrio_core::stack::DEFAULT_STACK_SIZE);
    /// ```
    pub fn stack_size(&self) -> usize {
        self.header.stack_size
    }

    /// A cloneable read-only handle to this fiber, the same kind
    /// [`current`] returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let fiber: fibrio_core::fiber::Fiber<(), (), ()> = fibrio_core::fiber::Fiber::new(|()| ());
    /// assert_eq!(fiber.as_ref().id(), fiber.id());
    /// ```
    pub fn as_ref(&self) -> FiberRef {
        FiberRef {
            header: Rc::clone(&*self.header),
        }
    }

    /// The header, one load away (`&self.header` is two: the `Rc`, then
    /// its value's offset); for the switch's hot path.
    #[inline(always)]
    fn hot_header(&self) -> &FiberHeader {
        // SAFETY: `header_ptr` is `Rc::as_ptr` of `header`, which this
        // `Fiber` holds until `Drop` takes it out; a shared borrow of `self`
        // rules that out.
        unsafe { self.header_ptr.as_ref() }
    }

    /// Resumes a suspended fiber with a signal instead of a value.
    fn signal(&self, signal: Signal, propagate: Propagate) -> Result<Option<O>, FiberError> {
        self.header.signal.set(Some(signal));
        self.header.signalled.set(true);
        self.switch_in(MaybeUninit::uninit(), propagate)
    }

    /// Switches into the fiber with `input` and records how it came back.
    ///
    /// The caller has checked that the stored status is `Suspended` (for a
    /// fiber being started, `start` stored it), and `input` is initialised
    /// unless the caller set the header's `signalled` flag (which only
    /// `signal` does, and only for a suspended fiber).
    ///
    /// # Errors
    ///
    /// [`FiberError::NotSuspended`] if the fiber is the current one (it is
    /// resuming itself), and whatever the fiber's run returns.
    #[inline(always)]
    fn switch_in(
        &self,
        input: MaybeUninit<I>,
        propagate: Propagate,
    ) -> Result<Option<O>, FiberError> {
        if !current::current_header().is_null() {
            // Run by another fiber (or by itself): the path that refuses
            // re-entry and marks the resumer as `Running`.
            return self.switch_in_nested(input, propagate);
        }
        // On a thread's own stack: no fiber is running, so this one is not
        // (no re-entry to refuse), and there is no resumer to mark.
        let header = self.hot_header();
        // SAFETY: `header` is alive while `self` is borrowed, and stored as
        // `Suspended` (checked by the caller); CURRENT is cleared below
        // before this call returns (the root frame catches every panic, so
        // `resume` cannot unwind past it).
        unsafe { current::set_current(header) };
        // SAFETY: the stored status was `Suspended` and no fiber was
        // current, so the fiber was suspended (or, from `start`, not yet
        // started) and no switch into it is under way. It is now the
        // current fiber and stays the current one or an ancestor of it
        // (stored as `Running`) until this switch returns, so every other
        // entry point refuses it: `start` needs `NotStarted`; `resume` and
        // `throw` need a stored `Suspended` that `enter` finds is not
        // current; `Drop` cannot run while this call borrows the fiber. The
        // coroutine is live in both of those statuses (module invariant).
        let coroutine = unsafe { &mut *self.coroutine.get() };
        // Clearing CURRENT is in both arms so that the compiler keeps the
        // yield path apart from the return path (merged, they cost a select
        // and a compare on every switch).
        match coroutine.resume(input) {
            CoroutineResult::Yield(value) => {
                // SAFETY: null is always a valid CURRENT.
                unsafe { current::set_current(std::ptr::null()) };
                // The fiber is stored as `Suspended` already.
                Ok(Some(value))
            }
            CoroutineResult::Return(outcome) => {
                // SAFETY: as above.
                unsafe { current::set_current(std::ptr::null()) };
                self.finish(outcome, propagate)
            }
        }
    }

    /// `switch_in` for a fiber started or resumed while another fiber runs.
    #[cold]
    #[inline(never)]
    fn switch_in_nested(
        &self,
        input: MaybeUninit<I>,
        propagate: Propagate,
    ) -> Result<Option<O>, FiberError> {
        let header: &FiberHeader = &self.header;
        let Some(previous) = current::enter(header) else {
            return Err(FiberError::NotSuspended);
        };
        // SAFETY: as in `switch_in`; here `enter` has refused the fiber if
        // it was the current one, and a stored `Suspended` that is not
        // current is suspended (or, from `start`, not yet started).
        let coroutine = unsafe { &mut *self.coroutine.get() };
        match coroutine.resume(input) {
            CoroutineResult::Yield(value) => {
                current::leave(previous);
                Ok(Some(value))
            }
            CoroutineResult::Return(outcome) => {
                current::leave(previous);
                self.finish(outcome, propagate)
            }
        }
    }

    /// Records how the fiber ended and returns its stack to the pool.
    #[cold]
    #[inline(never)]
    fn finish(&self, outcome: Outcome<R>, propagate: Propagate) -> Result<Option<O>, FiberError> {
        let header: &FiberHeader = &self.header;
        // Terminal from here on, before anything else happens: no entry
        // point switches into a terminated fiber.
        header.stored_status.set(match &outcome {
            Outcome::Returned(_) => Status::Returned,
            Outcome::Panicked(_) => Status::Threw,
            Outcome::Closed => Status::Closed,
        });
        // Return the stack to the pool now.
        // SAFETY: called by `switch_in` before it returns; the fiber has just
        // stopped being the current one and is now stored as terminal, so no
        // entry point can reach `coroutine` or `result` (they need
        // `NotStarted`, or a stored `Suspended`). The coroutine is dropped
        // exactly once: here, after which nothing touches it again (`Drop`
        // only drops it in `NotStarted`).
        unsafe { ManuallyDrop::drop(&mut *self.coroutine.get()) };
        // If a dropped task's forced unwinding runs through this fiber, it
        // is passed on to the resumer (`current::DroppingTask`); however
        // the fiber ended, the chain moves on to the resumer.
        let task_unwinding = current::leave_dropping_chain(header);
        match outcome {
            Outcome::Returned(value) => {
                // SAFETY: as above; `get_return` takes the value only when
                // it runs later, on this thread.
                unsafe { *self.result.get() = Some(value) };
                Ok(None)
            }
            Outcome::Panicked(payload) => {
                if propagate == Propagate::TaskUnwinding
                    && (is_cancellation(&*payload) || task_unwinding)
                {
                    // The task's own unwinding (its cancellation, or the
                    // forced unwinding of the dropped task, whose code must
                    // not run on) went through the fiber's stack; it is not
                    // the fiber's failure, so it goes on unwinding the
                    // caller's stack, as every checkpoint's does. A fiber
                    // that merely ends during a task's drop (a `Drop`
                    // started it) is not on the chain: its panic is its
                    // own, and comes back as `Panicked`.
                    panic::resume_unwind(payload);
                }
                Err(FiberError::Panicked(payload))
            }
            Outcome::Closed => Ok(None),
        }
    }
}

/// What `finish` lets unwind on out of a fiber that ended by unwinding.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Propagate {
    /// The task's own unwinding (a cancellation, or the forced unwinding
    /// of a task being dropped, when this fiber is one the task is parked
    /// in): it goes on unwinding the caller's stack (`start`, `resume`,
    /// `throw`).
    TaskUnwinding,
    /// Nothing: every ending comes back as a value (`Drop`, which must
    /// release the header before it propagates anything).
    Nothing,
}

impl<I: 'static, O: 'static, R: 'static> Drop for Fiber<I, O, R> {
    /// Dropping a suspended fiber unwinds its stack: its pending [`suspend`]
    /// unwinds with a private payload, so every `Drop` on the fiber's stack
    /// runs and no code after the suspend point does. Code that runs during
    /// that unwinding gets [`FiberError::ForceClosed`] from `suspend`.
    ///
    /// Except during thread exit: a suspended fiber dropped while the
    /// thread's thread-locals are being destroyed (by a thread-local's
    /// destructor, or by anything it calls, including another fiber) is
    /// leaked instead: its frames never run again, so no `Drop` on its
    /// stack runs, and its stack stays mapped. Its frames may hold a borrow
    /// of a thread-local (`LocalKey::with`) that is already destroyed. See
    /// "Thread exit" in the [module docs](self).
    ///
    /// A panic inside a `Drop` during that unwinding aborts the process, as
    /// anywhere in Rust. If the fiber catches the close and then panics, that
    /// panic is propagated from this `drop`, unless the thread is already
    /// panicking, in which case it is logged through `log::error!`.
    fn drop(&mut self) {
        // A fiber being dropped is not running (its `start`/`resume`/
        // `throw` borrow it), so a stored `Suspended` means suspended.
        // A panic (or a task cancellation) out of the closing fiber is
        // propagated at the end, once the header has been released.
        let mut propagate = None;
        if self.header.stored_status.get() == Status::Suspended
            && current::must_leak_suspended_stacks()
        {
            // Thread-local destruction (see "Thread exit"): leave the
            // coroutine undropped, since dropping it would unwind it too.
            // Its frames never run again and its stack stays mapped, so
            // whatever points into it (a pinned waiter) stays valid. The
            // header is released below as for any dropped fiber: the
            // leaked frames refer to it only while running.
            self.header.stored_status.set(Status::Closed);
        } else if self.header.stored_status.get() == Status::Suspended {
            match self.signal(Signal::Close, Propagate::Nothing) {
                Ok(_) => {}
                Err(FiberError::Panicked(payload)) => {
                    if std::thread::panicking() {
                        if !is_cancellation(&*payload) {
                            log::error!(
                                "fiber {} panicked while being closed: {}",
                                self.header.id,
                                payload_message(&payload)
                            );
                        }
                    } else {
                        propagate = Some(payload);
                    }
                }
                Err(_) => {}
            }
            if self.header.stored_status.get() != Status::Threw {
                self.header.stored_status.set(Status::Closed);
            }
        }
        if self.header.stored_status.get() == Status::NotStarted {
            // Dropping a coroutine that never ran drops its closure without
            // running it, and returns the stack to the pool.
            // SAFETY: the coroutine was not dropped (only `finish` drops it,
            // on termination), and `self` is going away.
            unsafe { ManuallyDrop::drop(self.coroutine.get_mut()) };
        }
        // SAFETY: `drop` runs once and nothing uses `self.header` after this.
        let header = unsafe { ManuallyDrop::take(&mut self.header) };
        current::recycle_header(header);
        if let Some(payload) = propagate {
            panic::resume_unwind(payload);
        }
    }
}

impl<I: 'static, O: 'static, R: 'static> fmt::Debug for Fiber<I, O, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fiber")
            .field("id", &self.header.id)
            .field("name", &self.header.name)
            .field("status", &self.header.status())
            .field("stack_size", &self.header.stack_size)
            .finish()
    }
}
