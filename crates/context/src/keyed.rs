//! The string-keyed helpers, with parity to the six context functions of
//! PHP AsyncIO (the PHP Fiber plus Workerman library that fibrio was
//! modelled on): [`set_context`] (and [`set_sendable_context`]),
//! [`get_context`], [`has_context`], [`delete_context`], [`all_context`],
//! [`clear_context`]; [`ContextValue`], the values `all_context` returns;
//! and [`IntoContextKey`], what the setters accept as a key.
//!
//! # Invariants
//!
//! * String keys live in their own map: they never collide with
//!   [`ContextVar`](crate::ContextVar)s, whatever the variables' names, and
//!   these functions never see or change typed variables.
//! * Every function acts on the thread's current context (the running
//!   task's, or the thread's own outside tasks). Writes go to the context's
//!   own level only; `delete_context` and `clear_context` remove only what
//!   this context wrote, so inherited values show through again.
//! * Values are cloned and dropped outside the thread-local borrow (see
//!   `current`).
//! * A key is stored as an `Arc<str>`. A key given as an `Arc<str>` (or a
//!   `&Arc<str>`) is stored as is, with no copy of its text; every other
//!   kind of key is copied once.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::context::Entry;
use crate::current;

/// A string key for [`set_context`] and [`set_sendable_context`]: `&str`,
/// `String`, `&String`, `Box<str>`, `Cow<str>`, `Arc<str>` and
/// `&Arc<str>`. Keys are stored as `Arc<str>`, so an `Arc<str>` key costs a
/// reference count, not a copy: keep one in a `static` or a struct for keys
/// set on every request.
///
/// Implement it for your own key types (an enum of well-known keys, say);
/// the getters take `&str`, so such a type also wants an `as_str`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use fibrio_context::{get_context, set_context};
///
/// let owned = String::from("user");
/// set_context(&owned, 1u32); // a &String
/// set_context(owned.clone(), 2u32); // a String
/// let shared: Arc<str> = Arc::from("tenant");
/// set_context(&shared, "acme"); // no copy of the text
/// assert_eq!(get_context::<u32>(&owned), Some(2));
/// assert_eq!(get_context::<&str>(&shared), Some("acme"));
/// ```
pub trait IntoContextKey {
    /// The key as stored.
    fn into_context_key(self) -> Arc<str>;
}

impl IntoContextKey for &str {
    fn into_context_key(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoContextKey for String {
    fn into_context_key(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoContextKey for &String {
    fn into_context_key(self) -> Arc<str> {
        Arc::from(self.as_str())
    }
}

impl IntoContextKey for Box<str> {
    fn into_context_key(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoContextKey for std::borrow::Cow<'_, str> {
    fn into_context_key(self) -> Arc<str> {
        Arc::from(self)
    }
}

impl IntoContextKey for Arc<str> {
    fn into_context_key(self) -> Arc<str> {
        self
    }
}

impl IntoContextKey for &Arc<str> {
    fn into_context_key(self) -> Arc<str> {
        Arc::clone(self)
    }
}

/// Sets `key` to `value` in the current context. The value stays on this
/// thread (a `fibrio::spawn_blocking` closure does not see it); use
/// [`set_sendable_context`] for values that should cross.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use fibrio_context::{get_context, set_context};
///
/// set_context("user_id", 12345u64);
/// set_context("session", Rc::new(vec![1, 2, 3]));
/// assert_eq!(get_context::<u64>("user_id"), Some(12345));
/// assert_eq!(get_context::<Rc<Vec<i32>>>("session").unwrap().len(), 3);
/// ```
pub fn set_context<T: Clone + 'static>(key: impl IntoContextKey, value: T) {
    set_entry(key.into_context_key(), Entry::local(value));
}

/// Like [`set_context`], for a `Send + Sync` value: it is also carried into
/// `fibrio::spawn_blocking` closures (see [`SendableContext`](crate::SendableContext)).
/// Reading it back is the same [`get_context`].
///
/// # Examples
///
/// ```
/// use fibrio_context::{get_context, set_sendable_context, SendableContext};
///
/// set_sendable_context("request_id", "req-9".to_string());
/// let carried = SendableContext::capture();
/// let seen = std::thread::spawn(move || {
///     carried.into_context().run(|| get_context::<String>("request_id"))
/// })
/// .join()
/// .unwrap();
/// assert_eq!(seen.as_deref(), Some("req-9"));
/// ```
pub fn set_sendable_context<T: Clone + Send + Sync + 'static>(key: impl IntoContextKey, value: T) {
    set_entry(key.into_context_key(), Entry::sendable(value));
}

fn set_entry(key: Arc<str>, entry: Entry) {
    let previous = current::with_mut(|context| context.set(key, entry).1);
    // The replaced value is dropped here, outside the borrow.
    drop(previous);
}

/// The value of `key` in the current context, cloned. `None` if the key is
/// not set, or holds a value of another type.
///
/// # Examples
///
/// ```
/// use fibrio_context::{get_context, set_context};
///
/// set_context("retries", 3u8);
/// assert_eq!(get_context::<u8>("retries"), Some(3));
/// assert_eq!(get_context::<u32>("retries"), None); // another type
/// assert_eq!(get_context::<u8>("missing"), None);
/// ```
pub fn get_context<T: Clone + 'static>(key: &str) -> Option<T> {
    let entry = current::with(|context| context.get::<Arc<str>>(key)).flatten()?;
    // Cloned outside the borrow: `T::clone` may use context variables.
    entry.downcast_ref::<T>().cloned()
}

/// True if `key` is set in the current context (by this context or
/// inherited), whatever the value's type.
///
/// # Examples
///
/// ```
/// use fibrio_context::{has_context, set_context};
///
/// assert!(!has_context("trace_id"));
/// set_context("trace_id", ());
/// assert!(has_context("trace_id"));
/// ```
pub fn has_context(key: &str) -> bool {
    current::with(|context| context.contains::<Arc<str>>(key)).unwrap_or(false)
}

/// Removes the value this context set for `key`. If the key was inherited
/// from the parent, the inherited value is visible again; an inherited key
/// that this context never set is left alone (as in PHP AsyncIO, the PHP
/// library fibrio was modelled on: a task cannot delete its parent's
/// values). Returns true if this context
/// had set `key`.
///
/// # Examples
///
/// ```
/// use fibrio_context::{delete_context, get_context, set_context, Context};
///
/// set_context("lang", "en");
/// Context::current_snapshot().run(|| {
///     set_context("lang", "fr");
///     assert!(delete_context("lang"));
///     assert_eq!(get_context::<&str>("lang"), Some("en")); // inherited again
///     assert!(!delete_context("lang")); // not this context's own
///     assert_eq!(get_context::<&str>("lang"), Some("en"));
/// });
/// ```
pub fn delete_context(key: &str) -> bool {
    let removed = current::with_mut(|context| context.delete::<Arc<str>>(key)).flatten();
    removed.is_some()
}

/// The string-keyed entries of the current context, by key.
///
/// With `include_inherited` false, only what this context set itself; with
/// true, everything visible: the inherited entries of every ancestor level
/// (as of each spawn), overridden by this context's own.
/// [`ContextVar`](crate::ContextVar)s are not included.
///
/// # Examples
///
/// ```
/// use fibrio_context::{all_context, set_context, Context};
///
/// set_context("a", 1);
/// let mut child = Context::current_snapshot();
/// child.run(|| set_context("b", 2));
/// let mut grandchild = child.snapshot();
/// grandchild.run(|| {
///     set_context("c", 3);
///     let own: Vec<_> = all_context(false).into_keys().collect();
///     assert_eq!(own, ["c".into()]);
///     let all = all_context(true);
///     let all: Vec<(&str, i32)> =
///         all.iter().map(|(k, v)| (&**k, v.get::<i32>().unwrap())).collect();
///     assert_eq!(all, [("a", 1), ("b", 2), ("c", 3)]);
/// });
/// ```
pub fn all_context(include_inherited: bool) -> BTreeMap<Arc<str>, ContextValue> {
    current::with(|context| {
        let map = if include_inherited {
            context.visible()
        } else {
            context.written()
        };
        map.map(|snapshot| {
            snapshot
                .names
                .iter()
                .map(|(key, entry)| (key.clone(), ContextValue(entry.clone())))
                .collect()
        })
        .unwrap_or_default()
    })
    .unwrap_or_default()
}

/// Removes every string key this context set (as [`delete_context`] on
/// each), so inherited values show through again. Typed
/// [`ContextVar`](crate::ContextVar)s are left alone.
///
/// # Examples
///
/// ```
/// use fibrio_context::{all_context, clear_context, set_context, Context};
///
/// set_context("inherited", 1);
/// Context::current_snapshot().run(|| {
///     set_context("own", 2);
///     set_context("inherited", 3);
///     clear_context();
///     assert!(all_context(false).is_empty());
///     let all = all_context(true);
///     assert_eq!(all["inherited"].get::<i32>(), Some(1));
/// });
/// ```
pub fn clear_context() {
    let old = current::with_mut(|context| context.clear_names()).flatten();
    // Dropped here, outside the borrow.
    drop(old);
}

/// A value from [`all_context`]: any `'static` type, read back by type.
///
/// # Examples
///
/// ```
/// use fibrio_context::{all_context, set_context};
///
/// set_context("n", 5i64);
/// let all = all_context(false);
/// let n = &all["n"];
/// assert!(n.is::<i64>());
/// assert_eq!(n.get::<i64>(), Some(5));
/// assert_eq!(n.downcast_ref::<String>(), None);
/// assert_eq!(n.type_name(), "i64");
/// ```
#[derive(Clone)]
pub struct ContextValue(Entry);

impl ContextValue {
    /// The value, cloned, if it is a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{all_context, set_context};
    ///
    /// set_context("name", String::from("fibrio"));
    /// let all = all_context(false);
    /// assert_eq!(all["name"].get::<String>().as_deref(), Some("fibrio"));
    /// ```
    pub fn get<T: Clone + 'static>(&self) -> Option<T> {
        self.downcast_ref::<T>().cloned()
    }

    /// A reference to the value, if it is a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{all_context, set_context};
    ///
    /// set_context("ids", vec![1, 2]);
    /// let all = all_context(false);
    /// assert_eq!(all["ids"].downcast_ref::<Vec<i32>>(), Some(&vec![1, 2]));
    /// ```
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }

    /// True if the value is a `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{all_context, set_context};
    ///
    /// set_context("flag", true);
    /// assert!(all_context(false)["flag"].is::<bool>());
    /// ```
    pub fn is<T: Any>(&self) -> bool {
        self.downcast_ref::<T>().is_some()
    }

    /// The name of the value's type, as [`std::any::type_name`] gives it.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{all_context, set_context};
    ///
    /// set_context("ratio", 0.5f32);
    /// assert_eq!(all_context(false)["ratio"].type_name(), "f32");
    /// ```
    pub fn type_name(&self) -> &'static str {
        self.0.type_name
    }

    /// True if the value was set through a `Send + Sync` API
    /// ([`set_sendable_context`]), so it crosses into `spawn_blocking`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{all_context, set_context, set_sendable_context};
    ///
    /// set_context("local", 1);
    /// set_sendable_context("shared", 2);
    /// let all = all_context(false);
    /// assert!(!all["local"].is_sendable());
    /// assert!(all["shared"].is_sendable());
    /// ```
    pub fn is_sendable(&self) -> bool {
        self.0.is_sendable()
    }
}

impl fmt::Debug for ContextValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextValue")
            .field("type", &self.0.type_name)
            .field("sendable", &self.0.is_sendable())
            .finish()
    }
}
