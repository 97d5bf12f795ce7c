//! proptest: random programs of nested fibers that start and resume one
//! another, run against a model of PHP's rules: a fiber is running exactly
//! while a `start`/`resume` of it has not returned (it is on the chain of
//! active fibers), and only a suspended fiber can be resumed. After every
//! step the four `is_*` flags of every fiber must match the model, and every
//! refused call must fail with the error PHP gives.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use fibrio_core::fiber::{suspend, Fiber, FiberError};
use proptest::prelude::*;

/// How many fibers a program can use.
const FIBERS: usize = 3;

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Start or resume fiber `k` from wherever the program is running.
    Enter(usize),
    /// The running fiber suspends back to its resumer (nothing on a
    /// thread's own stack).
    Leave,
    /// The running fiber returns (nothing on a thread's own stack).
    Finish,
    /// Compare every fiber's flags with the model.
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    Suspended,
    Terminated,
}

/// The model, and the program being run (shared by every fiber's body).
struct World {
    ops: Vec<Op>,
    next: usize,
    states: [State; FIBERS],
    /// The chain of active fibers, outermost first.
    chain: Vec<usize>,
    /// How each fiber last came back to its resumer: `Some(true)` suspended,
    /// `Some(false)` returned.
    came_back: [Option<bool>; FIBERS],
    mismatches: Vec<String>,
}

impl World {
    fn next_op(&mut self) -> Option<Op> {
        let op = self.ops.get(self.next).copied();
        self.next += 1;
        op
    }

    fn check(&mut self, fibers: &[Fiber<(), (), ()>], at: &str) {
        for (k, fiber) in fibers.iter().enumerate() {
            let running = self.chain.contains(&k);
            let state = self.states[k];
            let expected = (
                state != State::NotStarted,
                state == State::Suspended && !running,
                running,
                state == State::Terminated,
            );
            let actual = (
                fiber.is_started(),
                fiber.is_suspended(),
                fiber.is_running(),
                fiber.is_terminated(),
            );
            if actual != expected {
                self.mismatches.push(format!(
                    "{at}: fiber {k} flags (started, suspended, running, terminated) {actual:?}, model {expected:?}"
                ));
            }
        }
    }
}

type Shared = Rc<RefCell<World>>;

/// Runs ops until the program ends or, inside a fiber, until it suspends
/// or returns. `me` is the fiber this runs in (`None` on the thread).
fn interpret(world: &Shared, fibers: &Weak<Vec<Fiber<(), (), ()>>>, me: Option<usize>) {
    loop {
        let op = world.borrow_mut().next_op();
        match op {
            None => return,
            Some(Op::Enter(k)) => enter(world, fibers, k),
            Some(Op::Leave) => {
                if let Some(me) = me {
                    let mut w = world.borrow_mut();
                    w.chain.pop();
                    w.states[me] = State::Suspended;
                    w.came_back[me] = Some(true);
                    drop(w);
                    if let Err(err) = suspend::<(), ()>(()) {
                        world
                            .borrow_mut()
                            .mismatches
                            .push(format!("suspend in fiber {me} failed: {err}"));
                        return;
                    }
                }
            }
            Some(Op::Finish) => {
                if me.is_some() {
                    return;
                }
            }
            Some(Op::Check) => {
                let fibers = fibers.upgrade().expect("fibers outlive the program");
                world.borrow_mut().check(&fibers, "check");
            }
        }
    }
}

fn enter(world: &Shared, fibers: &Weak<Vec<Fiber<(), (), ()>>>, k: usize) {
    let fibers = fibers.upgrade().expect("fibers outlive the program");
    let fiber = &fibers[k];
    let (state, active) = {
        let w = world.borrow();
        (w.states[k], w.chain.contains(&k))
    };
    if state == State::NotStarted || (state == State::Suspended && !active) {
        {
            let mut w = world.borrow_mut();
            w.chain.push(k);
            w.states[k] = State::Suspended; // started; running while on the chain
            w.came_back[k] = None;
        }
        let result = if state == State::NotStarted {
            fiber.start(())
        } else {
            fiber.resume(())
        };
        let mut w = world.borrow_mut();
        let expected = w.came_back[k];
        let actual = match &result {
            Ok(Some(())) => Some(true),
            Ok(None) => Some(false),
            Err(_) => None,
        };
        if actual != expected {
            w.mismatches.push(format!(
                "entering fiber {k}: got {result:?}, model says it came back {expected:?}"
            ));
        }
        drop(w);
        world
            .borrow_mut()
            .check(&fibers, &format!("after entering fiber {k}"));
    } else {
        let result = if state == State::NotStarted {
            fiber.start(())
        } else {
            fiber.resume(())
        };
        if !matches!(result, Err(FiberError::NotSuspended)) {
            world.borrow_mut().mismatches.push(format!(
                "resuming fiber {k} ({state:?}, active: {active}) gave {result:?}, not NotSuspended"
            ));
        }
        if !active
            && state == State::Terminated
            && !matches!(fiber.start(()), Err(FiberError::AlreadyStarted))
        {
            world.borrow_mut().mismatches.push(format!(
                "starting terminated fiber {k} was not AlreadyStarted"
            ));
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..FIBERS).prop_map(Op::Enter),
        2 => Just(Op::Leave),
        1 => Just(Op::Finish),
        2 => Just(Op::Check),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn nested_fibers_follow_phps_rules(ops in proptest::collection::vec(op(), 0..40)) {
        let world: Shared = Rc::new(RefCell::new(World {
            ops,
            next: 0,
            states: [State::NotStarted; FIBERS],
            chain: Vec::new(),
            came_back: [None; FIBERS],
            mismatches: Vec::new(),
        }));
        let fibers: Rc<Vec<Fiber<(), (), ()>>> = Rc::new_cyclic(|weak| {
            (0..FIBERS)
                .map(|k| {
                    let (world, weak) = (world.clone(), weak.clone());
                    Fiber::new(move |()| {
                        interpret(&world, &weak, Some(k));
                        // Returning: the model's view of it.
                        let mut w = world.borrow_mut();
                        w.chain.pop();
                        w.states[k] = State::Terminated;
                        w.came_back[k] = Some(false);
                    })
                })
                .collect()
        });
        interpret(&world, &Rc::downgrade(&fibers), None);
        world.borrow_mut().check(&fibers, "end");
        let mismatches = std::mem::take(&mut world.borrow_mut().mismatches);
        prop_assert!(mismatches.is_empty(), "{:#?}", mismatches);
        // Dropping closes the suspended fibers; their bodies unwind from
        // `suspend` without touching the model.
        drop(fibers);
    }
}
