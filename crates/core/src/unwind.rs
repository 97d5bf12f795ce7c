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
//! * The unwind is raised in the frame of the code that hit the checkpoint
//!   (`TaskHeader::checkpoint` is inlined there), not in a helper frame of
//!   its own: the unwinder walks every frame between the raise and the
//!   task's root twice (search, then cleanup), about 3,600 instructions a
//!   frame, and that walk is most of what cancelling a parked task costs
//!   (issue 18, docs/scaling.md).

/// The private panic payload that unwinds a cancelled task: `scope` names
/// the cancel scope whose `run` catches it, or is `None` when the task
/// itself was cancelled.
pub(crate) struct Cancelled {
    pub(crate) scope: Option<u64>,
}

impl Cancelled {
    /// The payload to unwind the running code with, for a cancellation of
    /// `scope` (`None`: the whole task). The caller raises it with
    /// [`std::panic::resume_unwind`], from its own frame.
    pub(crate) fn payload(scope: Option<u64>) -> Box<dyn std::any::Any + Send> {
        Box::new(Cancelled { scope })
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
