# fibrio's everyday commands. CI runs `.ci/run`, which is what `just ci` runs.
# Install just with `cargo install just`.

# List the recipes.
default:
    @just --list

# The whole test suite (the README's command).
test:
    cargo test --workspace

# rustfmt and clippy, as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# All criterion benchmarks, fibrio beside its peers in one run.
bench:
    cargo bench -p fibrio-benches

# Only the fiber benchmarks (switch, create-run-drop) against raw corosensei.
bench-fiber:
    cargo bench -p fibrio-benches --bench fiber

# The switch ratio to raw corosensei from 31 alternating runs (median, quartiles,
# fastest runs); steadier than criterion's two separate estimates on a shared machine.
bench-switch:
    FIBRIO_SWITCH_PAIRED=1 cargo bench -p fibrio-benches --bench fiber

# HTTP and echo load: fibrio, may_minihttp/may and tokio(+hyper) servers
# under wrk and echo_client on loopback, one after another (benches/bench-http.sh).
bench-http:
    bash benches/bench-http.sh

# Exactly what CI runs.
ci:
    bash .ci/run

# The main demo.
demo:
    cargo run --release --example concurrent_tasks
