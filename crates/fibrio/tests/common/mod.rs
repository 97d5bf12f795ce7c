//! Helpers shared by the integration tests of the `fibrio` facade. Each
//! test binary uses only some of them.

#![allow(dead_code)]

use std::sync::Once;

/// Silences the panic hook for the panics the tests plan; any other panic
/// is printed as usual. A planned panic is one whose message starts with
/// "planned", or the panic of `fibrio::run` called inside a running
/// runtime ("... inside a running one ..."), which a test provokes on
/// purpose and whose message the runtime writes.
///
/// The hook is installed once per test binary and never swapped back, so
/// tests running in parallel on other threads keep their panic messages.
pub fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            let planned = message
                .is_some_and(|m| m.starts_with("planned") || m.contains("inside a running one"));
            if !planned {
                previous(info);
            }
        }));
    });
}
