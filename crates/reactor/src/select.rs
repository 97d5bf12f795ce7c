//! Choosing a poller backend: [`BackendKind`], the `FIBRIO_BACKEND`
//! environment variable, and [`open_backend`].

use std::fmt;
use std::str::FromStr;

use crate::backend::{poll_backend::PollBackend, Backend};

/// The environment variable that forces a backend when the runtime's
/// builder leaves it at [`BackendKind::Auto`].
pub const BACKEND_ENV: &str = "FIBRIO_BACKEND";

/// Which poller backend a runtime uses.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::BackendKind;
///
/// assert_eq!("poll".parse::<BackendKind>().unwrap(), BackendKind::Poll);
/// assert_eq!("EPOLL".parse::<BackendKind>().unwrap(), BackendKind::Epoll);
/// assert!("select".parse::<BackendKind>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BackendKind {
    /// The best backend this system has: epoll on Linux and Android, kqueue
    /// on macOS and the BSDs; `poll` everywhere else.
    #[default]
    Auto,
    /// Linux `epoll`: fibrio's own
    /// [`EpollBackend`](crate::backend::epoll_backend::EpollBackend),
    /// edge-triggered.
    Epoll,
    /// BSD/macOS `kqueue`, through the `polling` crate, edge-triggered
    /// ([`PollingBackend::edge_triggered`](crate::backend::polling_backend::PollingBackend::edge_triggered)).
    Kqueue,
    /// Portable `poll(2)` (`ppoll` on Linux): what PHP AsyncIO (the library
    /// fibrio was modelled on) calls its "select" loop.
    Poll,
}

impl BackendKind {
    /// The lowercase name used by `FIBRIO_BACKEND`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fibrio_reactor::BackendKind;
    ///
    /// assert_eq!(BackendKind::Poll.as_str(), "poll");
    /// let kind = BackendKind::Epoll;
    /// assert_eq!(kind.as_str().parse::<BackendKind>().unwrap(), kind);
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Auto => "auto",
            BackendKind::Epoll => "epoll",
            BackendKind::Kqueue => "kqueue",
            BackendKind::Poll => "poll",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;

    fn from_str(value: &str) -> Result<BackendKind, BackendError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(BackendKind::Auto),
            "epoll" => Ok(BackendKind::Epoll),
            "kqueue" => Ok(BackendKind::Kqueue),
            "poll" => Ok(BackendKind::Poll),
            _ => Err(BackendError::Unknown {
                value: value.to_string(),
            }),
        }
    }
}

/// Why a backend could not be chosen or opened.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::{BackendError, BackendKind};
///
/// let err = "select".parse::<BackendKind>().unwrap_err();
/// assert!(matches!(&err, BackendError::Unknown { value } if value == "select"));
/// assert!(err.to_string().contains("use one of auto, epoll, kqueue, poll"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// `FIBRIO_BACKEND` (or a parsed name) is not a backend fibrio knows.
    #[error("unknown fibrio backend {value:?}: use one of auto, epoll, kqueue, poll (in FIBRIO_BACKEND or Runtime::builder().backend(..))")]
    Unknown {
        /// The value that was given.
        value: String,
    },
    /// The backend exists, but not on this system.
    #[error("the {kind} backend is not available on this system; use auto or poll")]
    Unsupported {
        /// The backend that was asked for.
        kind: BackendKind,
    },
    /// The system refused to create the poller.
    #[error("cannot create the {kind} poller: {source}")]
    Open {
        /// The backend that was being opened.
        kind: BackendKind,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
}

/// The backend `kind` resolves to on this system, with `FIBRIO_BACKEND`
/// consulted when `kind` is [`BackendKind::Auto`].
///
/// # Errors
///
/// [`BackendError::Unknown`] for an unknown `FIBRIO_BACKEND` value.
///
/// # Examples
///
/// ```
/// use fibrio_reactor::{resolve_backend, BackendKind};
///
/// assert_eq!(resolve_backend(BackendKind::Poll).unwrap(), BackendKind::Poll);
/// ```
pub fn resolve_backend(kind: BackendKind) -> Result<BackendKind, BackendError> {
    let kind = match kind {
        BackendKind::Auto => match std::env::var(BACKEND_ENV) {
            Ok(value) => value.parse()?,
            Err(_) => BackendKind::Auto,
        },
        explicit => explicit,
    };
    Ok(match kind {
        BackendKind::Auto if native_kind().is_some() => native_kind().unwrap_or(BackendKind::Poll),
        BackendKind::Auto => BackendKind::Poll,
        other => other,
    })
}

/// The native backend this system has, if it is epoll (ours) or kqueue
/// (through `polling`).
fn native_kind() -> Option<BackendKind> {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        Some(BackendKind::Epoll)
    } else if cfg!(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )) {
        Some(BackendKind::Kqueue)
    } else {
        None
    }
}

/// Opens this system's edge-triggered backend: our own epoll on Linux and
/// Android, `polling`'s kqueue in edge mode elsewhere.
fn open_native() -> std::io::Result<Box<dyn Backend>> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        crate::backend::epoll_backend::EpollBackend::new().map(|b| Box::new(b) as Box<dyn Backend>)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        crate::backend::polling_backend::PollingBackend::edge_triggered()
            .map(|b| Box::new(b) as Box<dyn Backend>)
    }
}

/// Opens the backend `kind` resolves to.
///
/// # Errors
///
/// [`BackendError::Unknown`] for a bad `FIBRIO_BACKEND`,
/// [`BackendError::Unsupported`] for a backend this system lacks, and
/// [`BackendError::Open`] when the kernel refuses (for example out of fds).
///
/// # Examples
///
/// ```
/// use fibrio_reactor::{open_backend, BackendKind};
///
/// let backend = open_backend(BackendKind::Poll).unwrap();
/// assert_eq!(backend.name(), "poll");
/// ```
pub fn open_backend(kind: BackendKind) -> Result<Box<dyn Backend>, BackendError> {
    let kind = resolve_backend(kind)?;
    let opened: std::io::Result<Box<dyn Backend>> = match kind {
        // `resolve_backend` never returns `Auto`; it would mean `poll`.
        BackendKind::Poll | BackendKind::Auto => {
            PollBackend::new().map(|b| Box::new(b) as Box<dyn Backend>)
        }
        BackendKind::Epoll | BackendKind::Kqueue if native_kind() == Some(kind) => open_native(),
        BackendKind::Epoll | BackendKind::Kqueue => {
            return Err(BackendError::Unsupported { kind });
        }
    };
    opened.map_err(|source| BackendError::Open { kind, source })
}
