//! [`FiberError`]: every way a fiber operation can be refused.
//!
//! Each variant corresponds to one `FiberError` message of PHP's `Fiber`
//! class where PHP has one, and the `Display` text uses PHP's wording so that
//! people porting PHP code recognise it. The variants that PHP does not have
//! ([`FiberError::Unwinding`], [`FiberError::ReturnTaken`],
//! [`FiberError::TypeMismatch`], [`FiberError::Panicked`]) exist because Rust
//! moves values, types its channels, and reports panics as values.

use std::any::Any;
use std::fmt;

/// The payload of a panic, or of a value passed to [`Fiber::throw`].
///
/// [`Fiber::throw`]: crate::fiber::Fiber::throw
pub type Payload = Box<dyn Any + Send + 'static>;

/// Why a fiber operation was refused.
///
/// Misusing a fiber is always reported through this type, never through
/// undefined behaviour or an abort.
///
/// # Examples
///
/// ```
/// use fibrio_core::fiber::{Fiber, FiberError};
///
/// let fiber: Fiber<(), (), u32> = Fiber::new(|()| 7);
/// assert_eq!(fiber.start(()).unwrap(), None);
/// let err = fiber.start(()).unwrap_err();
/// assert!(matches!(err, FiberError::AlreadyStarted));
/// assert_eq!(err.to_string(), "Cannot start a fiber that has already been started");
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum FiberError {
    /// [`start`](crate::fiber::Fiber::start) was called on a fiber that was
    /// already started. Use `resume` to continue a suspended fiber.
    #[error("Cannot start a fiber that has already been started")]
    AlreadyStarted,

    /// `resume` or `throw` was called on a fiber that is not suspended: it
    /// has not been started, is running, or has terminated. Check
    /// `is_suspended()` first.
    #[error("Cannot resume a fiber that is not suspended")]
    NotSuspended,

    /// [`suspend`](crate::fiber::suspend) was called on a thread stack, not
    /// inside a fiber. Only code running inside a fiber can suspend.
    #[error("Cannot suspend outside of fiber")]
    OutsideFiber,

    /// [`suspend`](crate::fiber::suspend) was called while the fiber is
    /// being destroyed (its `Fiber` was dropped while suspended, and its stack
    /// is unwinding). Cleanup code must not suspend; finish without blocking.
    #[error("Cannot suspend in a force-closed fiber")]
    ForceClosed,

    /// [`suspend`](crate::fiber::suspend) was called while the thread is
    /// unwinding from a panic. Suspending then would leak the panic state to
    /// other fibers (the panic count is per thread), so it is refused. Code in
    /// `Drop` must not suspend.
    #[error("Cannot switch fibers while the thread is unwinding from a panic; do not suspend in Drop or during panic cleanup")]
    Unwinding,

    /// `get_return` was called on a fiber that was never started.
    #[error("Cannot get fiber return value: The fiber has not been started")]
    NotStarted,

    /// `get_return` was called on a fiber that is suspended or running.
    /// Resume it until `is_terminated()` is true.
    #[error("Cannot get fiber return value: The fiber has not returned")]
    NotReturned,

    /// `get_return` was called on a fiber that ended with a panic or an
    /// uncaught [`throw`](crate::fiber::Fiber::throw), or that was
    /// force-closed. The panic payload was already handed to the caller of
    /// the `start`/`resume`/`throw` that ran it, as [`FiberError::Panicked`].
    #[error("Cannot get fiber return value: The fiber threw an exception")]
    Threw,

    /// `get_return` was called again after it had already moved the return
    /// value out. Keep the value from the first call.
    #[error("Cannot get fiber return value: The return value was already taken by an earlier get_return call")]
    ReturnTaken,

    /// The fiber panicked (or did not catch a payload passed to `throw`).
    /// The payload is kept here so it can be inspected or re-raised with
    /// [`std::panic::resume_unwind`]. The fiber is now terminated.
    #[error("the fiber panicked: {}", payload_message(.0))]
    Panicked(Payload),

    /// [`suspend`](crate::fiber::suspend) was called with types that are not
    /// those of the fiber it runs in. Call `suspend::<I, O>` with the fiber's
    /// own input and output types.
    #[error("Cannot suspend: this fiber is a Fiber<{expected_input}, {expected_output}, _>, but suspend was called as suspend::<{found_input}, {found_output}>")]
    TypeMismatch {
        /// The input type of the running fiber.
        expected_input: &'static str,
        /// The output type of the running fiber.
        expected_output: &'static str,
        /// The input type `suspend` was called with.
        found_input: &'static str,
        /// The output type `suspend` was called with.
        found_output: &'static str,
    },
}

impl FiberError {
    /// Returns the panic payload if this is [`FiberError::Panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::fiber::Fiber;
    ///
    /// let fiber: Fiber<(), (), ()> = Fiber::new(|()| std::panic::panic_any(42_u8));
    /// # let hook = std::panic::take_hook();
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// let payload = fiber.start(()).unwrap_err().into_panic().unwrap();
    /// # std::panic::set_hook(hook);
    /// assert_eq!(payload.downcast_ref::<u8>(), Some(&42));
    /// ```
    pub fn into_panic(self) -> Option<Payload> {
        match self {
            FiberError::Panicked(payload) => Some(payload),
            _ => None,
        }
    }
}

impl fmt::Debug for FiberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FiberError::Panicked(payload) => f
                .debug_tuple("Panicked")
                .field(&payload_message(payload))
                .finish(),
            FiberError::TypeMismatch {
                expected_input,
                expected_output,
                found_input,
                found_output,
            } => f
                .debug_struct("TypeMismatch")
                .field("expected_input", expected_input)
                .field("expected_output", expected_output)
                .field("found_input", found_input)
                .field("found_output", found_output)
                .finish(),
            FiberError::AlreadyStarted => f.write_str("AlreadyStarted"),
            FiberError::NotSuspended => f.write_str("NotSuspended"),
            FiberError::OutsideFiber => f.write_str("OutsideFiber"),
            FiberError::ForceClosed => f.write_str("ForceClosed"),
            FiberError::Unwinding => f.write_str("Unwinding"),
            FiberError::NotStarted => f.write_str("NotStarted"),
            FiberError::NotReturned => f.write_str("NotReturned"),
            FiberError::Threw => f.write_str("Threw"),
            FiberError::ReturnTaken => f.write_str("ReturnTaken"),
        }
    }
}

/// Renders a panic payload as text: the message of `panic!("...")`, or a
/// placeholder naming that the payload is of another type.
///
/// # Examples
///
/// ```
/// use fibrio_core::fiber::payload_message;
///
/// let payload: Box<dyn std::any::Any + Send> = Box::new("boom");
/// assert_eq!(payload_message(&payload), "boom");
/// let payload: Box<dyn std::any::Any + Send> = Box::new(5_i32);
/// assert_eq!(payload_message(&payload), "<non-string panic payload>");
/// ```
pub fn payload_message(payload: &Payload) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "<non-string panic payload>"
    }
}
