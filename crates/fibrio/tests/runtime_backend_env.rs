//! `FIBRIO_BACKEND` chooses the backend when the builder leaves it on
//! `Auto`, and an unknown value is a clear error at start-up. This binary
//! has a single test because it changes the process environment.

use fibrio::{Backend, Runtime};

#[test]
fn fibrio_backend_env_var_forces_a_backend_and_rejects_unknown_values() {
    std::env::set_var("FIBRIO_BACKEND", "poll");
    let runtime = Runtime::new().unwrap();
    assert_eq!(runtime.backend_name(), "poll");
    assert_eq!(runtime.run(|| "ran on poll"), "ran on poll");

    // An explicit builder choice wins over the environment.
    let explicit = Runtime::builder().backend(Backend::Epoll).build();
    if cfg!(target_os = "linux") {
        assert_eq!(explicit.unwrap().backend_name(), "epoll");
    }

    std::env::set_var("FIBRIO_BACKEND", "select");
    let err = Runtime::new().unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("unknown fibrio backend \"select\""),
        "{message}"
    );
    assert!(message.contains("auto, epoll, kqueue, poll"), "{message}");

    std::env::remove_var("FIBRIO_BACKEND");
}
