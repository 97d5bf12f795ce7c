//! [`Context`]: one task's (or one thread's) context variables, as two
//! levels of persistent maps.
//!
//! A context is its *own level* (the writes made in it) over an *inherited
//! snapshot* (everything its parent could see when it was created). Both
//! levels are persistent red-black trees ([`rpds::RedBlackTreeMap`] with `Rc`
//! sharing), one per key space: typed keys ([`ContextVar`](crate::ContextVar)
//! ids) and string keys.
//!
//! # Invariants
//!
//! * For each key space, `own.visible` is `inherited` overlaid with
//!   `own.written`: a key is visible with its own value if this context
//!   wrote it, else with its inherited value. Every write updates both maps,
//!   so a lookup is one O(log n) search however deep the spawn tree is.
//! * `own` is `None` until the first write; while it is `None`, the visible
//!   view is `inherited` itself.
//! * A [`Snapshot`] is never changed while it is shared: writes go through
//!   `Rc::make_mut`, which copies the two map handles (O(1)) when a child
//!   still holds the old view, and the maps then copy only the O(log n)
//!   path they change.
//! * [`Context::snapshot`] never copies entries: it clones one `Rc`. So
//!   spawning costs O(1) however many variables are set.
//! * `Own::id` is unique in the process and never reused. It ties a
//!   [`Token`](crate::Token) to the context it was made in.
//! * Nothing here runs user code: keys are `u64` and `Arc<str>`, values are
//!   reference-counted and never cloned, compared or dropped for the last
//!   time by these methods (every method that displaces an entry returns it,
//!   so that its caller drops it after releasing the thread-local borrow).

use std::any::Any;
use std::borrow::Borrow;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::current;

/// One key space's persistent map.
pub(crate) type Map<K> = rpds::RedBlackTreeMap<K, Entry>;

/// A stored value: thread-bound (`Rc`) or able to cross threads (`Arc`).
#[derive(Clone)]
pub(crate) enum Value {
    /// Set through an API that only asks for `Clone + 'static`.
    Local(Rc<dyn Any>),
    /// Set through an API that asks for `Send + Sync` as well; carried into
    /// `spawn_blocking` closures by [`SendableContext`](crate::SendableContext).
    Sendable(Arc<dyn Any + Send + Sync>),
}

/// A value with the name of its type (for `Debug`).
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) value: Value,
    pub(crate) type_name: &'static str,
}

impl Entry {
    pub(crate) fn local<T: Any>(value: T) -> Entry {
        Entry {
            value: Value::Local(Rc::new(value)),
            type_name: std::any::type_name::<T>(),
        }
    }

    pub(crate) fn sendable<T: Any + Send + Sync>(value: T) -> Entry {
        Entry {
            value: Value::Sendable(Arc::new(value)),
            type_name: std::any::type_name::<T>(),
        }
    }

    pub(crate) fn downcast_ref<T: Any>(&self) -> Option<&T> {
        match &self.value {
            Value::Local(value) => (**value).downcast_ref(),
            Value::Sendable(value) => (**value).downcast_ref(),
        }
    }

    pub(crate) fn is_sendable(&self) -> bool {
        matches!(self.value, Value::Sendable(_))
    }
}

/// One level's maps, for both key spaces.
#[derive(Clone, Default)]
pub(crate) struct Snapshot {
    pub(crate) vars: Map<u64>,
    pub(crate) names: Map<Arc<str>>,
}

/// The key spaces: `u64` for [`ContextVar`](crate::ContextVar) ids,
/// `Arc<str>` for the string-keyed helpers. They never collide.
pub(crate) trait Key: Ord + Clone + Borrow<Self::Lookup> {
    type Lookup: ?Sized + Ord;
    fn map(snapshot: &Snapshot) -> &Map<Self>;
    fn map_mut(snapshot: &mut Snapshot) -> &mut Map<Self>;
}

impl Key for u64 {
    type Lookup = u64;
    fn map(snapshot: &Snapshot) -> &Map<u64> {
        &snapshot.vars
    }
    fn map_mut(snapshot: &mut Snapshot) -> &mut Map<u64> {
        &mut snapshot.vars
    }
}

impl Key for Arc<str> {
    type Lookup = str;
    fn map(snapshot: &Snapshot) -> &Map<Arc<str>> {
        &snapshot.names
    }
    fn map_mut(snapshot: &mut Snapshot) -> &mut Map<Arc<str>> {
        &mut snapshot.names
    }
}

/// The level a context writes to, created on its first write.
struct Own {
    id: u64,
    written: Snapshot,
    visible: Rc<Snapshot>,
}

static NEXT_CONTEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The context variables of one task, or of one thread outside any task.
///
/// A `Context` is two levels: what was written in it (its *own* level) over
/// the snapshot it *inherited* when it was created. Lookups see the own
/// value first, then the inherited one. Both levels are persistent maps, so
/// [`snapshot`](Context::snapshot) (what a spawned task starts with) costs
/// O(1), and a write costs O(log n).
///
/// The thread's *current* context is what [`ContextVar`](crate::ContextVar)
/// and the string-keyed helpers read and write. The fibrio scheduler keeps
/// one `Context` per task and installs it with
/// [`swap_with_current`](Context::swap_with_current) whenever the task runs;
/// [`Context::run`] does the same for a closure.
///
/// A `Context` holds values of any `'static` type behind `Rc`, so it is
/// neither `Send` nor `Sync`; [`SendableContext`](crate::SendableContext)
/// is the form that crosses threads.
///
/// # Examples
///
/// ```
/// use fibrio_context::{get_context, set_context, Context};
///
/// set_context("request_id", "req-1".to_string());
/// let mut child = Context::current_snapshot();
/// child.run(|| {
///     // The child sees what its parent had set...
///     assert_eq!(get_context::<String>("request_id").as_deref(), Some("req-1"));
///     // ...and its own writes stay in the child.
///     set_context("request_id", "req-2".to_string());
/// });
/// assert_eq!(get_context::<String>("request_id").as_deref(), Some("req-1"));
/// child.run(|| {
///     assert_eq!(get_context::<String>("request_id").as_deref(), Some("req-2"));
/// });
/// ```
#[derive(Default)]
pub struct Context {
    own: Option<Box<Own>>,
    inherited: Option<Rc<Snapshot>>,
}

impl Context {
    /// An empty context: nothing inherited, nothing written.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{has_context, set_context, Context};
    ///
    /// set_context("user_id", 7u32);
    /// Context::new().run(|| assert!(!has_context("user_id")));
    /// assert!(has_context("user_id"));
    /// ```
    pub const fn new() -> Context {
        Context {
            own: None,
            inherited: None,
        }
    }

    /// A new context that inherits everything visible in `self` and has
    /// written nothing: what a task spawned while `self` is current starts
    /// with. Later writes to either context do not reach the other. O(1):
    /// it shares `self`'s maps.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{all_context, set_context, Context};
    ///
    /// let mut parent = Context::new();
    /// parent.run(|| set_context("a", 1));
    /// let mut child = parent.snapshot();
    /// parent.run(|| set_context("b", 2)); // after the snapshot: not inherited
    /// child.run(|| {
    ///     let seen: Vec<_> = all_context(true).into_keys().collect();
    ///     assert_eq!(seen, ["a".into()]);
    ///     assert!(all_context(false).is_empty()); // inherited, not its own
    /// });
    /// ```
    #[inline]
    pub fn snapshot(&self) -> Context {
        Context {
            own: None,
            inherited: self.visible_rc().cloned(),
        }
    }

    /// [`snapshot`](Context::snapshot) of the thread's current context: the
    /// running task's, or the thread's own outside any task. O(1).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{get_context, set_context, Context};
    ///
    /// set_context("trace", 42u64);
    /// let mut snapshot = Context::current_snapshot();
    /// set_context("trace", 43u64);
    /// snapshot.run(|| assert_eq!(get_context::<u64>("trace"), Some(42)));
    /// ```
    #[inline]
    pub fn current_snapshot() -> Context {
        current::with(Context::snapshot).unwrap_or_default()
    }

    /// Makes `self` the thread's current context while `f` runs, then puts
    /// the previous one back (also if `f` panics). Writes made by `f` stay
    /// in `self`, so a later `run` sees them.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{get_context, set_context, Context};
    ///
    /// let mut context = Context::new();
    /// context.run(|| set_context("step", 1));
    /// assert_eq!(get_context::<i32>("step"), None); // not in the thread's context
    /// let step = context.run(|| get_context::<i32>("step"));
    /// assert_eq!(step, Some(1));
    /// ```
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        /// Swaps back on the way out, unwinding included.
        struct SwapBack<'a>(&'a mut Context);
        impl Drop for SwapBack<'_> {
            fn drop(&mut self) {
                self.0.swap_with_current();
            }
        }
        // While `f` runs, `self` holds the context that was current before.
        self.swap_with_current();
        let _swap_back = SwapBack(self);
        f()
    }

    /// Exchanges `self` with the thread's current context, in place: `self`
    /// becomes current, and `self` now holds what was current before. Doing
    /// it again undoes it. Costs a thread-local access and a two-word swap;
    /// the fibrio scheduler calls it before resuming a task (whose context
    /// it keeps in the task) and again after the task switches out.
    ///
    /// During thread teardown (thread-locals already destroyed) nothing is
    /// exchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::{get_context, set_context, Context};
    ///
    /// set_context("who", "thread");
    /// let mut slot = Context::new();
    /// slot.swap_with_current(); // the empty context is now current
    /// assert_eq!(get_context::<&str>("who"), None);
    /// set_context("who", "task");
    /// slot.swap_with_current(); // and back
    /// assert_eq!(get_context::<&str>("who"), Some("thread"));
    /// slot.run(|| assert_eq!(get_context::<&str>("who"), Some("task")));
    /// ```
    #[inline]
    pub fn swap_with_current(&mut self) {
        current::exchange(self);
    }

    /// True if nothing is visible in this context (neither inherited nor
    /// written).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_context::Context;
    ///
    /// let mut context = Context::new();
    /// assert!(context.is_empty());
    /// context.run(|| fibrio_context::set_context("k", ()));
    /// assert!(!context.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.visible()
            .is_none_or(|v| v.vars.is_empty() && v.names.is_empty())
    }

    // ----- crate-internal operations (called under the thread-local borrow)

    #[inline]
    fn visible_rc(&self) -> Option<&Rc<Snapshot>> {
        match &self.own {
            Some(own) => Some(&own.visible),
            None => self.inherited.as_ref(),
        }
    }

    pub(crate) fn visible(&self) -> Option<&Snapshot> {
        self.visible_rc().map(|rc| &**rc)
    }

    pub(crate) fn written(&self) -> Option<&Snapshot> {
        self.own.as_deref().map(|own| &own.written)
    }

    /// The id tokens are checked against; `None` before the first write.
    pub(crate) fn own_id(&self) -> Option<u64> {
        self.own.as_deref().map(|own| own.id)
    }

    fn own_mut(&mut self) -> &mut Own {
        let Context { own, inherited } = self;
        own.get_or_insert_with(|| {
            Box::new(Own {
                id: NEXT_CONTEXT_ID.fetch_add(1, Ordering::Relaxed),
                written: Snapshot::default(),
                visible: inherited.clone().unwrap_or_default(),
            })
        })
    }

    /// The visible entry for `key`, cloned (an `Rc`/`Arc` clone).
    pub(crate) fn get<K: Key>(&self, key: &K::Lookup) -> Option<Entry> {
        self.visible()
            .and_then(|visible| K::map(visible).get(key))
            .cloned()
    }

    pub(crate) fn contains<K: Key>(&self, key: &K::Lookup) -> bool {
        self.visible()
            .is_some_and(|visible| K::map(visible).contains_key(key))
    }

    /// Writes `key` in the own level. Returns the own level's id and the
    /// entry it held for `key` before (which also keeps the displaced value
    /// alive until the caller drops it).
    pub(crate) fn set<K: Key>(&mut self, key: K, entry: Entry) -> (u64, Option<Entry>) {
        let own = self.own_mut();
        let previous = K::map(&own.written).get(key.borrow()).cloned();
        K::map_mut(&mut own.written).insert_mut(key.clone(), entry.clone());
        K::map_mut(Rc::make_mut(&mut own.visible)).insert_mut(key, entry);
        (own.id, previous)
    }

    /// Removes `key` from the own level, revealing the inherited value if
    /// there is one. Returns the removed entry; `None` if this context had
    /// not written `key` (inherited values are left alone).
    pub(crate) fn delete<K: Key>(&mut self, key: &K::Lookup) -> Option<Entry> {
        let Context { own, inherited } = self;
        let own = own.as_deref_mut()?;
        let (owned_key, removed) = K::map(&own.written)
            .get_key_value(key)
            .map(|(k, e)| (k.clone(), e.clone()))?;
        K::map_mut(&mut own.written).remove_mut(key);
        let visible = K::map_mut(Rc::make_mut(&mut own.visible));
        match inherited.as_deref().and_then(|s| K::map(s).get(key)) {
            Some(entry) => visible.insert_mut(owned_key, entry.clone()),
            None => {
                visible.remove_mut(key);
            }
        }
        Some(removed)
    }

    /// Puts `key`'s own-level entry back to `previous` (`None`: not
    /// written). Returns the entry it displaced.
    pub(crate) fn restore<K: Key>(&mut self, key: K, previous: Option<Entry>) -> Option<Entry> {
        match previous {
            Some(entry) => self.set(key, entry).1,
            None => self.delete::<K>(key.borrow()),
        }
    }

    /// Removes every string key written in this context (typed keys are
    /// untouched), revealing inherited values. Returns the old maps, for the
    /// caller to drop.
    pub(crate) fn clear_names(&mut self) -> Option<[Map<Arc<str>>; 2]> {
        let Context { own, inherited } = self;
        let own = own.as_deref_mut()?;
        let written = std::mem::take(&mut own.written.names);
        let inherited_names = inherited
            .as_deref()
            .map(|s| s.names.clone())
            .unwrap_or_default();
        let visible = std::mem::replace(&mut Rc::make_mut(&mut own.visible).names, inherited_names);
        Some([written, visible])
    }

    /// A context whose inherited level is `snapshot` and which has written
    /// nothing.
    pub(crate) fn inheriting(snapshot: Snapshot) -> Context {
        Context {
            own: None,
            inherited: Some(Rc::new(snapshot)),
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |s: Option<&Snapshot>| -> Vec<Arc<str>> {
            s.map(|s| s.names.keys().cloned().collect())
                .unwrap_or_default()
        };
        let vars = |s: Option<&Snapshot>| s.map_or(0, |s| s.vars.size());
        f.debug_struct("Context")
            .field("names", &names(self.visible()))
            .field("own_names", &names(self.written()))
            .field("vars", &vars(self.visible()))
            .field("own_vars", &vars(self.written()))
            .finish()
    }
}
