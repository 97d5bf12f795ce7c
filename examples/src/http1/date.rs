//! The `Date` header's value, formatted at most once a second per thread.

use std::cell::Cell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), always 29 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpDate([u8; 29]);

impl HttpDate {
    /// The 29 ASCII bytes.
    pub fn as_bytes(&self) -> &[u8; 29] {
        &self.0
    }
}

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Built from httpdate's ASCII output only.
        f.write_str(std::str::from_utf8(&self.0).unwrap_or("Thu, 01 Jan 1970 00:00:00 GMT"))
    }
}

thread_local! {
    static CACHE: Cell<(u64, HttpDate)> = const { Cell::new((u64::MAX, HttpDate([b' '; 29]))) };
}

/// The date as of the last [`refresh`] on this thread (the server's
/// sweeper refreshes it every tick, at most 250 ms apart): no clock read.
/// Before any refresh, [`now`].
pub fn cached() -> HttpDate {
    let (secs, date) = CACHE.with(Cell::get);
    if secs == u64::MAX {
        now()
    } else {
        date
    }
}

/// Reads the clock and updates the date [`cached`] returns.
pub fn refresh() {
    now();
}

/// The current date: one clock read, and a format when the second changed.
pub fn now() -> HttpDate {
    let now = SystemTime::now();
    let secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    CACHE.with(|cache| {
        let (cached_secs, cached) = cache.get();
        if cached_secs == secs {
            return cached;
        }
        let text = httpdate::fmt_http_date(now);
        let mut bytes = [b' '; 29];
        if text.len() == bytes.len() {
            bytes.copy_from_slice(text.as_bytes());
        }
        let date = HttpDate(bytes);
        cache.set((secs, date));
        date
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_is_an_imf_fixdate() {
        let date = now().to_string();
        assert_eq!(date.len(), 29);
        assert!(date.ends_with(" GMT"), "{date}");
        assert!(httpdate::parse_http_date(&date).is_ok(), "{date}");
    }
}
