//! proptest: random sequences of start/resume/throw/get_return/drop, run on
//! a real fiber and on a small model of PHP's fiber state machine. They must
//! always agree, and no sequence may leak a stack or skip a `Drop`.

use std::cell::Cell;
use std::panic::{self, catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use fibrio_core::fiber::{suspend, Fiber, FiberError};
use fibrio_core::stack;
use proptest::prelude::*;

/// What the fiber's body does with the value it is resumed with.
#[derive(Debug, Clone, Copy)]
enum Cmd {
    /// Suspend with `value`; if `catch_throw`, catch a thrown payload and
    /// then suspend with `value + 1000`.
    Yield {
        value: u32,
        catch_throw: bool,
    },
    Return(u32),
    Panic,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Start(Cmd),
    Resume(Cmd),
    Throw,
    GetReturn,
}

/// A thrown payload the body knows how to catch.
struct Thrown;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModelState {
    NotStarted,
    Suspended { catch_throw: bool, value: u32 },
    Returned(u32),
    ReturnTaken,
    Threw,
}

/// The observable result of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Suspended(u32),
    Finished,
    Value(u32),
    Err(&'static str),
}

fn error_name(err: &FiberError) -> &'static str {
    match err {
        FiberError::AlreadyStarted => "AlreadyStarted",
        FiberError::NotSuspended => "NotSuspended",
        FiberError::NotStarted => "NotStarted",
        FiberError::NotReturned => "NotReturned",
        FiberError::Threw => "Threw",
        FiberError::ReturnTaken => "ReturnTaken",
        FiberError::Panicked(_) => "Panicked",
        _ => "Other",
    }
}

fn seen(result: Result<Option<u32>, FiberError>) -> Seen {
    match result {
        Ok(Some(v)) => Seen::Suspended(v),
        Ok(None) => Seen::Finished,
        Err(e) => Seen::Err(error_name(&e)),
    }
}

impl ModelState {
    fn apply(cmd: Cmd) -> (ModelState, Seen) {
        match cmd {
            Cmd::Yield { value, catch_throw } => (
                ModelState::Suspended { catch_throw, value },
                Seen::Suspended(value),
            ),
            Cmd::Return(v) => (ModelState::Returned(v), Seen::Finished),
            Cmd::Panic => (ModelState::Threw, Seen::Err("Panicked")),
        }
    }

    fn step(self, op: Op) -> (ModelState, Seen) {
        use ModelState::*;
        match (op, self) {
            (Op::Start(cmd), NotStarted) => Self::apply(cmd),
            (Op::Start(_), s) => (s, Seen::Err("AlreadyStarted")),
            (Op::Resume(cmd), Suspended { .. }) => Self::apply(cmd),
            (Op::Resume(_), s) => (s, Seen::Err("NotSuspended")),
            (
                Op::Throw,
                Suspended {
                    catch_throw: true,
                    value,
                },
            ) => Self::apply(Cmd::Yield {
                value: value + 1000,
                catch_throw: false,
            }),
            (
                Op::Throw,
                Suspended {
                    catch_throw: false, ..
                },
            ) => (Threw, Seen::Err("Panicked")),
            (Op::Throw, s) => (s, Seen::Err("NotSuspended")),
            (Op::GetReturn, NotStarted) => (NotStarted, Seen::Err("NotStarted")),
            (Op::GetReturn, s @ Suspended { .. }) => (s, Seen::Err("NotReturned")),
            (Op::GetReturn, Returned(v)) => (ReturnTaken, Seen::Value(v)),
            (Op::GetReturn, ReturnTaken) => (ReturnTaken, Seen::Err("ReturnTaken")),
            (Op::GetReturn, Threw) => (Threw, Seen::Err("Threw")),
        }
    }

    fn flags(self) -> (bool, bool, bool, bool) {
        use ModelState::*;
        let started = self != NotStarted;
        let suspended = matches!(self, Suspended { .. });
        let terminated = matches!(self, Returned(_) | ReturnTaken | Threw);
        (started, suspended, false, terminated)
    }
}

struct CountDrops(Rc<Cell<u32>>);

impl Drop for CountDrops {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// The body under test: it interprets the commands it is resumed with.
fn body(first: Cmd, captured: CountDrops, inner: Rc<Cell<u32>>) -> u32 {
    let _captured = captured;
    let _inner = CountDrops(inner);
    let mut cmd = first;
    loop {
        match cmd {
            Cmd::Yield { value, catch_throw } => {
                let resumed = if catch_throw {
                    match catch_unwind(AssertUnwindSafe(|| suspend::<Cmd, u32>(value))) {
                        Ok(r) => r,
                        Err(p) if p.is::<Thrown>() => suspend::<Cmd, u32>(value + 1000),
                        Err(p) => panic::resume_unwind(p),
                    }
                } else {
                    suspend::<Cmd, u32>(value)
                };
                cmd = resumed.expect("suspend inside the fiber must succeed");
            }
            Cmd::Return(v) => return v,
            Cmd::Panic => panic::resume_unwind(Box::new("scripted panic")),
        }
    }
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        4 => (0u32..100, any::<bool>()).prop_map(|(value, catch_throw)| Cmd::Yield { value, catch_throw }),
        1 => (0u32..100).prop_map(Cmd::Return),
        1 => Just(Cmd::Panic),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => cmd().prop_map(Op::Start),
        4 => cmd().prop_map(Op::Resume),
        1 => Just(Op::Throw),
        1 => Just(Op::GetReturn),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn fiber_and_model_always_agree(ops in proptest::collection::vec(op(), 0..24)) {
        let stacks_before = stack::statistics().in_use;
        let captured_drops = Rc::new(Cell::new(0));
        let inner_drops = Rc::new(Cell::new(0));
        let captured = CountDrops(captured_drops.clone());
        let inner = inner_drops.clone();
        let fiber: Fiber<Cmd, u32, u32> = Fiber::new(move |first| body(first, captured, inner));
        let mut model = ModelState::NotStarted;
        for op in ops {
            let actual = match op {
                Op::Start(c) => seen(fiber.start(c)),
                Op::Resume(c) => seen(fiber.resume(c)),
                Op::Throw => seen(fiber.throw(Thrown)),
                Op::GetReturn => match fiber.get_return() {
                    Ok(v) => Seen::Value(v),
                    Err(e) => Seen::Err(error_name(&e)),
                },
            };
            let (next, expected) = model.step(op);
            prop_assert_eq!(actual, expected, "op {:?} from {:?}", op, model);
            model = next;
            let flags = (fiber.is_started(), fiber.is_suspended(), fiber.is_running(), fiber.is_terminated());
            prop_assert_eq!(flags, model.flags(), "flags after {:?}", op);
        }
        let started = model != ModelState::NotStarted;
        drop(fiber);
        prop_assert_eq!(captured_drops.get(), 1, "the closure's captures drop exactly once");
        prop_assert_eq!(inner_drops.get(), u32::from(started), "locals on the fiber stack drop once");
        prop_assert_eq!(stack::statistics().in_use, stacks_before, "no stack leaked");
    }
}
