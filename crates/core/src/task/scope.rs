//! Cancel scopes: cancellation and deadlines for a region of code, trio
//! style, per task.
//!
//! # Model
//!
//! Every task carries a stack of *frames* (`TaskHeader::scopes`). A frame
//! is pushed by [`CancelScope::run`] (or [`CancelScope::shield`]) on entry
//! and popped on exit, so frames nest exactly like the calls do. A task
//! spawned while its spawner is inside scopes starts with a copy of the
//! spawner's frames: it *belongs* to those scopes, and cancelling one of
//! them cancels it too. Below every frame sits the task's own
//! cancellation flag ([`JoinHandle::cancel`](super::JoinHandle::cancel)).
//!
//! A [`ScopeContext`] captures the scopes of the running code (one per
//! frame, innermost last) so that a task can be spawned into *them*
//! rather than into its spawner's, with
//! [`Builder::spawn_in`](super::Builder::spawn_in): trio's
//! `nursery.start_soon`, whose task belongs to the scopes around the
//! nursery whoever calls it. Such a task starts with one frame per
//! captured scope, in the same order, and none of its spawner's.
//!
//! At a checkpoint the task looks outwards from its innermost frame. The
//! walk stops at the first *shielded* frame: nothing outside it is visible
//! (the shielded scope's own cancellation and deadline still are). If any
//! visible scope is cancelled (by [`CancelScope::cancel`] or because
//! its deadline has passed), or, with no shield in the way, the task itself
//! is, the task unwinds with a private payload naming the *outermost*
//! visible cancelled scope (or the task). The `run` of that scope catches
//! it and returns `None`; every other `run` on the way lets it pass. So a
//! cancelled outer scope is never swallowed by an inner one, and a task
//! cancellation always ends the task.
//!
//! A scope's shield can be raised and lowered while code runs inside it
//! ([`CancelScope::set_shield`]); every walk reads each shield as it is at
//! that moment, so a change takes effect at the next checkpoint inside
//! (and lowering it wakes the members parked inside, see below).
//!
//! [`current_effective_deadline`] makes the same walk for deadlines: the
//! earliest deadline a checkpoint here would honour.
//!
//! The short forms: [`move_on_after`] / [`move_on_at`] return `None` when
//! their deadline cuts the body short, [`fail_after`] / [`fail_at`] return
//! [`Elapsed`]; [`move_on_after_shielded`] and [`fail_after_shielded`] are
//! shielded as well, so only their own deadline stops them.
//!
//! # Invariants
//!
//! The kernel (`scheduler/cancel.rs`) keeps the scope state and the frames,
//! and states their invariants. This module adds:
//!
//! * An entered scope's guard names its frame by runtime, task and frame
//!   id, never by pointer: a [`Fiber`](crate::fiber::Fiber) can suspend
//!   inside [`CancelScope::run`] and be resumed by another task, or after
//!   its task (or its runtime) ended. The guard then removes exactly its
//!   own frame from the task that pushed it, or does nothing if that task
//!   is gone.
//! * Whoever cancels a scope, or moves its deadline, wakes its members:
//!   as a cancellation (their `park` unwinds) or plainly (they re-arm for
//!   the new deadline).
//! * Whoever lowers a scope's shield wakes its members as a cancellation
//!   would: a parked member then unwinds if an outer cancellation has
//!   become visible, and otherwise returns from `park` spuriously and
//!   re-arms for the deadlines it can now see. Raising a shield wakes
//!   nobody: from then on every checkpoint inside stops its walk there.
//! * While a task parks, the scheduler arms one timer at the earliest
//!   deadline visible as it parks, and disarms it when the task runs
//!   again, so a deadline wakes a parked task without leaving a timer
//!   behind. Anything that makes an earlier deadline visible (a moved
//!   deadline, a lowered shield) wakes the members, which re-arm.
//! * A runtime shutting down cancels its leftover tasks *through* shields;
//!   otherwise a shielded task parked forever would hang the shutdown.
//! * A [`ScopeContext`] holds the scopes' shared state, not frames: it
//!   makes no task a member of anything, and stays valid after the code
//!   that captured it has left the scopes (or ended). A task spawned into
//!   it belongs to exactly its scopes, shields included (a captured
//!   shielded scope shields the child, for as long as the shield is up),
//!   and a task spawned into a scope that is already cancelled never
//!   starts: it ends `Cancelled`.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::park::checkpoint;
use crate::scheduler::{
    clock_now, with_running, with_scheduler, FrameId, ScopeState, TaskKey, Unparker,
};
use crate::unwind::Cancelled;

/// A region of code that can be cancelled as a whole, or given a deadline,
/// without cancelling the rest of its task: trio's `CancelScope`.
///
/// Enter it with [`CancelScope::run`]. Cancelling the scope (from anywhere,
/// even another thread) unwinds the code inside it at its next checkpoint,
/// and `run` returns `None`; the task goes on after the `run`. Tasks
/// spawned inside the scope belong to it: they are cancelled with it (and
/// end as [`Cancelled`](super::TaskState::Cancelled)). Scopes nest, per
/// task; see the module docs for which scope catches a cancellation. A
/// scope can be *shielded* ([`set_shield`](CancelScope::set_shield), also
/// while code runs inside it): it then hides cancellation from outside it.
///
/// Clones share one scope. `CancelScope` is `Send + Sync`, so another
/// thread can cancel it:
///
/// ```
/// fn assert_send_sync<T: Send + Sync>() {}
/// assert_send_sync::<fibrio_core::task::CancelScope>();
/// ```
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task::{self, CancelScope};
///
/// let scope = CancelScope::new();
/// let remote = scope.clone();
/// task::spawn(move || remote.cancel());
/// let outcome = scope.run(|| loop {
///     task::yield_now(); // a checkpoint: unwinds once the scope is cancelled
/// });
/// assert_eq!(outcome, None::<()>);
/// assert!(scope.cancelled_caught());
/// # });
/// ```
#[derive(Clone)]
pub struct CancelScope {
    state: Arc<ScopeState>,
}

impl Default for CancelScope {
    fn default() -> CancelScope {
        CancelScope::new()
    }
}

impl CancelScope {
    /// A scope with no deadline, not cancelled, not shielded.
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = fibrio_core::task::CancelScope::new();
    /// assert!(!scope.is_cancelled());
    /// assert!(!scope.is_shielded());
    /// assert_eq!(scope.deadline(), None);
    /// ```
    pub fn new() -> CancelScope {
        CancelScope {
            state: ScopeState::new(false, None),
        }
    }

    /// A scope that cancels itself at `deadline`.
    ///
    /// `deadline` is a `std::time::Instant` or a [`crate::time::Instant`]; build
    /// it from the runtime's clock ([`crate::time::Instant::now`]) so that it
    /// is virtual inside a deterministic simulation.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use fibrio_core::task::CancelScope;
    ///
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// assert_eq!(CancelScope::with_deadline(deadline).deadline(), Some(deadline));
    /// ```
    pub fn with_deadline(deadline: impl Into<Instant>) -> CancelScope {
        let deadline: Instant = deadline.into();
        CancelScope {
            state: ScopeState::new(false, Some(deadline)),
        }
    }

    /// A scope that cancels itself `timeout` from now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::task::CancelScope;
    ///
    /// assert!(CancelScope::with_timeout(Duration::ZERO).is_cancelled());
    /// ```
    pub fn with_timeout(timeout: Duration) -> CancelScope {
        CancelScope::with_deadline(deadline_after(timeout))
    }

    /// The deadline, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use fibrio_core::task::CancelScope;
    ///
    /// assert_eq!(CancelScope::new().deadline(), None);
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// assert_eq!(CancelScope::with_deadline(deadline).deadline(), Some(deadline));
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.state.deadline()
    }

    /// Sets (or with `None`, removes) the deadline, also while code runs
    /// inside the scope: parked members wake up and re-arm for the new one.
    ///
    /// A deadline that has passed has already cancelled the scope, and
    /// cancellation is permanent (trio's rule): moving the deadline later
    /// or removing it afterwards does not un-cancel the scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use fibrio_core::task::CancelScope;
    ///
    /// let scope = CancelScope::new();
    /// scope.set_deadline(Some(Instant::now() + Duration::from_secs(60)));
    /// assert!(!scope.is_cancelled());
    /// scope.set_deadline(Some(Instant::now()));
    /// assert!(scope.is_cancelled());
    /// scope.set_deadline(None); // too late: the deadline has passed
    /// assert!(scope.is_cancelled());
    /// ```
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        let cancelled = self.state.set_deadline(deadline);
        for member in self.state.members() {
            if cancelled {
                member.wake_for_cancel();
            } else {
                member.unpark();
            }
        }
    }

    /// Sets the deadline to `timeout` from now.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use std::time::Duration;
    /// use fibrio_core::task::{self, CancelScope};
    ///
    /// let scope = CancelScope::new();
    /// scope.cancel_after(Duration::ZERO);
    /// assert_eq!(scope.run(task::yield_now), None);
    /// # });
    /// ```
    pub fn cancel_after(&self, timeout: Duration) {
        self.set_deadline(Some(deadline_after(timeout)));
    }

    /// Cancels the scope: code inside it unwinds at its next checkpoint,
    /// and tasks that belong to it are cancelled. Level-triggered and
    /// permanent; cancelling twice does nothing more. Callable from any
    /// thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let scope = fibrio_core::task::CancelScope::new();
    /// scope.cancel();
    /// assert!(scope.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        if self.state.cancel() {
            for member in self.state.members() {
                member.wake_for_cancel();
            }
        }
    }

    /// True once the scope is cancelled or its deadline has passed. Stays
    /// true: a scope is never un-cancelled (see
    /// [`set_deadline`](CancelScope::set_deadline)).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::task::CancelScope;
    ///
    /// assert!(!CancelScope::with_timeout(Duration::from_secs(60)).is_cancelled());
    /// assert!(CancelScope::with_timeout(Duration::ZERO).is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.state.is_cancelled_at(&mut None)
    }

    /// True once a [`run`](CancelScope::run) of this scope has caught its
    /// cancellation (the body was cut short).
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::{self, CancelScope};
    ///
    /// let scope = CancelScope::new();
    /// scope.cancel();
    /// assert_eq!(scope.run(|| 1), Some(1)); // no checkpoint, nothing caught
    /// assert!(!scope.cancelled_caught());
    /// assert_eq!(scope.run(task::yield_now), None);
    /// assert!(scope.cancelled_caught());
    /// # });
    /// ```
    pub fn cancelled_caught(&self) -> bool {
        self.state.caught()
    }

    /// True while the scope is shielded: checkpoints inside it do not see
    /// cancellation from outside it (enclosing scopes, the task's own
    /// [`cancel`](super::JoinHandle::cancel)). See
    /// [`set_shield`](CancelScope::set_shield).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::CancelScope;
    ///
    /// let scope = CancelScope::new();
    /// assert!(!scope.is_shielded());
    /// scope.set_shield(true);
    /// assert!(scope.is_shielded());
    /// ```
    pub fn is_shielded(&self) -> bool {
        self.state.is_shielded()
    }

    /// Raises (`true`) or lowers (`false`) the scope's shield, also while
    /// code runs inside it, from any thread (trio's `cancel_scope.shield =
    /// ...`). A shielded scope hides cancellation from outside it: the
    /// checkpoints inside, and in tasks spawned inside, do not unwind for a
    /// cancelled enclosing scope, a passed enclosing deadline, or the
    /// task's own [`cancel`](super::JoinHandle::cancel). The scope's own
    /// cancellation and deadline still apply.
    ///
    /// Raising the shield takes effect at the next checkpoint inside.
    /// Lowering it wakes the members parked inside, so that an outer
    /// cancellation that is now visible unwinds them at once, and an outer
    /// deadline now visible wakes them when it passes; a member with
    /// nothing to unwind for returns from its `park` spuriously (as `park`
    /// may), and waits again.
    ///
    /// A runtime that shuts down cancels tasks through shields, so that it
    /// can end.
    ///
    /// # Cancellation
    ///
    /// Not a checkpoint. Lowering the shield makes a pending outer
    /// cancellation reach the code inside at its next checkpoint.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::{self, CancelScope};
    ///
    /// let outer = CancelScope::new();
    /// let inner = CancelScope::new();
    /// let mut steps = 0;
    /// let got = outer.run(|| {
    ///     inner.run(|| {
    ///         inner.set_shield(true);
    ///         outer.cancel();
    ///         task::yield_now(); // shielded: goes on
    ///         steps += 1;
    ///         inner.set_shield(false);
    ///         task::yield_now(); // unwinds to `outer`
    ///         steps += 1;
    ///     })
    /// });
    /// assert_eq!(got, None);
    /// assert_eq!(steps, 1);
    /// # });
    /// ```
    pub fn set_shield(&self, shield: bool) {
        let was_shielded = self.state.set_shield(shield);
        if was_shielded && !shield {
            for member in self.state.members() {
                member.wake_for_cancel();
            }
        }
    }

    /// This scope with its shield raised: a builder-style form of
    /// [`set_shield(true)`](CancelScope::set_shield). Clones share the
    /// shield, as they share everything else.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use std::time::Duration;
    /// use fibrio_core::task::{self, CancelScope};
    ///
    /// let outer = CancelScope::new();
    /// let got = outer.run(|| {
    ///     outer.cancel();
    ///     // Only its own deadline stops this one.
    ///     CancelScope::with_timeout(Duration::from_millis(1))
    ///         .shielded()
    ///         .run(|| loop {
    ///             task::yield_now();
    ///         })
    /// });
    /// assert_eq!(got, Some(None::<()>));
    /// # });
    /// ```
    pub fn shielded(self) -> CancelScope {
        self.set_shield(true);
        self
    }

    /// Runs `f` in the current task, inside this scope. Returns `Some` with
    /// `f`'s value, or `None` if the scope's cancellation (or deadline) cut
    /// `f` short at a checkpoint. A body that finishes without reaching a
    /// checkpoint returns `Some` even if the scope was cancelled meanwhile.
    ///
    /// Outside a fibrio task there are no checkpoints, so `f` simply runs
    /// (returning `Some`), unaffected by the scope.
    ///
    /// # Panics
    ///
    /// A panic in `f` passes through unchanged, as does the cancellation of
    /// an enclosing scope or of the task.
    ///
    /// # Cancellation
    ///
    /// Only this scope's own cancellation is caught here.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::{self, CancelScope};
    ///
    /// let outer = CancelScope::new();
    /// let inner = CancelScope::new();
    /// let got = outer.run(|| {
    ///     inner.run(|| {
    ///         outer.cancel(); // the outer scope catches this one
    ///         task::yield_now();
    ///     });
    ///     unreachable!("the outer cancellation unwinds past the inner scope");
    /// });
    /// assert_eq!(got, None::<()>);
    /// assert!(outer.cancelled_caught() && !inner.cancelled_caught());
    /// # });
    /// ```
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let Some(entered) = enter(&self.state) else {
            return Some(f());
        };
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        drop(entered);
        match result {
            Ok(value) => Some(value),
            Err(payload) => match payload.downcast_ref::<Cancelled>() {
                Some(Cancelled { scope: Some(id) }) if *id == self.state.id() => {
                    self.state.set_caught();
                    None
                }
                _ => panic::resume_unwind(payload),
            },
        }
    }

    /// Runs `f` shielded: cancellation from outside (enclosing scopes, the
    /// task's own [`cancel`](super::JoinHandle::cancel)) does not reach the
    /// checkpoints inside `f`. It takes effect at the first checkpoint after
    /// `f` returns. Tasks spawned inside are shielded too. Use it for
    /// clean-up that must finish, and keep it short. The shield here stays
    /// up; for one that can be lowered, or a shielded scope with a
    /// deadline, use [`set_shield`](CancelScope::set_shield) on a scope of
    /// your own.
    ///
    /// A runtime that shuts down still cancels shielded tasks, so that it
    /// can end.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::{self, CancelScope};
    ///
    /// let scope = CancelScope::new();
    /// let got = scope.run(|| {
    ///     scope.cancel();
    ///     let flushed = CancelScope::shield(|| {
    ///         task::yield_now(); // not cancelled here
    ///         "flushed"
    ///     });
    ///     task::checkpoint(); // but here
    ///     flushed
    /// });
    /// assert_eq!(got, None);
    /// # });
    /// ```
    pub fn shield<R>(f: impl FnOnce() -> R) -> R {
        let state = ScopeState::new(true, None);
        let _entered = enter(&state);
        f()
    }

    /// A checkpoint and a schedule point: unwinds here if the current task
    /// or a scope around this code has been cancelled, otherwise yields.
    /// The same as [`task::checkpoint`](super::checkpoint).
    ///
    /// # Cancellation
    ///
    /// This is the checkpoint itself.
    ///
    /// # Examples
    ///
    /// ```
    /// fibrio_core::task::CancelScope::checkpoint(); // outside a task: nothing
    /// ```
    pub fn checkpoint() {
        checkpoint();
    }
}

impl std::fmt::Debug for CancelScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelScope")
            .field("id", &self.state.id())
            .field("cancelled", &self.is_cancelled())
            .field("deadline", &self.deadline())
            .field("shielded", &self.is_shielded())
            .finish()
    }
}

/// The cancel scopes the running code is inside, captured to spawn tasks
/// into them later: [`ScopeContext::current`] takes it,
/// [`Builder::spawn_in`](super::Builder::spawn_in) spawns a task that
/// belongs to exactly these scopes (and not to those of whoever spawns it).
///
/// This is how a nursery works (trio's `nursery.start_soon`): capture the
/// context once inside the nursery's scope, and every task started through
/// the nursery, by whichever task and from inside whatever scopes, belongs
/// to the scopes around the nursery and to its own scope only.
///
/// The context holds the scopes themselves, not the capturing task's
/// frames: it makes nobody a member, stays valid after the capturing code
/// has left the scopes, and cancelling one of them (or its deadline
/// passing) still reaches the tasks spawned into it. A shielded scope in
/// the context shields those tasks as it shields code inside it.
///
/// Clones share the scopes. `ScopeContext` is `Send + Sync`, like
/// [`CancelScope`]:
///
/// ```
/// fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
/// assert_send_sync::<fibrio_core::task::ScopeContext>();
/// ```
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use fibrio_core::task::{self, Builder, CancelScope, ScopeContext, TaskState};
///
/// let outer = CancelScope::new();
/// let context = outer.run(ScopeContext::current).unwrap();
/// // Spawned from outside `outer`, the task still belongs to it.
/// let child = Builder::new().spawn_in(&context, || loop {
///     task::yield_now();
/// })?;
/// task::yield_now(); // the child starts
/// assert_eq!(child.state(), TaskState::Running);
/// outer.cancel();
/// assert!(child.join().unwrap_err().is_cancelled());
/// # Ok::<(), fibrio_core::task::SpawnError>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct ScopeContext {
    /// The scopes, outermost first.
    scopes: Vec<Arc<ScopeState>>,
}

impl ScopeContext {
    /// The scopes the running code is inside, innermost last: one per
    /// [`CancelScope::run`] (or [`CancelScope::shield`], or a short form
    /// such as [`move_on_after`]) on the current task's stack, and the
    /// scopes the task was spawned into. Empty outside a task, and in a
    /// task inside no scope (then nothing is allocated).
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::{CancelScope, ScopeContext};
    ///
    /// assert!(ScopeContext::current().is_empty());
    /// let outer = CancelScope::new();
    /// let inner = CancelScope::new();
    /// let depth = outer.run(|| inner.run(|| ScopeContext::current().len()));
    /// assert_eq!(depth, Some(Some(2)));
    /// # });
    /// ```
    pub fn current() -> ScopeContext {
        let scopes = with_running(|_, task| {
            if !task.in_scope() {
                return Vec::new();
            }
            task.frames()
                .iter()
                .map(|frame| frame.scope().clone())
                .collect()
        });
        ScopeContext {
            scopes: scopes.unwrap_or_default(),
        }
    }

    /// A context with no scope: a task spawned into it belongs to no scope,
    /// even when its spawner is inside some. The same as
    /// [`ScopeContext::default`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::{self, Builder, CancelScope, ScopeContext};
    ///
    /// let scope = CancelScope::new();
    /// let child = scope.run(|| {
    ///     // Spawned from inside `scope`, but not a member of it.
    ///     Builder::new().spawn_in(&ScopeContext::empty(), || {
    ///         task::yield_now();
    ///         "finished"
    ///     })
    /// });
    /// scope.cancel();
    /// assert_eq!(child.unwrap()?.join().unwrap(), "finished");
    /// # Ok::<(), fibrio_core::task::SpawnError>(())
    /// # }).unwrap();
    /// ```
    pub fn empty() -> ScopeContext {
        ScopeContext::default()
    }

    /// How many scopes the context holds.
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use fibrio_core::task::{CancelScope, ScopeContext};
    ///
    /// let got = CancelScope::new().run(|| CancelScope::shield(|| ScopeContext::current().len()));
    /// assert_eq!(got, Some(2));
    /// # });
    /// ```
    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    /// True if the context holds no scope.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_core::task::ScopeContext;
    ///
    /// assert!(ScopeContext::current().is_empty()); // not in a task
    /// assert!(ScopeContext::empty().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// The scopes' shared states, outermost first: what a task spawned
    /// into the context joins.
    pub(crate) fn states(&self) -> &[Arc<ScopeState>] {
        &self.scopes
    }
}

impl std::fmt::Debug for ScopeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u64> = self.scopes.iter().map(|scope| scope.id()).collect();
        f.debug_struct("ScopeContext")
            .field("scopes", &ids)
            .finish()
    }
}

/// Pushes a frame for `state` onto the current task's stack, removed when
/// the guard drops. `None` outside a task.
fn enter(state: &Arc<ScopeState>) -> Option<EnteredScope> {
    with_running(|scheduler, task| {
        let frame = state.join(Unparker::new(task.key(), scheduler.remote()));
        let id = frame.id();
        task.push_frame(frame);
        EnteredScope {
            runtime: scheduler.id,
            task: task.key(),
            frame: id,
        }
    })
}

/// Removes the frame pushed by [`enter`], from the task that pushed it.
struct EnteredScope {
    runtime: u64,
    task: TaskKey,
    frame: FrameId,
}

impl Drop for EnteredScope {
    fn drop(&mut self) {
        with_scheduler(|scheduler| {
            if scheduler.id == self.runtime {
                scheduler.with_task(self.task, |task| task.remove_frame(self.frame));
            }
        });
    }
}

fn deadline_after(timeout: Duration) -> Instant {
    let now = clock_now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// The error of [`fail_after`], [`fail_after_shielded`] and [`fail_at`]:
/// the deadline passed first. Its [`timeout`](Elapsed::timeout) is the
/// time the body was given: the `timeout` argument of `fail_after`, and
/// for `fail_at` the time from the call to the deadline (zero for a
/// deadline already passed at the call).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let err = fibrio_core::task::Elapsed::new(Duration::from_millis(5));
/// assert_eq!(err.to_string(), "the operation did not finish within 5ms; raise the timeout or make it faster");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operation did not finish within {timeout:?}; raise the timeout or make it faster")]
pub struct Elapsed {
    timeout: Duration,
}

impl Elapsed {
    /// An `Elapsed` for a `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fibrio_core::task::Elapsed;
    ///
    /// assert_eq!(Elapsed::new(Duration::ZERO).timeout(), Duration::ZERO);
    /// ```
    pub fn new(timeout: Duration) -> Elapsed {
        Elapsed { timeout }
    }

    /// The timeout that passed: the time the body was given (see
    /// [`Elapsed`] for `fail_at`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fibrio_core::task::test_support::block_on(|| {
    /// use std::time::Duration;
    /// use fibrio_core::task::{self, fail_after};
    ///
    /// let err = fail_after(Duration::ZERO, task::yield_now).unwrap_err();
    /// assert_eq!(err.timeout(), Duration::ZERO);
    /// # });
    /// ```
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// Runs `f` in a scope that cancels it after `timeout`: `Some(value)` if it
/// finished, `None` if the deadline cut it short (trio's `move_on_after`).
/// Deadlines nest: the earliest one visible wins.
///
/// # Cancellation
///
/// Cancellation from outside passes through.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use std::time::Duration;
/// use fibrio_core::task::{self, move_on_after};
///
/// let got = move_on_after(Duration::from_millis(1), || loop {
///     task::yield_now();
/// });
/// assert_eq!(got, None::<()>);
/// # });
/// ```
pub fn move_on_after<R>(timeout: Duration, f: impl FnOnce() -> R) -> Option<R> {
    CancelScope::with_timeout(timeout).run(f)
}

/// Runs `f` in a scope that cancels it after `timeout`, and reports the
/// expiry as an error (trio's `fail_after`).
///
/// # Errors
///
/// [`Elapsed`] if the deadline cut `f` short.
///
/// # Cancellation
///
/// Cancellation from outside passes through.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use std::time::Duration;
/// use fibrio_core::task::fail_after;
///
/// assert_eq!(fail_after(Duration::from_secs(1), || 42), Ok(42));
/// # });
/// ```
pub fn fail_after<R>(timeout: Duration, f: impl FnOnce() -> R) -> Result<R, Elapsed> {
    move_on_after(timeout, f).ok_or(Elapsed::new(timeout))
}

/// Runs `f` in a scope that cancels it at `deadline`: `Some(value)` if it
/// finished, `None` if the deadline cut it short (trio's `move_on_at`). A
/// deadline already passed cuts `f` short at its first checkpoint. The
/// absolute form of [`move_on_after`].
///
/// `deadline` is a `std::time::Instant` or a [`crate::time::Instant`]; build
/// it from the runtime's clock ([`crate::time::Instant::now`]) so that it
/// is virtual inside a deterministic simulation.
///
/// # Cancellation
///
/// Cancellation from outside passes through.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use std::time::{Duration, Instant};
/// use fibrio_core::task::{self, move_on_at};
///
/// let soon = Instant::now() + Duration::from_millis(1);
/// let got = move_on_at(soon, || loop {
///     task::yield_now();
/// });
/// assert_eq!(got, None::<()>);
/// let later = Instant::now() + Duration::from_secs(60);
/// assert_eq!(move_on_at(later, || 5), Some(5));
/// # });
/// ```
pub fn move_on_at<R>(deadline: impl Into<Instant>, f: impl FnOnce() -> R) -> Option<R> {
    let deadline: Instant = deadline.into();
    CancelScope::with_deadline(deadline).run(f)
}

/// Runs `f` in a scope that cancels it at `deadline`, and reports the
/// expiry as an error (trio's `fail_at`). The absolute form of
/// [`fail_after`].
///
/// `deadline` is a `std::time::Instant` or a [`crate::time::Instant`]; build
/// it from the runtime's clock ([`crate::time::Instant::now`]) so that it
/// is virtual inside a deterministic simulation.
///
/// # Errors
///
/// [`Elapsed`] if the deadline cut `f` short. Its
/// [`timeout`](Elapsed::timeout) is the time from this call to `deadline`
/// (zero if `deadline` had already passed at the call).
///
/// # Cancellation
///
/// Cancellation from outside passes through.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use std::time::{Duration, Instant};
/// use fibrio_core::task::{self, fail_at};
///
/// let past = Instant::now();
/// let err = fail_at(past, task::yield_now).unwrap_err();
/// assert_eq!(err.timeout(), Duration::ZERO);
/// assert_eq!(fail_at(Instant::now() + Duration::from_secs(60), || 42), Ok(42));
/// # });
/// ```
pub fn fail_at<R>(deadline: impl Into<Instant>, f: impl FnOnce() -> R) -> Result<R, Elapsed> {
    let deadline: Instant = deadline.into();
    let given = deadline.saturating_duration_since(clock_now());
    move_on_at(deadline, f).ok_or(Elapsed::new(given))
}

/// [`move_on_after`] in a shielded scope (trio's `move_on_after(timeout,
/// shield=True)`): cancellation from outside (enclosing scopes and their
/// deadlines, the task's own [`cancel`](super::JoinHandle::cancel)) does
/// not reach the checkpoints inside `f`; only the scope's own deadline
/// stops it. Returns `Some(value)` if `f` finished, `None` if the deadline
/// cut it short.
///
/// # Cancellation
///
/// Cancellation from outside waits: it takes effect at the first
/// checkpoint after this returns. A runtime that shuts down still cancels
/// through the shield.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use std::time::Duration;
/// use fibrio_core::task::{self, move_on_after_shielded, CancelScope};
///
/// let outer = CancelScope::new();
/// let got = outer.run(|| {
///     outer.cancel();
///     let inner = move_on_after_shielded(Duration::from_millis(1), || loop {
///         task::yield_now(); // the outer cancellation does not reach here
///     });
///     task::checkpoint(); // but here
///     inner
/// });
/// assert_eq!(got, None::<Option<()>>);
/// assert!(outer.cancelled_caught());
/// # });
/// ```
pub fn move_on_after_shielded<R>(timeout: Duration, f: impl FnOnce() -> R) -> Option<R> {
    CancelScope::with_timeout(timeout).shielded().run(f)
}

/// [`fail_after`] in a shielded scope (trio's `fail_after(timeout,
/// shield=True)`): only the scope's own deadline stops `f`; see
/// [`move_on_after_shielded`].
///
/// # Errors
///
/// [`Elapsed`] (carrying `timeout`) if the deadline cut `f` short.
///
/// # Cancellation
///
/// Cancellation from outside waits: it takes effect at the first
/// checkpoint after this returns. A runtime that shuts down still cancels
/// through the shield.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use std::time::Duration;
/// use fibrio_core::task::{self, fail_after_shielded, CancelScope};
///
/// let outer = CancelScope::new();
/// outer.cancel();
/// let got = outer.run(|| fail_after_shielded(Duration::from_secs(60), || {
///     task::yield_now(); // shielded: not cancelled
///     7
/// }));
/// assert_eq!(got, Some(Ok(7)));
/// # });
/// ```
pub fn fail_after_shielded<R>(timeout: Duration, f: impl FnOnce() -> R) -> Result<R, Elapsed> {
    move_on_after_shielded(timeout, f).ok_or(Elapsed::new(timeout))
}

/// The earliest deadline a checkpoint here would honour (trio's
/// `current_effective_deadline`): the earliest deadline among the cancel
/// scopes visible from the running code, looking outwards from the
/// innermost scope and stopping at the first shielded one (whose own
/// deadline still counts), as a checkpoint does.
///
/// * `None` outside a task, and when no visible scope has a deadline.
/// * If a checkpoint here would unwind now (a visible scope is cancelled
///   or past its deadline, or the task itself is cancelled and no shield
///   is in the way), where trio returns minus infinity, this returns
///   `Some` of the earlier of the earliest visible deadline and the clock
///   reading this call takes on entry: an instant no later than the call,
///   so `Instant::now() >= deadline` holds for it.
///
/// # Cancellation
///
/// Not a checkpoint.
///
/// # Examples
///
/// ```
/// # fibrio_core::task::test_support::block_on(|| {
/// use std::time::{Duration, Instant};
/// use fibrio_core::task::{current_effective_deadline, CancelScope};
///
/// assert_eq!(current_effective_deadline(), None);
/// let outer = Instant::now() + Duration::from_secs(60);
/// let inner = outer + Duration::from_secs(60);
/// CancelScope::with_deadline(outer).run(|| {
///     CancelScope::with_deadline(inner).run(|| {
///         assert_eq!(current_effective_deadline(), Some(outer)); // the earlier
///         CancelScope::shield(|| {
///             assert_eq!(current_effective_deadline(), None); // hidden
///         });
///     });
/// });
/// let cancelled = CancelScope::new();
/// cancelled.cancel();
/// cancelled.run(|| {
///     let deadline = current_effective_deadline().unwrap();
///     assert!(Instant::now() >= deadline);
/// });
/// # });
/// ```
pub fn current_effective_deadline() -> Option<Instant> {
    with_running(|_, task| {
        let now = clock_now();
        let earliest = task.visible_deadline();
        if task.pending_cancel().is_some() {
            return Some(earliest.map_or(now, |deadline| deadline.min(now)));
        }
        earliest
    })
    .flatten()
}
