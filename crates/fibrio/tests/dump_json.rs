//! With the `serde` feature, a task dump serialises to JSON.
#![cfg(feature = "serde")]

use std::time::Duration;

#[test]
fn a_dump_serialises_to_json() {
    fibrio::run(|| {
        let lock = std::sync::Arc::new(fibrio::sync::Mutex::new(()));
        let held = lock.lock().unwrap();
        let theirs = lock.clone();
        let waiter = fibrio::task::Builder::new()
            .name("waiter")
            .spawn(move || {
                let _guard = theirs.lock();
            })
            .unwrap();
        fibrio::sleep(Duration::from_millis(1));
        let json = serde_json::to_value(fibrio::dump()).unwrap();
        assert_eq!(json["driver"], fibrio::metrics().driver);
        let tasks = json["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 2);
        let task = tasks.iter().find(|t| t["name"] == "waiter").unwrap();
        assert_eq!(task["status"], "parked");
        assert_eq!(task["wait"]["kind"], "Mutex");
        assert_eq!(task["wait"]["primitive"], "mutex#1");
        assert_eq!(task["wait"]["holder"], tasks[0]["id"]);
        assert!(task["spawned_at"]["file"]
            .as_str()
            .unwrap()
            .ends_with("dump_json.rs"));
        assert!(task["parked_for_secs"].as_f64().unwrap() >= 0.0);
        drop(held);
        waiter.join().unwrap();
    });
}
