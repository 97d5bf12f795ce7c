//! Main's slot: main's closure and its value, kept on `block_on`'s frame
//! so that main's task record holds nothing borrowed, and the guard that
//! keeps main's frames from running once `block_on` has been left.
//!
//! # Invariants
//!
//! * Main's task record holds nothing borrowed: main's closure and its
//!   value live in a `MainSlot` on `block_on`'s frame, and the task's
//!   closure holds only a raw pointer to it and a function pointer.
//! * Main's frames never run once `block_on` has been left: it returns
//!   only after main ended, and on a panic out of it `FinishMain` unwinds
//!   (or, at thread exit, leaks) main's stack before the slot and the
//!   caller's borrows go.

use std::rc::Rc;

use super::inner::SchedulerInner;
use super::record::Task;

/// Main's closure and, once it has returned, its value: kept on
/// `block_on`'s frame, so that main's task record (which `TaskRef`s can keep
/// alive past `block_on`) holds nothing borrowed.
pub(super) struct MainSlot<F, T> {
    pub(super) main: Option<F>,
    pub(super) output: Option<T>,
}

/// [`run_main`] for `slot`'s types, as a plain function pointer: its type,
/// `unsafe fn(*mut ())`, names neither `F` nor `T`, so it is `'static` even
/// when they borrow.
pub(super) fn thunk_of<F: FnOnce() -> T, T>(_slot: &MainSlot<F, T>) -> unsafe fn(*mut ()) {
    run_main::<F, T>
}

/// Main's root: takes the closure out of the slot, runs it, and stores its
/// value back in the slot. A panic (or cancellation) unwinds out of here
/// to the task's root frame, which records it; the slot is not touched
/// then.
///
/// # Safety
///
/// `slot` points at a `MainSlot<F, T>` that stays live, and that nothing
/// else reads or writes, from the start of this call until it returns or
/// unwinds, however long it is suspended in between; and once the slot is
/// gone, the call is never resumed.
unsafe fn run_main<F: FnOnce() -> T, T>(slot: *mut ()) {
    let slot = slot.cast::<MainSlot<F, T>>();
    // SAFETY: `slot` is live and unaliased (the contract above); the
    // reference lasts only for this statement.
    let main = unsafe { (*slot).main.take() };
    let value = main.expect("fibrio: main's closure runs once")();
    // SAFETY: the slot is still live and unaliased: this call has not
    // returned yet (the contract above), whatever `main` did meanwhile.
    unsafe { (*slot).output = Some(value) };
}

/// Leaves main terminal, with its coroutine dropped, when `block_on` is
/// left while main has not ended: only by a panic out of the scheduler's
/// loop (the driver's `park`, a task's value or context dropped by the
/// loop, a job from another thread) or out of the shutdown, since the
/// normal way out waits for main to end first.
///
/// This is what keeps main's frames from running after `block_on`, and
/// so from using what they borrow (`block_on`'s `'a`, and the slot):
///
/// * Dropping main's coroutine unwinds its stack now, while `'a` and the
///   slot are still live (this guard is dropped before the slot, inside
///   the call that borrows `'a`); or, where that is not safe (while the
///   thread's thread-locals are destroyed, or fibrio cannot tell that it
///   is not), leaks it: its stack stays mapped and its frames never run
///   again (`TaskHeader::drop_coroutine`). A coroutine that never started
///   just drops its `'static` closure.
/// * Either way main is terminal afterwards, and its coroutine is marked
///   dropped, so no `run_task` resumes it and no later drop of its record
///   (the last `TaskRef` of it, kept in a thread-local, say) unwinds it.
///
/// Without this guard, main's suspended coroutine would be unwound when
/// the last `Rc` of its record is dropped: with the scheduler's table
/// still inside this call, or much later through a kept `TaskRef`, when
/// what its frames borrow is gone.
pub(super) struct FinishMain<'s> {
    pub(super) scheduler: &'s SchedulerInner,
    pub(super) task: &'s Rc<Task<()>>,
}

impl Drop for FinishMain<'_> {
    fn drop(&mut self) {
        if self.task.header.is_terminal() {
            return;
        }
        // What main's `Drop`s spawn while it unwinds would never run.
        self.scheduler.shutting_down.set(true);
        self.scheduler.finish(self.task.header.key(), &**self.task);
    }
}
