//! Health: [`Health`] from [`Handle::health`](crate::Handle::health), and
//! its JSON form for the admin listener's `/healthz`.
//!
//! Invariant: a runtime that answers is healthy; one that does not within
//! the deadline is not, and the error names the task blocking it.

use std::fmt::Write as _;

pub use fibrio_core::scheduler::Health;

/// The JSON object `/healthz` serves for a set of runtimes (one per
/// worker; `None` for a worker that did not answer, with its error).
///
/// # Examples
///
/// ```
/// fibrio::run(|| {
///     let health = fibrio::Handle::current().health();
///     let json = fibrio::health_json(&[health]);
///     assert!(json.starts_with("{\"status\":\"ok\""));
///     assert!(json.contains("\"tasks\":1"));
/// });
/// ```
pub fn health_json(workers: &[Result<Health, crate::DumpError>]) -> String {
    let ok = workers.iter().all(Result::is_ok);
    let mut json = String::new();
    let status = if ok { "ok" } else { "unresponsive" };
    let _ = write!(json, "{{\"status\":\"{status}\",\"workers\":[");
    for (index, worker) in workers.iter().enumerate() {
        if index > 0 {
            json.push(',');
        }
        match worker {
            Ok(h) => {
                let _ = write!(
                    json,
                    "{{\"worker\":{index},\"runtime\":{},\"backend\":\"{}\",\"uptime_secs\":{:.3},\
                     \"tasks\":{},\"rss_bytes\":{},\"longest_unparked_secs\":{:.6}}}",
                    h.runtime,
                    h.driver,
                    h.uptime.as_secs_f64(),
                    h.tasks_alive,
                    h.rss_bytes.map_or("null".to_owned(), |rss| rss.to_string()),
                    h.longest_unparked.as_secs_f64(),
                );
            }
            Err(err) => {
                let _ = write!(
                    json,
                    "{{\"worker\":{index},\"error\":\"{}\"}}",
                    json_escape(&err.to_string())
                );
            }
        }
    }
    json.push_str("]}");
    json
}

/// Escapes `text` for a JSON string.
pub(crate) fn json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}
