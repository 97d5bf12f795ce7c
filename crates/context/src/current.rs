//! The thread's current context, [`swap_current`], and the in-place
//! exchange behind [`Context::swap_with_current`], the one call the
//! scheduler makes on each side of every task switch.
//!
//! # Invariants
//!
//! * Each thread has exactly one current [`Context`]. Outside any task it
//!   is the thread's own (empty when the thread starts); while a fibrio task
//!   runs, it is that task's, because the scheduler swaps it in before
//!   resuming the task and out after the task switches back.
//! * The `RefCell` is borrowed only inside this crate, for the length of
//!   one map operation, and no user code runs meanwhile: values are cloned
//!   (`T::clone`) after the borrow ends, and displaced values are dropped
//!   after it ends. So a value's `Clone` or `Drop` may itself use context
//!   variables, and `borrow_mut` never fails.
//! * While the thread is being torn down (after its thread-locals are
//!   destroyed), reads see nothing and writes do nothing.

use std::cell::RefCell;

use crate::Context;

thread_local! {
    static CURRENT: RefCell<Context> = const { RefCell::new(Context::new()) };
}

/// Calls `f` with the current context; `None` during thread teardown.
pub(crate) fn with<R>(f: impl FnOnce(&Context) -> R) -> Option<R> {
    CURRENT.try_with(|current| f(&current.borrow())).ok()
}

/// Calls `f` with the current context, mutably; `None` during thread
/// teardown. `f` must return, not drop, every entry it displaces.
pub(crate) fn with_mut<R>(f: impl FnOnce(&mut Context) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| f(&mut current.borrow_mut()))
        .ok()
}

/// Exchanges `context` with the thread's current context, in place: a
/// thread-local access, a borrow-flag check and a two-word swap. During
/// thread teardown nothing is exchanged.
#[inline]
pub(crate) fn exchange(context: &mut Context) {
    let _ = CURRENT.try_with(|current| std::mem::swap(&mut *current.borrow_mut(), context));
}

/// Installs `context` as the thread's current context and returns the one
/// it replaces.
///
/// Most code wants [`Context::run`], which puts the previous context back
/// by itself. The fibrio scheduler uses the in-place form,
/// [`Context::swap_with_current`], which saves moving the contexts in and
/// out of the task.
///
/// During thread teardown (thread-locals already destroyed) nothing can be
/// installed, and `context` itself is returned.
///
/// # Examples
///
/// ```
/// use fibrio_context::{get_context, set_context, swap_current, Context};
///
/// set_context("who", "thread");
/// let thread_context = swap_current(Context::new());
/// assert_eq!(get_context::<&str>("who"), None);
/// set_context("who", "task");
/// let task_context = swap_current(thread_context);
/// assert_eq!(get_context::<&str>("who"), Some("thread"));
/// drop(task_context);
/// ```
#[inline]
pub fn swap_current(mut context: Context) -> Context {
    exchange(&mut context);
    context
}
