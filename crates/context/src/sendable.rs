//! [`SendableContext`]: the part of a context that can cross threads, for
//! `spawn_blocking` and anything else that runs a closure on another
//! thread.
//!
//! # Invariants
//!
//! * It holds exactly the *visible* entries of the captured context whose
//!   values were stored behind `Arc` (set through a `Send + Sync` API:
//!   [`set_sendable_context`](crate::set_sendable_context) or a
//!   [`ContextVar::new_sendable`](crate::ContextVar::new_sendable)
//!   variable), in key order. Entries stored behind `Rc` are left out; they
//!   never leave their thread.
//! * It is `Send + Sync` by construction (only `u64`, `Arc<str>` and
//!   `Arc<dyn Any + Send + Sync>` inside); no `unsafe` is involved.
//! * [`SendableContext::into_context`] makes a context that *inherits*
//!   these entries and has written nothing, like a spawned task: writes made
//!   under it never reach the captured context.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::context::{Entry, Map, Snapshot, Value};
use crate::{current, Context};

#[derive(Clone)]
struct SendableEntry {
    value: Arc<dyn Any + Send + Sync>,
    type_name: &'static str,
}

impl SendableEntry {
    fn from_entry(entry: &Entry) -> Option<SendableEntry> {
        match &entry.value {
            Value::Sendable(value) => Some(SendableEntry {
                value: value.clone(),
                type_name: entry.type_name,
            }),
            Value::Local(_) => None,
        }
    }

    fn into_entry(self) -> Entry {
        Entry {
            value: Value::Sendable(self.value),
            type_name: self.type_name,
        }
    }
}

/// A `Send` copy of the thread-crossing entries of a context: what
/// `fibrio::spawn_blocking` hands to the pool thread so that its closure
/// sees the caller's context.
///
/// Which values cross: those set with
/// [`set_sendable_context`](crate::set_sendable_context), and those of
/// variables created with
/// [`ContextVar::new_sendable`](crate::ContextVar::new_sendable); both
/// require `T: Send + Sync` and store the value behind an `Arc`, which the
/// two threads then share (values are never cloned to cross). Values set
/// with [`set_context`](crate::set_context) or through a
/// [`ContextVar::new`](crate::ContextVar::new) variable may be `!Send`
/// (`Rc`, `RefCell`, ...), so they stay behind and read as unset on the
/// other side.
///
/// Capturing costs O(k) for k visible entries; [`into_context`](SendableContext::into_context)
/// costs O(s log s) for s sendable ones, and nothing when there are none.
///
/// # Examples
///
/// ```
/// use fibrio_context::{get_context, set_context, set_sendable_context, SendableContext};
///
/// set_sendable_context("request_id", String::from("req-1"));
/// set_context("connection", std::rc::Rc::new(5)); // `!Send`: stays here
/// let carried = SendableContext::capture();
/// assert_eq!(carried.len(), 1);
///
/// std::thread::spawn(move || {
///     carried.into_context().run(|| {
///         assert_eq!(get_context::<String>("request_id").as_deref(), Some("req-1"));
///         assert!(get_context::<std::rc::Rc<i32>>("connection").is_none());
///     });
/// })
/// .join()
/// .unwrap();
/// ```
#[derive(Clone, Default)]
pub struct SendableContext {
    vars: Vec<(u64, SendableEntry)>,
    names: Vec<(Arc<str>, SendableEntry)>,
}

impl SendableContext {
    /// The thread-crossing entries visible in the thread's current context.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{set_sendable_context, SendableContext};
    ///
    /// assert!(SendableContext::capture().is_empty());
    /// set_sendable_context("k", 1u8);
    /// assert_eq!(SendableContext::capture().len(), 1);
    /// ```
    pub fn capture() -> SendableContext {
        current::with(SendableContext::of).unwrap_or_default()
    }

    /// The thread-crossing entries visible in `context`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{set_context, set_sendable_context, Context, SendableContext};
    ///
    /// let mut context = Context::new();
    /// context.run(|| {
    ///     set_sendable_context("shared", 1u8);
    ///     set_context("local", 2u8);
    /// });
    /// assert_eq!(SendableContext::of(&context).len(), 1);
    /// ```
    pub fn of(context: &Context) -> SendableContext {
        let Some(visible) = context.visible() else {
            return SendableContext::default();
        };
        let vars = visible
            .vars
            .iter()
            .filter_map(|(id, entry)| Some((*id, SendableEntry::from_entry(entry)?)))
            .collect();
        let names = visible
            .names
            .iter()
            .filter_map(|(key, entry)| Some((key.clone(), SendableEntry::from_entry(entry)?)))
            .collect();
        SendableContext { vars, names }
    }

    /// A context that inherits these entries and has written nothing. Run
    /// code in it with [`Context::run`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{all_context, set_sendable_context, SendableContext};
    ///
    /// set_sendable_context("k", 1u8);
    /// let mut context = SendableContext::capture().into_context();
    /// context.run(|| {
    ///     assert_eq!(all_context(true).len(), 1);
    ///     assert!(all_context(false).is_empty()); // inherited, not its own
    /// });
    /// ```
    pub fn into_context(self) -> Context {
        if self.is_empty() {
            return Context::new();
        }
        let mut vars = Map::new();
        for (id, entry) in self.vars {
            vars.insert_mut(id, entry.into_entry());
        }
        let mut names = Map::new();
        for (key, entry) in self.names {
            names.insert_mut(key, entry.into_entry());
        }
        Context::inheriting(Snapshot { vars, names })
    }

    /// How many entries were captured (typed and string-keyed).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::SendableContext;
    ///
    /// assert_eq!(SendableContext::default().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.vars.len() + self.names.len()
    }

    /// True if no entry was captured.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::SendableContext;
    ///
    /// assert!(SendableContext::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty() && self.names.is_empty()
    }
}

impl fmt::Debug for SendableContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendableContext")
            .field(
                "names",
                &self.names.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("vars", &self.vars.len())
            .finish()
    }
}
