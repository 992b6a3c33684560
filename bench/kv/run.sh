#!/usr/bin/env bash
# The kv benchmark: examples/kv against redis-server under the same load,
# redis-benchmark's (Debian's redis-tools), with kv's ratio to Redis:
#
#   For each test in KV_TESTS (set get ping_inline ping_mbulk) and each
#   pipeline depth in KV_PIPELINES ("1 16": redis-benchmark -P), a run of
#   `redis-benchmark -q -n N -c 50 -P DEPTH -t TEST` against each server,
#   KV_ROUNDS (3) times, the servers taking turns (and turns going first).
#   Figures: requests per second (the median round's) and the server's CPU
#   time per request (utime + stime from /proc/PID/stat before and after,
#   over every round).
#   N is KV_REQUESTS (100,000) without pipelining, 5x that with it (so the
#   CPU clock's 10 ms ticks stay small against a run).
#
#   bench/kv/run.sh BUILD_DIR
#
# BUILD_DIR is a configured and built CMake tree (make builds
# build/release) with BUILD_DIR/examples/kv. Both servers run on one CPU and
# redis-benchmark on another (taskset); redis-server without persistence
# (--save '' --appendonly no), in a scratch directory. Before each round
# the script waits (up to KV_QUIET_WAIT, 20 s) until the CPUs are idle. A
# missing tool or a failed run shows as n/a and never stops the others;
# the script kills only the processes it started, also when interrupted.
# RESULT lines are appended to BUILD_DIR/bench-kv-results.txt.
#
# KV_LOOPS=N adds a third server, kv --loops N (impl kv_loopsN: loop 0
# runs every command, the other loops their connections' I/O), on the
# CPUs KV_LOOPS_CPUS (a taskset list; default: unpinned, since N loops
# want N CPUs besides redis-benchmark's).
set -u

BUILD=$(cd "${1:-build/release}" 2>/dev/null && pwd) || {
    echo "usage: $0 BUILD_DIR   (build the tree first: make)" >&2
    exit 2
}
SRC=$(cd "$(dirname "$0")" && pwd)
OUT=$BUILD/bench-kv-results.txt
N=${KV_REQUESTS:-100000}
CLIENTS=${KV_CLIENTS:-50}
ROUNDS=${KV_ROUNDS:-3}
TESTS=${KV_TESTS:-set get ping_inline ping_mbulk}
PIPELINES=${KV_PIPELINES:-1 16}
QUIET_WAIT=${KV_QUIET_WAIT:-20}
QUIET_PCT=10
BENCH_NAME=kv BENCH_TITLE=kv
. "$SRC/../lib.sh"

HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
# proc_cpu_s PID: the process's CPU seconds (utime + stime).
proc_cpu_s() {
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk -v hz="$HZ" '{ print ($12 + $13) / hz }'
}
PIN_SRV=() PIN_GEN=()
if command -v taskset >/dev/null 2>&1; then
    PIN_SRV=(taskset -c "$SERVER_CPU") PIN_GEN=(taskset -c "$CLIENT_CPU")
fi

# ------------------------------------------------------------ servers --
declare -A PORT PID
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ready() { timeout 5 redis-cli -p "$1" ping 2>/dev/null | grep -q PONG; }

start_kv() { # [IMPL PIN... -- FLAGS...]: kv pinned as the servers, or so
    [ -x "$BUILD/examples/kv" ] || return 1
    local impl=${1:-kv} port="" i pin=("${PIN_SRV[@]}")
    if [ $# -gt 0 ]; then
        shift
        pin=()
        while [ "$1" != -- ]; do pin+=("$1"); shift; done
        shift
    fi
    "${pin[@]}" "$BUILD/examples/kv" "$@" 0 >"$TMP/$impl.out" 2>&1 &
    PID[$impl]=$!
    PIDS="$PIDS ${PID[$impl]}"
    for ((i = 0; i < 100; i++)); do
        [ -n "$port" ] && break
        sleep 0.1
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$TMP/$impl.out")
    done
    PORT[$impl]=$port
    [ -n "$port" ] && ready "$port"
}

start_redis() {
    command -v redis-server >/dev/null || return 1
    local i
    PORT[redis]=$(free_port)
    mkdir -p "$TMP/redis"
    "${PIN_SRV[@]}" redis-server --bind 127.0.0.1 --port "${PORT[redis]}" --save '' \
        --appendonly no --dir "$TMP/redis" --daemonize no >"$TMP/redis/log" 2>&1 &
    PID[redis]=$!
    PIDS="$PIDS ${PID[redis]}"
    for ((i = 0; i < 100; i++)); do
        ready "${PORT[redis]}" && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- runs --
# one_run IMPL TEST DEPTH REQUESTS: prints "RPS CPU_SECONDS", or nothing.
one_run() {
    local impl=$1 test=$2 depth=$3 n=$4 c0 c1 rps
    c0=$(proc_cpu_s "${PID[$impl]}")
    rps=$(timeout 300 "${PIN_GEN[@]}" redis-benchmark -p "${PORT[$impl]}" -q -n "$n" \
        -c "$CLIENTS" -P "$depth" -t "$test" 2>>"$TMP/err" | tr '\r' '\n' |
        sed -n 's/^[A-Z_]*: \([0-9.]*\) requests per second.*/\1/p' | tail -n 1)
    c1=$(proc_cpu_s "${PID[$impl]}")
    [ -n "$rps" ] && [ -n "$c1" ] && echo "$rps $(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')"
}

if ! command -v redis-benchmark >/dev/null 2>&1; then
    echo "bench/kv: redis-benchmark is missing (Debian: redis-tools)" >&2
    exit 1
fi
IMPLS=""
start_kv && IMPLS="$IMPLS kv" || echo "bench/kv: examples/kv did not start (not built?)" >&2
start_redis && IMPLS="$IMPLS redis" || echo "bench/kv: no redis-server (Debian: redis-server)" >&2
LOOPS_IMPL=
if [ -n "${KV_LOOPS:-}" ]; then
    LOOPS_IMPL=kv_loops$KV_LOOPS
    pin=()
    [ -n "${KV_LOOPS_CPUS:-}" ] && command -v taskset >/dev/null && pin=(taskset -c "$KV_LOOPS_CPUS")
    start_kv "$LOOPS_IMPL" "${pin[@]}" -- --loops "$KV_LOOPS" && IMPLS="$IMPLS $LOOPS_IMPL" ||
        echo "bench/kv: kv --loops $KV_LOOPS did not start" >&2
fi

for depth in $PIPELINES; do
    n=$N
    [ "$depth" -gt 1 ] && n=$((N * 5))
    for test in $TESTS; do
        name=kv_${test}_P$depth
        echo "running $test, pipeline $depth, $n requests x $ROUNDS rounds ..." >&2
        : >"$TMP/$name.runs"
        for ((round = 0; round < ROUNDS; round++)); do
            wait_quiet
            order=$IMPLS # the servers take turns going first
            ((round % 2)) && order=$(echo $IMPLS | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')
            for impl in $order; do
                r=$(one_run "$impl" "$test" "$depth" "$n")
                [ -n "$r" ] && echo "$impl $r" >>"$TMP/$name.runs"
            done
        done
        for impl in kv redis $LOOPS_IMPL; do
            line=$(awk -v impl="$impl" -v n="$n" -v name="$name" -v depth="$depth" -v c="$CLIENTS" '
                $1 == impl { rps[++k] = $2; cpu += $3 }
                END {
                    if (!k) exit
                    # the median of k rates (sorted by insertion)
                    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (rps[j] < rps[i]) { t = rps[i]; rps[i] = rps[j]; rps[j] = t }
                    printf "RESULT name=%s impl=%s depth=%s clients=%s requests=%d rounds=%d rps=%.0f us_per_req=%.3f\n",
                        name, impl, depth, c, n, k, rps[int((k + 1) / 2)], cpu * 1e6 / (n * k)
                }' "$TMP/$name.runs")
            [ -n "$line" ] || line="NA name=$name impl=$impl reason=not_run"
            case $line in RESULT*) echo "$line" >>"$OUT" ;; esac
            echo "$line" >>"$TMP/$name"
            printf '  %s\n' "$line" >&2
        done
    done
done

for depth in $PIPELINES; do
    for test in $TESTS; do
        table "kv_${test}_P$depth" "redis-benchmark -t $test -c $CLIENTS -P $depth (server CPU $SERVER_CPU, redis-benchmark CPU $CLIENT_CPU)" kv \
            "rps:req/s:1:0,us_per_req:srv CPU us/req:1:2" \
            "rps:rate:kv vs it,us_per_req:cost:kv's CPU"
    done
done
echo
echo "raw results: $OUT"
