#!/bin/sh
# Checks examples/kv (a Redis-compatible server) with Debian's redis-cli and
# redis-benchmark (redis-tools) as the clients, and redis-server
# (redis-server) as a second implementation where it is installed.
#   check_kv.sh [loops_]commands|expiry|pipeline|pubsub|slow|malformed|benchmark|sigint BINARY
#   check_kv.sh shared BINARY
# commands:  tests/peers/kv_commands.txt (every command family, their
#            errors included) through redis-cli; the replies must be
#            tests/peers/kv_replies.txt exactly (what the Redis docs
#            specify), and redis-server's too where it is installed.
# expiry:    PX 100 and the key is gone (a bounded wait on progress); 20,000
#            keys with PX 300 nobody reads again are freed by the active
#            sweep (DBSIZE, which looks at no key, falls to the one kept).
# pipeline:  100,000 SETs through `redis-cli --pipe` (every reply, no
#            error), 2,000 inline commands in one write through socat.
# pubsub:    redis-cli subscribers (SUBSCRIBE, PSUBSCRIBE) get what PUBLISH
#            sends, counted right; subscribed mode refuses other commands.
# slow:      a subscriber that never reads is dropped, another gets all
#            (tests/peers/kv_pubsub_slow.py, with --pubsub-limit 1 MiB).
# malformed: tests/peers/kv_malformed.py: every kind of bad RESP gets an
#            error and/or a close, a fresh client is served after each, the
#            memory does not follow declared sizes; against redis-server too.
# benchmark: redis-benchmark -n 20000 -c 50 -t set,get,ping completes every
#            request (no timing is checked).
# sigint:    Ctrl-C with clients connected (one subscribed): exit 130.
# loops_MODE: MODE with the server on two loops (kv --loops 2): every
#            connection on loop 1 runs its commands on loop 0 (loops.c).
# shared:    kv --loops 2 is one keyspace: connections seen on both loops
#            (CLIENT INFO's loop=), a SET on one seen by GETs on others, a
#            key expiring, 20,000 INCRs from 50 connections (redis-benchmark)
#            summing to 20,000, a MULTI/EXEC and WATCH across loops, and
#            PUBLISH on one loop reaching subscribers on both, in order.
# Every mode ends with Ctrl-C (status 130) and fails on a sanitizer's or
# Valgrind's report. AIOC_TEST_EMULATOR: a command prefix for the server.
# KEEP=1 keeps the scratch directory (tests/lib.sh).
. "$(dirname "$0")/lib.sh"
mode=$1 bin=$2
loops=
case $mode in
loops_*)
    mode=${mode#loops_}
    loops="--loops 2"
    ;;
shared) loops="--loops 2" ;;
esac
peers=$(cd "$(dirname "$0")/peers" && pwd)
command -v redis-cli >/dev/null || fail "redis-cli is missing (Debian: redis-tools)"
fail_details() {
    sed 's/^/  server: /' "$dir/server.out" "$dir/server.err" 2>/dev/null | tail -40
}

start_server() { # extra flags
    start ${AIOC_TEST_EMULATOR:-} "$bin" $loops "$@" 0 >"$dir/server.out" 2>"$dir/server.err"
    pid=$started
    wait_line "$dir/server.out" 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' 20 "$pid" ||
        fail "the server did not start"
    port=$found
}

stop_server() {
    interrupt "$pid" 20
    [ "$status" -eq 130 ] || fail "Ctrl-C: exit status $status, expected 130"
    if grep -Eq '^==[0-9]+==|runtime error:|ERROR|aioc:' "$dir/server.err"; then
        fail "the server reported errors"
    fi
}

cli() { timeout 60 redis-cli -p "$port" "$@"; }

# Waits (up to $2 seconds, default 20) until command $1 succeeds.
until_true() {
    deadline=$(($(date +%s) + ${2:-20}))
    while ! eval "$1"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# redis-server on a free loopback port, in the scratch directory; its port
# in $rport. Returns 1 where it is not installed.
start_redis() {
    command -v redis-server >/dev/null || return 1
    rport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    mkdir -p "$dir/redis"
    redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no \
        --dir "$dir/redis" --daemonize no >"$dir/redis/log" 2>&1 &
    rpid=$!
    track "$rpid" TERM
    until_true 'timeout 5 redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG' 20 ||
        fail "redis-server did not start"
}

case $mode in
commands)
    start_server
    cli --no-raw <"$peers/kv_commands.txt" >"$dir/kv.txt" 2>&1
    diff -u "$peers/kv_replies.txt" "$dir/kv.txt" || fail "the replies differ from the spec's"
    if start_redis; then
        timeout 60 redis-cli --no-raw -p "$rport" <"$peers/kv_commands.txt" >"$dir/redis.txt" 2>&1
        diff -u "$dir/redis.txt" "$dir/kv.txt" || fail "redis-server answers differently"
        echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') gives the same $(wc -l <"$dir/kv.txt") lines"
    else
        echo "(redis-server not installed: compared with the expected replies only)"
    fi
    # redis-cli's own start (COMMAND DOCS in interactive mode) and CONFIG GET
    [ "$(cli --no-raw config get save)" = "$(printf '1) "save"\n2) ""')" ] ||
        fail "CONFIG GET save"
    cli command docs >/dev/null || fail "COMMAND DOCS"
    [ "$(cli command count)" -gt 40 ] || fail "COMMAND COUNT"
    stop_server
    ;;
expiry)
    start_server
    [ "$(cli set k v px 100)" = OK ] || fail "SET PX"
    left=$(cli pttl k)
    [ "$left" -le 100 ] && [ "$left" -ge -2 ] && [ "$left" -ne -1 ] || fail "PTTL said $left"
    until_true '[ "$(cli exists k)" = 0 ]' 10 || fail "the key did not expire"
    [ -z "$(cli get k)" ] || fail "GET found an expired key"
    # 20,000 keys that nobody reads again: only the sweep can free them
    awk 'BEGIN { for (i = 0; i < 20000; i++) printf "*5\r\n$3\r\nSET\r\n$%d\r\nx%d\r\n$1\r\nv\r\n$2\r\nPX\r\n$3\r\n300\r\n", length("x" i), i }' |
        cli --pipe >"$dir/pipe.out" 2>&1
    grep -q "errors: 0, replies: 20000" "$dir/pipe.out" || { cat "$dir/pipe.out"; fail "--pipe"; }
    cli set keep forever >/dev/null
    until_true '[ "$(cli dbsize)" = 1 ]' 30 || fail "the sweep left $(cli dbsize) keys"
    [ "$(cli get keep)" = forever ] || fail "the sweep took a key without a TTL"
    echo "20,000 expired keys swept"
    stop_server
    ;;
pipeline)
    start_server
    awk 'BEGIN { for (i = 0; i < 100000; i++) printf "*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$%d\r\nv%d\r\n", length("k" i), i, length("v" i), i }' |
        cli --pipe >"$dir/pipe.out" 2>&1
    grep -q "errors: 0, replies: 100000" "$dir/pipe.out" || { cat "$dir/pipe.out"; fail "--pipe"; }
    [ "$(cli dbsize)" = 100000 ] || fail "DBSIZE is not 100000"
    [ "$(cli get k99999)" = v99999 ] || fail "GET k99999"
    # 2,000 inline commands in one write; the server closes after QUIT
    awk 'BEGIN { for (i = 0; i < 1000; i++) printf "PING\r\nGET k%d\r\n", i; printf "QUIT\r\n" }' |
        timeout 60 socat -t 30 - "TCP:127.0.0.1:$port" >"$dir/inline.out" || fail "socat"
    [ "$(grep -c '^+PONG' "$dir/inline.out")" = 1000 ] || fail "not 1000 PONGs"
    [ "$(grep -c '^v[0-9]' "$dir/inline.out")" = 1000 ] || fail "not 1000 values"
    tail -n 1 "$dir/inline.out" | grep -q '^+OK' || fail "no +OK for QUIT"
    echo "100,000 pipelined SETs, 2,001 inline commands in one write"
    stop_server
    ;;
pubsub)
    start_server
    cli subscribe news weather >"$dir/sub.out" 2>&1 &
    sub=$!
    track "$sub"
    cli psubscribe 'w*' 'n?ws' >"$dir/psub.out" 2>&1 &
    psub=$!
    track "$psub"
    until_true '[ "$(grep -c "^[12]$" "$dir/sub.out")" = 2 ] && [ "$(grep -c "^[12]$" "$dir/psub.out")" = 2 ]' ||
        fail "the subscribers did not subscribe"
    [ "$(cli publish news hello)" = 2 ] || fail "PUBLISH news: not 2 receivers"
    [ "$(cli publish weather sunny)" = 2 ] || fail "PUBLISH weather: not 2 receivers"
    [ "$(cli publish wind calm)" = 1 ] || fail "PUBLISH wind: not 1 receiver"
    [ "$(cli publish other nobody)" = 0 ] || fail "PUBLISH other: not 0 receivers"
    until_true 'grep -q calm "$dir/psub.out" && grep -q sunny "$dir/sub.out"' || fail "messages missing"
    kill "$sub" "$psub"
    wait "$sub" "$psub" 2>/dev/null
    untrack "$sub"
    untrack "$psub"
    printf '%s\n' subscribe news 1 subscribe weather 2 message news hello message weather sunny |
        diff -u - "$dir/sub.out" || fail "the subscriber's transcript differs"
    printf '%s\n' psubscribe 'w*' 1 psubscribe 'n?ws' 2 pmessage 'n?ws' news hello \
        pmessage 'w*' weather sunny pmessage 'w*' wind calm |
        diff -u - "$dir/psub.out" || fail "the pattern subscriber's transcript differs"
    # subscribed mode (RESP2): only (P)(UN)SUBSCRIBE, PING, QUIT
    printf 'SUBSCRIBE a\r\nGET x\r\nPING\r\nPSUBSCRIBE b*\r\nUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nUNSUBSCRIBE\r\nPING\r\nQUIT\r\n' |
        timeout 30 socat -t 10 - "TCP:127.0.0.1:$port" >"$dir/mode.out" || fail "socat"
    printf '%s\r\n' '*3' '$9' subscribe '$1' a ':1' \
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context" \
        '*2' '$4' pong '$0' '' '*3' '$10' psubscribe '$2' 'b*' ':2' '*3' '$11' unsubscribe '$1' a ':1' \
        '*3' '$12' punsubscribe '$2' 'b*' ':0' '*3' '$11' unsubscribe '$-1' ':0' '+PONG' '+OK' >"$dir/mode.want"
    cmp "$dir/mode.want" "$dir/mode.out" || {
        od -c "$dir/mode.out" | head -30
        fail "subscribed mode's replies differ"
    }
    stop_server
    ;;
slow)
    start_server --pubsub-limit 1048576
    timeout 180 python3 "$peers/kv_pubsub_slow.py" "$port" || fail "kv_pubsub_slow.py failed"
    grep -q "dropped a client that read too slowly" "$dir/server.out" || fail "no drop reported"
    [ "$(cli ping)" = PONG ] || fail "not served afterwards"
    stop_server
    ;;
malformed)
    start_server
    timeout 300 python3 "$peers/kv_malformed.py" "$port" --pid "$pid" || fail "kv_malformed.py failed"
    if start_redis; then # the same cases, any error wording
        echo "--- the same against redis-server:"
        timeout 300 python3 "$peers/kv_malformed.py" "$rport" --loose | tail -n 1 ||
            fail "redis-server itself fails the cases: the test is wrong"
    fi
    stop_server
    ;;
benchmark)
    command -v redis-benchmark >/dev/null || fail "redis-benchmark is missing (redis-tools)"
    start_server
    n=${KV_BENCH_REQUESTS:-20000}
    timeout 300 redis-benchmark -p "$port" -q -n "$n" -c 50 -t set,get,ping >"$dir/bench.out" 2>&1 ||
        { cat "$dir/bench.out"; fail "redis-benchmark failed"; }
    tr '\r' '\n' <"$dir/bench.out" | grep 'requests per second' | tee "$dir/bench.lines"
    [ "$(wc -l <"$dir/bench.lines")" = 4 ] || fail "not 4 tests completed"
    [ "$(cli dbsize)" = 1 ] || fail "DBSIZE after SET key:__rand_int__"
    stop_server
    ;;
shared)
    start_server
    timeout 120 python3 "$peers/kv_loops.py" "$port" || fail "kv_loops.py failed"
    # INCR from 50 connections at once, on both loops: none lost
    command -v redis-benchmark >/dev/null || fail "redis-benchmark is missing (redis-tools)"
    timeout 300 redis-benchmark -p "$port" -q -n 20000 -c 50 -t incr >"$dir/bench.out" 2>&1 ||
        { cat "$dir/bench.out"; fail "redis-benchmark failed"; }
    [ "$(cli get counter:__rand_int__)" = 20000 ] ||
        fail "20,000 INCRs made the counter $(cli get counter:__rand_int__)"
    echo "20,000 INCRs from 50 connections: 20000"
    stop_server
    ;;
sigint)
    start_server
    cli subscribe news >"$dir/sub.out" 2>&1 &
    sub=$!
    track "$sub"
    until_true 'grep -q "^1$" "$dir/sub.out"' || fail "the subscriber did not subscribe"
    cli set k v >/dev/null
    began=$(date +%s%N)
    stop_server
    ms=$(( ($(date +%s%N) - began) / 1000000 ))
    echo "stopped in $ms ms with a subscriber connected"
    wait_bounded "$sub" 20 # redis-cli ends when the server closes
    ;;
*)
    fail "unknown mode $mode"
    ;;
esac
echo "ok: kv $mode${loops:+ ($loops)}"
