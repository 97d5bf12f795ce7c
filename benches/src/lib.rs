//! Benchmarks live in `benches/`; run them from the repository root
//! with `cargo bench --manifest-path benches/Cargo.toml` (`just bench`).
