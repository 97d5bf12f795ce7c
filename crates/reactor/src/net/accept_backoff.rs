//! Surviving fd exhaustion in accept loops: on `EMFILE`/`ENFILE`, warn at
//! most once a second and sleep with a doubling back-off (1 ms to 100 ms),
//! so a saturated server neither spins nor floods its log, and accepts
//! again as soon as descriptors are freed. The warning goes through `log`
//! if a logger is installed, else to stderr
//! ([`fibrio_core::diagnostics`]), so a program without a logger learns of
//! it too.

use std::io;
use std::time::{Duration, Instant};

use fibrio_core::diagnostics::RateLimitedWarning;

const FIRST: Duration = Duration::from_millis(1);
const MAX: Duration = Duration::from_millis(100);
const LOG_EVERY: Duration = Duration::from_secs(1);

/// The "out of file descriptors" warning, shared by every accept loop; its
/// stderr lines are a second apart too, however many listeners fail.
static OUT_OF_FDS: RateLimitedWarning = RateLimitedWarning::new(module_path!(), 1);

/// True for "the process or the system is out of file descriptors".
pub(crate) fn is_out_of_fds(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// The body of `Incoming::next` for every listener type: accept, backing
/// off on fd exhaustion, and yield any other error.
pub(crate) fn next_accepted<S>(
    backoff: &mut Backoff,
    mut accept: impl FnMut() -> io::Result<S>,
) -> Option<io::Result<S>> {
    loop {
        match accept() {
            Ok(stream) => {
                backoff.reset();
                return Some(Ok(stream));
            }
            Err(err) if is_out_of_fds(&err) => backoff.wait(&err),
            Err(err) => return Some(Err(err)),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Backoff {
    delay: Option<Duration>,
    last_log: Option<Instant>,
    suppressed: u64,
}

impl Backoff {
    pub(crate) fn reset(&mut self) {
        self.delay = None;
    }

    /// Logs (rate-limited) and sleeps the current task before the next try.
    pub(crate) fn wait(&mut self, err: &io::Error) {
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|last| now.duration_since(last) >= LOG_EVERY)
        {
            OUT_OF_FDS.emit(format_args!(
                "fibrio: accept failed: {err}; out of file descriptors, backing off \
                 ({} similar errors since the last report). Raise `ulimit -n` or close idle connections.",
                self.suppressed
            ));
            self.last_log = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
        let delay = self.delay.map_or(FIRST, |d| (d * 2).min(MAX));
        self.delay = Some(delay);
        crate::sleep(delay);
    }
}
