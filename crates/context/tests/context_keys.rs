//! String keys accept every common string type (issue 13): `&String`
//! compiles, and an `Arc<str>` key is stored without copying its text.

use std::borrow::Cow;
use std::sync::Arc;

use fibrio_context::{
    all_context, clear_context, get_context, set_context, set_sendable_context, IntoContextKey,
};

#[test]
fn every_string_type_is_a_key_and_names_the_same_entry() {
    clear_context();
    let owned = String::from("k");
    set_context(&owned, 1u8);
    assert_eq!(get_context::<u8>("k"), Some(1));
    set_context(owned.clone(), 2u8);
    assert_eq!(get_context::<u8>("k"), Some(2));
    set_context(Box::<str>::from("k"), 3u8);
    assert_eq!(get_context::<u8>(&owned), Some(3));
    set_context(Cow::Borrowed("k"), 4u8);
    assert_eq!(get_context::<u8>("k"), Some(4));
    set_sendable_context(&owned, 5u8);
    assert_eq!(get_context::<u8>("k"), Some(5));
    assert_eq!(all_context(false).len(), 1, "one key, set six ways");
    clear_context();
}

#[test]
fn an_arc_key_is_stored_as_is() {
    clear_context();
    let key: Arc<str> = Arc::from("tenant");
    set_context(&key, "acme");
    let stored = all_context(false).into_keys().next().unwrap();
    assert!(
        Arc::ptr_eq(&stored, &key),
        "the Arc itself is the stored key"
    );
    set_context(Arc::clone(&key), "initech");
    let stored = all_context(false).into_keys().next().unwrap();
    assert!(Arc::ptr_eq(&stored, &key));
    assert_eq!(get_context::<&str>("tenant"), Some("initech"));
    clear_context();
}

/// A user's own key type.
#[derive(Clone, Copy)]
enum Key {
    RequestId,
}

impl IntoContextKey for Key {
    fn into_context_key(self) -> Arc<str> {
        match self {
            Key::RequestId => Arc::from("request_id"),
        }
    }
}

#[test]
fn a_user_type_can_be_a_key() {
    clear_context();
    set_context(Key::RequestId, 42u64);
    assert_eq!(get_context::<u64>("request_id"), Some(42));
    clear_context();
}
