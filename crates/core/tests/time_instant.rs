//! `fibrio_core::time::Instant`: its arithmetic and conversions, and that
//! outside a simulation it reads the same clock as `std::time::Instant`.

use std::time::Duration;

use fibrio_core::task;
use fibrio_core::time::{now_std, Instant};

#[test]
fn arithmetic_matches_std() {
    let std_base = std::time::Instant::now();
    let base = Instant::from_std(std_base);
    let step = Duration::from_millis(1500);

    assert_eq!((base + step).into_std(), std_base + step);
    assert_eq!((base + step - step), base);
    assert_eq!((base + step) - base, step);
    assert_eq!(base - (base + step), Duration::ZERO); // saturates, like std
    assert_eq!((base + step).duration_since(base), step);
    assert_eq!(base.duration_since(base + step), Duration::ZERO);
    assert_eq!((base + step).checked_duration_since(base), Some(step));
    assert_eq!(base.checked_duration_since(base + step), None);
    assert_eq!(base.saturating_duration_since(base + step), Duration::ZERO);
    assert_eq!(base.checked_add(step), Some(base + step));
    assert_eq!(base.checked_add(Duration::MAX), None);
    assert_eq!((base + step).checked_sub(step), Some(base));
    assert_eq!(base.checked_sub(Duration::MAX), None);

    let mut moving = base;
    moving += step;
    assert_eq!(moving, base + step);
    moving -= step;
    assert_eq!(moving, base);
}

#[test]
fn conversions_are_lossless_both_ways() {
    let std_now = std::time::Instant::now();
    let ours: Instant = std_now.into();
    let back: std::time::Instant = ours.into();
    assert_eq!(back, std_now);
    assert_eq!(Instant::from_std(std_now).into_std(), std_now);
}

#[test]
fn order_equality_and_hash_follow_std() {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    let a = Instant::now();
    let b = a + Duration::from_nanos(1);
    assert!(a < b);
    assert_eq!(a.max(b), b);
    let copy = a;
    assert_eq!(copy, a);
    let hash = |i: &Instant| {
        let mut h = DefaultHasher::new();
        i.hash(&mut h);
        h.finish()
    };
    assert_eq!(hash(&a), hash(&copy));
    assert!(format!("{a:?}").starts_with("Instant("));
}

#[test]
fn outside_a_simulation_the_clock_is_std_s() {
    let before = std::time::Instant::now();
    let ours = Instant::now();
    let std_again = now_std();
    let after = std::time::Instant::now();
    assert!(before <= ours.into_std() && ours.into_std() <= after);
    assert!(before <= std_again && std_again <= after);
}

#[test]
fn inside_a_production_scheduler_the_clock_is_std_s_too() {
    task::test_support::block_on(|| {
        let before = std::time::Instant::now();
        let ours = Instant::now();
        let after = std::time::Instant::now();
        assert!(before <= ours.into_std() && ours.into_std() <= after);
    });
}

#[test]
fn deadline_apis_take_either_instant() {
    task::test_support::block_on(|| {
        let start = Instant::now();
        task::sleep_until(start + Duration::from_millis(1));
        assert!(start.elapsed() >= Duration::from_millis(1));
        task::sleep_until(now_std()); // a std instant: already due, a yield
        assert_eq!(task::move_on_at(Instant::now(), || 1), Some(1)); // no checkpoint inside
        assert!(task::fail_at(Instant::now(), task::yield_now).is_err());
        let scope = task::CancelScope::with_deadline(start + Duration::from_secs(60));
        assert_eq!(
            scope.deadline(),
            Some((start + Duration::from_secs(60)).into_std())
        );
    });
}
