//! Racing tasks: [`select`] returns the first task to end, whatever its
//! outcome (like tokio's `select!` or asyncio's `FIRST_COMPLETED`);
//! [`race`] returns the first task to *succeed*, and fails only if every
//! task failed (like trio's race pattern).
//!
//! # Invariants
//!
//! * No loser outlives the call: once a winner is known, every other task
//!   is cancelled and waited for before the call returns. A loser that
//!   ended with a value anyway has that value dropped, and one that ended
//!   cancelled is dropped silently.
//! * A loser's failure is never swallowed: a loser that the call cancelled
//!   and that then *failed* instead of ending cancelled (it caught the
//!   cancellation and panicked, say) makes the call return
//!   [`SelectError::LoserFailed`] / [`RaceError::LoserFailed`], which keep
//!   the winner (boxed) and every such failure, as trio reports an
//!   exception raised by a task it was cancelling.
//! * Tasks that ended before the call count at once; among tasks found
//!   ended together, the lowest input index wins, so an input whose tasks
//!   have all ended gives a deterministic winner.
//! * Waiting uses [`wait_any`](fibrio_core::task::wait_any): no busy-wait.
//! * An empty input is an error ([`SelectError::Empty`],
//!   [`RaceError::Empty`]), never a hang or a panic.
//!
//! # Cancellation
//!
//! Both calls are checkpoints, on entry and while they wait. If the calling
//! task is cancelled meanwhile, it cancels every task it was racing before
//! it unwinds (it cannot wait for them while unwinding).
//!
//! # Examples
//!
//! ```
//! use fibrio_concurrency::select::{race, select};
//!
//! fibrio::run(|| {
//!     let slow = fibrio::spawn(|| -> &str { loop { fibrio::yield_now() } });
//!     let quick = fibrio::spawn(|| "quick");
//!     let (index, outcome) = select(vec![slow, quick]).unwrap();
//!     assert_eq!((index, outcome.unwrap()), (1, "quick"));
//!
//!     let gone = fibrio::spawn(|| 1);
//!     gone.cancel();
//!     let (index, value) = race(vec![gone, fibrio::spawn(|| 2)]).unwrap();
//!     assert_eq!((index, value), (1, 2));
//! });
//! ```

use std::any::Any;
use std::fmt;

use fibrio_core::task::{checkpoint_if_cancelled, JoinError, JoinHandle};

use crate::gather::{copy_wait_error, Engine, GatherFailure};

/// Why [`select`] returned no winner.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::select::{select, SelectError};
///
/// let err = select(Vec::<fibrio::JoinHandle<()>>::new()).unwrap_err();
/// assert!(matches!(err, SelectError::Empty));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// No handles were given, so no task can finish first.
    #[error("select() was given no tasks, so none can finish first; pass at least one handle")]
    Empty,
    /// No task had ended and the caller cannot wait
    /// ([`JoinError::OutsideTask`] or [`JoinError::Unwinding`]); every task
    /// was cancelled.
    #[error("select() could not wait for its tasks, and cancelled them: {0}")]
    Wait(JoinError),
    /// A task won, but at least one loser that `select` cancelled failed
    /// while being cancelled (it panicked instead of ending cancelled).
    /// Its failure is reported here rather than dropped. The winner's
    /// outcome is kept, boxed: get it back with
    /// [`into_winner`](SelectError::into_winner). Every task has ended.
    #[error(
        "select() had a winner (input {winner}), but {} cancelled loser(s) failed while being cancelled:{}",
        .failures.len(),
        failure_lines(.failures)
    )]
    LoserFailed {
        /// The winner's input index.
        winner: usize,
        /// The winner's outcome, a `Result<T, JoinError>` behind `dyn Any`.
        outcome: Box<dyn Any>,
        /// Each loser that failed while being cancelled, by input index.
        failures: Vec<GatherFailure>,
    },
}

impl SelectError {
    /// The losers that failed while being cancelled
    /// ([`SelectError::LoserFailed`]); empty for the other variants.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::select::select;
    ///
    /// fibrio::run(|| {
    /// #   let hook = std::panic::take_hook();
    /// #   std::panic::set_hook(Box::new(|_| {}));
    ///     // Catches its cancellation, then fails on its way out.
    ///     let loser = fibrio::spawn(|| -> u8 {
    ///         let _ = std::panic::catch_unwind(|| -> () { loop { fibrio::yield_now() } });
    ///         panic!("late failure")
    ///     });
    ///     let err = select(vec![loser, fibrio::spawn(|| 7)]).unwrap_err();
    /// #   std::panic::set_hook(hook);
    ///     assert_eq!(err.failures().len(), 1);
    ///     assert_eq!(err.failures()[0].message(), "late failure");
    /// });
    /// ```
    pub fn failures(&self) -> &[GatherFailure] {
        match self {
            SelectError::LoserFailed { failures, .. } => failures,
            _ => &[],
        }
    }

    /// The winner's input index and outcome, for
    /// [`SelectError::LoserFailed`]; `None` for the other variants, or if
    /// `T` is not the tasks' value type.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::select::select;
    ///
    /// fibrio::run(|| {
    /// #   let hook = std::panic::take_hook();
    /// #   std::panic::set_hook(Box::new(|_| {}));
    ///     // Catches its cancellation, then fails on its way out.
    ///     let loser = fibrio::spawn(|| -> u8 {
    ///         let _ = std::panic::catch_unwind(|| -> () { loop { fibrio::yield_now() } });
    ///         panic!("late failure")
    ///     });
    ///     let err = select(vec![loser, fibrio::spawn(|| 7)]).unwrap_err();
    /// #   std::panic::set_hook(hook);
    ///     let (index, outcome) = err.into_winner::<u8>().unwrap();
    ///     assert_eq!((index, outcome.unwrap()), (1, 7));
    /// });
    /// ```
    pub fn into_winner<T: 'static>(self) -> Option<(usize, Result<T, JoinError>)> {
        match self {
            SelectError::LoserFailed {
                winner, outcome, ..
            } => outcome
                .downcast::<Result<T, JoinError>>()
                .ok()
                .map(|outcome| (winner, *outcome)),
            _ => None,
        }
    }
}

/// One indented line per failure, each starting with a newline.
fn failure_lines(failures: &[GatherFailure]) -> String {
    failures
        .iter()
        .map(|failure| format!("\n  [{}] {failure}", failure.index()))
        .collect()
}

/// Waits for the first of `handles` to end, cancels the others and waits
/// for them to end, and returns the first one's input index and outcome
/// (a failure wins too: use [`race`] to wait for the first success).
///
/// # Errors
///
/// [`SelectError::Empty`] for an empty input; [`SelectError::Wait`] if no
/// task had ended and the caller cannot wait;
/// [`SelectError::LoserFailed`] if a loser that `select` cancelled failed
/// while being cancelled (panicked instead of ending cancelled): the panic
/// is reported, with the winner kept.
///
/// # Cancellation
///
/// A checkpoint. If the calling task is cancelled while it waits, it
/// cancels every task before unwinding. Once a winner is known, the losers
/// are cancelled and waited for: those ending cancelled, or with a value,
/// are dropped; those ending with a failure are reported
/// ([`SelectError::LoserFailed`]), never silently dropped.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::select::select;
///
/// fibrio::run(|| {
///     let dropped = std::rc::Rc::new(std::cell::Cell::new(false));
///     struct Flag(std::rc::Rc<std::cell::Cell<bool>>);
///     impl Drop for Flag {
///         fn drop(&mut self) { self.0.set(true) }
///     }
///     let flag = Flag(dropped.clone());
///     let loser = fibrio::spawn(move || -> u8 {
///         let _flag = flag;
///         loop { fibrio::yield_now() }
///     });
///     let (index, outcome) = select(vec![loser, fibrio::spawn(|| 9)]).unwrap();
///     assert_eq!((index, outcome.unwrap()), (1, 9));
///     assert!(dropped.get()); // the loser was cancelled and has ended
/// });
/// ```
pub fn select<T: 'static>(
    handles: Vec<JoinHandle<T>>,
) -> Result<(usize, Result<T, JoinError>), SelectError> {
    let mut engine = Engine::new(handles);
    checkpoint_if_cancelled();
    let winner = match engine.next() {
        Some(Ok(outcome)) => outcome,
        Some(Err(wait_error)) => {
            engine.abandon();
            return Err(SelectError::Wait(wait_error));
        }
        None => return Err(SelectError::Empty),
    };
    let failures = finish_losers(engine);
    if failures.is_empty() {
        Ok(winner)
    } else {
        Err(SelectError::LoserFailed {
            winner: winner.0,
            outcome: Box::new(winner.1),
            failures,
        })
    }
}

/// Why [`race`] found no winner.
///
/// `Display` names every failure, one line each, like a
/// [`GatherError`](crate::gather::GatherError).
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::select::{race, RaceError};
///
/// fibrio::run(|| {
///     let gone = fibrio::spawn(|| 1);
///     gone.cancel();
///     let err = race(vec![gone]).unwrap_err();
///     assert!(matches!(&err, RaceError::AllFailed(failures) if failures.len() == 1));
///     assert!(err.to_string().starts_with("all 1 racing task failed:\n  [0] task #"));
/// });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum RaceError {
    /// No handles were given, so no task can win.
    Empty,
    /// Every task failed: one failure per task, by input index. Tasks that
    /// could not be waited for (the caller was outside a task or unwinding)
    /// are among them, with [`FailureKind::Other`](crate::gather::FailureKind::Other).
    AllFailed(Vec<GatherFailure>),
    /// A task won, but at least one loser that `race` cancelled failed
    /// while being cancelled (it panicked instead of ending cancelled).
    /// Its failure is reported here rather than dropped. The winner's
    /// value is kept, boxed: get it back with
    /// [`into_winner`](RaceError::into_winner). Every task has ended.
    LoserFailed {
        /// The winner's input index.
        winner: usize,
        /// The winner's value, a `T` behind `dyn Any`.
        value: Box<dyn Any>,
        /// Each loser that failed while being cancelled, by input index.
        failures: Vec<GatherFailure>,
    },
}

impl RaceError {
    /// Every failure, by input index (none for [`RaceError::Empty`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::select::race;
    ///
    /// fibrio::run(|| {
    ///     let (a, b) = (fibrio::spawn(|| 1), fibrio::spawn(|| 2));
    ///     a.cancel();
    ///     b.cancel();
    ///     let err = race(vec![a, b]).unwrap_err();
    ///     assert_eq!(err.failures().len(), 2); // every task failed
    /// });
    /// ```
    pub fn failures(&self) -> &[GatherFailure] {
        match self {
            RaceError::Empty => &[],
            RaceError::AllFailed(failures) | RaceError::LoserFailed { failures, .. } => failures,
        }
    }

    /// The winner's input index and value, for [`RaceError::LoserFailed`];
    /// `None` for the other variants, or if `T` is not the tasks' value
    /// type.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::select::race;
    ///
    /// fibrio::run(|| {
    /// #   let hook = std::panic::take_hook();
    /// #   std::panic::set_hook(Box::new(|_| {}));
    ///     // Catches its cancellation, then fails on its way out.
    ///     let loser = fibrio::spawn(|| -> u8 {
    ///         let _ = std::panic::catch_unwind(|| -> () { loop { fibrio::yield_now() } });
    ///         panic!("late failure")
    ///     });
    ///     let err = race(vec![loser, fibrio::spawn(|| 7)]).unwrap_err();
    /// #   std::panic::set_hook(hook);
    ///     assert_eq!(err.failures()[0].index(), 0);
    ///     assert_eq!(err.into_winner::<u8>(), Some((1, 7)));
    /// });
    /// ```
    pub fn into_winner<T: 'static>(self) -> Option<(usize, T)> {
        match self {
            RaceError::LoserFailed { winner, value, .. } => {
                value.downcast::<T>().ok().map(|value| (winner, *value))
            }
            _ => None,
        }
    }
}

impl fmt::Display for RaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RaceError::Empty => {
                f.write_str("race() was given no tasks, so none can win; pass at least one handle")
            }
            RaceError::AllFailed(failures) => {
                let n = failures.len();
                let noun = if n == 1 { "task" } else { "tasks" };
                f.write_fmt(format_args!("all {n} racing {noun} failed:"))?;
                f.write_str(&failure_lines(failures))
            }
            RaceError::LoserFailed {
                winner, failures, ..
            } => write!(
                f,
                "race() had a winner (input {winner}), but {} cancelled loser(s) failed while being cancelled:{}",
                failures.len(),
                failure_lines(failures)
            ),
        }
    }
}

impl std::error::Error for RaceError {}

/// Waits for the first of `handles` to return a value, cancels the others
/// and waits for them to end, and returns the winner's input index and
/// value. Failures before the first success are dropped.
///
/// # Errors
///
/// [`RaceError::Empty`] for an empty input; [`RaceError::AllFailed`], with
/// every failure, if no task returned a value;
/// [`RaceError::LoserFailed`] if a task won but a loser that `race`
/// cancelled failed while being cancelled (panicked instead of ending
/// cancelled): the panic is reported, with the winner's value kept.
///
/// # Cancellation
///
/// A checkpoint. If the calling task is cancelled while it waits, it
/// cancels every task before unwinding. Once a task has won, the losers
/// are cancelled and waited for: those ending cancelled, or with a value,
/// are dropped; those ending with a failure are reported
/// ([`RaceError::LoserFailed`]), never silently dropped.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::select::race;
///
/// fibrio::run(|| {
///     let fails_first = fibrio::spawn(|| -> u8 { panic!("mirror down") });
///     let slower = fibrio::spawn(|| {
///         fibrio::yield_now();
///         2
///     });
/// #   let hook = std::panic::take_hook();
/// #   std::panic::set_hook(Box::new(|_| {}));
///     assert_eq!(race(vec![fails_first, slower]).unwrap(), (1, 2));
/// #   std::panic::set_hook(hook);
/// });
/// ```
pub fn race<T: 'static>(handles: Vec<JoinHandle<T>>) -> Result<(usize, T), RaceError> {
    if handles.is_empty() {
        return Err(RaceError::Empty);
    }
    let mut engine = Engine::new(handles);
    checkpoint_if_cancelled();
    let mut failures = Vec::new();
    while let Some(next) = engine.next() {
        match next {
            Ok((index, Ok(value))) => {
                let failures = finish_losers(engine);
                if failures.is_empty() {
                    return Ok((index, value));
                }
                return Err(RaceError::LoserFailed {
                    winner: index,
                    value: Box::new(value),
                    failures,
                });
            }
            Ok((index, Err(error))) => {
                failures.push(GatherFailure::new(index, engine.task(index), error, false));
            }
            Err(wait_error) => {
                for index in engine.abandon() {
                    let error = copy_wait_error(&wait_error);
                    failures.push(GatherFailure::new(index, engine.task(index), error, false));
                }
            }
        }
    }
    failures.sort_unstable_by_key(GatherFailure::index);
    Err(RaceError::AllFailed(failures))
}

/// Cancels every task whose outcome was not taken and waits for them all
/// to end, dropping their values and cancellations. Returns, by input
/// index, the failure of each task it cancelled that ended failing rather
/// than cancelled (a panic raised while being cancelled), so that the
/// caller reports it. If the caller cannot wait, the tasks stay cancelled
/// and end on their own.
fn finish_losers<C: crate::gather::Child>(mut engine: Engine<C>) -> Vec<GatherFailure> {
    engine.cancel_rest();
    let mut failures = Vec::new();
    while let Some(next) = engine.next() {
        match next {
            Ok((index, Err(error))) if !error.is_cancelled() && engine.cancelled_by_us(index) => {
                failures.push(GatherFailure::new(index, engine.task(index), error, true));
            }
            Ok(_) => {}
            Err(_) => {
                engine.abandon();
            }
        }
    }
    failures.sort_unstable_by_key(GatherFailure::index);
    failures
}
