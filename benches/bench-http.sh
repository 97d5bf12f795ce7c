#!/usr/bin/env bash
# HTTP and echo load comparison, run by `just bench-http`: fibrio beside its
# peers, one server after another, in one run, all on loopback.
#
# HTTP: fibrio's http_server, may_minihttp (benches/examples/may_http.rs) and
# tokio + hyper (benches/examples/hyper_http.rs), all answering `GET /` with
# `Hello, World!`, loaded by wrk with --latency. At 1 worker the server is
# pinned to CPU 0 and wrk (-t1) to CPU 1; at 2 workers nothing is pinned and
# wrk runs -t2.
#
# Echo: fibrio's echo_server, may (benches/examples/may_echo.rs) and tokio
# (benches/examples/tokio_echo.rs), loaded by fibrio's own echo_client, which
# sends fixed-size messages one at a time on each connection and checks every
# echo. Same pinning as above.
#
# The machine is shared and noisy (the same server measured twice in a row
# can differ by 20%), so every configuration runs ROUNDS times, the servers
# taking turns within each round so a change in background load hits all of
# them alike; the tables give the median of the rounds and their range. At the
# end it prints one markdown table per comparison. Settings (env):
#
#   ROUNDS=3           runs of every configuration
#   DURATION=10        seconds of each wrk run
#   WARMUP=1           seconds of an unmeasured wrk run before each one
#   CONNECTIONS=256    wrk connections
#   ECHO_CONNECTIONS=100  ECHO_SIZE=64  ECHO_MESSAGES=5000 (per connection)
#   ECHO_TIMEOUT=120   seconds before an echo run is cut off
#   HTTP_PORT=18080    ECHO_PORT=17000 (on 127.0.0.1 only)
#   WORKER_COUNTS="1 2"
#   CARGO_TARGET_DIR   where cargo builds, for both workspaces (default: the
#                      root workspace's target/)
#   BENCH_OUT          where the raw logs go (default: a fresh /tmp dir)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-256}
ECHO_CONNECTIONS=${ECHO_CONNECTIONS:-100}
ECHO_SIZE=${ECHO_SIZE:-64}
ECHO_MESSAGES=${ECHO_MESSAGES:-5000}
ECHO_TIMEOUT=${ECHO_TIMEOUT:-120}
HTTP_PORT=${HTTP_PORT:-18080}
ECHO_PORT=${ECHO_PORT:-17000}
WORKER_COUNTS=${WORKER_COUNTS:-"1 2"}
HOST=127.0.0.1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release/examples
OUT=${BENCH_OUT:-$(mktemp -d /tmp/bench-http.XXXXXX)}
mkdir -p "$OUT"
HTTP_ROWS=$OUT/http.rows
ECHO_ROWS=$OUT/echo.rows
: >"$HTTP_ROWS"
: >"$ECHO_ROWS"

log() { printf '>> %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------

if ! command -v wrk >/dev/null; then
    log "installing wrk"
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y wrk >/dev/null 2>&1 || {
        $SUDO apt-get update >/dev/null
        $SUDO apt-get install -y wrk >/dev/null
    }
fi
for tool in taskset timeout ss; do
    command -v "$tool" >/dev/null || { log "$tool is needed"; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
    log "pinning needs at least 2 CPUs; this machine has $(nproc)"
    exit 1
fi

# --- build -------------------------------------------------------------------

log "building the servers and the echo client in release ($CARGO_TARGET_DIR)"
cargo build --release -p fibrio-examples \
    --example http_server --example echo_server --example echo_client
# The peers come from the benchmarks' own workspace (benches/Cargo.toml); the
# exported CARGO_TARGET_DIR puts them beside fibrio's examples in $BIN.
cargo build --release --manifest-path benches/Cargo.toml \
    --example may_http --example hyper_http --example may_echo --example tokio_echo

# --- server lifecycle ----------------------------------------------------------

SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }

# start_server PORT WORKERS LOG BINARY ARGS...: pinned to CPU 0 at 1 worker.
start_server() {
    local port=$1 workers=$2 logfile=$3
    shift 3
    if listening "$port"; then
        log "port $port is already in use"
        exit 1
    fi
    if [ "$workers" -eq 1 ]; then
        taskset -c 0 "$@" >"$logfile" 2>&1 &
    else
        "$@" >"$logfile" 2>&1 &
    fi
    SERVER_PID=$!
    local tries=0
    until listening "$port"; do
        tries=$((tries + 1))
        if [ "$tries" -gt 100 ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "server did not start: $*"
            cat "$logfile" >&2
            exit 1
        fi
        sleep 0.1
    done
}

stop_server() {
    local port=$1
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    local tries=0
    while listening "$port"; do
        tries=$((tries + 1))
        if [ "$tries" -gt 100 ]; then
            log "port $port did not free"
            exit 1
        fi
        sleep 0.1
    done
}

# client PREFIX...: the load client's command prefix (pinned to CPU 1 at 1 worker).
pin_client() { if [ "$1" -eq 1 ]; then echo "taskset -c 1"; fi; }

# to_ms VALUE: wrk's `1.23ms`/`812.00us`/`1.01s` or Rust's Debug
# `1.234567ms`/`812.3µs`/`1.2s`/`950ns` in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (match(v, /^[0-9.]+/) == 0) { print "?"; exit }
        n = substr(v, 1, RLENGTH); u = substr(v, RLENGTH + 1)
        if (u == "ns") n /= 1e6
        else if (u == "us" || u == "µs") n /= 1e3
        else if (u == "ms") n = n
        else if (u == "s") n *= 1e3
        else if (u == "m") n *= 60e3
        else { print "?"; exit }
        printf "%.3f", n
    }'
}

# --- HTTP --------------------------------------------------------------------

run_http() {
    local name=$1 binary=$2 workers=$3 round=$4
    local base=$OUT/http-$name-$workers-$round
    log "HTTP round $round/$ROUNDS: $name, $workers worker(s), $CONNECTIONS connections, ${DURATION}s"
    start_server "$HTTP_PORT" "$workers" "$base.server.log" \
        "$BIN/$binary" --addr "$HOST:$HTTP_PORT" --workers "$workers"
    local body
    body=$(curl -s --max-time 5 "http://$HOST:$HTTP_PORT/")
    if [ "$body" != "Hello, World!" ]; then
        log "$name answered '$body'"
        exit 1
    fi
    local pin
    pin=$(pin_client "$workers")
    local -a wrk=($pin wrk "-t$workers" "-c$CONNECTIONS" --latency "http://$HOST:$HTTP_PORT/")
    if [ "$WARMUP" != 0 ]; then
        timeout $((WARMUP + 30)) "${wrk[@]}" "-d${WARMUP}s" >/dev/null
    fi
    timeout $((DURATION + 30)) "${wrk[@]}" "-d${DURATION}s" >"$base.wrk.txt"
    stop_server "$HTTP_PORT"
    local rps p99 errors
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$base.wrk.txt")
    p99=$(awk '$1 == "99%" { print $2; exit }' "$base.wrk.txt")
    errors=$(awk '/Socket errors|Non-2xx/ { sub(/^ +/, ""); printf "%s; ", $0 }' "$base.wrk.txt")
    log "  $rps req/s, p99 $p99 ${errors:+($errors)}"
    echo "$name|$workers|${rps:-0}|$(to_ms "$p99")|${errors%; }" >>"$HTTP_ROWS"
}

for round in $(seq "$ROUNDS"); do
    for workers in $WORKER_COUNTS; do
        run_http fibrio http_server "$workers" "$round"
        run_http may_minihttp may_http "$workers" "$round"
        run_http tokio+hyper hyper_http "$workers" "$round"
    done
done

# --- echo --------------------------------------------------------------------

run_echo() {
    local name=$1 binary=$2 workers=$3 round=$4
    local base=$OUT/echo-$name-$workers-$round
    log "echo round $round/$ROUNDS: $name, $workers worker(s), $ECHO_CONNECTIONS connections x $ECHO_MESSAGES messages of $ECHO_SIZE bytes"
    start_server "$ECHO_PORT" "$workers" "$base.server.log" \
        "$BIN/$binary" --addr "$HOST:$ECHO_PORT" --workers "$workers"
    local pin
    pin=$(pin_client "$workers")
    # shellcheck disable=SC2086 # $pin is empty or `taskset -c 1`.
    timeout "$ECHO_TIMEOUT" $pin "$BIN/echo_client" --addr "$HOST:$ECHO_PORT" \
        --connections "$ECHO_CONNECTIONS" --size "$ECHO_SIZE" \
        --messages "$ECHO_MESSAGES" >"$base.client.txt"
    stop_server "$ECHO_PORT"
    local line rate p99
    line=$(grep 'messages/s' "$base.client.txt")
    rate=$(sed -E 's/.*: ([0-9]+) messages\/s.*/\1/' <<<"$line")
    p99=$(sed -E 's/.*p99 ([^,]+),.*/\1/' <<<"$line")
    log "  $line"
    echo "$name|$workers|${rate:-0}|$(to_ms "$p99")|" >>"$ECHO_ROWS"
}

for round in $(seq "$ROUNDS"); do
    for workers in $WORKER_COUNTS; do
        run_echo fibrio echo_server "$workers" "$round"
        run_echo may may_echo "$workers" "$round"
        run_echo tokio tokio_echo "$workers" "$round"
    done
done

# --- tables ------------------------------------------------------------------

# table TITLE UNIT ROWS_FILE: each row `server|workers|rate|p99 ms|notes`, one
# per run. A line per server and worker count (workers first, in run order):
# the median rate and p99 over the rounds, the range of the rates, and the
# ratios of the medians to fibrio's at the same worker count.
table() {
    local title=$1 unit=$2 rows=$3
    printf '\n### %s\n\n' "$title"
    printf '| server | workers | %s (median) | range | p99 ms (median) | %s vs fibrio | p99 vs fibrio | notes |\n' "$unit" "$unit"
    printf '|---|---|---|---|---|---|---|---|\n'
    awk -F'|' '
        function median(list,    v, n, i, j, t) {
            n = split(list, v, " ")
            for (i = 2; i <= n; i++)
                for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
            return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        function range(list,    v, n, i, lo, hi) {
            n = split(list, v, " "); lo = hi = v[1]
            for (i = 2; i <= n; i++) { if (v[i] + 0 < lo + 0) lo = v[i]; if (v[i] + 0 > hi + 0) hi = v[i] }
            return sprintf("%.0f-%.0f", lo, hi)
        }
        function ratio(a, b) { return (b + 0 > 0) ? sprintf("%.2f", a / b) : "?" }
        {
            key = $2 SUBSEP $1
            if (!(key in rates)) { order[++count] = key; server[key] = $1; workers[key] = $2 }
            rates[key] = rates[key] " " $3
            if ($4 != "?") p99s[key] = p99s[key] " " $4
            if ($5 != "") notes[key] = notes[key] $5 "; "
        }
        END {
            # workers in the order they ran, then servers in run order
            for (i = 1; i <= count; i++) {
                k = order[i]; w = workers[k]
                if (!(w in seen)) { seen[w] = 1; worder[++nw] = w }
                mrate[k] = median(rates[k]); mp99[k] = (k in p99s) ? median(p99s[k]) : "?"
                if (server[k] == "fibrio") { frate[w] = mrate[k]; fp99[w] = mp99[k] }
            }
            for (j = 1; j <= nw; j++)
                for (i = 1; i <= count; i++) {
                    k = order[i]
                    if (workers[k] != worder[j]) continue
                    note = notes[k]; sub(/; $/, "", note)
                    printf "| %s | %s | %.0f | %s | %s | %s | %s | %s |\n", server[k], workers[k], mrate[k],
                        range(rates[k]), mp99[k] == "?" ? "?" : sprintf("%.2f", mp99[k]),
                        ratio(mrate[k], frate[workers[k]]),
                        mp99[k] == "?" ? "?" : ratio(mp99[k], fp99[workers[k]]), note
                }
        }' "$rows"
}

printf '\n## bench-http results (logs in %s)\n' "$OUT"
printf '\n%s; median of %s rounds. HTTP: %s connections, wrk %ss per run. 1 worker: server on CPU 0, load client on CPU 1 (wrk -t1); 2 workers: unpinned, wrk -t2.\n' \
    "$(date -u +%Y-%m-%d)" "$ROUNDS" "$CONNECTIONS" "$DURATION"
table "HTTP: GET / -> Hello, World!" "req/s" "$HTTP_ROWS"
printf '\nEcho: echo_client, %s connections, %s-byte messages, %s per connection, one at a time.\n' \
    "$ECHO_CONNECTIONS" "$ECHO_SIZE" "$ECHO_MESSAGES"
table "Echo" "messages/s" "$ECHO_ROWS"
