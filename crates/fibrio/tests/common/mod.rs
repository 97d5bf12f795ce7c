//! Helpers shared by the integration tests of the `fibrio` facade. Each
//! test binary uses only some of them.

#![allow(dead_code)]

/// The panic hook the test binaries share (not every binary calls it).
#[allow(unused_imports)]
pub use fibrio_core::task::test_support::quiet_planned_panics;
