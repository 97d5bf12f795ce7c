//! [`ContextVar<T>`]: typed context variables, with [`Token`]s that undo a
//! `set`, and [`ContextVar::scoped`].
//!
//! # Invariants
//!
//! * A variable's key is a process-unique id, assigned on first use and
//!   never reused, so two variables never share a slot, whatever their
//!   names, and no variable shares a slot with a string key (typed and
//!   string keys live in separate maps).
//! * A variable's values are all stored the same way, chosen when the
//!   variable is created: `Rc` for [`ContextVar::new`], `Arc` (and so
//!   carried by [`SendableContext`](crate::SendableContext)) for
//!   [`ContextVar::new_sendable`].
//! * A [`Token`] records the own-level entry that its `set` replaced, the
//!   variable, and the context it was made in; `reset` refuses any other
//!   variable or context. It is consumed by `reset`, so it is used at most
//!   once, and it is `!Send`.

use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::context::Entry;
use crate::{current, Context};

static NEXT_VAR_ID: AtomicU64 = AtomicU64::new(1);

/// A typed context variable: a key whose value each task (and each thread
/// outside tasks) sees in its own current context.
///
/// Like Python's `contextvars.ContextVar`: a task spawned while the variable
/// is set starts with that value, and writes never reach the parent or
/// other tasks. Every `ContextVar` is a distinct variable, even if two share
/// a name; the name is only for debugging.
///
/// `new` is `const`, so the usual home of a variable is a `static`.
/// Variables made with [`new_sendable`](ContextVar::new_sendable) are also
/// carried into `fibrio::spawn_blocking` closures (see
/// [`SendableContext`](crate::SendableContext)).
///
/// # Examples
///
/// ```
/// use fibrio_context::{Context, ContextVar};
///
/// static REQUEST_ID: ContextVar<String> = ContextVar::new("request_id");
///
/// assert_eq!(REQUEST_ID.get(), None);
/// let token = REQUEST_ID.set("req-1".to_string());
/// assert_eq!(REQUEST_ID.get().as_deref(), Some("req-1"));
///
/// // A snapshot (what a spawned task starts with) inherits the value.
/// let mut child = Context::current_snapshot();
/// child.run(|| {
///     assert_eq!(REQUEST_ID.get().as_deref(), Some("req-1"));
///     REQUEST_ID.set("changed in the child".to_string());
/// });
/// assert_eq!(REQUEST_ID.get().as_deref(), Some("req-1"));
///
/// REQUEST_ID.reset(token).unwrap();
/// assert_eq!(REQUEST_ID.get(), None);
/// ```
pub struct ContextVar<T> {
    name: &'static str,
    /// 0 until first use.
    id: AtomicU64,
    wrap: fn(T) -> Entry,
    _value: PhantomData<fn() -> T>,
}

impl<T: Clone + 'static> ContextVar<T> {
    /// A new variable. Its values stay on the thread that set them: a
    /// `fibrio::spawn_blocking` closure reads it as unset.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    /// use fibrio_context::ContextVar;
    ///
    /// // Any `Clone + 'static` type, `Rc` included.
    /// let user = ContextVar::<Rc<str>>::new("user");
    /// user.set(Rc::from("ada"));
    /// assert_eq!(user.get().as_deref(), Some("ada"));
    /// ```
    pub const fn new(name: &'static str) -> ContextVar<T> {
        ContextVar {
            name,
            id: AtomicU64::new(0),
            wrap: Entry::local::<T>,
            _value: PhantomData,
        }
    }

    /// The value in the current context, cloned; `None` if unset.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::ContextVar;
    ///
    /// static ATTEMPT: ContextVar<u32> = ContextVar::new("attempt");
    /// assert_eq!(ATTEMPT.get(), None);
    /// ATTEMPT.set(3);
    /// assert_eq!(ATTEMPT.get(), Some(3));
    /// ```
    pub fn get(&self) -> Option<T> {
        let id = self.id();
        let entry = current::with(|context| context.get::<u64>(&id)).flatten()?;
        // Cloned outside the thread-local borrow: `T::clone` may use context
        // variables itself.
        entry.downcast_ref::<T>().cloned()
    }

    /// Sets the variable in the current context. The returned [`Token`]
    /// undoes this write through [`reset`](ContextVar::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::ContextVar;
    ///
    /// static DEPTH: ContextVar<u32> = ContextVar::new("depth");
    /// let _token = DEPTH.set(1);
    /// assert_eq!(DEPTH.get(), Some(1));
    /// ```
    pub fn set(&self, value: T) -> Token<T> {
        let var_id = self.id();
        let entry = (self.wrap)(value);
        let (context_id, previous) =
            current::with_mut(|context| context.set(var_id, entry)).unwrap_or((0, None));
        Token {
            var_id,
            context_id,
            previous,
            _value: PhantomData,
            _not_send: PhantomData,
        }
    }

    /// Undoes the [`set`](ContextVar::set) that made `token`: the variable
    /// gets back the value this context had written before (or, if it had
    /// written none, it shows the inherited value again, if any).
    ///
    /// # Errors
    ///
    /// * [`ResetError::OtherVariable`] if `token` came from another variable.
    /// * [`ResetError::OtherContext`] if `token` was made in another context
    ///   (another task, or a [`Context::run`](crate::Context::run) that has
    ///   ended).
    /// * [`ResetError::ThreadExiting`] if the thread's context is already
    ///   destroyed.
    ///
    /// Nothing changes on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{ContextVar, ResetError};
    ///
    /// static LEVEL: ContextVar<u8> = ContextVar::new("level");
    /// static OTHER: ContextVar<u8> = ContextVar::new("level"); // same name, other variable
    /// LEVEL.set(1);
    /// let token = LEVEL.set(2);
    /// assert_eq!(OTHER.reset(token), Err(ResetError::OtherVariable));
    /// let token = LEVEL.set(3);
    /// LEVEL.reset(token).unwrap();
    /// assert_eq!(LEVEL.get(), Some(2));
    /// ```
    pub fn reset(&self, token: Token<T>) -> Result<(), ResetError> {
        let var_id = self.id();
        if token.var_id != var_id {
            return Err(ResetError::OtherVariable);
        }
        match current::with(Context::own_id) {
            None => return Err(ResetError::ThreadExiting),
            Some(own_id) if own_id != Some(token.context_id) => {
                return Err(ResetError::OtherContext)
            }
            Some(_) => {}
        }
        let previous = token.previous;
        let displaced = current::with_mut(|context| context.restore(var_id, previous));
        // Dropped here, outside the thread-local borrow.
        drop(displaced);
        Ok(())
    }

    /// Runs `f` with the variable set to `value`, then undoes the write
    /// (also if `f` panics). Returns what `f` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::ContextVar;
    ///
    /// static INDENT: ContextVar<usize> = ContextVar::new("indent");
    /// INDENT.set(0);
    /// let inner = INDENT.scoped(4, || INDENT.get());
    /// assert_eq!(inner, Some(4));
    /// assert_eq!(INDENT.get(), Some(0));
    /// ```
    pub fn scoped<R>(&self, value: T, f: impl FnOnce() -> R) -> R {
        struct Undo<'a, T: Clone + 'static> {
            var: &'a ContextVar<T>,
            token: Option<Token<T>>,
        }
        impl<T: Clone + 'static> Drop for Undo<'_, T> {
            fn drop(&mut self) {
                if let Some(token) = self.token.take() {
                    // Fails only if `f` left another context installed, or
                    // during thread teardown; there is nothing to undo then.
                    let _ = self.var.reset(token);
                }
            }
        }
        let _undo = Undo {
            var: self,
            token: Some(self.set(value)),
        };
        f()
    }
}

impl<T: Clone + Send + Sync + 'static> ContextVar<T> {
    /// A new variable whose values can cross threads: besides everything a
    /// [`new`](ContextVar::new) variable does, it is carried into
    /// `fibrio::spawn_blocking` closures by [`SendableContext`](crate::SendableContext).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{ContextVar, SendableContext};
    ///
    /// static TENANT: ContextVar<String> = ContextVar::new_sendable("tenant");
    /// TENANT.set("acme".to_string());
    /// let carried = SendableContext::capture();
    /// let seen = std::thread::spawn(move || carried.into_context().run(|| TENANT.get()))
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(seen.as_deref(), Some("acme"));
    /// ```
    pub const fn new_sendable(name: &'static str) -> ContextVar<T> {
        ContextVar {
            name,
            id: AtomicU64::new(0),
            wrap: Entry::sendable::<T>,
            _value: PhantomData,
        }
    }
}

impl<T> ContextVar<T> {
    /// The name given at creation (for debugging; it is not the key).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::ContextVar;
    ///
    /// assert_eq!(ContextVar::<i32>::new("retries").name(), "retries");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The variable's process-unique key, assigned on first use.
    fn id(&self) -> u64 {
        let id = self.id.load(Ordering::Relaxed);
        if id != 0 {
            return id;
        }
        let fresh = NEXT_VAR_ID.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(won) => won,
        }
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name)
            .field("type", &std::any::type_name::<T>())
            .finish()
    }
}

/// The receipt of one [`ContextVar::set`]; give it to
/// [`ContextVar::reset`] to undo that write. Tokens stay on their thread.
///
/// # Examples
///
/// ```
/// use fibrio_context::ContextVar;
///
/// static MODE: ContextVar<&str> = ContextVar::new("mode");
/// let first = MODE.set("fast");
/// let second = MODE.set("safe");
/// MODE.reset(second).unwrap();
/// assert_eq!(MODE.get(), Some("fast"));
/// MODE.reset(first).unwrap();
/// assert_eq!(MODE.get(), None);
/// ```
pub struct Token<T> {
    var_id: u64,
    context_id: u64,
    previous: Option<Entry>,
    _value: PhantomData<fn() -> T>,
    _not_send: PhantomData<Rc<()>>,
}

impl<T> fmt::Debug for Token<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("type", &std::any::type_name::<T>())
            .field("had_own_value", &self.previous.is_some())
            .finish()
    }
}

/// Why [`ContextVar::reset`] refused a token.
///
/// # Examples
///
/// ```
/// use fibrio_context::{Context, ContextVar, ResetError};
///
/// static COLOR: ContextVar<u8> = ContextVar::new("color");
/// let token = Context::new().run(|| COLOR.set(1));
/// assert_eq!(COLOR.reset(token), Err(ResetError::OtherContext));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResetError {
    /// The token was made by another [`ContextVar`].
    #[error("the token was made by another ContextVar")]
    OtherVariable,
    /// The token was made in another context (another task, or a
    /// [`Context::run`] that has ended).
    #[error("the token was made in another context")]
    OtherContext,
    /// The thread's context has been destroyed (thread teardown).
    #[error("the thread's context has been destroyed")]
    ThreadExiting,
}
