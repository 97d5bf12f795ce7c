//! Runnable fibrio programs live beside this crate as `[[example]]` targets;
//! this library holds what several of them, and their tests, share.
//!
//! * [`http1`]: the HTTP/1.1 server behind `examples/http_server.rs`.
//! * [`http_client`]: raw sockets and real clients for its tests.
#![forbid(unsafe_code)]

pub mod http1;
pub mod http_client;
