//! A proptest model of `Context`: random writes, deletes, clears, resets and
//! snapshots over a growing set of contexts, checked after every step
//! against a deliberately naive model.
//!
//! The model keeps a context as the full *list* of levels it inherited (one
//! `BTreeMap` per ancestor, copied at snapshot time) plus its own level,
//! and looks keys up by scanning the levels from the top. The real
//! implementation flattens the inherited levels into one persistent map, so
//! the two share no structure.

use std::collections::BTreeMap;

use fibrio_context::{
    all_context, clear_context, delete_context, get_context, has_context, set_context,
    set_sendable_context, Context, ContextVar, ResetError, SendableContext, Token,
};
use proptest::prelude::*;

const NAMES: [&str; 4] = ["a", "b", "c", "d"];
const VARS: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Name(usize),
    Var(usize),
}

/// A stored value: an `i32` or a `u8` (to check typed reads), and whether
/// it was set through the sendable API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stored {
    value: i32,
    is_byte: bool,
    sendable: bool,
}

type Level = BTreeMap<Key, Stored>;

#[derive(Clone, Debug, Default)]
struct ModelContext {
    /// Ancestors' own levels, oldest first, as they were at each snapshot.
    inherited: Vec<Level>,
    own: Level,
}

impl ModelContext {
    fn lookup(&self, key: Key) -> Option<Stored> {
        std::iter::once(&self.own)
            .chain(self.inherited.iter().rev())
            .find_map(|level| level.get(&key).copied())
    }

    fn visible(&self) -> Level {
        let mut all = Level::new();
        for level in self.inherited.iter().chain(std::iter::once(&self.own)) {
            all.extend(level.iter().map(|(k, v)| (*k, *v)));
        }
        all
    }

    fn snapshot(&self) -> ModelContext {
        let mut inherited = self.inherited.clone();
        inherited.push(self.own.clone());
        ModelContext {
            inherited,
            own: Level::new(),
        }
    }
}

struct ModelToken {
    context: usize,
    var: usize,
    previous_own: Option<Stored>,
}

#[derive(Clone, Debug)]
enum Op {
    Set {
        context: usize,
        key: Key,
        stored: Stored,
    },
    Delete {
        context: usize,
        name: usize,
    },
    Clear {
        context: usize,
    },
    Snapshot {
        context: usize,
    },
    Reset {
        context: usize,
        token: usize,
        var: usize,
    },
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        3 => (0..NAMES.len()).prop_map(Key::Name),
        1 => (0..VARS).prop_map(Key::Var),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let context = 0..16usize;
    prop_oneof![
        6 => (context.clone(), key(), any::<i8>(), any::<bool>(), any::<bool>()).prop_map(
            |(context, key, value, is_byte, sendable)| Op::Set {
                context,
                key,
                // Typed variables have one type each (i32) and a fixed
                // sendability (var 1 is sendable).
                stored: match key {
                    Key::Name(_) => Stored { value: i32::from(value), is_byte, sendable },
                    Key::Var(v) => Stored { value: i32::from(value), is_byte: false, sendable: v == 1 },
                },
            }
        ),
        2 => (context.clone(), 0..NAMES.len()).prop_map(|(context, name)| Op::Delete { context, name }),
        1 => context.clone().prop_map(|context| Op::Clear { context }),
        2 => context.clone().prop_map(|context| Op::Snapshot { context }),
        2 => (context, 0..8usize, 0..VARS).prop_map(|(context, token, var)| Op::Reset { context, token, var }),
    ]
}

fn observe(vars: &[ContextVar<i32>]) -> (Level, Level, Vec<Option<i32>>, usize) {
    let convert = |include_inherited| {
        all_context(include_inherited)
            .into_iter()
            .map(|(name, value)| {
                let index = NAMES.iter().position(|n| **n == *name).unwrap();
                let stored = match (value.get::<i32>(), value.get::<u8>()) {
                    (Some(v), None) => Stored {
                        value: v,
                        is_byte: false,
                        sendable: value.is_sendable(),
                    },
                    (None, Some(v)) => Stored {
                        value: i32::from(v as i8),
                        is_byte: true,
                        sendable: value.is_sendable(),
                    },
                    other => panic!("unexpected value {other:?}"),
                };
                (Key::Name(index), stored)
            })
            .collect::<Level>()
    };
    for (i, name) in NAMES.iter().enumerate() {
        let _ = i;
        // get_context reads only the matching type.
        let as_i32 = get_context::<i32>(name);
        let as_u8 = get_context::<u8>(name);
        assert!(as_i32.is_none() || as_u8.is_none());
        assert_eq!(has_context(name), as_i32.is_some() || as_u8.is_some());
    }
    let var_values = vars.iter().map(ContextVar::get).collect();
    (
        convert(true),
        convert(false),
        var_values,
        SendableContext::capture().len(),
    )
}

fn expected(model: &ModelContext) -> (Level, Level, Vec<Option<i32>>, usize) {
    let names_only = |level: Level| {
        level
            .into_iter()
            .filter(|(k, _)| matches!(k, Key::Name(_)))
            .collect::<Level>()
    };
    let visible = model.visible();
    let sendable = visible.values().filter(|s| s.sendable).count();
    let vars = (0..VARS)
        .map(|v| model.lookup(Key::Var(v)).map(|s| s.value))
        .collect();
    (
        names_only(visible),
        names_only(model.own.clone()),
        vars,
        sendable,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn context_matches_the_level_list_model(ops in proptest::collection::vec(op(), 1..80)) {
        let vars = [ContextVar::<i32>::new("v0"), ContextVar::<i32>::new_sendable("v1")];
        let mut real = vec![Context::new()];
        let mut model = vec![ModelContext::default()];
        let mut real_tokens: Vec<(Token<i32>, usize)> = Vec::new();
        let mut model_tokens: Vec<ModelToken> = Vec::new();

        for op in ops {
            match op {
                Op::Set { context, key, stored } => {
                    let c = context % real.len();
                    let token = real[c].run(|| match key {
                        Key::Name(n) => {
                            match (stored.is_byte, stored.sendable) {
                                (false, false) => set_context(NAMES[n], stored.value),
                                (false, true) => set_sendable_context(NAMES[n], stored.value),
                                (true, false) => set_context(NAMES[n], stored.value as i8 as u8),
                                (true, true) => set_sendable_context(NAMES[n], stored.value as i8 as u8),
                            }
                            None
                        }
                        Key::Var(v) => Some(vars[v].set(stored.value)),
                    });
                    let previous_own = model[c].own.insert(key, stored);
                    if let (Some(token), Key::Var(v)) = (token, key) {
                        real_tokens.push((token, v));
                        model_tokens.push(ModelToken { context: c, var: v, previous_own });
                    }
                }
                Op::Delete { context, name } => {
                    let c = context % real.len();
                    let deleted = real[c].run(|| delete_context(NAMES[name]));
                    prop_assert_eq!(deleted, model[c].own.remove(&Key::Name(name)).is_some());
                }
                Op::Clear { context } => {
                    let c = context % real.len();
                    real[c].run(clear_context);
                    model[c].own.retain(|k, _| matches!(k, Key::Var(_)));
                }
                Op::Snapshot { context } => {
                    let c = context % real.len();
                    let child = real[c].snapshot();
                    real.push(child);
                    let child = model[c].snapshot();
                    model.push(child);
                }
                Op::Reset { context, token, var } => {
                    if real_tokens.is_empty() {
                        continue;
                    }
                    let c = context % real.len();
                    let t = token % real_tokens.len();
                    let (real_token, _) = real_tokens.remove(t);
                    let model_token = model_tokens.remove(t);
                    let result = real[c].run(|| vars[var].reset(real_token));
                    let want = if model_token.var != var {
                        Err(ResetError::OtherVariable)
                    } else if model_token.context != c {
                        Err(ResetError::OtherContext)
                    } else {
                        let key = Key::Var(var);
                        match model_token.previous_own {
                            Some(previous) => model[c].own.insert(key, previous),
                            None => model[c].own.remove(&key),
                        };
                        Ok(())
                    };
                    prop_assert_eq!(result, want);
                }
            }
            // Every context, not just the one written: nothing leaks.
            for (c, context) in real.iter_mut().enumerate() {
                let seen = context.run(|| observe(&vars));
                prop_assert_eq!(&seen, &expected(&model[c]), "context {}", c);
            }
            // The thread's own context is never touched by any of this.
            prop_assert!(all_context(true).is_empty());
            prop_assert!(vars.iter().all(|v| v.get().is_none()));
        }
    }
}
