#!/usr/bin/env bash
# The Redis client benchmark, every client in one run against one
# redis-server (Debian's; no persistence), with aioc's ratio to each:
#
#   GET of one 3-byte key, REDIS_TASKS (50) at once:
#     aioc                  get_aioc: 50 tasks sharing ONE aioc_redis
#                           connection (it pipelines what they have out)
#     redis-benchmark       -c 50 (50 connections, one GET each in flight)
#     redis-benchmark-P16   -c 50 -P 16 (16 GETs per connection in flight)
#   and, at equal depth (the same number of GETs in flight):
#     aioc-800              get_aioc with 800 tasks: -P 16's 800 in flight
#     redis-benchmark-c1-P50  -c 1 -P 50: aioc's 50 in flight on one
#                           connection
#     redis.asyncio         redis-py's asyncio client (Debian python3-redis),
#                           50 asyncio tasks on one Redis() client (its
#                           pool: a connection per task); and on uvloop
#   requests/s and the client's CPU time per request (user + system of
#   the client process: getrusage, or bash's `time` for redis-benchmark).
#   The server runs on one CPU, the client on another. Each client runs
#   REDIS_RUNS (3) times, the runs going round the clients; the median by
#   requests/s is kept.
#
#   bench/redis/run.sh BUILD_DIR
#
# Requests per run: REDIS_REQUESTS (1000000) for aioc and -P 16,
# REDIS_PLAIN_REQUESTS (200000) for unpipelined redis-benchmark,
# REDIS_PY_REQUESTS (50000) for redis.asyncio. Before each run the script
# waits (up to REDIS_QUIET_WAIT, 20 s) for the CPUs to be idle. A missing
# program or a failed run shows as n/a; the script kills only what it
# started (by pid), also when interrupted. RESULT lines are appended to
# BUILD_DIR/bench-redis-results.txt.
set -u

BUILD=$(cd "${1:-build/release}" 2>/dev/null && pwd) || {
    echo "usage: $0 BUILD_DIR   (build the tree first: make)" >&2
    exit 2
}
SRC=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/bench/redis
OUT=$BUILD/bench-redis-results.txt
PY=/usr/bin/python3 # Debian's, which has redis (python3-redis) and uvloop
TASKS=${REDIS_TASKS:-50}
REQS=${REDIS_REQUESTS:-1000000}
PLAIN_REQS=${REDIS_PLAIN_REQUESTS:-200000}
PY_REQS=${REDIS_PY_REQUESTS:-50000}
RUNS=${REDIS_RUNS:-3}
QUIET_WAIT=${REDIS_QUIET_WAIT:-20}
QUIET_PCT=10
BENCH_NAME=redis BENCH_TITLE=Redis
. "$SRC/../lib.sh"

echo "== redis: GET, $TASKS at once (server CPU $SERVER_CPU, client CPU $CLIENT_CPU) =="
if ! command -v redis-server >/dev/null; then
    echo "redis-server not found (Debian: redis-server; make bench installs it)" >&2
    exit 0
fi
PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout -k 2 3600 taskset -c "$SERVER_CPU" redis-server --port "$PORT" --bind 127.0.0.1 \
    --save '' --appendonly no --dir "$TMP" --logfile "$TMP/redis.log" --daemonize no &
SRV=$!
PIDS="$PIDS $SRV"
for ((i = 0; i < 100; i++)); do
    redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
done

# record LINE: keeps a RESULT (or NA) line for the table and the results.
record() {
    case $1 in
    RESULT*) echo "$1" >>"$OUT" ;;
    *) echo "# n/a ${1#NA }" >>"$OUT" ;;
    esac
    echo "$1" >>"$TMP/get"
    printf '  %s\n' "$1" >&2
}

# once IMPL N CMD...: one run of a client; sets LINE.
once() {
    local impl=$1 n=$2 out cpu rps TIMEFORMAT='%U %S'
    shift 2
    wait_quiet
    case $impl in
    redis-benchmark*)
        { time timeout 300 taskset -c "$CLIENT_CPU" "$@" >"$TMP/out" 2>"$TMP/err"; } 2>"$TMP/time"
        rps=$(tr '\r' '\n' <"$TMP/out" | sed -n 's/^GET: \([0-9.]*\) requests per second.*/\1/p' | tail -n 1)
        cpu=$(tail -n 1 "$TMP/time" | awk '{ print $1 + $2 }')
        if [ -z "$rps" ]; then
            LINE="NA impl=$impl reason=run_failed"
            return
        fi
        LINE=$(awk -v i="$impl" -v r="$rps" -v c="$cpu" -v n="$n" 'BEGIN {
            printf "RESULT impl=%s requests=%d rps=%.0f cpu_us_per_req=%.3f", i, n, r, c * 1e6 / n }') ;;
    *)
        out=$(timeout 300 taskset -c "$CLIENT_CPU" "$@" 2>"$TMP/err" | grep -m1 '^RESULT ')
        if [ -z "$out" ]; then
            tail -n 2 "$TMP/err" | sed 's/^/    /' >&2
            LINE="NA impl=$impl reason=run_failed"
            return
        fi
        LINE="${out/impl=* requests=/impl=$impl requests=}" ;;
    esac
}

# run IMPL: one run of IMPL (sets LINE; NA if it cannot run here).
run() {
    case $1 in
    aioc)
        [ -x "$BIN/get_aioc" ] || { LINE="NA impl=aioc reason=not_built_(libhiredis-dev)"; return; }
        once aioc "$REQS" "$BIN/get_aioc" "127.0.0.1:$PORT" "$TASKS" "$REQS" ;;
    redis-benchmark)
        once "$1" "$PLAIN_REQS" redis-benchmark -p "$PORT" -t get -c "$TASKS" -n "$PLAIN_REQS" -q ;;
    aioc-800)
        [ -x "$BIN/get_aioc" ] || { LINE="NA impl=$1 reason=not_built_(libhiredis-dev)"; return; }
        once "$1" "$REQS" "$BIN/get_aioc" "127.0.0.1:$PORT" $((TASKS * 16)) "$REQS" ;;
    redis-benchmark-P16)
        once "$1" "$REQS" redis-benchmark -p "$PORT" -t get -c "$TASKS" -n "$REQS" -P 16 -q ;;
    redis-benchmark-c1-P50)
        once "$1" "$REQS" redis-benchmark -p "$PORT" -t get -c 1 -n "$REQS" -P "$TASKS" -q ;;
    redis.asyncio)
        once "$1" "$PY_REQS" $PY "$SRC/get_asyncio.py" 127.0.0.1 "$PORT" "$TASKS" "$PY_REQS" ;;
    redis.asyncio+uvloop)
        once "$1" "$PY_REQS" $PY "$SRC/get_asyncio.py" 127.0.0.1 "$PORT" "$TASKS" "$PY_REQS" uvloop ;;
    esac
}

IMPLS="aioc aioc-800"
command -v redis-benchmark >/dev/null &&
    IMPLS="$IMPLS redis-benchmark redis-benchmark-P16 redis-benchmark-c1-P50"
if $PY -c 'import redis.asyncio' 2>/dev/null; then
    IMPLS="$IMPLS redis.asyncio"
    $PY -c 'import uvloop' 2>/dev/null && IMPLS="$IMPLS redis.asyncio+uvloop"
else
    record "NA impl=redis.asyncio reason=python3-redis_missing"
fi
# The runs go round the clients (aioc, then each other, then aioc again...)
# so that a busy spell of the machine falls on all of them alike; each
# client's median run by requests/s is kept.
: >"$TMP/runs"
for ((r = 0; r < RUNS; r++)); do
    for impl in $IMPLS; do
        run "$impl"
        echo "$LINE" >>"$TMP/runs"
        printf '    run %d: %s\n' $((r + 1)) "$LINE" >&2
    done
done
for impl in $IMPLS; do
    if grep -q "^NA impl=$impl " "$TMP/runs"; then
        record "$(grep -m1 "^NA impl=$impl " "$TMP/runs")"
        continue
    fi
    record "$(grep "^RESULT impl=$impl " "$TMP/runs" |
        awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^rps=/) print substr($i, 5), $0 }' | sort -n |
        awk -v m=$(((RUNS + 1) / 2)) 'NR == m { $1 = ""; sub(/^ /, ""); print }') runs=$RUNS"
done

table get "GET, $TASKS at once; aioc on one connection (median of $RUNS)" aioc \
    "rps:req/s:1:0,cpu_us_per_req:cli us/req:1:3" "rps:rate:aioc is,cpu_us_per_req:cost:aioc uses"
# the targets: >= 0.8x redis-benchmark -P 16, >= 5x redis.asyncio
awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } r[v["impl"]] = v["rps"] }
END {
    if (r["aioc"] > 0 && r["redis-benchmark-P16"] > 0)
        printf "target: aioc / redis-benchmark -P 16 = %.2f (>= 0.8: %s)\n", r["aioc"] / r["redis-benchmark-P16"], (r["aioc"] >= 0.8 * r["redis-benchmark-P16"] ? "met" : "NOT met")
    if (r["aioc"] > 0 && r["redis-benchmark-c1-P50"] > 0)
        printf "same depth: aioc / redis-benchmark -c 1 -P 50 = %.2f\n", r["aioc"] / r["redis-benchmark-c1-P50"]
    if (r["aioc-800"] > 0 && r["redis-benchmark-P16"] > 0)
        printf "same depth: aioc-800 / redis-benchmark -P 16 = %.2f\n", r["aioc-800"] / r["redis-benchmark-P16"]
    if (r["aioc"] > 0 && r["redis.asyncio"] > 0)
        printf "target: aioc / redis.asyncio = %.1f (>= 5: %s)\n", r["aioc"] / r["redis.asyncio"], (r["aioc"] >= 5 * r["redis.asyncio"] ? "met" : "NOT met")
}' "$TMP/get"
echo
echo "raw results: $OUT"
