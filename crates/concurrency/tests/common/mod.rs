//! Helpers shared by the gather and select tests.

use std::sync::Once;

/// Silences the panic hook for the panics the tests plan (messages starting
/// with "planned"); any other panic is printed as usual.
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
            if !message.is_some_and(|m| m.starts_with("planned")) {
                previous(info);
            }
        }));
    });
}

/// Yields `n` times.
pub fn yield_n(n: usize) {
    for _ in 0..n {
        fibrio::yield_now();
    }
}
