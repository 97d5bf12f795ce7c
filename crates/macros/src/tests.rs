//! The parser and the generator, driven with plain strings: a test lexer
//! builds the token model with `()` payloads, and holes are filled with the
//! rendered tokens, the way `fill` splices the original tokens.

use super::{expand, hole_index, parse_count, Kind, Tree};

/// Lexes a small Rust subset: identifiers, decimal numbers, plain strings,
/// single-character punctuation and groups.
fn lex(src: &str) -> Vec<Tree<()>> {
    fn go(
        chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
        close: Option<char>,
    ) -> Vec<Tree<()>> {
        let mut out = Vec::new();
        while let Some(c) = chars.next() {
            match c {
                c if c.is_whitespace() => {}
                '(' | '[' | '{' => out.push(Tree::Group(c, go(chars, Some(closing(c))), ())),
                ')' | ']' | '}' => {
                    assert_eq!(Some(c), close, "unbalanced test input");
                    return out;
                }
                '"' => {
                    let mut s = String::from('"');
                    loop {
                        let c = chars.next().expect("unterminated string");
                        s.push(c);
                        match c {
                            '\\' => s.push(chars.next().unwrap()),
                            '"' => break,
                            _ => {}
                        }
                    }
                    out.push(Tree::Lit(s, ()));
                }
                c if c.is_alphanumeric() || c == '_' => {
                    let mut s = c.to_string();
                    while let Some(&n) = chars.peek().filter(|n| n.is_alphanumeric() || **n == '_')
                    {
                        s.push(n);
                        chars.next();
                    }
                    out.push(if c.is_ascii_digit() {
                        Tree::Lit(s, ())
                    } else {
                        Tree::Ident(s, ())
                    });
                }
                c => out.push(Tree::Punct(c, ())),
            }
        }
        assert_eq!(close, None, "unbalanced test input");
        out
    }
    go(&mut src.chars().peekable(), None)
}

fn closing(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

fn render(ts: &[Tree<()>]) -> String {
    let parts: Vec<String> = ts
        .iter()
        .map(|t| match t {
            Tree::Ident(s, ()) | Tree::Lit(s, ()) => s.clone(),
            Tree::Punct(c, ()) => c.to_string(),
            Tree::Group(d, inner, ()) => {
                format!("{d} {} {}", render(inner), closing(*d)).replace("  ", " ")
            }
        })
        .collect();
    parts.join(" ")
}

/// The string-level mirror of `fill`.
fn fill(ts: Vec<Tree<()>>, holes: &[Vec<Tree<()>>]) -> Vec<Tree<()>> {
    let mut out = Vec::new();
    for t in ts {
        match t {
            Tree::Ident(s, ()) if hole_index(&s).is_some() => {
                out.extend(holes[hole_index(&s).unwrap()].clone())
            }
            Tree::Group(d, inner, ()) => out.push(Tree::Group(d, fill(inner, holes), ())),
            t => out.push(t),
        }
    }
    out
}

/// Expands `item` under `kind(args)`: the normalized output, or the message.
fn run(kind: Kind, args: &str, item: &str) -> Result<String, String> {
    match expand(kind, &lex(args), &lex(item)) {
        Ok(e) => Ok(render(&fill(lex(&e.code), &e.holes))),
        Err(e) => Err(e.msg),
    }
}

fn same(actual: Result<String, String>, expected: &str) {
    assert_eq!(actual.expect("expansion failed"), render(&lex(expected)));
}

fn rejects(kind: Kind, args: &str, item: &str, needle: &str) {
    let msg = run(kind, args, item).expect_err("expected a rejection");
    assert!(msg.contains(needle), "{msg:?} does not contain {needle:?}");
}

#[test]
fn test_wraps_the_body_in_run() {
    same(
        run(Kind::Test, "", "fn t() { let x = 1; assert_eq!(x, 1); }"),
        "#[::core::prelude::v1::test] fn t() { ::fibrio::run(move || { let x = 1; assert_eq!(x, 1); }) }",
    );
}

#[test]
fn test_keeps_attributes_visibility_and_return_type() {
    same(
        run(
            Kind::Test,
            "",
            "#[doc = \"d\"] #[should_panic(expected = \"boom\")] #[ignore] pub(crate) fn t() -> io::Result<()> { f()?; Ok(()) }",
        ),
        "#[::core::prelude::v1::test] #[doc = \"d\"] #[should_panic(expected = \"boom\")] #[ignore] pub(crate) \
         fn t() -> io::Result<()> { ::fibrio::run(move || -> io::Result<()> { f()?; Ok(()) }) }",
    );
}

#[test]
fn sim_test_without_and_with_cases() {
    same(
        run(Kind::Sim, "", "fn s() { body(); }"),
        "#[::core::prelude::v1::test] fn s() { ::fibrio::sim::check_with(::fibrio::sim::Config::new(), || { body(); }) }",
    );
    same(
        run(Kind::Sim, "cases = 1_000u32,", "#[ignore] fn s() {}"),
        "#[::core::prelude::v1::test] #[ignore] fn s() { ::fibrio::sim::check_with(::fibrio::sim::Config::new().cases(1000), || {}) }",
    );
}

#[test]
fn sim_test_returning_a_result_unwraps_it_per_seed() {
    same(
        run(Kind::Sim, "cases = 3", "fn s() -> Result<(), E> { Ok(()) }"),
        "#[::core::prelude::v1::test] fn s() { ::fibrio::sim::check_with(::fibrio::sim::Config::new().cases(3), || { \
         fn __fibrio_body() -> Result<(), E> { Ok(()) } \
         if let ::core::result::Result::Err(__fibrio_err) = __fibrio_body() { \
         ::core::panic!(\"the test returned an error: {:?}\", __fibrio_err); } }) }",
    );
}

#[test]
fn function_shapes_that_are_rejected() {
    for kind in [Kind::Test, Kind::Sim] {
        rejects(
            kind,
            "",
            "async fn t() {}",
            "`async fn` is not supported; remove `async`",
        );
        rejects(kind, "", "pub unsafe fn t() {}", "remove `unsafe`");
        rejects(
            kind,
            "",
            "fn t<T>() {}",
            "generic test functions are not supported",
        );
        rejects(kind, "", "fn t(x: u32) {}", "take no parameters");
        rejects(
            kind,
            "",
            "fn t() where u8: Copy {}",
            "`where` clauses are not supported",
        );
        rejects(kind, "", "fn t() -> {}", "expected a return type");
        rejects(kind, "", "#[test] fn t() {}", "remove this `#[test]`");
        rejects(kind, "", "struct S;", "expected a function");
        rejects(kind, "", "fn t();", "expected the function body");
        rejects(
            kind,
            "",
            "fn t() {} fn u() {}",
            "unexpected tokens after the function body",
        );
        rejects(kind, "", "", "expected a function");
    }
}

#[test]
fn arguments_that_are_rejected() {
    rejects(Kind::Test, "cases = 3", "fn t() {}", "takes no arguments");
    rejects(Kind::Sim, "seeds = 3", "fn t() {}", "unknown argument");
    rejects(
        Kind::Sim,
        "cases",
        "fn t() {}",
        "expected `=` after `cases`",
    );
    rejects(
        Kind::Sim,
        "cases: 3",
        "fn t() {}",
        "expected `=` after `cases`",
    );
    for bad in ["\"3\"", "N", "0", "-3", "4294967296", "1u8", ""] {
        rejects(
            Kind::Sim,
            &format!("cases = {bad}"),
            "fn t() {}",
            "positive integer literal",
        );
    }
    rejects(
        Kind::Sim,
        "cases = 3, cases = 4",
        "fn t() {}",
        "the only argument is `cases = N`",
    );
}

#[test]
fn counts() {
    assert_eq!(parse_count("1000"), Some(1000));
    assert_eq!(parse_count("1_000u32"), Some(1000));
    assert_eq!(parse_count("4294967295"), Some(u32::MAX));
    for bad in ["0", "0x10", "10u64", "1e3", "", "_"] {
        assert_eq!(parse_count(bad), None, "{bad}");
    }
}
