//! The test attributes of fibrio: `#[fibrio::test]` and `#[fibrio::sim_test]`.
//!
//! Use them through the `fibrio` crate, which re-exports them; the
//! expansions name `::fibrio`, so the crate that uses them must depend on
//! `fibrio` under that name.
//!
//! # What they accept
//!
//! One free function with no parameters:
//!
//! ```text
//! #[fibrio::test]                     // no arguments
//! #[fibrio::sim_test]                 // or: #[fibrio::sim_test(cases = 1000)]
//! attributes* visibility? fn name() (-> Type)? { body }
//! ```
//!
//! Rejected, each with a `compile_error!` that starts with `fibrio::test:`
//! or `fibrio::sim_test:`, points at the offending token and says what to
//! do: `async`, `const`, `unsafe` and `extern` functions, generic
//! parameters, `where` clauses, parameters, an extra `#[test]`, unknown
//! attribute arguments, and a `cases` that is not a positive integer
//! literal that fits a `u32`.
//!
//! # Invariants
//!
//! * The expansion carries exactly one `#[::core::prelude::v1::test]`, then
//!   the function's other attributes (`#[should_panic]`, `#[ignore]`, doc
//!   comments, lint levels) in their order, its visibility and its name.
//! * The attributes, visibility, name, return type and body are passed
//!   through as the original tokens, spans included: an error inside the
//!   body points into the body, not at the attribute.
//! * Generated code names only `::core` and `::fibrio` paths and the locals
//!   it introduces start with `__fibrio_`.
//! * No dependencies: the tokens are lowered into a tiny token model
//!   (`Tree`), parsed and expanded there into source text with holes for
//!   the passed-through tokens. That logic never touches `proc_macro` types,
//!   so the unit tests below drive it with plain strings.
//!
//! The usage examples are marked `ignore`: a proc-macro crate cannot use its
//! own macros in doctests, and depending on `fibrio` here would be a cycle.
//! The same examples are compiled as doctests on the re-exports
//! `fibrio::test` and `fibrio::sim_test`.

use proc_macro::{Delimiter, Group, Span, TokenStream, TokenTree};

/// Runs a test body inside [`fibrio::run`], on a fresh runtime on the test's
/// thread. The return type is kept: `fibrio::run` returns main's value, so a
/// `-> Result<(), E>` test can use `?`.
///
/// ```ignore
/// #[fibrio::test]
/// fn sleeps_on_a_fiber() {
///     let task = fibrio::spawn(|| 2);
///     fibrio::sleep(std::time::Duration::from_millis(1));
///     assert_eq!(task.join().unwrap(), 2);
/// }
/// ```
///
/// expands to
///
/// ```text
/// #[::core::prelude::v1::test]
/// fn sleeps_on_a_fiber() { ::fibrio::run(move || { /* body */ }) }
/// ```
///
/// and `fn f() -> io::Result<()> { .. }` to
/// `fn f() -> io::Result<()> { ::fibrio::run(move || -> io::Result<()> { .. }) }`.
/// It takes no arguments.
///
/// [`fibrio::run`]: https://docs.rs/fibrio/latest/fibrio/fn.run.html
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(Kind::Test, args, item)
}

/// Runs a test body under `fibrio::sim::check_with`: once per seed, on the
/// deterministic runtime. A failing seed panics with the seed and the replay
/// hint `FIBRIO_SIM_SEED=<N>`. `cases = N` (a positive integer literal) sets
/// the number of seeds; without it `Config::new()`'s default applies.
///
/// ```ignore
/// #[fibrio::sim_test(cases = 1000)]
/// fn counter_is_never_lost() { /* runs 1000 times, one schedule each */ }
/// ```
///
/// expands to
///
/// ```text
/// #[::core::prelude::v1::test]
/// fn counter_is_never_lost() {
///     ::fibrio::sim::check_with(::fibrio::sim::Config::new().cases(1000), || { /* body */ })
/// }
/// ```
///
/// The body is a `Fn`, called once per seed. A test may return a `Result`
/// whose error is `Debug`: the body then becomes an inner function, and an
/// `Err` fails that seed with a panic `the test returned an error: {err:?}`.
/// Any other return type is a type error.
#[proc_macro_attribute]
pub fn sim_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry(Kind::Sim, args, item)
}

fn entry(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(kind, &lower(args), &lower(item)) {
        Ok(out) => fill(out.code.parse().expect("generated code lexes"), &out.holes),
        Err(err) => {
            let span = err
                .at
                .as_ref()
                .map_or_else(Span::call_site, TokenTree::span);
            let msg = format!("{}: {}", kind.name(), err.msg);
            let code: TokenStream = format!("::core::compile_error!{{{msg:?}}}")
                .parse()
                .unwrap();
            respan(code, span)
        }
    }
}

/// Lowers `proc_macro` tokens into the model, keeping each original tree as
/// the payload. Invisible groups (from `macro_rules!` fragments) are spliced.
fn lower(ts: TokenStream) -> Vec<Tree<TokenTree>> {
    let mut out = Vec::new();
    for tt in ts {
        match &tt {
            TokenTree::Ident(i) => out.push(Tree::Ident(i.to_string(), tt.clone())),
            TokenTree::Punct(p) => out.push(Tree::Punct(p.as_char(), tt.clone())),
            TokenTree::Literal(l) => out.push(Tree::Lit(l.to_string(), tt.clone())),
            TokenTree::Group(g) => {
                let open = match g.delimiter() {
                    Delimiter::Parenthesis => '(',
                    Delimiter::Bracket => '[',
                    Delimiter::Brace => '{',
                    Delimiter::None => {
                        out.extend(lower(g.stream()));
                        continue;
                    }
                };
                out.push(Tree::Group(open, lower(g.stream()), tt.clone()));
            }
        }
    }
    out
}

/// Replaces each `__fibrio_hole_<i>` identifier with the original tokens.
fn fill(ts: TokenStream, holes: &[Vec<Tree<TokenTree>>]) -> TokenStream {
    let mut out = TokenStream::new();
    for tt in ts {
        match tt {
            TokenTree::Ident(i) if hole_index(&i.to_string()).is_some() => {
                let hole = &holes[hole_index(&i.to_string()).unwrap()];
                out.extend(hole.iter().map(|t| t.payload().clone()));
            }
            TokenTree::Group(g) => {
                let mut new = Group::new(g.delimiter(), fill(g.stream(), holes));
                new.set_span(g.span());
                out.extend([TokenTree::Group(new)]);
            }
            tt => out.extend([tt]),
        }
    }
    out
}

fn respan(ts: TokenStream, span: Span) -> TokenStream {
    ts.into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                tt = TokenTree::Group(Group::new(g.delimiter(), respan(g.stream(), span)));
            }
            tt.set_span(span);
            tt
        })
        .collect()
}

const HOLE: &str = "__fibrio_hole_";

fn hole_index(ident: &str) -> Option<usize> {
    ident.strip_prefix(HOLE)?.parse().ok()
}

/// Which attribute is expanding.
#[derive(Clone, Copy)]
enum Kind {
    Test,
    Sim,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Test => "fibrio::test",
            Kind::Sim => "fibrio::sim_test",
        }
    }
}

/// The token model: a token tree with its text and a payload (the original
/// `proc_macro::TokenTree`, or `()` in the unit tests). Groups keep their
/// opening delimiter: `(`, `[` or `{`.
#[derive(Clone, Debug)]
enum Tree<P> {
    Ident(String, P),
    Punct(char, P),
    Lit(String, P),
    Group(char, Vec<Tree<P>>, P),
}

impl<P> Tree<P> {
    fn payload(&self) -> &P {
        match self {
            Tree::Ident(_, p) | Tree::Punct(_, p) | Tree::Lit(_, p) | Tree::Group(_, _, p) => p,
        }
    }
    fn is_ident(&self, name: &str) -> bool {
        matches!(self, Tree::Ident(s, _) if s == name)
    }
    fn is_punct(&self, c: char) -> bool {
        matches!(self, Tree::Punct(p, _) if *p == c)
    }
    fn is_group(&self, open: char) -> bool {
        matches!(self, Tree::Group(d, _, _) if *d == open)
    }
}

/// A rejection: what to do, and the token to blame (`None`: the attribute).
#[derive(Debug)]
struct Error<P> {
    msg: String,
    at: Option<P>,
}

fn fail<T, P: Clone>(msg: impl Into<String>, at: Option<&Tree<P>>) -> Result<T, Error<P>> {
    let at = at.map(|t| t.payload().clone());
    Err(Error {
        msg: msg.into(),
        at,
    })
}

/// Source text with `__fibrio_hole_<i>` standing for `holes[i]`.
struct Expansion<P> {
    code: String,
    holes: Vec<Vec<Tree<P>>>,
}

fn expand<P: Clone>(
    kind: Kind,
    args: &[Tree<P>],
    item: &[Tree<P>],
) -> Result<Expansion<P>, Error<P>> {
    let cases = parse_args(kind, args)?;
    let (attrs, vis, name, ret, body) = parse_fn(item)?;
    let has_ret = !ret.is_empty();
    let ret_arrow = if has_ret {
        format!("-> {HOLE}3")
    } else {
        String::new()
    };
    let inner = match kind {
        Kind::Test => format!("::fibrio::run(move || {ret_arrow} {HOLE}4)"),
        Kind::Sim => {
            let config = match cases {
                Some(n) => format!("::fibrio::sim::Config::new().cases({n})"),
                None => "::fibrio::sim::Config::new()".to_string(),
            };
            let test = if has_ret {
                format!(
                    "|| {{ fn __fibrio_body() {ret_arrow} {HOLE}4 \
                     if let ::core::result::Result::Err(__fibrio_err) = __fibrio_body() {{ \
                     ::core::panic!(\"the test returned an error: {{:?}}\", __fibrio_err); }} }}"
                )
            } else {
                format!("|| {HOLE}4")
            };
            format!("::fibrio::sim::check_with({config}, {test})")
        }
    };
    let outer_ret = if matches!(kind, Kind::Test) {
        ret_arrow.as_str()
    } else {
        ""
    };
    let code = format!(
        "#[::core::prelude::v1::test] {HOLE}0 {HOLE}1 fn {HOLE}2() {outer_ret} {{ {inner} }}"
    );
    Ok(Expansion {
        code,
        holes: vec![attrs, vis, vec![name], ret, vec![body]],
    })
}

fn parse_args<P: Clone>(kind: Kind, args: &[Tree<P>]) -> Result<Option<u32>, Error<P>> {
    let Some(key) = args.first() else {
        return Ok(None);
    };
    if let Kind::Test = kind {
        return fail("takes no arguments: write `#[fibrio::test]`", Some(key));
    }
    if !key.is_ident("cases") {
        return fail("unknown argument: the only argument is `cases = N`, e.g. `#[fibrio::sim_test(cases = 1000)]`", Some(key));
    }
    match args.get(1) {
        Some(eq) if eq.is_punct('=') => {}
        other => {
            return fail(
                "expected `=` after `cases`, e.g. `cases = 1000`",
                other.or(Some(key)),
            )
        }
    }
    let value = args.get(2);
    let n = match value {
        Some(Tree::Lit(text, _)) => parse_count(text),
        _ => None,
    };
    let Some(n) = n else {
        return fail(
            "`cases` must be a positive integer literal that fits a u32, e.g. `cases = 1000`",
            value.or(args.get(1)),
        );
    };
    let rest = match args.get(3) {
        Some(comma) if comma.is_punct(',') => &args[4..],
        _ => &args[3..],
    };
    match rest.first() {
        None => Ok(Some(n)),
        extra => fail("unexpected tokens: the only argument is `cases = N`", extra),
    }
}

/// A decimal integer literal (`1000`, `1_000`, `1000u32`) in `1..=u32::MAX`.
fn parse_count(text: &str) -> Option<u32> {
    let digits = text.strip_suffix("u32").unwrap_or(text).replace('_', "");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

type FnParts<P> = (Vec<Tree<P>>, Vec<Tree<P>>, Tree<P>, Vec<Tree<P>>, Tree<P>);

/// `attrs* vis? fn name() (-> Ty)? { body }` into (attrs, vis, name, ret, body).
fn parse_fn<P: Clone>(toks: &[Tree<P>]) -> Result<FnParts<P>, Error<P>> {
    let mut i = 0;
    let mut attrs = Vec::new();
    while toks.get(i).is_some_and(|t| t.is_punct('#')) {
        match toks.get(i + 1) {
            Some(g @ Tree::Group('[', inner, _)) => {
                if let [only] = inner.as_slice() {
                    if only.is_ident("test") {
                        return fail(
                            "remove this `#[test]`: the attribute already adds it",
                            Some(g),
                        );
                    }
                }
                attrs.extend([toks[i].clone(), g.clone()]);
                i += 2;
            }
            other => {
                return fail(
                    "expected an outer attribute `#[...]`",
                    other.or(toks.get(i)),
                )
            }
        }
    }
    let mut vis = Vec::new();
    if toks.get(i).is_some_and(|t| t.is_ident("pub")) {
        vis.push(toks[i].clone());
        i += 1;
        if toks.get(i).is_some_and(|t| t.is_group('(')) {
            vis.push(toks[i].clone());
            i += 1;
        }
    }
    match toks.get(i) {
        Some(t) if t.is_ident("fn") => i += 1,
        Some(t @ Tree::Ident(q, _))
            if ["async", "const", "unsafe", "extern"].contains(&q.as_str()) =>
        {
            let why = if q == "async" {
                ": the body already runs on a fibrio task, so write it blocking-style"
            } else {
                ""
            };
            return fail(
                format!("`{q} fn` is not supported; remove `{q}`{why}"),
                Some(t),
            );
        }
        other => return fail("expected a function: `fn name() { ... }`", other),
    }
    let name = match toks.get(i) {
        Some(t @ Tree::Ident(..)) => t.clone(),
        other => return fail("expected the function's name", other),
    };
    i += 1;
    if let Some(t) = toks.get(i).filter(|t| t.is_punct('<')) {
        return fail(
            "generic test functions are not supported; remove the generic parameters",
            Some(t),
        );
    }
    match toks.get(i) {
        Some(Tree::Group('(', params, _)) if !params.is_empty() => {
            return fail(
                "test functions take no parameters; remove them and build the values in the body",
                params.first(),
            )
        }
        Some(t) if t.is_group('(') => i += 1,
        other => return fail("expected an empty parameter list `()`", other),
    }
    let mut ret = Vec::new();
    if toks.get(i).is_some_and(|t| t.is_punct('-'))
        && toks.get(i + 1).is_some_and(|t| t.is_punct('>'))
    {
        let arrow = i + 1;
        i += 2;
        while let Some(t) = toks
            .get(i)
            .filter(|t| !t.is_group('{') && !t.is_ident("where"))
        {
            ret.push(t.clone());
            i += 1;
        }
        if ret.is_empty() {
            return fail("expected a return type after `->`", toks.get(arrow));
        }
    }
    if let Some(t) = toks.get(i).filter(|t| t.is_ident("where")) {
        return fail("`where` clauses are not supported: a test function has nothing generic to bound; remove it", Some(t));
    }
    let body = match toks.get(i) {
        Some(t) if t.is_group('{') => t.clone(),
        other => return fail("expected the function body `{ ... }`", other),
    };
    if let Some(extra) = toks.get(i + 1) {
        return fail("unexpected tokens after the function body", Some(extra));
    }
    Ok((attrs, vis, name, ret, body))
}

#[cfg(test)]
mod tests;
