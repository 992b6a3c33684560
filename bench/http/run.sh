#!/usr/bin/env bash
# HTTP benchmarks, every implementation in one run, with aioc's ratio to
# each (see bench/README.md, "HTTP benchmarks"):
#
#   server  "Hello, World!\n" (text/plain, keep-alive) under
#           wrk -t1 -cHTTP_CONNS (100) -dHTTP_MEASURE (5) s, after a
#           HTTP_WARMUP (1) s wrk run: requests/s and the server's CPU time
#           per request (/proc/PID/stat). aioc_http (hello_aioc), nginx with
#           one worker, Go's net/http, Node's http, aiohttp, and a minimal
#           asyncio server. The server runs on one CPU, wrk on another.
#   tls     the same over HTTPS (TLS 1.3, a P-256 certificate made for the
#           run with the openssl program; wrk keeps its connections, so
#           this is record encryption, not handshakes): aioc_http on the
#           TLS adapter, nginx, Go's crypto/tls, Node's https.
#   client  HTTP_CLIENT_REQS (10000) GET requests to nginx (one worker, on
#           the server's CPU), HTTP_CLIENT_CONC (100) in flight, the client
#           on the other CPU: requests/s and the client's CPU time per
#           request (its own getrusage). aioc_curl (client_aioc, keep-alive
#           easy handles; and aioc_curl_fetch), aiohttp's ClientSession,
#           Go's net/http. Each client runs HTTP_CLIENT_RUNS (3) times; the
#           run with the median CPU per request is kept.
#
#   bench/http/run.sh BUILD_DIR
#
# BUILD_DIR is a configured and built CMake tree (make builds
# build/release); the C programs are in BUILD_DIR/bench/http. The Go
# programs are built here, into BUILD_DIR/bench/http/go (GOCACHE in the
# build tree); nginx's configuration is written into a scratch directory
# of the build tree. RESULT lines are appended to
# BUILD_DIR/bench-http-results.txt.
#
# As bench/net/run.sh: before each run the script waits (up to
# HTTP_QUIET_WAIT, 20 s) until the CPUs are idle; a server run during which
# other processes used more than 15 % of a CPU is made again, up to
# HTTP_RETRIES (2) times, keeping the least disturbed. HTTP_ONLY="server
# tls client" runs a subset. Every command runs under timeout; a missing tool
# or a failed run shows as n/a and never stops the others; the script kills
# only the processes it started, also when interrupted.
set -u

BUILD=$(cd "${1:-build/release}" 2>/dev/null && pwd) || {
    echo "usage: $0 BUILD_DIR   (build the tree first: make)" >&2
    exit 2
}
SRC=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/bench/http
OUT=$BUILD/bench-http-results.txt
PY=/usr/bin/python3 # Debian's, which has aiohttp (python3-aiohttp)
NGINX=/usr/sbin/nginx
CONNS=${HTTP_CONNS:-100}
WARMUP=${HTTP_WARMUP:-1}
MEASURE=${HTTP_MEASURE:-5}
CLIENT_REQS=${HTTP_CLIENT_REQS:-10000}
CLIENT_CONC=${HTTP_CLIENT_CONC:-100}
CLIENT_RUNS=${HTTP_CLIENT_RUNS:-3}
QUIET_WAIT=${HTTP_QUIET_WAIT:-20}
RETRIES=${HTTP_RETRIES:-2}
ONLY=${HTTP_ONLY:-server tls client}
SECTION=server # the table a server run goes to: server or tls
SCHEME=http
QUIET_PCT=10 # the machine counts as idle below this % of all its CPUs
NOISE_PCT=15 # a run is disturbed above this % of a CPU used by others
HELLO='Hello, World!'
# scratch files in the build tree: a shared /tmp may be swept by others
BENCH_NAME=http BENCH_TITLE=HTTP
. "$SRC/../lib.sh"
. "$SRC/../nginx.sh"

HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
# busy_s: CPU seconds the whole machine has been busy so far (/proc/stat).
busy_s() { awk -v hz="$HZ" '/^cpu / { print ($2 + $3 + $4 + $7 + $8) / hz; exit }' /proc/stat; }
# proc_cpu_s PID: the process's CPU seconds, every thread (utime + stime).
proc_cpu_s() {
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk -v hz="$HZ" '{ print ($12 + $13) / hz }'
}
now_s() { date +%s.%N; }

# free_port: a TCP port nothing listens on now.
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

# start_server SECONDS PORT CMD...: runs CMD (which listens on 127.0.0.1:
# PORT) on the server CPU, killed after SECONDS at the latest, and waits
# until the port accepts connections and answers "Hello, World!". Sets
# SRV_PID (the server: timeout's child, as taskset execs the command) and
# SRV_WRAP (the timeout process). Returns 1 if the server never got ready.
SRV_WRAP="" SRV_PID=""
start_server() {
    local limit=$1 port=$2 i
    shift 2
    timeout -k 2 "$limit" taskset -c "$SERVER_CPU" "$@" >"$TMP/srv.out" 2>"$TMP/srv.err" &
    SRV_WRAP=$!
    PIDS="$PIDS $SRV_WRAP"
    for ((i = 0; i < 100; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            SRV_PID=$(pgrep -P "$SRV_WRAP" | head -n 1)
            if [ -n "$SRV_PID" ] &&
                [ "$(timeout 5 curl -s -k "$SCHEME://127.0.0.1:$port/")" = "$HELLO" ]; then
                PIDS="$PIDS $SRV_PID"
                return 0
            fi
            echo "    (the server does not answer \"$HELLO\")" >&2
            break
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

# timed CPUFILE CMD...: runs CMD (in the foreground, stdout to stdout) and
# writes the CPU seconds it and its children used to CPUFILE.
timed() {
    local f=$1 TIMEFORMAT='%U %S'
    shift
    { time "$@" 2>>"$TMP/err" ; } 2>"$f.t"
    local st=$?
    tail -n 1 "$f.t" | awk '{ print $1 + $2 }' >"$f"
    return $st
}

# nginx_conf PORT: nginx's configuration in $TMP/nginx (bench/nginx.sh):
# one worker, no master process; HTTPS with $TMP/cert.pem when SCHEME is
# https. Prints its directory.
nginx_conf() {
    if [ "$SCHEME" = https ]; then
        nginx_hello_conf "$TMP/nginx" "$1" 1 off ssl \
            "ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem;"
    else
        nginx_hello_conf "$TMP/nginx" "$1" 1 off
    fi
}

# --------------------------------------------------- implementations --
GO_OK=0
if command -v go >/dev/null 2>&1; then
    mkdir -p "$BIN/go"
    export GOCACHE="$BUILD/go-cache" GOPATH="$BUILD/go-path" GOFLAGS=
    (cd "$SRC" && go build -o "$BIN/go/hello_go" hello.go && go build -o "$BIN/go/client_go" client.go) &&
        GO_OK=1 || echo "bench/http: go build failed" >&2
fi
NGINX_OK=0
[ -x "$NGINX" ] && NGINX_OK=1
AIOHTTP_OK=0
[ -x "$PY" ] && "$PY" -c 'import aiohttp' 2>/dev/null && AIOHTTP_OK=1
NODE=$(command -v node || command -v nodejs || true)

# SERVERS: "name|command", PORT standing for the port.
SERVERS="aioc|$BIN/hello_aioc PORT
nginx|NGINX
go|$BIN/go/hello_go PORT
node|$NODE $SRC/hello.js PORT
aiohttp|$PY -B $SRC/hello.py aiohttp PORT
asyncio|$PY -B $SRC/hello.py asyncio PORT"
# TLS_SERVERS: the same over HTTPS, CERT and KEY standing for the files.
TLS_SERVERS="aioc|$BIN/hello_aioc PORT CERT KEY
nginx|NGINX
go|$BIN/go/hello_go PORT CERT KEY
node|$NODE $SRC/hello.js PORT CERT KEY"
# CLIENTS: "name|command", URL standing for nginx's address.
CLIENTS="aioc|$BIN/client_aioc URL $CLIENT_REQS $CLIENT_CONC perform
aioc-fetch|$BIN/client_aioc URL $CLIENT_REQS $CLIENT_CONC fetch
aiohttp|$PY -B $SRC/client.py URL $CLIENT_REQS $CLIENT_CONC
go|$BIN/go/client_go URL $CLIENT_REQS $CLIENT_CONC"

# missing IMPL CMD: why CMD cannot run here, or nothing if it can.
missing() {
    case $1 in
    nginx) [ $NGINX_OK = 1 ] || echo "nginx not installed"; return ;;
    go) [ $GO_OK = 1 ] || { echo "go not found or build failed"; return; } ;;
    node) [ -n "$NODE" ] || { echo "nodejs not installed"; return; } ;;
    aiohttp) [ $AIOHTTP_OK = 1 ] || { echo "python3-aiohttp not installed"; return; } ;;
    esac
    [ -x "$2" ] || echo "not built ($2)"
}

# ------------------------------------------------------------- server --
# server_once IMPL CMD...: one wrk run against a fresh server; sets LINE.
server_once() {
    local impl=$1 port srv0 srv1 busy0 busy1 t0 t1 out reqs rps lat errs non2xx wrk_cpu
    shift
    port=$(free_port)
    local argv=("${@//PORT/$port}")
    argv=("${argv[@]//CERT/$TMP/cert.pem}")
    argv=("${argv[@]//KEY/$TMP/key.pem}")
    [ "$1" = NGINX ] && argv=("$NGINX" -p "$TMP/nginx" -c "$(nginx_conf "$port")/nginx.conf" -e "$TMP/nginx/error.log")
    if ! start_server $((WARMUP + MEASURE + 60)) "$port" "${argv[@]}"; then
        LINE="NA name=$SECTION impl=$impl reason=server_did_not_start"
        return
    fi
    local url="$SCHEME://127.0.0.1:$port/"
    timeout $((WARMUP + 30)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$url" \
        >/dev/null 2>>"$TMP/err"
    srv0=$(proc_cpu_s "$SRV_PID") busy0=$(busy_s) t0=$(now_s)
    out=$(timed "$TMP/wrk.cpu" timeout $((MEASURE + 30)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$CONNS" -d"${MEASURE}s" "$url")
    srv1=$(proc_cpu_s "$SRV_PID") busy1=$(busy_s) t1=$(now_s)
    stop_server
    reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
    lat=$(echo "$out" | awk '$1 == "Latency" { print $2 }')
    errs=$(echo "$out" | awk '/Socket errors:/ { gsub(/[^0-9 ]/, " "); print $1 + $2 + $3 + $4 }')
    non2xx=$(echo "$out" | awk '/Non-2xx/ { print $NF }')
    wrk_cpu=$(cat "$TMP/wrk.cpu" 2>/dev/null)
    if [ -z "$reqs" ] || [ -z "$rps" ] || [ -z "$srv1" ] || [ -z "$srv0" ]; then
        tail -n 3 "$TMP/err" | sed 's/^/    /' >&2
        LINE="NA name=$SECTION impl=$impl reason=wrk_failed"
        return
    fi
    LINE=$(awk -v impl="$impl" -v reqs="$reqs" -v rps="$rps" -v s0="$srv0" -v s1="$srv1" \
        -v b0="$busy0" -v b1="$busy1" -v t0="$t0" -v t1="$t1" -v w="${wrk_cpu:-0}" \
        -v lat="$lat" -v errs="${errs:-0}" -v non2xx="${non2xx:-0}" -v conns="$CONNS" \
        -v section="$SECTION" 'BEGIN {
        secs = t1 - t0; srv = s1 - s0
        printf "RESULT name=%s impl=%s conns=%s req_per_s=%.0f server_ns_per_req=%.0f", section, impl, conns, rps, srv * 1e9 / reqs
        printf " server_cpu_pct=%.1f wrk_cpu_pct=%.1f other_cpu_pct=%.1f", 100 * srv / secs, 100 * w / secs, 100 * (b1 - b0 - srv - w) / secs
        printf " latency=%s requests=%d socket_errors=%d non_2xx=%d\n", lat, reqs, errs, non2xx }')
    [ "$(field "$LINE" non_2xx)" = 0 ] || LINE="NA name=$SECTION impl=$impl reason=non_2xx_responses"
}

# run_server IMPL CMD...: one run, again if something disturbed it.
run_server() {
    local impl=$1 try best="" other best_other=1000000 runs=0
    shift
    for ((try = 0; try <= RETRIES; try++)); do
        wait_quiet
        server_once "$impl" "$@"
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
        echo "    (others used ${other}% of a CPU during the run; again)" >&2
    done
    [ "${best#RESULT}" != "$best" ] && best="$best runs=$runs"
    record "$SECTION" "$best"
}

# ------------------------------------------------------------- client --
# client_once IMPL URL CMD...: one client run against the running nginx;
# sets LINE (the client's RESULT line plus nginx's CPU per request and
# what other processes used meanwhile).
client_once() {
    local impl=$1 url=$2 srv0 srv1 busy0 busy1 t0 t1 out cpu
    shift 2
    local argv=("${@//URL/$url}")
    srv0=$(proc_cpu_s "$SRV_PID") busy0=$(busy_s) t0=$(now_s)
    out=$(timed "$TMP/client.cpu" timeout 120 taskset -c "$CLIENT_CPU" "${argv[@]}" | grep -m1 '^RESULT ')
    srv1=$(proc_cpu_s "$SRV_PID") busy1=$(busy_s) t1=$(now_s)
    cpu=$(cat "$TMP/client.cpu" 2>/dev/null)
    if [ -z "$out" ] || [ -z "$srv1" ]; then
        tail -n 3 "$TMP/err" | sed 's/^/    /' >&2
        LINE="NA name=client impl=$impl reason=client_failed"
        return
    fi
    # other: the machine's busy time beyond nginx and the whole client
    # process (start-up included), over the whole command's time
    LINE="${out/impl=aioc /impl=$impl }$(awk -v s0="$srv0" -v s1="$srv1" -v b0="$busy0" -v b1="$busy1" \
        -v t0="$t0" -v t1="$t1" -v c="${cpu:-0}" -v n="$CLIENT_REQS" 'BEGIN {
        printf " nginx_ns_per_req=%.0f other_cpu_pct=%.1f", (s1 - s0) * 1e9 / n, 100 * (b1 - b0 - (s1 - s0) - c) / (t1 - t0) }')"
}

# run_client IMPL URL CMD...: CLIENT_RUNS runs; keeps the median by CPU
# per request (min_ns / max_ns: the spread).
run_client() {
    local impl=$1 i
    shift
    : >"$TMP/runs"
    for ((i = 0; i < CLIENT_RUNS; i++)); do
        wait_quiet
        client_once "$impl" "$@"
        case $LINE in
        NA*) record client "$LINE"; return ;;
        esac
        echo "$LINE" >>"$TMP/runs"
    done
    LINE=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^client_ns_per_req=/) { split($i, p, "="); print p[2] "\t" $0 } }' \
        "$TMP/runs" | sort -n | awk -F'\t' -v n="$CLIENT_RUNS" '
        NR == 1 { lo = $1 } { hi = $1; line[NR] = $2 }
        END { printf "%s runs=%d min_ns=%s max_ns=%s\n", line[int((NR + 1) / 2)], NR, lo, hi }')
    record client "$LINE"
}

# -------------------------------------------------------------- tables --
TABLE_WIDTH=10 # column width of the tables (table, in bench/lib.sh)

# ---------------------------------------------------------------- runs --
for what in $ONLY; do
    case $what in
    server | tls)
        SECTION=$what SCHEME=http list=$SERVERS
        echo "running $what: wrk -t1 -c$CONNS -d${MEASURE}s ..." >&2
        if ! command -v wrk >/dev/null 2>&1; then
            record "$what" "NA name=$what impl=all reason=wrk_not_installed"
            continue
        fi
        if [ "$what" = tls ]; then
            SCHEME=https list=$TLS_SERVERS
            if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -days 2 \
                -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>>"$TMP/err"; then
                record tls "NA name=tls impl=all reason=openssl_failed"
                continue
            fi
        fi
        while IFS='|' read -r impl cmd; do
            read -r -a argv <<<"$cmd"
            why=$(missing "$impl" "${argv[0]:-}")
            if [ -n "$why" ]; then
                record "$what" "NA name=$what impl=$impl reason=${why// /_}"
            else
                run_server "$impl" "${argv[@]}"
            fi
        done <<<"$list"
        SECTION=server SCHEME=http ;;
    client)
        echo "running client: $CLIENT_REQS requests, $CLIENT_CONC in flight, against nginx ..." >&2
        if [ $NGINX_OK = 0 ]; then
            record client "NA name=client impl=all reason=nginx_not_installed"
            continue
        fi
        port=$(free_port)
        if ! start_server 3600 "$port" "$NGINX" -p "$TMP/nginx" \
            -c "$(nginx_conf "$port")/nginx.conf" -e "$TMP/nginx/error.log"; then
            record client "NA name=client impl=all reason=nginx_did_not_start"
            continue
        fi
        while IFS='|' read -r impl cmd; do
            read -r -a argv <<<"$cmd"
            why=$(missing "$impl" "${argv[0]:-}")
            if [ -n "$why" ]; then
                record client "NA name=client impl=$impl reason=${why// /_}"
            else
                run_client "$impl" "http://127.0.0.1:$port/" "${argv[@]}"
            fi
        done <<<"$CLIENTS"
        stop_server ;;
    esac
done

table server "hello world, wrk -t1 -c$CONNS -d${MEASURE}s (server CPU $SERVER_CPU, wrk CPU $CLIENT_CPU)" aioc \
    "req_per_s:req/s:1:0,server_ns_per_req:srv us/req:0.001:2,server_cpu_pct:srv CPU %:1:1,wrk_cpu_pct:wrk CPU %:1:1,other_cpu_pct:other CPU %:1:1" \
    "req_per_s:rate:aioc is,server_ns_per_req:cost:aioc uses"
table tls "hello world over HTTPS, wrk -t1 -c$CONNS -d${MEASURE}s (server CPU $SERVER_CPU, wrk CPU $CLIENT_CPU)" aioc \
    "req_per_s:req/s:1:0,server_ns_per_req:srv us/req:0.001:2,server_cpu_pct:srv CPU %:1:1,wrk_cpu_pct:wrk CPU %:1:1,other_cpu_pct:other CPU %:1:1" \
    "req_per_s:rate:aioc is,server_ns_per_req:cost:aioc uses"
table client "$CLIENT_REQS requests to nginx, $CLIENT_CONC in flight (nginx CPU $SERVER_CPU, client CPU $CLIENT_CPU), median of $CLIENT_RUNS" aioc \
    "req_per_s:req/s:1:0,client_ns_per_req:cli us/req:0.001:2,client_cpu_pct:cli CPU %:1:1,nginx_ns_per_req:nginx us/req:0.001:2,other_cpu_pct:other CPU %:1:1" \
    "req_per_s:rate:aioc is,client_ns_per_req:cost:aioc uses"
echo
echo "raw results: $OUT"
