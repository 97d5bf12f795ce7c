//! The bottom of `fibrio-core`: the private payload that cancellation
//! unwinds a task with, and how to recognise it.
//!
//! # Invariants
//!
//! * Only the task kernel (`scheduler`) starts an unwind with
//!   [`Cancelled`], at a checkpoint of the running task; every layer above
//!   recognises it with [`is_cancellation`] and passes it on.
//! * A `Cancelled` unwind never reaches the panic hook: it is started with
//!   [`std::panic::resume_unwind`], which does not call the hook.

/// The private panic payload that unwinds a cancelled task: `scope` names
/// the cancel scope whose `run` catches it, or is `None` when the task
/// itself was cancelled.
pub(crate) struct Cancelled {
    pub(crate) scope: Option<u64>,
}

impl Cancelled {
    /// Unwinds the running code with a cancellation for `scope` (`None`:
    /// the whole task).
    pub(crate) fn unwind(scope: Option<u64>) -> ! {
        std::panic::resume_unwind(Box::new(Cancelled { scope }))
    }
}

/// True if `payload` is the one fibrio unwinds cancelled tasks with. Code
/// that catches unwinding (`catch_unwind`) should resume it with
/// [`std::panic::resume_unwind`] rather than swallow it; swallowing does
/// not help anyway, since the next checkpoint unwinds again.
///
/// # Examples
///
/// ```
/// let payload: Box<dyn std::any::Any + Send> = Box::new("a real panic");
/// assert!(!fibrio_core::task::is_cancellation(&*payload));
/// ```
pub fn is_cancellation(payload: &(dyn std::any::Any + Send)) -> bool {
    payload.is::<Cancelled>()
}
