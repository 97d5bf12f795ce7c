//! The kernel's half of cancel scopes: the shared state of a scope
//! ([`ScopeState`]) and the frames ([`Frame`]) a task stacks up while it
//! runs inside scopes. The public [`CancelScope`](crate::task::CancelScope)
//! is built on these; the model is described there.
//!
//! # Invariants
//!
//! * `ScopeState::cancelled` only goes from false to true: cancellation is
//!   a latch. A deadline that has passed cancels the scope for good: the
//!   first look that sees it passed (a checkpoint, `is_cancelled`, or a
//!   `set_deadline` replacing it) sets `cancelled`, so moving the deadline
//!   later, or removing it, never un-cancels the scope, and no member can
//!   be cancelled while another carries on.
//! * `ScopeState::members` holds an [`Unparker`] for every [`Frame`], in any
//!   task, that refers to the scope right now, under the frame's member id;
//!   a frame removes its entry when it is dropped (popped, or its task
//!   finished). Whoever cancels a scope or moves its deadline wakes every
//!   member, so that a parked member reaches its checkpoint (or re-arms its
//!   wake-up for the new deadline). Members are kept in a `BTreeMap` and
//!   woken in member-id order, i.e. in the order they joined: the wake
//!   order (and so the run-queue order) never depends on a hasher's seed,
//!   which a deterministic simulation needs.
//! * A frame is identified by `(scope id, member id)`, unique for the life
//!   of the process, so a frame is only ever removed by the guard that
//!   pushed it (`TaskHeader::remove_frame`).
//! * A new task's frames are made once, at its spawn, by joining each scope
//!   of one list, outermost first: the spawner's frames (`spawn`), or the
//!   scopes of a [`ScopeContext`](crate::task::ScopeContext)
//!   (`Builder::spawn_in`), which are kept as the shared `ScopeState`s
//!   themselves. A frame made either way refers to the very state of its
//!   scope, so a shield, a cancellation or a deadline reaches the child
//!   exactly as it reaches the code that entered the scope, even if that
//!   code has left the scope since. A spawner in no scope, spawning with
//!   `spawn`, gives its child an empty frame list: nothing is allocated.
//! * `ScopeState::shield` may change at any time, from any thread
//!   (`CancelScope::set_shield`). Nothing caches it: every walk over a
//!   task's frames ([`visible_cancel`] for checkpoints and for the
//!   pending-cancel check of a task that has not started,
//!   [`visible_deadline`] for the timer of a parked task and for
//!   `current_effective_deadline`) reads it afresh, frame by frame. Whoever
//!   lowers a shield wakes every member as a cancellation would, so that a
//!   parked member looks again: it unwinds if an outer cancellation is now
//!   visible, and otherwise returns from `park` spuriously and re-arms its
//!   wake-up for the deadlines now visible. Raising a shield needs no
//!   wake-up: the next walk stops at it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::clock;
use super::remote::Unparker;

static NEXT_SCOPE_ID: AtomicU64 = AtomicU64::new(1);

/// The shared state of a cancel scope and its clones.
pub(crate) struct ScopeState {
    id: u64,
    shield: AtomicBool,
    cancelled: AtomicBool,
    caught: AtomicBool,
    deadline: Mutex<Option<Instant>>,
    members: Mutex<Members>,
}

#[derive(Default)]
struct Members {
    next: u64,
    by_id: BTreeMap<u64, Unparker>,
}

impl ScopeState {
    pub(crate) fn new(shield: bool, deadline: Option<Instant>) -> Arc<ScopeState> {
        Arc::new(ScopeState {
            id: NEXT_SCOPE_ID.fetch_add(1, Ordering::Relaxed),
            shield: AtomicBool::new(shield),
            cancelled: AtomicBool::new(false),
            caught: AtomicBool::new(false),
            deadline: Mutex::new(deadline),
            members: Mutex::new(Members::default()),
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Whether the scope hides what lies outside it, read now.
    pub(crate) fn is_shielded(&self) -> bool {
        self.shield.load(Ordering::Acquire)
    }

    /// Raises or lowers the shield; the caller wakes the members. Returns
    /// the previous setting.
    pub(crate) fn set_shield(&self, shield: bool) -> bool {
        self.shield.swap(shield, Ordering::AcqRel)
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the deadline; the caller wakes the members. A deadline it
    /// replaces that had passed cancels the scope first (the latch). Returns
    /// whether the scope is cancelled now.
    pub(crate) fn set_deadline(&self, deadline: Option<Instant>) -> bool {
        let mut current = self.deadline.lock().unwrap_or_else(PoisonError::into_inner);
        let now = clock::now();
        if current.is_some_and(|old| now >= old) {
            self.cancelled.store(true, Ordering::Release);
        }
        *current = deadline;
        drop(current);
        self.is_cancelled_at(&mut Some(now))
    }

    /// Marks the scope cancelled. True if it was not already.
    pub(crate) fn cancel(&self) -> bool {
        !self.cancelled.swap(true, Ordering::AcqRel)
    }

    /// True once cancelled or past its deadline (which latches the
    /// cancellation). `now` is read from the clock at most once per walk
    /// over a task's frames.
    pub(crate) fn is_cancelled_at(&self, now: &mut Option<Instant>) -> bool {
        if self.cancelled.load(Ordering::Acquire) {
            return true;
        }
        match self.deadline() {
            Some(deadline) if *now.get_or_insert_with(clock::now) >= deadline => {
                // The latch: once seen passed, cancelled for good.
                self.cancelled.store(true, Ordering::Release);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn caught(&self) -> bool {
        self.caught.load(Ordering::Acquire)
    }

    pub(crate) fn set_caught(&self) {
        self.caught.store(true, Ordering::Release);
    }

    /// A new frame for this scope, whose task `unparker` wakes.
    pub(crate) fn join(self: &Arc<ScopeState>, unparker: Unparker) -> Frame {
        let mut members = self.members.lock().unwrap_or_else(PoisonError::into_inner);
        members.next += 1;
        let member = members.next;
        members.by_id.insert(member, unparker);
        Frame {
            scope: self.clone(),
            member,
        }
    }

    /// The tasks inside the scope now, to wake.
    pub(crate) fn members(&self) -> Vec<Unparker> {
        self.members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_id
            .values()
            .cloned()
            .collect()
    }
}

/// One entry of a task's scope stack. Dropping it leaves the scope.
pub(crate) struct Frame {
    scope: Arc<ScopeState>,
    member: u64,
}

/// Names one frame: its scope's id and its member id there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameId {
    scope: u64,
    member: u64,
}

impl Frame {
    /// The same scope, joined by the task that `unparker` wakes: used to
    /// hand a spawner's scopes to its child.
    pub(crate) fn inherit(&self, unparker: Unparker) -> Frame {
        self.scope.join(unparker)
    }

    /// The scope this frame is in: what a
    /// [`ScopeContext`](crate::task::ScopeContext) captures.
    pub(crate) fn scope(&self) -> &Arc<ScopeState> {
        &self.scope
    }

    pub(crate) fn id(&self) -> FrameId {
        FrameId {
            scope: self.scope.id,
            member: self.member,
        }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.scope
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_id
            .remove(&self.member);
    }
}

/// What the innermost-to-outermost walk over `frames` finds: the outermost
/// visible cancelled scope, if any, and whether the walk reached the task
/// itself (no shield in the way). Shields are read as they are now.
pub(crate) fn visible_cancel(frames: &[Frame]) -> (Option<u64>, bool) {
    let mut now = None;
    let mut found = None;
    for frame in frames.iter().rev() {
        if frame.scope.is_cancelled_at(&mut now) {
            found = Some(frame.scope.id);
        }
        if frame.scope.is_shielded() {
            return (found, false);
        }
    }
    (found, true)
}

/// The earliest deadline visible from the innermost of `frames`, with the
/// shields as they are now.
pub(crate) fn visible_deadline(frames: &[Frame]) -> Option<Instant> {
    let mut earliest: Option<Instant> = None;
    for frame in frames.iter().rev() {
        if let Some(deadline) = frame.scope.deadline() {
            earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
        }
        if frame.scope.is_shielded() {
            break;
        }
    }
    earliest
}
