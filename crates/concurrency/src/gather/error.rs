//! [`GatherError`], [`GatherFailure`] and the serialisable [`GatherReport`].

use std::fmt;

use fibrio_core::fiber::payload_message;
use fibrio_core::task::{JoinError, TaskRef};

/// How a gathered task failed, as shown in a [`GatherReport`].
///
/// With the `serde` feature it serialises as a `snake_case` string
/// (`"panicked"`, `"cancelled"`, `"cancelled_by_gather"`, `"other"`).
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::gather::{gather_with, FailureKind, GatherStrategy};
///
/// fibrio::run(|| {
///     let doomed = fibrio::spawn(|| 1);
///     doomed.cancel();
///     let err = gather_with(GatherStrategy::WaitAll, vec![doomed]).unwrap_err();
///     assert_eq!(err.failures()[0].kind(), FailureKind::Cancelled);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum FailureKind {
    /// The task panicked ([`JoinError::Panicked`]).
    Panicked,
    /// The task was cancelled, by someone other than the gather
    /// ([`JoinError::Cancelled`]).
    Cancelled,
    /// The task was cancelled by a fail-fast gather after another task
    /// failed, and ended cancelled.
    CancelledByGather,
    /// Any other [`JoinError`]: typically the gathering task could not wait
    /// ([`JoinError::Unwinding`], [`JoinError::OutsideTask`]).
    Other,
}

/// One task that did not produce a value: its input index, name, id and
/// [`JoinError`], with the panic message already extracted for display.
///
/// Its `Display` is one line: `task 'fetch-b' (id 7) panicked: boom`, or
/// `task #9 was cancelled` for an unnamed task.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::gather::{gather_with, FailureKind, GatherStrategy};
///
/// fibrio::run(|| {
///     let task = fibrio::task::Builder::new().name("fetch").spawn(|| -> u8 {
///         panic!("boom")
///     }).unwrap();
/// #   let hook = std::panic::take_hook();
/// #   std::panic::set_hook(Box::new(|_| {}));
///     let err = gather_with(GatherStrategy::WaitAll, vec![task]).unwrap_err();
/// #   std::panic::set_hook(hook);
///     let failure = &err.failures()[0];
///     assert_eq!((failure.index(), failure.name()), (0, Some("fetch")));
///     assert_eq!(failure.kind(), FailureKind::Panicked);
///     assert_eq!(failure.message(), "boom");
///     assert!(failure.to_string().starts_with("task 'fetch' (id "));
///     let (_, mut failures) = err.into_parts();
///     assert!(failures.remove(0).into_error().is_panic());
/// });
/// ```
#[derive(Debug)]
pub struct GatherFailure {
    index: usize,
    name: Option<String>,
    id: u64,
    kind: FailureKind,
    message: String,
    error: JoinError,
}

impl GatherFailure {
    pub(crate) fn new(
        index: usize,
        task: &TaskRef,
        error: JoinError,
        cancelled_by_gather: bool,
    ) -> GatherFailure {
        let kind = match &error {
            JoinError::Panicked(_) => FailureKind::Panicked,
            JoinError::Cancelled if cancelled_by_gather => FailureKind::CancelledByGather,
            JoinError::Cancelled => FailureKind::Cancelled,
            _ => FailureKind::Other,
        };
        let message = match &error {
            JoinError::Panicked(payload) => payload_message(payload).to_owned(),
            other => other.to_string(),
        };
        GatherFailure {
            index,
            name: task.name().map(str::to_owned),
            id: task.id(),
            kind,
            message,
            error,
        }
    }

    /// The task's position in the input.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let (ok, gone) = (fibrio::spawn(|| ()), fibrio::spawn(|| ()));
    ///     gone.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![ok, gone]).unwrap_err();
    ///     assert_eq!(err.failures()[0].index(), 1);
    /// });
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The task's name, if it was given one.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let task = fibrio::task::Builder::new().name("fetch").spawn(|| ()).unwrap();
    ///     task.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![task]).unwrap_err();
    ///     assert_eq!(err.failures()[0].name(), Some("fetch"));
    /// });
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The task's id.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let task = fibrio::spawn(|| ());
    ///     let id = task.id();
    ///     task.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![task]).unwrap_err();
    ///     assert_eq!(err.failures()[0].id(), id);
    /// });
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How the task failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, FailureKind, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let task = fibrio::spawn(|| ());
    ///     task.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![task]).unwrap_err();
    ///     assert_eq!(err.failures()[0].kind(), FailureKind::Cancelled);
    /// });
    /// ```
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// True if a fail-fast gather cancelled this task after another one
    /// failed ([`FailureKind::CancelledByGather`]), rather than the task
    /// failing on its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let gone = fibrio::spawn(|| 0u8);
    ///     gone.cancel();
    ///     let slow = fibrio::spawn(|| -> u8 { loop { fibrio::yield_now() } });
    ///     let err = gather_with(GatherStrategy::FailFast, vec![gone, slow]).unwrap_err();
    ///     assert!(!err.failures()[0].cancelled_by_gather()); // cancelled by us
    ///     assert!(err.failures()[1].cancelled_by_gather()); // stopped by the gather
    /// });
    /// ```
    pub fn cancelled_by_gather(&self) -> bool {
        self.kind == FailureKind::CancelledByGather
    }

    /// The panic message for a panic (`<non-string panic payload>` if the
    /// payload is not a string), else the error's text.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let task = fibrio::spawn(|| ());
    ///     task.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![task]).unwrap_err();
    ///     assert_eq!(err.failures()[0].message(), "the task was cancelled");
    /// });
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let task = fibrio::spawn(|| ());
    ///     task.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![task]).unwrap_err();
    ///     assert!(err.failures()[0].error().is_cancelled());
    /// });
    /// ```
    pub fn error(&self) -> &JoinError {
        &self.error
    }

    /// The error itself, by value: for a panic, [`JoinError::into_panic`]
    /// gives the payload to [`std::panic::resume_unwind`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let task = fibrio::spawn(|| -> u8 { panic!("boom") });
    /// #   let hook = std::panic::take_hook();
    /// #   std::panic::set_hook(Box::new(|_| {}));
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![task]).unwrap_err();
    /// #   std::panic::set_hook(hook);
    ///     let failure = err.into_parts().1.remove(0);
    ///     let payload = failure.into_error().into_panic();
    ///     assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    /// });
    /// ```
    pub fn into_error(self) -> JoinError {
        self.error
    }

    /// The serialisable summary of this failure.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, FailureKind, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let task = fibrio::task::Builder::new().name("b").spawn(|| ()).unwrap();
    ///     task.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![task]).unwrap_err();
    ///     let report = err.failures()[0].report();
    ///     assert_eq!((report.name.as_deref(), report.kind), (Some("b"), FailureKind::Cancelled));
    /// });
    /// ```
    pub fn report(&self) -> FailureReport {
        FailureReport {
            index: self.index,
            name: self.name.clone(),
            id: self.id,
            kind: self.kind,
            message: self.message.clone(),
        }
    }
}

impl fmt::Display for GatherFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe(f, self.name.as_deref(), self.id, self.kind, &self.message)
    }
}

/// Writes one failure line (without index): "task 'a' (id 7) panicked: boom".
fn describe(
    f: &mut fmt::Formatter<'_>,
    name: Option<&str>,
    id: u64,
    kind: FailureKind,
    message: &str,
) -> fmt::Result {
    match name {
        Some(name) => write!(f, "task '{name}' (id {id})")?,
        None => write!(f, "task #{id}")?,
    }
    match kind {
        FailureKind::Panicked => write!(f, " panicked: {message}"),
        FailureKind::Cancelled => f.write_str(" was cancelled"),
        FailureKind::CancelledByGather => {
            f.write_str(" was cancelled by gather after another task failed")
        }
        FailureKind::Other => write!(f, " failed: {message}"),
    }
}

/// Writes the multi-line report: a header, then one indented line per
/// failure.
pub(crate) fn write_report<'a, D: fmt::Display + 'a>(
    f: &mut fmt::Formatter<'_>,
    header: fmt::Arguments<'_>,
    failures: impl Iterator<Item = (usize, &'a D)>,
) -> fmt::Result {
    f.write_fmt(header)?;
    for (index, failure) in failures {
        write!(f, "\n  [{index}] {failure}")?;
    }
    Ok(())
}

fn tasks(n: usize) -> &'static str {
    if n == 1 {
        "task"
    } else {
        "tasks"
    }
}

/// Why a [`gather`](super::gather()) or [`gather_with`](super::gather_with)
/// failed: every failure with its input index, task name, id and error, and
/// every success with its index and value. Nothing is lost:
/// `success_count() + failed_count()` is always the number of handles
/// gathered. Both lists are sorted by index.
///
/// `Display` is a multi-line report naming every failure:
///
/// ```text
/// 2 of 5 tasks failed:
///   [1] task 'fetch-b' (id 7) panicked: boom
///   [3] task #9 was cancelled
/// ```
///
/// [`report`](GatherError::report) gives the same information as a
/// [`GatherReport`], serialisable with the `serde` feature.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
///
/// fibrio::run(|| {
///     let ok = fibrio::spawn(|| 1);
///     let gone = fibrio::spawn(|| 2);
///     gone.cancel();
///     let err = gather_with(GatherStrategy::WaitAll, vec![ok, gone]).unwrap_err();
///     assert_eq!((err.success_count(), err.failed_count()), (1, 1));
///     assert_eq!(err.successes(), &[(0, 1)]);
///     assert_eq!(err.failures()[0].index(), 1);
///     assert!(err.to_string().starts_with("1 of 2 tasks failed:\n  [1] task #"));
///     let (successes, failures) = err.into_parts();
///     assert_eq!((successes.len(), failures.len()), (1, 1));
/// });
/// ```
#[derive(Debug)]
pub struct GatherError<T> {
    total: usize,
    successes: Vec<(usize, T)>,
    failures: Vec<GatherFailure>,
}

impl<T> GatherError<T> {
    pub(crate) fn new(
        mut successes: Vec<(usize, T)>,
        mut failures: Vec<GatherFailure>,
    ) -> GatherError<T> {
        successes.sort_unstable_by_key(|(index, _)| *index);
        failures.sort_unstable_by_key(GatherFailure::index);
        GatherError {
            total: successes.len() + failures.len(),
            successes,
            failures,
        }
    }

    /// How many handles were gathered (`success_count() + failed_count()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let ok = fibrio::spawn(|| 1);
    ///     let gone = fibrio::spawn(|| 2);
    ///     gone.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![ok, gone]).unwrap_err();
    ///     assert_eq!(err.total(), 2);
    /// });
    /// ```
    pub fn total(&self) -> usize {
        self.total
    }

    /// How many tasks failed (cancelled ones included).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let ok = fibrio::spawn(|| 1);
    ///     let gone = fibrio::spawn(|| 2);
    ///     gone.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![ok, gone]).unwrap_err();
    ///     assert_eq!(err.failed_count(), 1);
    /// });
    /// ```
    pub fn failed_count(&self) -> usize {
        self.failures.len()
    }

    /// How many tasks returned a value.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let ok = fibrio::spawn(|| 1);
    ///     let gone = fibrio::spawn(|| 2);
    ///     gone.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![ok, gone]).unwrap_err();
    ///     assert_eq!(err.success_count(), 1);
    /// });
    /// ```
    pub fn success_count(&self) -> usize {
        self.successes.len()
    }

    /// The failures, by input index.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let ok = fibrio::spawn(|| 1);
    ///     let gone = fibrio::spawn(|| 2);
    ///     gone.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![ok, gone]).unwrap_err();
    ///     assert_eq!(err.failures().len(), 1);
    ///     assert_eq!(err.failures()[0].index(), 1);
    /// });
    /// ```
    pub fn failures(&self) -> &[GatherFailure] {
        &self.failures
    }

    /// The values, with their input indices, by index.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let ok = fibrio::spawn(|| 1);
    ///     let gone = fibrio::spawn(|| 2);
    ///     gone.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![ok, gone]).unwrap_err();
    ///     assert_eq!(err.successes(), &[(0, 1)]);
    /// });
    /// ```
    pub fn successes(&self) -> &[(usize, T)] {
        &self.successes
    }

    /// The values and the failures, each by input index.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let ok = fibrio::spawn(|| 1);
    ///     let gone = fibrio::spawn(|| 2);
    ///     gone.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![ok, gone]).unwrap_err();
    ///     let (successes, failures) = err.into_parts();
    ///     assert_eq!(successes, [(0, 1)]);
    ///     assert_eq!(failures[0].index(), 1);
    /// });
    /// ```
    pub fn into_parts(self) -> (Vec<(usize, T)>, Vec<GatherFailure>) {
        (self.successes, self.failures)
    }

    /// A serialisable summary: the counts, the indices that succeeded, and
    /// every failure's index, name, id, kind and message. Its `Display` is
    /// the same report as this error's.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, FailureKind, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let gone = fibrio::spawn(|| ());
    ///     gone.cancel();
    ///     let ok = fibrio::spawn(|| ());
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![gone, ok]).unwrap_err();
    ///     let report = err.report();
    ///     assert_eq!((report.total, report.failed_count), (2, 1));
    ///     assert_eq!(report.succeeded, [1]);
    ///     assert_eq!(report.failures[0].kind, FailureKind::Cancelled);
    ///     assert_eq!(report.to_string(), err.to_string());
    /// });
    /// ```
    pub fn report(&self) -> GatherReport {
        GatherReport {
            total: self.total,
            success_count: self.successes.len(),
            failed_count: self.failures.len(),
            succeeded: self.successes.iter().map(|(index, _)| *index).collect(),
            failures: self.failures.iter().map(GatherFailure::report).collect(),
        }
    }

    /// The [`report`](GatherError::report) as JSON (`serde` feature).
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let gone = fibrio::spawn(|| ());
    ///     gone.cancel();
    ///     let err = gather_with(GatherStrategy::WaitAll, vec![gone]).unwrap_err();
    ///     let json = err.to_json();
    ///     assert!(json.starts_with(r#"{"total":1,"success_count":0,"failed_count":1,"#));
    ///     assert!(json.contains(r#""kind":"cancelled""#));
    /// });
    /// ```
    #[cfg(feature = "serde")]
    pub fn to_json(&self) -> String {
        self.report().to_json()
    }
}

impl<T> fmt::Display for GatherError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (failed, total) = (self.failures.len(), self.total);
        write_report(
            f,
            format_args!("{failed} of {total} {} failed:", tasks(total)),
            self.failures.iter().map(|failure| (failure.index, failure)),
        )
    }
}

impl<T: fmt::Debug> std::error::Error for GatherError<T> {}

/// A serialisable summary of a [`GatherError`], from
/// [`GatherError::report`]: counts, the indices that succeeded, and every
/// failure. With the `serde` feature it implements `serde::Serialize`, and
/// its `to_json` method gives it as JSON:
///
/// ```json
/// {"total":2,"success_count":1,"failed_count":1,"succeeded":[0],
///  "failures":[{"index":1,"name":"fetch-b","id":7,"kind":"panicked","message":"boom"}]}
/// ```
///
/// Its `Display` is the error's multi-line report.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
///
/// fibrio::run(|| {
///     let gone = fibrio::task::Builder::new().name("b").spawn(|| ()).unwrap();
///     gone.cancel();
///     let report = gather_with(GatherStrategy::WaitAll, vec![gone]).unwrap_err().report();
///     assert_eq!(report.failures[0].name.as_deref(), Some("b"));
///     assert!(report.to_string().starts_with("1 of 1 task failed:\n  [0] task 'b' (id "));
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct GatherReport {
    /// How many handles were gathered.
    pub total: usize,
    /// How many returned a value.
    pub success_count: usize,
    /// How many failed.
    pub failed_count: usize,
    /// The input indices of the tasks that returned a value, in order.
    pub succeeded: Vec<usize>,
    /// Every failure, by input index.
    pub failures: Vec<FailureReport>,
}

impl GatherReport {
    /// This report as JSON (`serde` feature).
    ///
    /// # Panics
    ///
    /// Never: a report holds only numbers and strings.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_concurrency::gather::{gather_with, GatherStrategy};
    ///
    /// fibrio::run(|| {
    ///     let gone = fibrio::spawn(|| ());
    ///     gone.cancel();
    ///     let report = gather_with(GatherStrategy::WaitAll, vec![gone]).unwrap_err().report();
    ///     let json = report.to_json();
    ///     assert!(json.contains(r#""failures":[{"index":0,"name":null,"id":"#));
    /// });
    /// ```
    #[cfg(feature = "serde")]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a GatherReport always serialises")
    }
}

impl fmt::Display for GatherReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (failed, total) = (self.failed_count, self.total);
        write_report(
            f,
            format_args!("{failed} of {total} {} failed:", tasks(total)),
            self.failures.iter().map(|failure| (failure.index, failure)),
        )
    }
}

/// One failure in a [`GatherReport`]. Its `Display` is the same line as
/// the [`GatherFailure`]'s.
///
/// # Examples
///
/// ```
/// use fibrio_concurrency::gather::{gather_with, FailureKind, GatherStrategy};
///
/// fibrio::run(|| {
///     let gone = fibrio::spawn(|| ());
///     gone.cancel();
///     let err = gather_with(GatherStrategy::WaitAll, vec![gone]).unwrap_err();
///     let line = err.failures()[0].report();
///     assert_eq!((line.index, line.kind), (0, FailureKind::Cancelled));
///     assert_eq!(line.to_string(), err.failures()[0].to_string());
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct FailureReport {
    /// The task's position in the input.
    pub index: usize,
    /// The task's name, if it was given one.
    pub name: Option<String>,
    /// The task's id.
    pub id: u64,
    /// How it failed.
    pub kind: FailureKind,
    /// The panic message, or the error's text.
    pub message: String,
}

impl fmt::Display for FailureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe(f, self.name.as_deref(), self.id, self.kind, &self.message)
    }
}
