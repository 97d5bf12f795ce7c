# fibrio's everyday commands. CI runs `.ci/run`, which is what `just ci` runs.
# Install just with `cargo install just`.

# List the recipes.
default:
    @just --list

# The benchmarks are a workspace of their own (benches/Cargo.toml, excluded from the
# root one), so that `cargo test --workspace` does not build their peers (tokio, may,
# hyper) and criterion. Their recipes name its manifest; they build in benches/target.
benches := "--manifest-path benches/Cargo.toml"

# The whole test suite (the README's command); the benchmarks are not part of it.
test:
    cargo test --workspace

# rustfmt and clippy, as CI runs them, on the root workspace and the benchmarks'.
lint:
    cargo fmt --all --check
    cargo fmt {{benches}} --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy {{benches}} --all-targets -- -D warnings

# Arguments go on to cargo bench (`just bench -- --quick` to criterion).
# All criterion benchmarks, fibrio beside its peers in one run.
bench *args:
    cargo bench {{benches}} {{args}}

# Only the fiber benchmarks (switch, create-run-drop) against raw corosensei.
bench-fiber *args:
    cargo bench {{benches}} --bench fiber {{args}}

# The switch ratio to raw corosensei from 31 alternating runs (median, quartiles,
# fastest runs); steadier than criterion's two separate estimates on a shared machine.
bench-switch:
    FIBRIO_SWITCH_PAIRED=1 cargo bench {{benches}} --bench fiber

# Built first, then run on CPU `cpu` alone (`just bench-runtime-paired ""` leaves
# it unpinned). Median, quartiles and median runs from 21 alternating runs each.
# The ratios fibrio / tokio (current_thread) of spawn + join, Notify ping-pong, sleep_10k.
bench-runtime-paired cpu="1":
    cargo bench {{benches}} --bench runtime --no-run
    FIBRIO_RUNTIME_PAIRED=1 {{ if cpu == "" { "" } else { "taskset -c " + cpu } }} cargo bench {{benches}} --bench runtime

# The deterministic simulation's speed: three hosts exchanging a message every
# 10 ms for one virtual hour (target < 2 s), and sim::check with 1,000 cases of a
# 10-task fixture (target < 5 s).
bench-sim *args:
    cargo bench {{benches}} --bench sim {{args}}

# HTTP and echo load: fibrio, may_minihttp/may and tokio(+hyper) servers
# under wrk and echo_client on loopback, one after another (benches/bench-http.sh).
bench-http:
    bash benches/bench-http.sh

# Not part of CI: it takes a few minutes. Installs valgrind if it is missing (as root).
# Any memcheck error fails the run, and so does a definitely lost block (possibly lost
# ones and memory still reachable at exit are shown, not counted). Nothing is
# suppressed: corosensei registers its stacks with valgrind, so switching stacks raises
# no false reports. Proptests run PROPTEST_CASES cases (8 unless set). Unit and
# integration tests, not doctests; the tests in `valgrind_skip` are skipped.
# The core and concurrency test binaries under valgrind's memcheck.
valgrind:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v valgrind >/dev/null; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "valgrind is missing: apt-get install valgrind" >&2
            exit 1
        fi
        apt-get install -y valgrind || { apt-get update && apt-get install -y valgrind; }
    fi
    export PROPTEST_CASES=${PROPTEST_CASES:-8}
    # Cargo starts every test binary through the target's runner.
    host=$(rustc -vV | sed -n 's/^host: //p')
    runner=CARGO_TARGET_$(echo "$host" | tr 'a-z-' 'A-Z_')_RUNNER
    export "$runner=valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite"
    skips=()
    for name in {{valgrind_skip}}; do skips+=(--skip "$name"); done
    log=$(mktemp /tmp/fibrio-valgrind.XXXXXX)
    status=0
    cargo test -p fibrio-core -p fibrio-concurrency --lib --tests --no-fail-fast \
        -- "${skips[@]}" 2>&1 | tee "$log" || status=$?
    binaries=$(grep -c 'ERROR SUMMARY' "$log" || true)
    errors=$(awk '/ERROR SUMMARY/ { n += $4 } END { print n + 0 }' "$log")
    failed=$(grep -c '^test .* FAILED$' "$log" || true)
    echo "valgrind: $errors memcheck errors in $binaries test binaries; $failed tests failed (log: $log)"
    exit "$status"

# Tests that `just valgrind` skips: each needs a task to get somewhere within a few
# milliseconds of another (a 10 ms timeout, two timers in one reactor turn), which
# valgrind's 20-50x slowdown breaks; they fail on their timing, not on memory.
valgrind_skip := "a_timed_out_sender_leaves_the_queue_and_the_next_one_keeps_its_turn condvar_wait_timeout_times_out_then_relocks_the_mutex two_children_failing_together_are_both_reported"

# Exactly what CI runs.
ci:
    bash .ci/run

# The main demo.
demo:
    cargo run --release --example concurrent_tasks

# In release: normal requests (one per fresh connection) for 5 s alone, then under
# 2,000 slowloris connections sending one header byte every 5 s (reopened when closed)
# against the default 10 s header timeout; prints both latency percentiles
# (examples/tests/http_slowloris.rs, `slowloris_p99`). Settings: SLOWLORIS_CONNECTIONS,
# SLOWLORIS_INTERVAL_MS, SLOWLORIS_SECONDS, SLOWLORIS_WORKERS.
# http_server's normal-request latency under 2,000 slowloris connections (issue 16).
slowloris-p99:
    cargo build --release -p fibrio-examples --example http_server
    cargo test --release -p fibrio-examples --test http_slowloris -- --ignored --nocapture slowloris_p99

# In release: wrk -c256 plus 32 checking clients, SIGTERM after 5 s, five rounds at 1
# and at 2 workers; fails if the exit is not 0 within the grace or a request the server
# had read is not answered in full (examples/tests/http_shutdown_load.rs,
# `sigterm_under_heavy_load`). Settings: SHUTDOWN_LOAD_ROUNDS, SHUTDOWN_LOAD_SECONDS,
# SHUTDOWN_LOAD_CONNECTIONS.
# http_server's graceful shutdown under heavy load (issue 16).
shutdown-load:
    cargo build --release -p fibrio-examples --example http_server
    cargo test --release -p fibrio-examples --test http_shutdown_load -- --ignored --nocapture sigterm_under_heavy_load

# In release: echo_server and http_server (--workers 2, admin on) under checking
# clients (seeded payloads, every echoed byte verified) and chaos (resets with
# SO_LINGER 0 mid-request, dropped half-read connections, echo_client processes
# SIGKILLed at random) for `seconds`; samples each server's fds, RSS, tasks and
# mapped stacks every minute, prints them as a table, and fails on a lost or
# mangled byte or on growth after the warm-up (examples/tests/soak.rs). Settings:
# SOAK_INTERVAL_SECONDS, SOAK_SEED. CI runs the 60 s version.
# Issue 18's soak: 30 minutes of load and chaos, nothing may grow.
soak seconds="1800":
    cargo build --release -p fibrio-examples --example echo_server --example http_server --example echo_client
    SOAK_SECONDS={{seconds}} cargo test --release -p fibrio-examples --test soak -- --ignored --nocapture

# Issue 18: 10,000 idle keep-alive connections to the release http_server: RSS per
# connection (< 8 KiB) and RSS after they close (<= 2x the baseline within 30 s).
# CI runs the 2,000-connection version (examples/tests/http_memory.rs).
http-memory:
    cargo test --release -p fibrio-examples --test http_memory -- --ignored --nocapture

# Issue 18's million-task case, in release: 1,000,000 tasks with 16 KiB stacks park on
# a timer, then are cancelled and joined; prints spawn and teardown times and RSS per
# task against the targets (crates/fibrio/tests/runtime_scale_million.rs). Raises
# vm.max_map_count to what a million stacks need when it may (root, not in a container
# that forbids it), else says what to run. FIBRIO_SCALE_TASKS changes the count
# (docs/scaling.md gives the limit for any count). Needs about 5 GiB of memory.
scale:
    #!/usr/bin/env bash
    set -euo pipefail
    tasks=${FIBRIO_SCALE_TASKS:-1000000}
    # 2 mappings per stack, the reserve of 1/32, room for the rest (docs/scaling.md).
    need=$(( (tasks + 1000) * 2 * 32 / 31 + 2100 ))
    have=$(cat /proc/sys/vm/max_map_count)
    if [ "$have" -lt "$need" ]; then
        if [ "$(id -u)" -eq 0 ] && sysctl -qw vm.max_map_count="$need" 2>/dev/null; then
            echo "raised vm.max_map_count from $have to $need (sysctl -w vm.max_map_count=$have restores it)"
        else
            echo "just scale: $tasks tasks need vm.max_map_count >= $need (it is $have)." >&2
            echo "As root: sysctl -w vm.max_map_count=$need  (see docs/scaling.md)" >&2
            exit 1
        fi
    fi
    ulimit -v unlimited 2>/dev/null || true
    FIBRIO_SCALE_TASKS=$tasks cargo test --release -p fibrio --test runtime_scale_million -- --ignored --nocapture

# `just bench-http-ab OLD_BINARY NEW_BINARY` (build each with `cargo build --release -p
# fibrio-examples --example http_server`, the old one in a `git worktree`, say), with
# bench-http's HTTP settings (wrk -c256, 1 s warm-up; 1 worker: server on CPU 0, wrk -t1
# on CPU 1; 2 workers: unpinned, wrk -t2), alternating in ABBA order, ROUNDS (6) rounds
# of DURATION (5) s; prints each run and the median new/old ratio with its range.
# fibrio's http_server at two builds, A/B, in req/s.
bench-http-ab old new:
    #!/usr/bin/env bash
    set -euo pipefail
    rounds=${ROUNDS:-6}; duration=${DURATION:-5}; port=${HTTP_PORT:-18090}
    listening() { [ -n "$(ss -Hltn "sport = :$port")" ]; }
    run() { # run NAME BINARY WORKERS -> req/s
        local pin=""; [ "$3" -eq 1 ] && pin="taskset -c 0"
        $pin "$2" --addr 127.0.0.1:$port --workers "$3" 2>/dev/null & local pid=$!
        until listening; do sleep 0.1; done
        pin=""; [ "$3" -eq 1 ] && pin="taskset -c 1"
        $pin wrk -t"$3" -c256 -d1s http://127.0.0.1:$port/ >/dev/null
        local rps; rps=$($pin wrk -t"$3" -c256 -d"${duration}s" http://127.0.0.1:$port/ | awk '/^Requests\/sec:/ { print $2 }')
        kill $pid; wait $pid 2>/dev/null || true
        while listening; do sleep 0.1; done
        echo "$rps"
    }
    for workers in 1 2; do
        ratios=()
        for round in $(seq "$rounds"); do
            if [ $((round % 2)) -eq 1 ]; then a=$(run old {{old}} $workers); b=$(run new {{new}} $workers)
            else b=$(run new {{new}} $workers); a=$(run old {{old}} $workers); fi
            ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')
            ratios+=("$ratio")
            echo "workers $workers round $round: old $a req/s, new $b req/s, new/old $ratio (load $(cut -d' ' -f1 /proc/loadavg))"
        done
        printf '%s\n' "${ratios[@]}" | sort -n | awk -v w="$workers" '{ r[NR] = $1 } END { m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2; printf "workers %s: median new/old %.3f (range %s-%s)\n", w, m, r[1], r[NR] }'
    done
