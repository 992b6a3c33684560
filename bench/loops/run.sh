#!/usr/bin/env bash
# Loop-per-core benchmarks: a server on 1 and 2 loops (aioc_run_opts.loops,
# every loop on the same port with SO_REUSEPORT) against nginx with 1 and
# 2 workers and Go with GOMAXPROCS 1 and 2:
#
#   echo   64-byte request/response ping-pong over LOOPS_CONNS (100)
#          connections, driven by bench/net's loadgen (one thread): aioc
#          and Go (nginx has no echo server)
#   http   HTTP/1.1 hello-world, keep-alive, wrk -t1 -c LOOPS_CONNS:
#          aioc_http, nginx, Go's net/http
#
# Each run: LOOPS_WARMUP (1) s, then LOOPS_MEASURE (4) s measured, once
# (LOOPS_RUNS=2: twice, the better kept). Printed: requests/s and the
# server's CPU time per request (utime + stime from /proc/PID/stat, every
# thread, and every worker process of nginx), then the ratios: 2 loops
# (workers, GOMAXPROCS) against 1, and aioc against the others.
#
# Nothing is pinned: on a 2-CPU machine the load generator shares the CPUs
# with a 2-loop server, so requests/s measure the machine more than the
# server; CPU per request is the figure that compares servers.
#
#   bench/loops/run.sh BUILD_DIR
#
# BUILD_DIR is a built release tree (serve_loops in BUILD_DIR/bench/loops,
# loadgen in BUILD_DIR/bench/net); the Go servers are built into
# BUILD_DIR/bench/loops/go. RESULT lines are appended to
# BUILD_DIR/bench-loops-results.txt. Every command runs under timeout; the
# script kills only the processes it started.
set -u

BUILD=$(cd "${1:-build/release}" 2>/dev/null && pwd) || {
    echo "usage: $0 BUILD_DIR   (build the tree first: make)" >&2
    exit 2
}
SRC=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/bench/loops
NET=$BUILD/bench/net
OUT=$BUILD/bench-loops-results.txt
CONNS=${LOOPS_CONNS:-100}
WARMUP=${LOOPS_WARMUP:-1}
MEASURE=${LOOPS_MEASURE:-4}
RUNS=${LOOPS_RUNS:-1}
QUIET_WAIT=${LOOPS_QUIET_WAIT:-5}
QUIET_PCT=10
NGINX=/usr/sbin/nginx
HELLO='Hello, World!'
BENCH_NAME=loops BENCH_TITLE=loop-per-core
. "$SRC/../lib.sh"
. "$SRC/../nginx.sh"

HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
now_s() { date +%s.%N; }
# tree_cpu_s PID: CPU seconds of the process (all threads) and its children.
tree_cpu_s() {
    local p total=0
    for p in "$1" $(pgrep -P "$1"); do
        total=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null |
            awk -v hz="$HZ" -v t="$total" '{ print t + ($12 + $13) / hz }')
    done
    echo "$total"
}
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

# start PORT CMD...: starts a server listening on PORT; sets SRV_PID once
# the port accepts connections (and, for Go's and aioc's, once the READY
# line is out: every loop listens). Returns 1 if it never got ready.
SRV_PID=""
start() {
    local port=$1 i
    shift
    "$@" >"$TMP/srv.out" 2>"$TMP/srv.err" &
    SRV_PID=$!
    PIDS="$PIDS $SRV_PID"
    for ((i = 0; i < 100; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            case $1 in
            "$NGINX") sleep 0.3; return 0 ;; # its workers start
            *) grep -q '^READY ' "$TMP/srv.out" && return 0 ;;
            esac
        fi
        kill -0 "$SRV_PID" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 3 "$TMP/srv.err" | sed 's/^/    /' >&2
    stop
    return 1
}
stop() {
    kill -TERM "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
    forget "$SRV_PID"
    SRV_PID=""
}

record() {
    echo "$1" >>"$OUT"
    echo "$1" >>"$TMP/results"
    printf '  %s\n' "$1" >&2
}

# run KIND IMPL N PORT CMD...: LOOPS_RUNS runs, the best requests/s kept.
run() {
    local kind=$1 impl=$2 n=$3 port best="" i rps best_rps=0
    shift 3
    for ((i = 0; i < RUNS; i++)); do
        wait_quiet
        port=$(free_port)
        measure "$kind" "$impl" "$n" "$port" "${@//PORT/$port}"
        [ -z "$LINE" ] && continue
        rps=$(field "$LINE" req_per_s)
        if awk -v a="$rps" -v b="$best_rps" 'BEGIN { exit !(a + 0 > b + 0) }'; then
            best=$LINE best_rps=$rps
        fi
    done
    [ -n "$best" ] || best="NA kind=$kind impl=$impl n=$n"
    record "$best"
}

# measure KIND IMPL N PORT CMD...: starts the server, loads it, sets LINE:
# RESULT kind=... impl=... n=... req_per_s=... server_ns_per_req=...
measure() {
    local kind=$1 impl=$2 n=$3 port=$4 c0 c1 t0 t1 reqs rps
    shift 4
    LINE=""
    # nginx with N workers (and their master), each listening (reuseport)
    [ "$1" = NGINX ] && set -- "$NGINX" -p "$TMP" \
        -c "$(nginx_hello_conf "$TMP/nginx-$n" "$port" "$n" on reuseport)/nginx.conf" \
        -e "$TMP/nginx-$n/error.log"
    start "$port" "$@" || return
    if [ "$kind" = echo ]; then
        timeout $((WARMUP + MEASURE + 30)) "$NET/loadgen" echo "$port" "$CONNS" "$WARMUP" \
            "$MEASURE" 0 "$impl" >"$TMP/load.out" 2>>"$TMP/err" &
    else
        timeout $((WARMUP + MEASURE + 30)) wrk -t1 -c"$CONNS" -d"$((WARMUP + MEASURE))s" \
            "http://127.0.0.1:$port/" >"$TMP/load.out" 2>>"$TMP/err" &
    fi
    local load=$!
    PIDS="$PIDS $load"
    sleep "$WARMUP"
    c0=$(tree_cpu_s "$SRV_PID") t0=$(now_s)
    sleep "$MEASURE"
    c1=$(tree_cpu_s "$SRV_PID") t1=$(now_s)
    wait "$load"
    forget "$load"
    stop
    if [ "$kind" = echo ]; then
        rps=$(field "$(grep -m1 '^RESULT ' "$TMP/load.out")" req_per_s)
    else # wrk's average over warm-up and measure: close enough to the window's
        rps=$(awk '/^Requests\/sec:/ { print $2 }' "$TMP/load.out")
    fi
    if [ -z "$rps" ]; then
        tail -n 3 "$TMP/err" | sed 's/^/    /' >&2
        return
    fi
    LINE=$(awk -v k="$kind" -v i="$impl" -v n="$n" -v rps="$rps" -v c0="$c0" -v c1="$c1" \
        -v t0="$t0" -v t1="$t1" 'BEGIN {
        reqs = rps * (t1 - t0)
        printf "RESULT kind=%s impl=%s n=%s req_per_s=%.0f server_ns_per_req=%.0f server_cpu_pct=%.0f\n",
            k, i, n, rps, (c1 - c0) * 1e9 / reqs, 100 * (c1 - c0) / (t1 - t0) }')
}

GO_OK=0
if command -v go >/dev/null 2>&1; then
    mkdir -p "$BIN/go"
    export GOCACHE="$BUILD/go-cache" GOPATH="$BUILD/go-path" GOFLAGS=
    (cd "$SRC/../net" && go build -o "$BIN/go/echo_go" echo.go) &&
        (cd "$SRC/../http" && go build -o "$BIN/go/hello_go" hello.go) && GO_OK=1 ||
        echo "bench/loops: go build failed" >&2
fi
[ -x "$BIN/serve_loops" ] && [ -x "$NET/loadgen" ] || {
    echo "bench/loops: build $BIN/serve_loops and $NET/loadgen first" >&2
    exit 1
}
echo "# $CONNS connections, ${MEASURE} s measured after ${WARMUP} s, nothing pinned" >>"$OUT"

for n in 1 2; do
    run echo aioc "$n" "$BIN/serve_loops" echo "$n" PORT
    [ $GO_OK = 1 ] && run echo go "$n" env GOMAXPROCS="$n" "$BIN/go/echo_go" PORT
done
for n in 1 2; do
    run http aioc "$n" "$BIN/serve_loops" http "$n" PORT
    [ -x "$NGINX" ] && command -v wrk >/dev/null && run http nginx "$n" NGINX
    [ $GO_OK = 1 ] && run http go "$n" env GOMAXPROCS="$n" "$BIN/go/hello_go" PORT
done

# The table: each row with its ratio to its own 1-loop row, and aioc's CPU
# per request against each other server with as many workers.
echo
awk '
function f(line, key,   i, kv) {
    n_ = split(line, kv, " ")
    for (i = 1; i <= n_; i++) if (index(kv[i], key "=") == 1) return substr(kv[i], length(key) + 2)
    return ""
}
/^RESULT/ {
    k = f($0, "kind"); i = f($0, "impl"); n = f($0, "n")
    rps[k, i, n] = f($0, "req_per_s"); ns[k, i, n] = f($0, "server_ns_per_req")
    rows[++nr] = k SUBSEP i SUBSEP n
}
END {
    printf "%-5s %-6s %2s %10s %10s %26s %20s\n", "kind", "server", "n", "req/s", "ns/req", "n=2 vs n=1", "aioc ns/req vs this"
    for (r = 1; r <= nr; r++) {
        split(rows[r], x, SUBSEP); k = x[1]; i = x[2]; n = x[3]
        scale = ""
        if (n == 2 && rps[k, i, 1] > 0)
            scale = sprintf("%.2fx req/s, %.2fx ns", rps[k, i, 2] / rps[k, i, 1], ns[k, i, 2] / ns[k, i, 1])
        vs = ""
        if (i != "aioc" && ns[k, "aioc", n] > 0 && ns[k, i, n] > 0)
            vs = sprintf("%.2fx", ns[k, "aioc", n] / ns[k, i, n])
        printf "%-5s %-6s %2s %10s %10s %26s %20s\n", k, i, n, rps[k, i, n], ns[k, i, n], scale, vs
    }
}' "$TMP/results"
