//! Waiting for many tasks at once: [`gather()`], [`gather_with`],
//! [`gather_partial`], and the [`gather!`](crate::gather!) macro for tasks
//! of different types.
//!
//! * [`GatherStrategy::FailFast`] (what [`gather()`] and `gather!` do): the
//!   first task to fail (panic or cancellation) makes gather cancel every
//!   task still running, **wait until they have all ended**, and return a
//!   [`GatherError`]. No task outlives the call.
//! * [`GatherStrategy::WaitAll`]: waits for every task, then returns the
//!   values in input order, or a [`GatherError`] holding every failure and
//!   every success.
//! * [`gather_partial`]: waits for every task and returns every outcome in
//!   input order; it never cancels a task on its own account.
//!
//! # Invariants
//!
//! * Nothing is lost: every input handle yields exactly one outcome. In a
//!   [`GatherError`], `success_count() + failed_count()` equals the number
//!   of handles, and every failure and success keeps its input index (the
//!   `RETURN_PARTIAL` strategy of PHP AsyncIO, the PHP library fibrio was
//!   modelled on, re-indexed the successes and threw the failures away;
//!   here [`gather_partial`] returns them all, in place).
//! * Tasks that ended before the call are gathered at once: every round
//!   first takes the outcome of each task that has ended, and only then
//!   waits with [`wait_any`](fibrio_core::task::wait_any) for one of the
//!   rest, so no wake-up can be lost and gather never busy-waits.
//! * A task that fail-fast cancelled and that then ended cancelled is
//!   reported as [`FailureKind::CancelledByGather`], distinct from a task
//!   that failed on its own. A task that ended with a value before the
//!   cancellation reached it still counts as a success. A task that
//!   fail-fast cancelled and that then *failed* instead of ending cancelled
//!   (it caught the cancellation and panicked, say) keeps its own failure:
//!   it is reported as [`FailureKind::Panicked`], with its payload, never
//!   turned into [`FailureKind::CancelledByGather`] nor dropped.
//!
//! # Cancellation
//!
//! Every gather is a checkpoint, on entry and while it waits. If the
//! gathering task is cancelled (or panics) while waiting, it unwinds and
//! cancels every child whose outcome it had not taken yet, as asyncio does
//! for a cancelled `gather`; this holds for all the strategies and for
//! [`gather_partial`]. Unwinding, it cannot wait for them: they end on
//! their own afterwards. Values already collected are dropped.
//!
//! Called outside a task, or while the caller is unwinding (in a `Drop`),
//! gather cannot wait: the tasks that have not ended are cancelled and
//! reported with [`JoinError::OutsideTask`] or [`JoinError::Unwinding`]
//! ([`FailureKind::Other`]).
//!
//! # Examples
//!
//! ```
//! use fibrio_concurrency::gather::{gather, gather_partial};
//!
//! fibrio::run(|| {
//!     let handles = (1..=3).map(|i| fibrio::spawn(move || i * 10)).collect();
//!     assert_eq!(gather(handles).unwrap(), [10, 20, 30]);
//!
//!     let gone = fibrio::spawn(|| 2);
//!     gone.cancel();
//!     let outcomes = gather_partial(vec![fibrio::spawn(|| 1), gone]);
//!     assert_eq!(*outcomes[0].as_ref().unwrap(), 1);
//!     assert!(outcomes[1].as_ref().unwrap_err().is_cancelled());
//!
//!     let (n, s) = fibrio_concurrency::gather!(
//!         fibrio::spawn(|| 7),
//!         fibrio::spawn(|| "seven"),
//!     ).unwrap();
//!     assert_eq!((n, s), (7, "seven"));
//! });
//! ```

use std::any::Any;

use fibrio_core::task::{checkpoint_if_cancelled, JoinError, JoinHandle};

mod engine;
mod error;

pub(crate) use engine::{copy_wait_error, Child, Engine};
pub use error::{FailureKind, FailureReport, GatherError, GatherFailure, GatherReport};

/// The error of [`gather!`](crate::gather!): the tasks' values have
/// different types, so each success keeps its value as a `Box<dyn Any>`
/// (use [`downcast`](Box::downcast) to get it back).
pub type AnyGatherError = GatherError<Box<dyn Any>>;

/// What [`gather_with`] does when a task fails.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::gather::GatherStrategy;
///
/// assert_eq!(GatherStrategy::default(), GatherStrategy::FailFast);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum GatherStrategy {
    /// On the first failure (panic or cancellation), cancel the tasks still
    /// running, wait for all of them to end, and return the error.
    #[default]
    FailFast,
    /// Wait for every task, then report every failure at once.
    WaitAll,
}

/// Waits for every task and returns their values in input order; on the
/// first failure, cancels the rest, waits for them and fails
/// ([`GatherStrategy::FailFast`]). The same as
/// `gather_with(GatherStrategy::FailFast, handles)`. An empty input gives
/// `Ok(vec![])`.
///
/// # Errors
///
/// A [`GatherError`] with every failure (the first one, those that failed
/// meanwhile, and the tasks it cancelled) and every value obtained, each
/// with its input index. A task it cancelled that then panicked while
/// being cancelled is reported with that panic ([`FailureKind::Panicked`]),
/// not as [`FailureKind::CancelledByGather`].
///
/// # Cancellation
///
/// A checkpoint. If the calling task is cancelled while it waits, it
/// cancels every task not yet ended before unwinding (see the
/// [module documentation](self)). On the first failure it cancels the
/// other tasks and waits for them; each one's real outcome is kept (a
/// value, the cancellation, or a panic raised while being cancelled).
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::gather::gather;
///
/// fibrio::run(|| {
///     let slow = fibrio::spawn(|| -> i32 { loop { fibrio::yield_now() } });
///     let bad = fibrio::spawn(|| -> i32 { panic!("boom") });
/// #   let hook = std::panic::take_hook();
/// #   std::panic::set_hook(Box::new(|_| {}));
///     let err = gather(vec![slow, bad]).unwrap_err();
/// #   std::panic::set_hook(hook);
///     assert!(err.failures()[0].cancelled_by_gather()); // `slow`, stopped
///     assert_eq!(err.failures()[1].message(), "boom");
/// });
/// ```
pub fn gather<T: 'static>(handles: Vec<JoinHandle<T>>) -> Result<Vec<T>, GatherError<T>> {
    gather_with(GatherStrategy::FailFast, handles)
}

/// Waits for every task under `strategy`, and returns their values in
/// input order if they all succeeded.
///
/// # Errors
///
/// A [`GatherError`] if any task failed: with
/// [`WaitAll`](GatherStrategy::WaitAll) it holds every task's outcome;
/// with [`FailFast`](GatherStrategy::FailFast) likewise, the tasks it
/// cancelled counting as failures ([`FailureKind::CancelledByGather`] if
/// they ended cancelled, [`FailureKind::Panicked`] if they panicked while
/// being cancelled: such a panic is reported, never hidden).
///
/// # Cancellation
///
/// A checkpoint. If the calling task is cancelled while it waits, it
/// cancels every task not yet ended before unwinding (see the
/// [module documentation](self)).
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
///
/// fibrio::run(|| {
///     let a = fibrio::spawn(|| 1);
///     let b = fibrio::spawn(|| 2);
///     let c = fibrio::spawn(|| 3);
///     b.cancel();
///     c.cancel();
///     let err = gather_with(GatherStrategy::WaitAll, vec![a, b, c]).unwrap_err();
///     assert_eq!(err.failed_count(), 2);
///     assert_eq!(err.successes(), &[(0, 1)]);
///     assert_eq!(err.to_string().lines().count(), 3);
/// });
/// ```
pub fn gather_with<T: 'static>(
    strategy: GatherStrategy,
    handles: Vec<JoinHandle<T>>,
) -> Result<Vec<T>, GatherError<T>> {
    collect(strategy, Engine::new(handles))
}

/// Waits for every task and returns every outcome, in input order. It never
/// cancels a task because another failed.
///
/// # Cancellation
///
/// A checkpoint. If the calling task is cancelled while it waits, it
/// cancels every task not yet ended before unwinding, like the other
/// gathers (see the [module documentation](self)).
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::gather::gather_partial;
///
/// fibrio::run(|| {
///     let bad = fibrio::spawn(|| -> u8 { panic!("planned") });
///     let good = fibrio::spawn(|| 2);
/// #   let hook = std::panic::take_hook();
/// #   std::panic::set_hook(Box::new(|_| {}));
///     let outcomes = gather_partial(vec![bad, good]);
/// #   std::panic::set_hook(hook);
///     assert!(outcomes[0].as_ref().unwrap_err().is_panic());
///     assert_eq!(*outcomes[1].as_ref().unwrap(), 2);
/// });
/// ```
pub fn gather_partial<T: 'static>(handles: Vec<JoinHandle<T>>) -> Vec<Result<T, JoinError>> {
    let mut engine = Engine::new(handles);
    checkpoint_if_cancelled();
    let mut outcomes = Vec::with_capacity(engine.len());
    while let Some(next) = engine.next() {
        match next {
            Ok(outcome) => outcomes.push(outcome),
            Err(wait_error) => outcomes.extend(
                engine
                    .abandon()
                    .into_iter()
                    .map(|index| (index, Err(copy_wait_error(&wait_error)))),
            ),
        }
    }
    // Every index appears exactly once, so sorting restores input order.
    outcomes.sort_unstable_by_key(|(index, _)| *index);
    outcomes.into_iter().map(|(_, outcome)| outcome).collect()
}

/// Drives `engine` to the end under `strategy`. The engine is made before
/// the entry checkpoint, so a cancelled caller still cancels the children.
fn collect<C: Child>(
    strategy: GatherStrategy,
    mut engine: Engine<C>,
) -> Result<Vec<C::Output>, GatherError<C::Output>> {
    checkpoint_if_cancelled();
    let mut successes = Vec::with_capacity(engine.len());
    let mut failures = Vec::new();
    while let Some(next) = engine.next() {
        match next {
            Ok((index, Ok(value))) => successes.push((index, value)),
            Ok((index, Err(error))) => {
                let by_gather = engine.cancelled_by_us(index);
                failures.push(GatherFailure::new(
                    index,
                    engine.task(index),
                    error,
                    by_gather,
                ));
                if strategy == GatherStrategy::FailFast && failures.len() == 1 {
                    engine.cancel_rest();
                }
            }
            Err(wait_error) => {
                for index in engine.abandon() {
                    let error = copy_wait_error(&wait_error);
                    failures.push(GatherFailure::new(index, engine.task(index), error, false));
                }
            }
        }
    }
    if failures.is_empty() {
        // Every index appears exactly once, so sorting restores input order.
        successes.sort_unstable_by_key(|(index, _)| *index);
        Ok(successes.into_iter().map(|(_, value)| value).collect())
    } else {
        Err(GatherError::new(successes, failures))
    }
}

/// Gathers 1 to 8 tasks whose values have different types, fail-fast like
/// [`gather()`], and returns their values as a tuple in argument order.
///
/// Each argument is a [`JoinHandle`] (of any `'static` value type);
/// the result is `Result<(A, B, ..), AnyGatherError>`: on failure the
/// [`AnyGatherError`] keeps each success as a `Box<dyn Any>` with its index.
///
/// # Errors
///
/// As [`gather()`].
///
/// # Cancellation
///
/// As [`gather()`].
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let (n, s, v) = fibrio_concurrency::gather!(
///         fibrio::spawn(|| 1_u8),
///         fibrio::spawn(|| String::from("two")),
///         fibrio::spawn(|| vec![3.0_f64]),
///     )
///     .unwrap();
///     assert_eq!((n, s.as_str(), v), (1, "two", vec![3.0]));
///
///     let gone = fibrio::spawn(|| 'x');
///     gone.cancel();
///     let err = fibrio_concurrency::gather!(fibrio::spawn(|| 5_u32), gone).unwrap_err();
///     let (successes, _) = err.into_parts();
///     assert_eq!(successes[0].1.downcast_ref::<u32>(), Some(&5));
/// });
/// ```
///
/// No handle, or more than 8, is a compile error; use [`gather()`] with a
/// `Vec` instead:
///
/// ```compile_fail
/// let nothing = fibrio_concurrency::gather!();
/// ```
#[macro_export]
macro_rules! gather {
    ($a:expr $(,)?) => {
        $crate::gather::__private::gather1(($a,))
    };
    ($a:expr, $b:expr $(,)?) => {
        $crate::gather::__private::gather2(($a, $b))
    };
    ($a:expr, $b:expr, $c:expr $(,)?) => {
        $crate::gather::__private::gather3(($a, $b, $c))
    };
    ($a:expr, $b:expr, $c:expr, $d:expr $(,)?) => {
        $crate::gather::__private::gather4(($a, $b, $c, $d))
    };
    ($a:expr, $b:expr, $c:expr, $d:expr, $e:expr $(,)?) => {
        $crate::gather::__private::gather5(($a, $b, $c, $d, $e))
    };
    ($a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr $(,)?) => {
        $crate::gather::__private::gather6(($a, $b, $c, $d, $e, $f))
    };
    ($a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr, $g:expr $(,)?) => {
        $crate::gather::__private::gather7(($a, $b, $c, $d, $e, $f, $g))
    };
    ($a:expr, $b:expr, $c:expr, $d:expr, $e:expr, $f:expr, $g:expr, $h:expr $(,)?) => {
        $crate::gather::__private::gather8(($a, $b, $c, $d, $e, $f, $g, $h))
    };
    ($($other:tt)*) => {
        ::core::compile_error!(
            "gather! takes 1 to 8 JoinHandles; for more, or for none, use gather() with a Vec"
        )
    };
}

/// The functions behind [`gather!`](crate::gather!); not a public API.
#[doc(hidden)]
pub mod __private {
    use std::any::Any;

    use fibrio_core::task::JoinHandle;

    use super::engine::{AnyChild, Engine};
    use super::{collect, AnyGatherError, GatherStrategy};

    fn gather_any(children: Vec<AnyChild>) -> Result<Vec<Box<dyn Any>>, AnyGatherError> {
        collect(GatherStrategy::FailFast, Engine::new(children))
    }

    fn downcast<T: 'static>(value: Option<Box<dyn Any>>) -> T {
        match value.map(<Box<dyn Any>>::downcast::<T>) {
            Some(Ok(value)) => *value,
            _ => unreachable!("gather! erased exactly one value of this type per handle"),
        }
    }

    macro_rules! tuple_gathers {
        ($($name:ident($($h:ident: $T:ident),+);)+) => {$(
            /// Gathers handles of different types, for `gather!`.
            pub fn $name<$($T: 'static),+>(
                handles: ($(JoinHandle<$T>,)+),
            ) -> Result<($($T,)+), AnyGatherError> {
                let ($($h,)+) = handles;
                let mut values = gather_any(vec![$(AnyChild::new($h)),+])?.into_iter();
                Ok(($(downcast::<$T>(values.next()),)+))
            }
        )+};
    }

    tuple_gathers! {
        gather1(a: A);
        gather2(a: A, b: B);
        gather3(a: A, b: B, c: C);
        gather4(a: A, b: B, c: C, d: D);
        gather5(a: A, b: B, c: C, d: D, e: E);
        gather6(a: A, b: B, c: C, d: D, e: E, f: F);
        gather7(a: A, b: B, c: C, d: D, e: E, f: F, g: G);
        gather8(a: A, b: B, c: C, d: D, e: E, f: F, g: G, h: H);
    }
}
