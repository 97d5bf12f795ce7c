//! The task record: [`TaskHeader`] (everything but the output), [`Task<T>`]
//! (header plus output), and the type-erased view [`ErasedTask`] that the
//! task table stores. The header's fields are private to this module; its
//! legal transitions are its methods, and each method enforces the
//! invariants below.
//!
//! # Invariants
//!
//! * `state` follows [`TaskState::can_become`]: `start` moves `Pending` to
//!   `Running`, `finish` moves it to a terminal state, and nothing else
//!   changes it.
//! * `coroutine` is live from spawn until the task terminates, and is dropped
//!   at most once, by `drop_coroutine`, when the scheduler finishes the task
//!   (after it returned, or without running it when it was cancelled
//!   first). Its stack goes back to the pool at that moment. The one
//!   exception: a suspended task dropped while the thread's thread-locals
//!   are being destroyed is leaked, never unwound (its frames may borrow a
//!   destroyed thread-local).
//! * Wake-ups: `parked` is true exactly while the task is suspended in
//!   `park` waiting to be unparked; `queued` exactly while its key is in the
//!   run queue. A task is never both. `notified` records an unpark that
//!   arrived while the task was not parked; the next `begin_park` consumes
//!   it and does not park. These three make wake-ups impossible to lose or
//!   duplicate; only `unpark`, `begin_park`, `mark_queued` and
//!   `take_queued` change them.
//! * `wait` is the [`WaitReason`] the task's latest park recorded: written
//!   by `begin_park`, in the same call that sets `parked` (one three-word
//!   store, next to `parked` in the layout, nothing formatted), and never
//!   cleared. It is meaningful only while `parked` is set, so it is read
//!   only through `wait_reason`, which returns `None` otherwise.
//! * `cancel` holds three flags, so that a checkpoint with none set costs
//!   one load: `REQUESTED` only ever goes from clear to set (level-triggered
//!   cancellation); so does `FORCED`, set only by a scheduler
//!   shutting down, which cancels through shields.
//! * `wake` holds two marks, so that a resume with neither set costs one
//!   load in `suspend`. `WAKE_CANCEL` is set when a cancellation (of the
//!   task or of a scope it is in) is what woke it from `park`; `suspend`
//!   clears it and `park` then checks for cancellation. A task woken by
//!   anything else returns from `park` normally, so a wait that completed
//!   is not undone by a cancellation that came later in the same turn.
//!   `WAKE_CAPTURE` is set only by `capture_backtrace`, around one resume
//!   of a suspended task: the task's `suspend` then records a backtrace
//!   into the thread's capture slot and suspends again, running no user
//!   code and touching no other field (`WAKE_CANCEL` stays for the real
//!   wake-up), so a capture changes nothing a task, its wake-ups or its
//!   cancellation can observe.
//! * `scopes` is the task's stack of cancel-scope frames; the task itself
//!   pushes and removes its frames while it runs (each removal names the
//!   frame it removes), `spawn` fills a new task's stack with copies of its
//!   spawner's frames (or, for `Builder::spawn_in`, with frames of exactly
//!   the scopes of a captured `ScopeContext`), and `finish` drops it. The `IN_SCOPE` flag mirrors
//!   `!scopes.is_empty()`, so checkpoints outside any scope cost one load.
//! * `join_waiter` and `more_waiters` list the tasks to wake when this one
//!   finishes (its joiner, and tasks in `wait_any`), each at most once;
//!   each waiter removes its own entry when it stops waiting, and `finish`
//!   hands the rest to the scheduler.
//! * `saved_fiber` holds the PHP-style fiber that was current inside this
//!   task when it last switched out (null if none), stored as `Running`
//!   meanwhile (`fiber::current::switch_current`); `resume` makes it current
//!   again around every resume, and `drop_coroutine` around the drop of a
//!   suspended coroutine, so that `fiber::suspend` in one task never sees
//!   another task's fiber, and no other task can resume a fiber parked in
//!   the middle of its run.
//! * `context` holds the task's context variables whenever the task is not
//!   running: the snapshot of its spawner's context until it first runs,
//!   then whatever it left when it last switched out. `resume` exchanges it
//!   with the thread's current context around every resume. `finish` drops
//!   it.
//! * `output` is written once, by the task's root frame (or by the
//!   scheduler for a task cancelled before it ran), and taken once by
//!   `JoinHandle::join`. A deterministic scheduler keeps the record of a
//!   task that panicked and fails the run if a panic is still in it once
//!   nothing else holds the record (nobody joined it: `det_loop.rs`).
//! * `stack_hint` is written by `spawn` (near the stack's top) and by
//!   `suspend` (its own frame) and is only ever prefetched, never
//!   dereferenced, so any value is harmless (`scheduler/prefetch.rs`).
//! * `created_at`, `started_at` and `completed_at` are set once each, from
//!   the scheduler's clock reading of the current turn (see `run.rs`).
//!   `parked_at` is written by every `begin_park` that parks, from the same
//!   reading, and read only while `parked` is set (dumps).
//! * `parent` (the spawner's id, 0 for none) and `location` (where it was
//!   spawned) are set once, at spawn, for task dumps.

use std::backtrace::Backtrace;
use std::cell::{Cell, Ref, RefCell, UnsafeCell};
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::sync::Arc;
use std::time::Instant;

use corosensei::{Coroutine, CoroutineResult, Yielder};
use fibrio_context::Context;

use super::cancel::{self, Frame, FrameId};
use super::error::JoinError;
use super::state::{TaskState, WaitReason};
use super::stats::TaskStats;
use super::table::TaskKey;
use crate::fiber::current::{self as fiber_current, FiberHeader};
use crate::fiber::payload_message;
use crate::stack::FiberStack;
use crate::unwind::Cancelled;

pub(crate) type TaskCoroutine = Coroutine<(), (), (), FiberStack>;

/// `TaskHeader::cancel`: the task's own cancellation was requested.
const REQUESTED: u8 = 1;
/// `TaskHeader::cancel`: a shutting-down scheduler cancels through shields.
const FORCED: u8 = 2;
/// `TaskHeader::cancel`: the task has scope frames to look at.
const IN_SCOPE: u8 = 4;
/// `TaskHeader::wake`: a cancellation is what woke the task from `park`.
const WAKE_CANCEL: u8 = 1;
/// `TaskHeader::wake`: the task is resumed only to capture its backtrace.
const WAKE_CAPTURE: u8 = 2;

/// What a task's checkpoint must unwind for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingCancel {
    /// The task itself.
    Task,
    /// The scope with this id.
    Scope(u64),
}

/// Everything the scheduler knows about a task, independent of its output
/// type.
pub(crate) struct TaskHeader {
    key: TaskKey,
    runtime: u64,
    id: u64,
    name: Option<Arc<str>>,
    state: Cell<TaskState>,
    coroutine: UnsafeCell<ManuallyDrop<TaskCoroutine>>,
    coroutine_live: Cell<bool>,
    yielder: Cell<*const Yielder<(), ()>>,
    parked: Cell<bool>,
    queued: Cell<bool>,
    notified: Cell<bool>,
    cancel: Cell<u8>,
    /// Why the task's latest `suspend` returned, besides a plain wake-up:
    /// `WAKE_CANCEL`, `WAKE_CAPTURE` (see the module invariants).
    wake: Cell<u8>,
    scopes: RefCell<Vec<Frame>>,
    /// The first join waiter inline (the usual case: one joiner, no
    /// allocation), the rest in `more_waiters`.
    join_waiter: Cell<Option<TaskKey>>,
    more_waiters: RefCell<Vec<TaskKey>>,
    saved_fiber: Cell<*const FiberHeader>,
    context: RefCell<Context>,
    guard: (usize, usize),
    stack_size: usize,
    stack_hint: Cell<usize>,
    created_at: Instant,
    started_at: Cell<Option<Instant>>,
    completed_at: Cell<Option<Instant>>,
    switches: Cell<u64>,
    parent: u64,
    location: Option<&'static Location<'static>>,
    parked_at: Cell<Instant>,
    /// Declared last among the word-sized fields, so that it sits next to
    /// the one-byte flags (`parked` among them) that `begin_park` writes.
    wait: Cell<WaitReason>,
}

/// The immutable facts a new header starts from.
pub(crate) struct TaskIdentity {
    pub(crate) key: TaskKey,
    pub(crate) runtime: u64,
    pub(crate) id: u64,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) created_at: Instant,
    /// The spawner's id; 0 for none (main, a spawn from another thread).
    pub(crate) parent: u64,
    /// Where the task was spawned, when known.
    pub(crate) location: Option<&'static Location<'static>>,
}

impl TaskHeader {
    /// A `Pending` task that will run `coroutine`, queued, inside `scopes`.
    pub(crate) fn new(
        identity: TaskIdentity,
        coroutine: TaskCoroutine,
        context: Context,
        scopes: Vec<Frame>,
        guard: (usize, usize),
        stack_size: usize,
        stack_hint: usize,
    ) -> TaskHeader {
        TaskHeader {
            key: identity.key,
            runtime: identity.runtime,
            id: identity.id,
            name: identity.name,
            state: Cell::new(TaskState::Pending),
            coroutine: UnsafeCell::new(ManuallyDrop::new(coroutine)),
            coroutine_live: Cell::new(true),
            yielder: Cell::new(std::ptr::null()),
            parked: Cell::new(false),
            queued: Cell::new(true),
            notified: Cell::new(false),
            cancel: Cell::new(if scopes.is_empty() { 0 } else { IN_SCOPE }),
            wake: Cell::new(0),
            scopes: RefCell::new(scopes),
            join_waiter: Cell::new(None),
            more_waiters: RefCell::new(Vec::new()),
            saved_fiber: Cell::new(std::ptr::null()),
            context: RefCell::new(context),
            guard,
            stack_size,
            stack_hint: Cell::new(stack_hint),
            created_at: identity.created_at,
            started_at: Cell::new(None),
            completed_at: Cell::new(None),
            switches: Cell::new(0),
            parent: identity.parent,
            location: identity.location,
            parked_at: Cell::new(identity.created_at),
            wait: Cell::new(WaitReason::PARK),
        }
    }

    // ---- identity -------------------------------------------------------

    #[inline]
    pub(crate) fn key(&self) -> TaskKey {
        self.key
    }

    /// The id of the scheduler that owns the task.
    #[inline]
    pub(crate) fn runtime(&self) -> u64 {
        self.runtime
    }

    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn name(&self) -> Option<&Arc<str>> {
        self.name.as_ref()
    }

    /// The spawner's id; 0 for none.
    pub(crate) fn parent(&self) -> u64 {
        self.parent
    }

    /// Where the task was spawned, when known.
    pub(crate) fn location(&self) -> Option<&'static Location<'static>> {
        self.location
    }

    /// When the task last parked (meaningful while it is parked).
    pub(crate) fn parked_at(&self) -> Instant {
        self.parked_at.get()
    }

    pub(crate) fn guard(&self) -> (usize, usize) {
        self.guard
    }

    pub(crate) fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// Where on its stack the task will touch memory first when resumed.
    #[inline]
    pub(crate) fn stack_hint(&self) -> usize {
        self.stack_hint.get()
    }

    // ---- life -----------------------------------------------------------

    #[inline]
    pub(crate) fn state(&self) -> TaskState {
        self.state.get()
    }

    #[inline]
    pub(crate) fn is_terminal(&self) -> bool {
        self.state.get().is_terminal()
    }

    fn set_state(&self, next: TaskState) {
        debug_assert!(
            self.state.get().can_become(next),
            "illegal task transition {} -> {next}",
            self.state.get()
        );
        self.state.set(next);
    }

    /// `Pending` -> `Running`, at `now`.
    #[inline]
    pub(crate) fn start(&self, now: Instant) {
        self.set_state(TaskState::Running);
        self.started_at.set(Some(now));
    }

    /// Moves the task to its terminal state `state` at `now`, frees its
    /// stack, its context and its scope frames, and calls `wake` for each
    /// task waiting for it to end.
    pub(crate) fn finish(&self, state: TaskState, now: Instant, mut wake: impl FnMut(TaskKey)) {
        self.set_state(state);
        self.completed_at.set(Some(now));
        self.drop_coroutine();
        // The task's context variables go now, not when the last handle does.
        drop(self.context.take());
        // Leaving its scopes: their cancellations no longer concern it.
        self.set_in_scope(false);
        drop(self.scopes.take());
        if let Some(waiter) = self.join_waiter.take() {
            wake(waiter);
        }
        for waiter in self.more_waiters.take() {
            wake(waiter);
        }
    }

    /// Runs the task until it next suspends: makes its fiber and context
    /// current meanwhile, and restores the scheduler's afterwards. True if
    /// the task's root frame returned.
    ///
    /// # Safety
    ///
    /// The task is not terminal and is not running: only the scheduler loop
    /// calls this, never a task on itself.
    // Always inlined into the scheduler's loops: with two of them (the
    // production loop and the deterministic one) LLVM stopped inlining it,
    // which cost every task switch a call.
    #[inline(always)]
    pub(crate) unsafe fn resume(&self) -> bool {
        self.switches.set(self.switches.get() + 1);
        // SAFETY: `saved_fiber` is null or what the switch below returned
        // when this task last switched out, and the task has not finished.
        let outer_fiber = unsafe { fiber_current::switch_current(self.saved_fiber.get()) };
        self.context.borrow_mut().swap_with_current();
        // SAFETY: the coroutine is live (the task is not terminal) and no
        // other `&mut` to it exists because the task is not running (the
        // caller's contract).
        let coroutine = unsafe { &mut **self.coroutine.get() };
        let result = coroutine.resume(());
        // SAFETY: `outer_fiber` is what the switch above returned: null or
        // the fiber the scheduler loop runs in, alive while the loop is.
        self.saved_fiber
            .set(unsafe { fiber_current::switch_current(outer_fiber) });
        self.context.borrow_mut().swap_with_current();
        matches!(result, CoroutineResult::Return(()))
    }

    /// Called by the task's root frame before any user code runs.
    pub(crate) fn set_yielder(&self, yielder: &Yielder<(), ()>) {
        self.yielder.set(yielder);
    }

    /// Switches from the running task (this one) back to the scheduler.
    /// Returns true if a cancellation is what woke the task from `park`
    /// (the mark is cleared), false for any other wake-up.
    ///
    /// # Safety
    ///
    /// This task is the one running on this thread (the caller found it as
    /// the scheduler's running task).
    #[inline]
    pub(crate) unsafe fn suspend(&self) -> bool {
        // SAFETY: the yielder was stored by the task's root frame before any
        // user code ran, lives on the task's stack, and we are running on
        // that task (the caller's contract).
        let yielder = unsafe { &*self.yielder.get() };
        let here = 0u8;
        self.stack_hint
            .set(std::hint::black_box(&here) as *const u8 as usize);
        yielder.suspend(());
        // One load and one branch for both marks: a plain wake-up (the
        // common case) costs nothing more.
        if self.wake.get() == 0 {
            return false;
        }
        self.woken_marked(yielder)
    }

    /// The rest of `suspend` when `wake` holds a mark: captures (and
    /// suspends again, running no user code) for as long as capture
    /// resumes come, then takes the cancellation mark.
    #[cold]
    #[inline(never)]
    fn woken_marked(&self, yielder: &Yielder<(), ()>) -> bool {
        while self.wake.get() & WAKE_CAPTURE != 0 {
            capture_here(yielder);
        }
        self.wake.replace(0) & WAKE_CANCEL != 0
    }

    /// A backtrace of this suspended task, taken at its park point by
    /// resuming it into a capture mode that runs no user code (see the
    /// module invariants); `None` if it never ran or has ended. Frames are
    /// not resolved (symbolised) until the backtrace is printed.
    ///
    /// # Safety
    ///
    /// The task is not the running one and is not being resumed: only the
    /// scheduler's thread calls this, between task runs or from another
    /// task.
    pub(crate) unsafe fn capture_backtrace(&self) -> Option<Backtrace> {
        if !self.coroutine_live.get() || self.is_terminal() {
            return None;
        }
        // SAFETY: the coroutine is live and not running (the caller's
        // contract), so no other `&mut` to it exists.
        let coroutine = unsafe { &mut **self.coroutine.get() };
        if !coroutine.started() || coroutine.done() {
            return None;
        }
        // The capture mark is set only around this resume, and the task's
        // `suspend` leaves the cancellation mark alone meanwhile.
        self.wake.set(self.wake.get() | WAKE_CAPTURE);
        let result = coroutine.resume(());
        self.wake.set(self.wake.get() & !WAKE_CAPTURE);
        debug_assert!(matches!(result, CoroutineResult::Yield(())));
        CAPTURED.with(|slot| slot.take())
    }

    /// Drops the coroutine (and with it the closure, if it never ran), which
    /// returns the stack to the pool. Later calls do nothing.
    ///
    /// Only `finish` (the coroutine has returned, or never started) and
    /// `Drop` call this; a task never finishes itself, so the coroutine is
    /// never running here.
    fn drop_coroutine(&self) {
        if !self.coroutine_live.replace(false) {
            return;
        }
        // SAFETY: the coroutine is live (`coroutine_live` was true) and not
        // running (see above), so no `&mut` to it is live.
        let coroutine = unsafe { &mut *self.coroutine.get() };
        if !coroutine.started() || coroutine.done() {
            // Finished, or never ran: dropping it runs none of the task's
            // code (at most the closure's captures' `Drop`s).
            // SAFETY: `coroutine_live` was true, so this is the only drop.
            unsafe { ManuallyDrop::drop(coroutine) }
            return;
        }
        if fiber_current::must_leak_suspended_stacks() {
            // Thread-locals are being destroyed, and the task's frames may
            // borrow one that is gone: leak the stack unwound, as a fiber's
            // (see `fiber`'s "Thread exit" docs). `coroutine_live` is false,
            // so it is never dropped.
            self.saved_fiber.set(std::ptr::null());
            return;
        }
        // Dropping a suspended coroutine unwinds its stack, which runs the
        // task's code; make the task's PHP-style fiber current meanwhile,
        // as `resume` does, so that the fibers it unwinds see their own
        // nesting (and this thread's current fiber is the same afterwards).
        // SAFETY: `saved_fiber` is null or the fiber that was current when
        // the task last switched out; its `Fiber` is borrowed on the task's
        // stack, which has not been unwound yet.
        let outer = unsafe { fiber_current::switch_current(self.saved_fiber.get()) };
        let restore = RestoreFiber(outer);
        // Fibers parked in the task pass the unwinding on to the task's
        // stack instead of returning it as a panic (`Fiber::finish`).
        let dropping = fiber_current::DroppingTask::enter();
        // SAFETY: `coroutine_live` was true, so this is the only drop.
        unsafe { ManuallyDrop::drop(coroutine) }
        drop(dropping);
        drop(restore);
        self.saved_fiber.set(std::ptr::null());
    }

    // ---- wake-ups -------------------------------------------------------

    /// Takes the task off the run queue's books, as the scheduler pops it.
    #[inline]
    pub(crate) fn take_queued(&self) {
        self.queued.set(false);
    }

    /// Records that the task's key is being pushed onto the run queue (a
    /// yield). Must not be parked or queued already.
    #[inline]
    pub(crate) fn mark_queued(&self) {
        debug_assert!(!self.parked.get() && !self.queued.get());
        self.queued.set(true);
    }

    /// Wakes the task. True if it was parked, in which case it is now
    /// queued and the caller must push its key onto the run queue;
    /// otherwise its next `begin_park` returns at once.
    #[inline]
    pub(crate) fn unpark(&self) -> bool {
        if self.parked.replace(false) {
            self.queued.set(true);
            true
        } else {
            if !self.is_terminal() {
                self.notified.set(true);
            }
            false
        }
    }

    /// The running task is about to park, waiting for `reason`: false if a
    /// wake-up token was waiting (consumed; do not park), true if it is now
    /// parked, with `reason` recorded.
    #[inline]
    pub(crate) fn begin_park(&self, reason: WaitReason, now: Instant) -> bool {
        if self.notified.replace(false) {
            return false;
        }
        self.wait.set(reason);
        self.parked_at.set(now);
        self.parked.set(true);
        true
    }

    /// What the task waits for while it is parked; `None` otherwise.
    pub(crate) fn wait_reason(&self) -> Option<WaitReason> {
        self.parked.get().then(|| self.wait.get())
    }

    // ---- cancellation ---------------------------------------------------

    /// True while the task is suspended in `park`, waiting to be unparked.
    pub(crate) fn is_parked(&self) -> bool {
        self.parked.get()
    }

    /// True while the task's key is in the run queue.
    pub(crate) fn is_queued(&self) -> bool {
        self.queued.get()
    }

    /// True once the task's own cancellation was requested (or forced),
    /// whether or not it can reach the task through its shields.
    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel.get() & (REQUESTED | FORCED) != 0
    }

    /// Requests cancellation. Returns whether the task is parked (and so
    /// must be woken to reach its checkpoint); false for a terminal task,
    /// which is left alone.
    pub(crate) fn request_cancel(&self) -> bool {
        if self.is_terminal() {
            return false;
        }
        self.cancel.set(self.cancel.get() | REQUESTED);
        self.parked.get()
    }

    /// Cancels through shields (a scheduler shutting down).
    pub(crate) fn force_cancel(&self) {
        self.cancel.set(self.cancel.get() | FORCED);
    }

    /// If the task is parked, marks its coming wake-up as a cancellation's.
    /// Returns whether it is parked.
    pub(crate) fn mark_cancel_wake(&self) -> bool {
        let parked = self.parked.get();
        if parked {
            self.wake.set(self.wake.get() | WAKE_CANCEL);
        }
        parked
    }

    /// False when no cancellation flag is set at all (one load): then
    /// [`pending_cancel`](Self::pending_cancel) is `None` for sure.
    #[inline]
    pub(crate) fn may_be_cancelled(&self) -> bool {
        self.cancel.get() != 0
    }

    /// What a checkpoint would unwind for now.
    pub(crate) fn pending_cancel(&self) -> Option<PendingCancel> {
        let flags = self.cancel.get();
        if flags & FORCED != 0 {
            return Some(PendingCancel::Task);
        }
        if flags & IN_SCOPE == 0 {
            return (flags & REQUESTED != 0).then_some(PendingCancel::Task);
        }
        let (scope, reached_task) = cancel::visible_cancel(&self.scopes.borrow());
        if reached_task && flags & REQUESTED != 0 {
            return Some(PendingCancel::Task);
        }
        scope.map(PendingCancel::Scope)
    }

    /// The checkpoint: unwinds the running task (this one) if it has been
    /// cancelled, unless the thread is already unwinding.
    // Always inlined, its slow part out of line: on the park path this is
    // one load and one branch, where a call cost ~18 instructions
    // (callgrind, issue 15). The unwind is raised here, in the caller's
    // frame, and not in the out-of-line part: a frame fewer for the
    // unwinder to walk, twice, in every cancellation (issue 18).
    #[inline(always)]
    pub(crate) fn checkpoint(&self) {
        if self.cancel.get() != 0 {
            if let Some(payload) = self.cancellation_payload() {
                std::panic::resume_unwind(payload);
            }
        }
    }

    /// `checkpoint` with a cancellation flag set: the payload to unwind
    /// with, if a cancellation reaches the task and the thread is not
    /// already unwinding.
    #[cold]
    #[inline(never)]
    fn cancellation_payload(&self) -> Option<Box<dyn std::any::Any + Send>> {
        let pending = self.pending_cancel()?;
        if std::thread::panicking() {
            return None;
        }
        Some(Cancelled::payload(match pending {
            PendingCancel::Task => None,
            PendingCancel::Scope(id) => Some(id),
        }))
    }

    // ---- scopes ---------------------------------------------------------

    /// True if the task is inside at least one cancel scope.
    #[inline]
    pub(crate) fn in_scope(&self) -> bool {
        self.cancel.get() & IN_SCOPE != 0
    }

    fn set_in_scope(&self, in_scope: bool) {
        let flags = self.cancel.get() & !IN_SCOPE;
        self.cancel
            .set(if in_scope { flags | IN_SCOPE } else { flags });
    }

    /// The task's scope frames, innermost last.
    pub(crate) fn frames(&self) -> Ref<'_, Vec<Frame>> {
        self.scopes.borrow()
    }

    /// The earliest scope deadline visible from the innermost frame.
    pub(crate) fn visible_deadline(&self) -> Option<Instant> {
        if !self.in_scope() {
            return None;
        }
        cancel::visible_deadline(&self.scopes.borrow())
    }

    pub(crate) fn push_frame(&self, frame: Frame) {
        let mut frames = self.scopes.borrow_mut();
        frames.push(frame);
        self.set_in_scope(true);
    }

    /// Removes the frame `id`, wherever it is (normally on top), and drops
    /// it. Does nothing if the task no longer has it (it finished).
    pub(crate) fn remove_frame(&self, id: FrameId) {
        let removed = {
            let mut frames = self.scopes.borrow_mut();
            let position = frames.iter().rposition(|frame| frame.id() == id);
            let removed = position.map(|at| frames.remove(at));
            self.set_in_scope(!frames.is_empty());
            removed
        };
        drop(removed);
    }

    // ---- joining --------------------------------------------------------

    pub(crate) fn add_join_waiter(&self, waiter: TaskKey) {
        if self.join_waiter.get().is_none() {
            self.join_waiter.set(Some(waiter));
        } else {
            self.more_waiters.borrow_mut().push(waiter);
        }
    }

    pub(crate) fn remove_join_waiter(&self, waiter: TaskKey) {
        if self.join_waiter.get() == Some(waiter) {
            self.join_waiter.set(None);
            return;
        }
        let mut waiters = self.more_waiters.borrow_mut();
        if let Some(i) = waiters.iter().position(|k| *k == waiter) {
            waiters.swap_remove(i);
        }
    }

    // ---- statistics -----------------------------------------------------

    /// How many times the scheduler switched into the task.
    #[inline]
    pub(crate) fn stats_switches(&self) -> u64 {
        self.switches.get()
    }

    pub(crate) fn stats(&self) -> TaskStats {
        TaskStats {
            id: self.id,
            name: self.name.clone(),
            state: self.state.get(),
            created_at: self.created_at,
            started_at: self.started_at.get(),
            completed_at: self.completed_at.get(),
            switches: self.switches.get(),
        }
    }
}

impl Drop for TaskHeader {
    fn drop(&mut self) {
        // Normally already done by `finish`. A task dropped while suspended
        // (its scheduler unwound before finishing it) is unwound here.
        self.drop_coroutine();
    }
}

thread_local! {
    /// Where a task in capture mode leaves its backtrace.
    static CAPTURED: Cell<Option<Backtrace>> = const { Cell::new(None) };
}

/// A suspended task's capture: records the backtrace here (the task's own
/// stack) and suspends back to the capturer.
#[cold]
#[inline(never)]
fn capture_here(yielder: &Yielder<(), ()>) {
    let backtrace = Backtrace::force_capture();
    CAPTURED.with(|slot| slot.set(Some(backtrace)));
    yielder.suspend(());
}

/// Makes its fiber current again when dropped, even by a panic out of a
/// coroutine being unwound (`TaskHeader::drop_coroutine`).
struct RestoreFiber(*const FiberHeader);

impl Drop for RestoreFiber {
    fn drop(&mut self) {
        // SAFETY: `self.0` is what `switch_current` returned in
        // `drop_coroutine`: null or the fiber this code runs in, alive for
        // as long as this code runs.
        unsafe { fiber_current::switch_current(self.0) };
    }
}

/// A task with output type `T`.
pub(crate) struct Task<T> {
    pub(crate) header: TaskHeader,
    output: UnsafeCell<Option<Result<T, JoinError>>>,
}

impl<T> Task<T> {
    pub(crate) fn new(header: TaskHeader) -> Task<T> {
        Task {
            header,
            output: UnsafeCell::new(None),
        }
    }

    /// Stores the task's outcome. Called once, by the root frame or by the
    /// scheduler for a task cancelled before it ran.
    pub(crate) fn set_output(&self, output: Result<T, JoinError>) {
        // SAFETY: the output is written once (module invariant), and read
        // only by `take_output` after the task is terminal, so no reference
        // into it is live now.
        unsafe { *self.output.get() = Some(output) };
    }

    /// Takes the outcome of a terminal task: `None` before it ended, and
    /// `Err(Cancelled)` once the outcome was taken.
    pub(crate) fn take_output(&self) -> Option<Result<T, JoinError>> {
        if !self.header.is_terminal() {
            return None;
        }
        // SAFETY: the task is terminal, so the root frame can no longer
        // write; no other reference into `output` exists.
        Some(unsafe { (*self.output.get()).take() }.unwrap_or(Err(JoinError::Cancelled)))
    }
}

/// The view of a task that the task table keeps, whatever its output type.
pub(crate) trait ErasedTask {
    fn header(&self) -> &TaskHeader;
    /// Records `Cancelled` as the outcome of a task that never ran.
    fn set_cancelled(&self);
    /// The terminal state matching the stored outcome.
    fn outcome_state(&self) -> TaskState;
    /// The message of the panic stored as the outcome, if the task
    /// panicked and nobody has taken the outcome.
    fn untaken_panic(&self) -> Option<String>;
}

impl<T> ErasedTask for Task<T> {
    fn header(&self) -> &TaskHeader {
        &self.header
    }

    fn set_cancelled(&self) {
        self.set_output(Err(JoinError::Cancelled));
    }

    fn outcome_state(&self) -> TaskState {
        // SAFETY: called by the scheduler right after the root frame wrote
        // the output and before anyone can take it.
        match unsafe { &*self.output.get() } {
            Some(Ok(_)) => TaskState::Completed,
            Some(Err(JoinError::Panicked(_))) => TaskState::Failed,
            _ => TaskState::Cancelled,
        }
    }

    fn untaken_panic(&self) -> Option<String> {
        if !self.header.is_terminal() {
            return None;
        }
        // SAFETY: the task is terminal, so its root frame no longer writes
        // the output; `take_output`, the only other access, takes `&self`
        // on this thread and does not run during this call.
        match unsafe { &*self.output.get() } {
            Some(Err(JoinError::Panicked(payload))) => Some(payload_message(payload).to_owned()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::{TaskHeader, WaitReason};

    /// The record's invariants promise that `begin_park`'s store of the
    /// wait reason lands next to the `parked` flag it writes anyway.
    #[test]
    fn the_wait_reason_sits_next_to_the_park_flags() {
        let wait = offset_of!(TaskHeader, wait);
        let parked = offset_of!(TaskHeader, parked);
        let (low, high) = if wait < parked {
            (wait, parked + 1)
        } else {
            (parked, wait + size_of::<WaitReason>())
        };
        assert!(
            high - low <= 48,
            "wait at {wait}, parked at {parked}, header {} bytes",
            size_of::<TaskHeader>()
        );
        assert_eq!(size_of::<WaitReason>(), 24);
    }
}
