//! Runnable fibrio programs live beside this crate as `[[example]]` targets.
