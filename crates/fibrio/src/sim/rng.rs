//! [`SimRng`]: the simulation's user random stream as a `rand_core`
//! generator.

use std::convert::Infallible;

/// A random generator that draws from the simulation's user stream, the
/// same one as [`random_u64`](super::random_u64): deterministic per seed,
/// so a replay draws the same numbers.
///
/// It implements rand_core 0.10's [`TryRng`](rand_core::TryRng) with
/// `Error = Infallible`, and so [`rand_core::Rng`] (and the deprecated
/// alias `rand_core::RngCore`) through rand_core's blanket impls: pass it
/// wherever a `rand` 0.10 generator is expected.
///
/// A `SimRng` holds no state: every draw reads the running simulation's
/// stream, so several `SimRng`s interleave on one sequence, and drawing
/// never shifts the schedule (it has a stream of its own).
///
/// # Panics
///
/// Drawing outside a simulation panics (making one does not).
///
/// # Examples
///
/// ```
/// use rand_core::Rng;
/// use fibrio::sim::{self, SimRng};
///
/// let draw = |seed| {
///     sim::run(seed, || {
///         let mut rng = SimRng::new();
///         let mut bytes = [0u8; 5];
///         rng.fill_bytes(&mut bytes);
///         (rng.next_u64(), bytes)
///     })
/// };
/// assert_eq!(draw(1), draw(1)); // replayable
/// assert_ne!(draw(1), draw(2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimRng {
    _private: (),
}

impl SimRng {
    /// A generator on the running simulation's user stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use rand_core::Rng;
    ///
    /// let n = fibrio::sim::run(0, || fibrio::sim::SimRng::new().next_u32());
    /// assert_eq!(n, fibrio::sim::run(0, || fibrio::sim::SimRng::new().next_u32()));
    /// ```
    pub fn new() -> SimRng {
        SimRng { _private: () }
    }
}

impl rand_core::TryRng for SimRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((super::random_u64() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(super::random_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let word = super::random_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}
