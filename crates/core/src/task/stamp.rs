//! [`Stamp`]: cheap timestamps for task statistics.
//!
//! Every task records when it was created, first ran and ended. Reading
//! `Instant::now()` three times per task is a measurable share of a short
//! task's life (a `clock_gettime` through the vDSO costs about 30 ns on the
//! machines we measured, against about 12 ns for the CPU's time-stamp
//! counter; see `docs/performance.md`). So a task records raw [`Stamp`]s,
//! and they become `Instant`s only when someone asks for
//! [`TaskStats`](super::TaskStats).
//!
//! # Invariants
//!
//! * One tick source serves the whole process, chosen once in `BASE`: the
//!   time-stamp counter (TSC) when the kernel itself keeps
//!   `CLOCK_MONOTONIC` on it (the clock source in
//!   `/sys/devices/system/clocksource/clocksource0/current_clocksource` is
//!   `tsc`, which the kernel picks only for a constant-rate counter that
//!   agrees across cores), otherwise nanoseconds since `BASE.instant`, read
//!   with `Instant::now()`.
//! * `BASE` is set before the first stamp is read, so every stamp is at or
//!   after `BASE.ticks`.
//! * A stamp becomes an `Instant` through a rate measured at conversion time
//!   over the whole life of the process (one `Instant`/tick pair read now
//!   against `BASE`'s pair). A stamp is never later than that pair, so the
//!   error of the conversion stays within the jitter of reading the two
//!   pairs (tens of nanoseconds; each pair is the tightest of a few reads),
//!   however old the stamp is. Stamps converted together (one
//!   [`Calibration`]) keep their order and their differences.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A raw timestamp in ticks of the process's tick source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(u64);

/// The origin of all stamps, and which tick source they use.
#[derive(Debug)]
struct Base {
    instant: Instant,
    ticks: u64,
    tsc: bool,
}

static BASE: OnceLock<Base> = OnceLock::new();

fn base() -> &'static Base {
    BASE.get_or_init(|| {
        let tsc = tsc_is_the_kernel_clock();
        let (instant, ticks) = if tsc {
            read_pair()
        } else {
            (Instant::now(), 0)
        };
        Base {
            instant,
            ticks,
            tsc,
        }
    })
}

/// True when the kernel keeps its monotonic clock on the TSC, so the
/// counter is usable as a clock here too.
fn tsc_is_the_kernel_clock() -> bool {
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        return false;
    }
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .is_ok_and(|source| source.trim() == "tsc")
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn read_tsc() -> u64 {
    // SAFETY: `rdtsc` exists on every x86_64 CPU, reads a counter, and has
    // no memory effects or preconditions (user-mode reads are allowed
    // unless the kernel sets CR4.TSD, which Linux does only for seccomp
    // strict-mode tasks that cannot call this anyway; there the kernel's
    // clock source would not be reported as usable by us either).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Reads the clock and the counter together: the `Instant` between two
/// counter reads, paired with their midpoint. Of a few tries it keeps the
/// one whose counter reads are closest, so a preemption or a cold vDSO page
/// between the reads does not skew the pair.
fn read_pair() -> (Instant, u64) {
    let mut best: Option<(u64, Instant, u64)> = None;
    for _ in 0..4 {
        let before = read_tsc();
        let instant = Instant::now();
        let after = read_tsc();
        let spread = after.saturating_sub(before);
        let mid = before + spread / 2;
        if best.is_none_or(|(best_spread, _, _)| spread < best_spread) {
            best = Some((spread, instant, mid));
        }
    }
    let (_, instant, ticks) = best.unwrap_or_else(|| (0, Instant::now(), read_tsc()));
    (instant, ticks)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn read_tsc() -> u64 {
    unreachable!("the TSC tick source is only chosen on x86_64")
}

impl Stamp {
    /// Reads the tick source.
    #[inline]
    pub(crate) fn now() -> Stamp {
        let base = base();
        if base.tsc {
            Stamp(read_tsc())
        } else {
            Stamp(base.instant.elapsed().as_nanos() as u64)
        }
    }
}

/// A conversion from stamps to `Instant`s, measured once and applied to
/// every stamp of one statistics snapshot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Calibration {
    base: &'static Base,
    /// Nanoseconds and ticks elapsed since `base`, read together now.
    elapsed_ns: u128,
    elapsed_ticks: u128,
}

impl Calibration {
    /// Measures the tick rate against `Instant` over the process's life.
    pub(crate) fn now() -> Calibration {
        let base = base();
        if !base.tsc {
            return Calibration {
                base,
                elapsed_ns: 1,
                elapsed_ticks: 1,
            };
        }
        let (instant, ticks) = read_pair();
        Calibration {
            base,
            elapsed_ns: instant.saturating_duration_since(base.instant).as_nanos(),
            elapsed_ticks: u128::from(ticks.saturating_sub(base.ticks)),
        }
    }

    /// The `Instant` of `stamp`.
    pub(crate) fn instant(&self, stamp: Stamp) -> Instant {
        let ticks = u128::from(stamp.0.saturating_sub(self.base.ticks));
        if !self.base.tsc {
            return self.base.instant + Duration::from_nanos(stamp.0);
        }
        if self.elapsed_ticks == 0 {
            return self.base.instant;
        }
        // A stamp read after the calibration pair (another core's counter a
        // few ticks ahead) is clamped to the pair, keeping "never in the
        // future".
        let ticks = ticks.min(self.elapsed_ticks);
        let nanos = ticks * self.elapsed_ns / self.elapsed_ticks;
        self.base.instant + Duration::from_nanos(nanos as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_convert_to_the_instant_they_were_taken() {
        for _ in 0..100 {
            let before = Instant::now();
            let stamp = Stamp::now();
            let after = Instant::now();
            std::thread::sleep(Duration::from_micros(50));
            let at = Calibration::now().instant(stamp);
            // Tens of nanoseconds in practice; the slack covers a debug
            // build on a loaded machine.
            let slack = Duration::from_micros(10);
            assert!(at + slack >= before, "{at:?} is before {before:?}");
            assert!(at <= after + slack, "{at:?} is after {after:?}");
        }
    }

    #[test]
    fn stamps_keep_their_order_and_spacing() {
        let first = Stamp::now();
        std::thread::sleep(Duration::from_millis(5));
        let second = Stamp::now();
        assert!(second > first);
        let calibration = Calibration::now();
        let gap = calibration.instant(second) - calibration.instant(first);
        assert!(
            gap >= Duration::from_millis(5) - Duration::from_micros(10),
            "{gap:?}"
        );
        assert!(gap < Duration::from_secs(5), "{gap:?}");
    }
}
