#!/usr/bin/env bash
# Network benchmarks, every implementation in one run, with aioc's ratio to
# each (see bench/README.md, "Network benchmarks"):
#
#   echo   64-byte request/response ping-pong over NET_CONNS connections
#          ("100 1000"), NET_MEASURE (5) s measured after NET_WARMUP (1) s:
#          requests/s and the server's CPU time per request. Every server
#          runs on one CPU and loadgen, the one load generator, on another.
#   idle   NET_IDLE_CONNS (10000) connections that have each echoed one
#          line and wait: the server's resident memory per connection.
#   bulk   one connection for NET_BULK_SECONDS (5) s: aioc's sender and
#          receiver against iperf3 (GB/s, ratio to iperf3).
#
#   bench/net/run.sh BUILD_DIR
#
# BUILD_DIR is a configured and built CMake tree (make builds
# build/release); the C programs are in BUILD_DIR/bench/net. The Go server
# is built here, into BUILD_DIR/bench/net/go (GOCACHE in the build tree).
# RESULT lines are appended to BUILD_DIR/bench-net-results.txt.
#
# The machine must be quiet for the figures to mean anything: before each
# run the script waits (up to NET_QUIET_WAIT, 20 s) until the CPUs are
# idle, and an echo run during which other processes used more than 15 %
# of a CPU (loadgen's other_cpu_pct) is made again, up to NET_RETRIES (2)
# times, keeping the least disturbed. Other settings: NET_ONLY="echo idle bulk"
# runs a subset. Every command runs under timeout; a missing tool or a run
# that fails shows as n/a and never stops the others; the script kills
# only the processes it started, also when interrupted.
set -u

BUILD=$(cd "${1:-build/release}" 2>/dev/null && pwd) || {
    echo "usage: $0 BUILD_DIR   (build the tree first: make)" >&2
    exit 2
}
SRC=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/bench/net
OUT=$BUILD/bench-net-results.txt
PY=/usr/bin/python3 # Debian's, which has uvloop
CONNS=${NET_CONNS:-100 1000}
WARMUP=${NET_WARMUP:-1}
MEASURE=${NET_MEASURE:-5}
IDLE_CONNS=${NET_IDLE_CONNS:-10000}
BULK_S=${NET_BULK_SECONDS:-5}
QUIET_WAIT=${NET_QUIET_WAIT:-20}
RETRIES=${NET_RETRIES:-2}
ONLY=${NET_ONLY:-echo idle bulk}
QUIET_PCT=10 # the machine counts as idle below this % of all its CPUs
NOISE_PCT=15 # an echo run is disturbed above this % of a CPU used by others
# scratch files in the build tree: a shared /tmp may be swept by others
BENCH_NAME=net BENCH_TITLE=network
. "$SRC/../lib.sh"

# start_server SECONDS CMD...: runs CMD on the server CPU (killed after
# SECONDS at the latest) and waits for its "READY port=P pid=N ..." line.
# Sets SRV_PORT, SRV_PID, SRV_INFO (the line's further fields) and SRV_WRAP
# (the timeout process). Returns 1 if the server never got ready.
SRV_WRAP="" SRV_PID=""
start_server() {
    local limit=$1 i line
    shift
    : >"$TMP/srv.out"
    timeout -k 2 "$limit" taskset -c "$SERVER_CPU" "$@" >"$TMP/srv.out" 2>"$TMP/srv.err" &
    SRV_WRAP=$!
    PIDS="$PIDS $SRV_WRAP"
    for ((i = 0; i < 100; i++)); do
        line=$(grep -m1 '^READY ' "$TMP/srv.out")
        if [ -n "$line" ]; then
            SRV_PORT=$(field "$line" port)
            SRV_PID=$(field "$line" pid)
            SRV_INFO=$(echo "$line" | cut -d' ' -f4-)
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

# stop_server [wait]: ends the server (with "wait": lets it end by itself
# first, for the bulk receiver) and reaps it.
stop_server() {
    if [ "${1:-}" != wait ]; then
        [ -n "$SRV_PID" ] && kill -TERM "$SRV_PID" 2>/dev/null
        kill -TERM "$SRV_WRAP" 2>/dev/null
    fi
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

# --------------------------------------------------- implementations --
# IMPLS: the echo servers, "name|command" (the command split on spaces);
# a name whose command cannot run here is recorded as n/a instead.
UVLOOP_OK=0
[ -x "$PY" ] && "$PY" -c 'import uvloop' 2>/dev/null && UVLOOP_OK=1
GO_OK=0
if command -v go >/dev/null 2>&1; then
    mkdir -p "$BIN/go"
    export GOCACHE="$BUILD/go-cache" GOPATH="$BUILD/go-path" GOFLAGS=
    (cd "$SRC" && go build -o "$BIN/go/echo_go" echo.go) && GO_OK=1 ||
        echo "bench/net: go build echo.go failed" >&2
fi
IMPLS="aioc|$BIN/echo_aioc_stream
aioc-fd|$BIN/echo_aioc_fd
epoll|$BIN/echo_epoll
libuv|$BIN/echo_uv
go|$BIN/go/echo_go
asyncio-streams|$PY -B $SRC/echo.py asyncio streams
asyncio-proto|$PY -B $SRC/echo.py asyncio protocol
uvloop-streams|$PY -B $SRC/echo.py uvloop streams
uvloop-proto|$PY -B $SRC/echo.py uvloop protocol"
# idle also has aioc with a handler that waits in aioc_stream_readline and
# keeps no buffer of its own
IDLE_IMPLS=$(echo "$IMPLS" | sed "1a aioc-lines|$BIN/echo_aioc_stream 0 lines")

# missing IMPL CMD: why CMD cannot run here, or nothing if it can.
missing() {
    case $1 in
    go) [ $GO_OK = 1 ] || { echo "go not found or build failed"; return; } ;;
    uvloop*) [ $UVLOOP_OK = 1 ] || { echo "python3-uvloop not installed"; return; } ;;
    esac
    [ -x "$2" ] || echo "not built ($2)"
}

# --------------------------------------------------------------- echo --
# run_echo CONNS IMPL CMD...: one echo run, again if something disturbed it.
run_echo() {
    local conns=$1 impl=$2 try line best="" other best_other=1000000 runs=0
    shift 2
    for ((try = 0; try <= RETRIES; try++)); do
        wait_quiet
        if ! start_server $((WARMUP + MEASURE + 60)) "$@"; then
            best="NA name=echo_c$conns impl=$impl reason=server_did_not_start"
            break
        fi
        line=$(timeout $((WARMUP + MEASURE + 60)) taskset -c "$CLIENT_CPU" "$BIN/loadgen" echo \
            "$SRV_PORT" "$conns" "$WARMUP" "$MEASURE" "$SRV_PID" "$impl" 2>"$TMP/err" |
            grep -m1 '^RESULT ')
        stop_server
        if [ -z "$line" ]; then
            tail -n 3 "$TMP/err" | sed 's/^/    /' >&2
            [ -z "$best" ] && best="NA name=echo_c$conns impl=$impl reason=load_generator_failed"
            continue
        fi
        runs=$((runs + 1))
        line="$line${SRV_INFO:+ $SRV_INFO} kept=$runs"
        other=$(field "$line" other_cpu_pct)
        if awk -v o="${other:-0}" -v b="$best_other" 'BEGIN { exit !(o + 0 < b + 0) }'; then
            best=$line best_other=${other:-0}
        fi
        awk -v o="${other:-0}" -v n=$NOISE_PCT 'BEGIN { exit !(o + 0 <= n) }' && break
        echo "    (others used ${other}% of a CPU during the run; again)" >&2
    done
    # kept=K runs=N: the K-th of N runs is the one kept
    [ "${best#RESULT}" != "$best" ] && best="$best runs=$runs"
    record "echo_c$conns" "$best"
}

# --------------------------------------------------------------- idle --
run_idle() {
    local impl=$1 line
    shift
    wait_quiet
    if ! start_server 300 "$@"; then
        record idle "NA name=idle impl=$impl reason=server_did_not_start"
        return
    fi
    line=$(timeout 240 taskset -c "$CLIENT_CPU" "$BIN/loadgen" idle "$SRV_PORT" "$IDLE_CONNS" \
        "$SRV_PID" "$impl" 2>"$TMP/err" | grep -m1 '^RESULT ')
    stop_server
    if [ -z "$line" ]; then
        tail -n 3 "$TMP/err" | sed 's/^/    /' >&2
        line="NA name=idle impl=$impl reason=load_generator_failed"
    fi
    record idle "$line"
}

# --------------------------------------------------------------- bulk --
# busy_s: CPU seconds the whole machine has been busy so far (/proc/stat).
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
busy_s() { awk -v hz="$HZ" '/^cpu / { print ($2 + $3 + $4 + $7 + $8) / hz; exit }' /proc/stat; }

# with_others LINE B0 T0: LINE plus other_cpu_pct, what the machine was
# busy with since busy_s B0 at time T0 beyond the receiver and the sender
# (their CPU % over the transfer's seconds), in % of one CPU.
with_others() {
    echo "$1 other_cpu_pct=$(awk -v b0="$2" -v b1="$(busy_s)" -v t0="$3" -v t1="$(date +%s.%N)" \
        -v r="$(field "$1" recv_cpu_pct)" -v s="$(field "$1" send_cpu_pct)" \
        -v secs="$(field "$1" seconds)" \
        'BEGIN { printf "%.1f", (100 * (b1 - b0) - (r + s) * secs) / (t1 - t0) }')"
}

# bulk_aioc_once IMPL RECV_MODE SEND_MODE: aioc's receiver and sender;
# sets LINE to a RESULT or NA line.
bulk_aioc_once() {
    local impl=$1 sent b0 t0
    if ! start_server $((BULK_S + 60)) "$BIN/bulk_aioc" recv "$2" "$impl"; then
        LINE="NA name=bulk impl=$impl reason=receiver_did_not_start"
        return
    fi
    b0=$(busy_s) t0=$(date +%s.%N)
    sent=$(timeout $((BULK_S + 60)) taskset -c "$CLIENT_CPU" "$BIN/bulk_aioc" send "$SRV_PORT" \
        "$3" "$BULK_S" 2>"$TMP/err" | grep -m1 '^RESULT ')
    # the receiver ends at the end of the stream; without a sender, stop it
    if [ -n "$sent" ]; then stop_server wait; else stop_server; fi
    LINE=$(grep -m1 '^RESULT ' "$TMP/srv.out")
    if [ -z "$LINE" ] || [ -z "$sent" ]; then
        cat "$TMP/err" "$TMP/srv.err" | tail -n 3 | sed 's/^/    /' >&2
        LINE="NA name=bulk impl=$impl reason=transfer_failed"
    else
        LINE=$(with_others "$LINE send_cpu_pct=$(field "$sent" send_cpu_pct)" "$b0" "$t0")
    fi
}

# bulk_iperf3_once IMPL [CLIENT ARGS]: iperf3's server (receiving) and
# client (sending) on the same CPUs as aioc's pair, on a free port; sets
# LINE, whose figure is the receiver's, as aioc's.
bulk_iperf3_once() {
    local impl=$1 port try i json b0 t0
    shift
    LINE="NA name=bulk impl=$impl reason=iperf3_server_did_not_start"
    for ((try = 0; try < 5; try++)); do
        port=$((20000 + RANDOM % 20000))
        timeout -k 2 $((BULK_S + 60)) taskset -c "$SERVER_CPU" iperf3 -s -1 -p "$port" \
            --forceflush >"$TMP/srv.out" 2>&1 &
        SRV_WRAP=$! SRV_PID=""
        PIDS="$PIDS $SRV_WRAP"
        for ((i = 0; i < 50; i++)); do
            grep -q 'listening' "$TMP/srv.out" && break
            kill -0 "$SRV_WRAP" 2>/dev/null || break
            sleep 0.1
        done
        if ! grep -q 'listening' "$TMP/srv.out"; then
            stop_server # it could not listen there: another port
            continue
        fi
        b0=$(busy_s) t0=$(date +%s.%N)
        json=$(timeout $((BULK_S + 60)) taskset -c "$CLIENT_CPU" iperf3 -c 127.0.0.1 \
            -p "$port" -t "$BULK_S" -J "$@" 2>"$TMP/err")
        if [ -n "$json" ]; then stop_server wait; else stop_server; fi
        # end.sum_received: bits_per_second, bytes, seconds; and the CPU use
        # of the client (host_total) and the server (remote_total)
        LINE=$(echo "$json" | awk -v impl="$impl" '
            /"sum_received"/ { r = 1 }
            r && /"bytes"/ && !bytes { gsub(/[^0-9.]/, "", $2); bytes = $2 }
            r && /"seconds"/ && !secs { gsub(/[^0-9.]/, "", $2); secs = $2 }
            r && /"bits_per_second"/ && !bps { gsub(/[^0-9.e+]/, "", $2); bps = $2 }
            /"host_total"/ { gsub(/[^0-9.]/, "", $2); host = $2 }
            /"remote_total"/ { gsub(/[^0-9.]/, "", $2); remote = $2 }
            END {
                if (bps == "") { print "NA name=bulk impl=" impl " reason=iperf3_failed"; exit }
                printf "RESULT name=bulk impl=%s bytes=%s seconds=%.3f gb_per_s=%.3f recv_cpu_pct=%.1f send_cpu_pct=%.1f\n",
                    impl, bytes, secs, bps / 8 / 1e9, remote, host
            }')
        if [ "${LINE#NA}" != "$LINE" ]; then
            tail -n 3 "$TMP/err" | sed 's/^/    /' >&2
        else
            LINE=$(with_others "$LINE" "$b0" "$t0")
        fi
        return
    done
}

# run_bulk IMPL aioc|iperf3 ARGS...: one transfer, again (up to RETRIES
# times) if other processes ran meanwhile, keeping the least disturbed.
run_bulk() {
    local impl=$1 kind=$2 try best="" best_other=1000000 other runs=0
    shift 2
    for ((try = 0; try <= RETRIES; try++)); do
        wait_quiet
        "bulk_${kind}_once" "$impl" "$@"
        case $LINE in
        NA*) [ -z "$best" ] && best=$LINE; break ;;
        esac
        runs=$((runs + 1))
        LINE="$LINE kept=$runs"
        other=$(field "$LINE" other_cpu_pct)
        if awk -v o="${other:-0}" -v b="$best_other" 'BEGIN { exit !(o + 0 < b + 0) }'; then
            best=$LINE best_other=${other:-0}
        fi
        awk -v o="${other:-0}" -v n=$NOISE_PCT 'BEGIN { exit !(o + 0 <= n) }' && break
        echo "    (others used ${other}% of a CPU during the transfer; again)" >&2
    done
    [ "${best#RESULT}" != "$best" ] && best="$best runs=$runs"
    record bulk "$best"
}

# -------------------------------------------------------------- tables --

# ---------------------------------------------------------------- runs --
for what in $ONLY; do
    case $what in
    echo)
        for conns in $CONNS; do
            echo "running echo, $conns connections ..." >&2
            while IFS='|' read -r impl cmd; do
                read -r -a argv <<<"$cmd"
                why=$(missing "$impl" "${argv[0]}")
                if [ -n "$why" ]; then
                    record "echo_c$conns" "NA name=echo_c$conns impl=$impl reason=${why// /_}"
                else
                    run_echo "$conns" "$impl" "${argv[@]}"
                fi
            done <<<"$IMPLS"
        done ;;
    idle)
        echo "running idle, $IDLE_CONNS connections ..." >&2
        while IFS='|' read -r impl cmd; do
            read -r -a argv <<<"$cmd"
            why=$(missing "$impl" "${argv[0]}")
            if [ -n "$why" ]; then
                record idle "NA name=idle impl=$impl reason=${why// /_}"
            else
                run_idle "$impl" "${argv[@]}"
            fi
        done <<<"$IDLE_IMPLS" ;;
    bulk)
        echo "running bulk, ${BULK_S} s each ..." >&2
        # iperf3 as it comes (128 KiB writes and reads), and with aioc's
        # 256 KiB; the ratio is to the first
        for l in "" 256K; do
            impl=iperf3${l:+-l$l}
            if command -v iperf3 >/dev/null 2>&1; then
                run_bulk "$impl" iperf3 ${l:+-l $l}
            else
                record bulk "NA name=bulk impl=$impl reason=iperf3_not_installed"
            fi
        done
        if [ -x "$BIN/bulk_aioc" ]; then
            run_bulk aioc-stream/read aioc read stream
            run_bulk aioc-write/read aioc read write
            run_bulk aioc-sendfile/read aioc read sendfile
            run_bulk aioc-stream/stream aioc stream stream
        else
            record bulk "NA name=bulk impl=aioc reason=not_built"
        fi ;;
    esac
done

for conns in $CONNS; do
    table "echo_c$conns" "64-byte ping-pong, $conns connections, ${MEASURE} s (server CPU $SERVER_CPU, loadgen CPU $CLIENT_CPU)" aioc \
        "req_per_s:req/s:1:0,server_ns_per_req:srv us/req:0.001:2,server_cpu_pct:srv CPU %:1:1,client_cpu_pct:gen CPU %:1:1,other_cpu_pct:other CPU %:1:1" \
        "req_per_s:rate:aioc is,server_ns_per_req:cost:aioc uses"
done
table idle "$IDLE_CONNS idle connections, each has echoed one line" aioc \
    "rss_per_conn_b:RSS B/conn:1:0,rss_after_kb:RSS MiB:0.0009765625:1,setup_s:connect s:1:2" \
    "rss_per_conn_b:cost:aioc uses"
table bulk "one connection, ${BULK_S} s, receiver on CPU $SERVER_CPU, sender on CPU $CLIENT_CPU" iperf3 \
    "gb_per_s:GB/s:1:2,recv_cpu_pct:recv CPU %:1:1,send_cpu_pct:send CPU %:1:1,other_cpu_pct:other CPU %:1:1" \
    "gb_per_s:share:of iperf3"
echo
echo "raw results: $OUT"
