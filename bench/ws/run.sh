#!/usr/bin/env bash
# The WebSocket benchmark: aioc_ws_server.c (aioc_http + aioc_ws) against
# the same server written with Python's aiohttp and websockets (on asyncio
# and on uvloop), Node's ws and Go's gorilla/websocket, all under one load
# client, bench/ws/wsload.c (plain epoll, no aioc), with aioc's ratio to
# each (see bench/README.md, "WebSocket"):
#
#   echo_c100        100 connections to /echo, each with one 32-byte text
#                    message in flight (WS_WINDOW), every echo checked; 1 s
#                    warm-up, 5 s counted (WS_MEASURE). Figures: messages/s
#                    and the server's CPU time per echoed message.
#   broadcast_c1000  1,000 connections to /broadcast; 4 of them send 250
#                    messages each (WS_MSGS), each with its own in flight,
#                    and every connection must receive all 1,000 messages
#                    (1,000,000 deliveries, each checked). Figures:
#                    deliveries/s, the server's CPU per delivery, and the
#                    deliveries lost (any is a failure: shown, never hidden).
#   wss_echo_c100    echo_c100 over TLS (a certificate made here with
#                    openssl req): aioc and websockets only.
#
#   bench/ws/run.sh BUILD_DIR
#
# BUILD_DIR is a configured and built CMake tree (make builds build/release)
# with BUILD_DIR/bench/ws/aioc_ws_server and wsload. The Go server is built
# here (GOPATH=/usr/share/gocode, GO111MODULE=off, GOCACHE in the build
# tree), Node's ws is installed with npm into BUILD_DIR/bench/ws/node, the
# Python servers run on Debian's /usr/bin/python3. RESULT lines are
# appended to BUILD_DIR/bench-ws-results.txt.
#
# Each server runs on one CPU and wsload on the other (taskset), with the
# descriptor limit raised to the hard limit. Before each run the script
# waits (up to WS_QUIET_WAIT, 20 s) until the CPUs are idle. Every run is
# bounded by WS_TIMEOUT (120 s); a missing tool or a failed run shows as
# n/a and never stops the others; the script kills only the processes it
# started, also when interrupted. WS_ONLY="aioc go" runs a subset of the
# servers, WS_CASES="echo broadcast wss" a subset of the cases.
set -u

BUILD=$(cd "${1:-build/release}" 2>/dev/null && pwd) || {
    echo "usage: $0 BUILD_DIR   (build the tree first: make)" >&2
    exit 2
}
SRC=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/bench/ws
OUT=$BUILD/bench-ws-results.txt
PY=/usr/bin/python3 # Debian's, with python3-aiohttp, -websockets, -uvloop
LIMIT=${WS_TIMEOUT:-120}
WINDOW=${WS_WINDOW:-1}
MEASURE=${WS_MEASURE:-5}
MSGS=${WS_MSGS:-250}
ONLY=${WS_ONLY:-aioc aiohttp aiohttp-uvloop websockets websockets-uvloop node-ws go-gorilla}
CASES=${WS_CASES:-echo broadcast wss}
QUIET_WAIT=${WS_QUIET_WAIT:-20}
QUIET_PCT=10 # the machine counts as idle below this % of all its CPUs
BENCH_NAME=ws BENCH_TITLE=WebSocket
if [ ! -x "$BIN/wsload" ] || [ ! -x "$BIN/aioc_ws_server" ]; then
    echo "bench/ws: skipped (no wsload or aioc_ws_server in $BIN: the WebSocket adapter is not built; scripts/deps.sh bench)"
    exit 0
fi
. "$SRC/../lib.sh"
echo "# load: $(uptime)" >>"$OUT"

PIN_SRV=() PIN_GEN=()
if command -v taskset >/dev/null 2>&1; then
    PIN_SRV=(taskset -c "$SERVER_CPU") PIN_GEN=(taskset -c "$CLIENT_CPU")
fi

# ------------------------------------------------------- the servers --
GO_OK=0 NODE_OK=0
if command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/github.com/gorilla/websocket ]; then
    mkdir -p "$BIN/go"
    (cd "$SRC" && GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$BUILD/go-cache" GOFLAGS= \
        go build -o "$BIN/go/ws_server_go" ws_server.go) && GO_OK=1 ||
        echo "bench/ws: go build ws_server.go failed" >&2
fi
if command -v node >/dev/null 2>&1; then
    if [ ! -d "$BIN/node/node_modules/ws" ] && command -v npm >/dev/null 2>&1; then
        timeout 120 npm install --prefix "$BIN/node" --no-audit --no-fund --silent ws@8 >&2 ||
            echo "bench/ws: npm install ws@8 failed" >&2
    fi
    [ -d "$BIN/node/node_modules/ws" ] && NODE_OK=1
fi
py_has() { [ -x "$PY" ] && "$PY" -c "import $1" 2>/dev/null; }

# server_cmd IMPL: the command line (CERT and KEY appended for wss).
server_cmd() {
    case $1 in
    aioc) echo "$BIN/aioc_ws_server" ;;
    aiohttp) echo "$PY -B $SRC/ws_server.py aiohttp" ;;
    aiohttp-uvloop) echo "$PY -B $SRC/ws_server.py aiohttp --uvloop" ;;
    websockets) echo "$PY -B $SRC/ws_server.py websockets" ;;
    websockets-uvloop) echo "$PY -B $SRC/ws_server.py websockets --uvloop" ;;
    node-ws) echo "env NODE_PATH=$BIN/node/node_modules node $SRC/ws_server.js" ;;
    go-gorilla) echo "$BIN/go/ws_server_go" ;;
    esac
}
# missing IMPL: why IMPL cannot run here, or nothing if it can.
missing() {
    case $1 in
    aiohttp*) py_has aiohttp || echo "python3-aiohttp not installed" ;;
    websockets*) py_has websockets || echo "python3-websockets not installed" ;;
    node-ws) [ $NODE_OK = 1 ] || echo "node or npm's ws missing" ;;
    go-gorilla) [ $GO_OK = 1 ] || echo "go or golang-github-gorilla-websocket-dev missing" ;;
    esac
    case $1 in *-uvloop) py_has uvloop || echo "python3-uvloop not installed" ;; esac
}

# start_server CMD...: runs CMD on the server CPU (port 0 appended by the
# caller) and waits for "READY port=P pid=N". Sets SRV_PORT, SRV_PID.
SRV_WRAP="" SRV_PID=""
start_server() {
    local i
    : >"$TMP/srv.out"
    (
        ulimit -Sn "$(ulimit -Hn)" 2>/dev/null
        exec timeout -k 2 "$((LIMIT + 30))" "${PIN_SRV[@]}" "$@"
    ) >"$TMP/srv.out" 2>"$TMP/srv.err" &
    SRV_WRAP=$!
    PIDS="$PIDS $SRV_WRAP"
    for ((i = 0; i < 100; i++)); do
        SRV_PORT=$(sed -n 's/^READY port=\([0-9]*\) .*/\1/p' "$TMP/srv.out")
        SRV_PID=$(sed -n 's/^READY .*pid=\([0-9]*\).*/\1/p' "$TMP/srv.out")
        if [ -n "$SRV_PORT" ] && [ -n "$SRV_PID" ]; then
            PIDS="$PIDS $SRV_PID"
            return 0
        fi
        kill -0 "$SRV_WRAP" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 3 "$TMP/srv.err" | sed 's/^/    /' >&2
    stop_server
    return 1
}
stop_server() {
    [ -n "$SRV_PID" ] && kill -TERM "$SRV_PID" 2>/dev/null
    kill -TERM "$SRV_WRAP" 2>/dev/null
    wait "$SRV_WRAP" 2>/dev/null
    forget "$SRV_WRAP"
    [ -n "$SRV_PID" ] && forget "$SRV_PID"
    SRV_WRAP="" SRV_PID=""
}

# record TABLE LINE: keeps a RESULT line (or an NA line) for a table.
record() {
    case $2 in
    RESULT*) echo "$2" >>"$OUT" ;;
    *) echo "# n/a ${2#NA }" >>"$OUT" ;;
    esac
    echo "$2" >>"$TMP/$1"
    printf '  %s\n' "$2" >&2
}

# run_case TABLE IMPL MODE [wsload options...] -- SERVER ARGS...
run_case() {
    local name=$1 impl=$2 mode=$3 gen=() line st
    shift 3
    while [ "$1" != -- ]; do gen+=("$1"); shift; done
    shift
    wait_quiet
    if ! start_server "$@"; then
        record "$name" "NA name=$name impl=$impl reason=server_did_not_start"
        return
    fi
    line=$(
        ulimit -Sn "$(ulimit -Hn)" 2>/dev/null
        timeout "$LIMIT" "${PIN_GEN[@]}" "$BIN/wsload" "$mode" "$SRV_PORT" "$impl" \
            --server "$SRV_PID" "${gen[@]}" 2>"$TMP/gen.err"
    )
    st=$?
    stop_server
    line=$(echo "$line" | grep '^RESULT' | sed "s/ name=[^ ]*/ name=$name/")
    if [ -z "$line" ]; then
        tail -n 3 "$TMP/gen.err" | sed 's/^/    /' >&2
        [ $st = 124 ] && line="NA name=$name impl=$impl reason=timed_out_after_${LIMIT}_s" ||
            line="NA name=$name impl=$impl reason=wsload_failed"
    elif [ $st != 0 ]; then
        tail -n 3 "$TMP/gen.err" | sed 's/^/    /' >&2
        line="$line FAILED=1"
    fi
    record "$name" "$line"
}

for_each() { # TABLE MODE IMPLS [wsload options...]: each server in turn
    local name=$1 mode=$2 impls=$3 impl why cmd
    shift 3
    for impl in $impls; do
        case " $ONLY " in *" $impl "*) ;; *) continue ;; esac
        why=$(missing "$impl")
        if [ -n "$why" ]; then
            record "$name" "NA name=$name impl=$impl reason=${why// /_}"
            continue
        fi
        read -r -a cmd <<<"$(server_cmd "$impl") 0 ${TLS_FILES:-}"
        run_case "$name" "$impl" "$mode" "$@" -- "${cmd[@]}"
    done
}

ALL="aioc aiohttp aiohttp-uvloop websockets websockets-uvloop node-ws go-gorilla"
case " $CASES " in *" echo "*)
    echo "running echo, 100 connections ..." >&2
    for_each echo_c100 echo "$ALL" --conns 100 --window "$WINDOW" --measure "$MEASURE" ;;
esac
case " $CASES " in *" broadcast "*)
    echo "running broadcast, 1,000 connections ..." >&2
    for_each broadcast_c1000 broadcast "$ALL" --conns 1000 --senders 4 --msgs "$MSGS" --window 1 ;;
esac
case " $CASES " in *" wss "*)
    if command -v openssl >/dev/null 2>&1 &&
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
            -subj /CN=127.0.0.1 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null; then
        echo "running wss echo, 100 connections ..." >&2
        TLS_FILES="$TMP/cert.pem $TMP/key.pem" for_each wss_echo_c100 echo "aioc websockets" \
            --conns 100 --window "$WINDOW" --measure "$MEASURE" --tls
    else
        record wss_echo_c100 "NA name=wss_echo_c100 impl=aioc reason=openssl_req_failed"
    fi ;;
esac

echo
echo "load: $(uptime)"
TABLE_WIDTH=17
for t in echo_c100 wss_echo_c100; do
    title="100 connections, one 32-byte text message in flight each, ${MEASURE} s (server CPU $SERVER_CPU, wsload CPU $CLIENT_CPU)"
    [ $t = wss_echo_c100 ] && title="the same over TLS (wss://)"
    table $t "$title" aioc \
        "msgs_per_s:msgs/s:1:0,server_us_per_msg:srv us/msg:1:2,server_cpu_pct:srv CPU %:1:0,gen_cpu_pct:gen CPU %:1:0,bad:bad:1:0" \
        "server_us_per_msg:cost:CPU/msg vs aioc,msgs_per_s:rate:msgs/s vs aioc"
done
table broadcast_c1000 "1,000 connections, 4 senders x $MSGS messages to all, every delivery checked (server CPU $SERVER_CPU, wsload CPU $CLIENT_CPU)" aioc \
    "delivered:delivered:1:0,lost:lost:1:0,deliveries_per_s:deliv/s:1:0,server_us_per_delivery:srv us/deliv:1:2,server_cpu_pct:srv CPU %:1:0,gen_cpu_pct:gen CPU %:1:0" \
    "server_us_per_delivery:cost:CPU/deliv vs aioc,deliveries_per_s:rate:deliv/s vs aioc"
if grep -q 'FAILED=1' "$TMP"/*_c* 2>/dev/null; then
    echo
    echo "FAILED (a wrong or lost message; see the lost and bad columns):"
    grep -h 'FAILED=1' "$TMP"/*_c* | awk '{ print "  " $2, $3 }'
fi
echo
echo "raw results: $OUT"
