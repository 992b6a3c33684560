#!/usr/bin/env bash
# A spread server (aioc_server_opts.spread: loop 0 accepts and hands each
# connection to the least-loaded loop) against SO_REUSEPORT (every loop
# accepts), both with examples/echo on 2 loops:
#
#   churn  short connections (bench/loops/churn, 8 tasks: connect, 1 byte
#          there and back, abort): connections/s and the server's CPU per
#          connection, which is where the hand-off costs
#   echo   64-byte ping-pong over 100 long-lived connections (bench/net's
#          loadgen): requests/s and CPU per request, where it does not
#
# Each measure SPREAD_SECONDS (4) s, SPREAD_RUNS (3) times alternating the
# two servers; CPU is utime + stime from /proc/PID/stat over the window.
# The echo example prints a line per connection: both pay it alike.
#
#   bench/loops/spread.sh BUILD_DIR
#
# BUILD_DIR is a built release tree with the benchmarks (examples/echo,
# bench/loops/churn, bench/net/loadgen). Every command runs under timeout;
# the script ends only the servers it started.
set -u
BUILD=$(cd "${1:-build/release}" 2>/dev/null && pwd) || {
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
}
ECHO=$BUILD/examples/echo CHURN=$BUILD/bench/loops/churn LOAD=$BUILD/bench/net/loadgen
SECS=${SPREAD_SECONDS:-4}
RUNS=${SPREAD_RUNS:-3}
HZ=$(getconf CLK_TCK)
TMP=$(mktemp -d)
SRV=
trap '[ -n "$SRV" ] && kill "$SRV" 2>/dev/null; rm -rf "$TMP"' EXIT
for b in "$ECHO" "$CHURN" "$LOAD"; do
    [ -x "$b" ] || { echo "spread.sh: build $b first" >&2; exit 2; }
done

cpu_ticks() { # every thread of process $1
    local t=0 f
    for f in /proc/"$1"/task/*/stat; do
        set -- $(sed 's/.*) //' "$f")
        t=$((t + ${12} + ${13}))
    done
    echo "$t"
}

start_echo() { # mode ("" or --spread): sets SRV and PORT
    # background jobs start with SIGINT ignored: give it back for Ctrl-C
    env --default-signal=INT "$ECHO" server --loops 2 $1 0 >"$TMP/out" 2>&1 &
    SRV=$!
    PORT=
    for _ in $(seq 50); do
        PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$TMP/out")
        [ -n "$PORT" ] && return 0
        sleep 0.1
    done
    echo "spread.sh: the server did not start" >&2
    exit 1
}

stop_echo() {
    kill -INT "$SRV"
    wait "$SRV" 2>/dev/null
    SRV=
}

for run in $(seq "$RUNS"); do
    for mode in "" --spread; do
        name=${mode:---reuse-port}
        start_echo "$mode"
        c0=$(cpu_ticks "$SRV")
        r=$(timeout $((SECS + 10)) "$CHURN" "$PORT" 8 "$SECS")
        c1=$(cpu_ticks "$SRV")
        n=$(grep -c 'bytes echoed' "$TMP/out")
        per=$(sed -n 's/.* on loop //p' "$TMP/out" | sort | uniq -c | awk '{printf "%s%s", s, $1; s="/"}')
        echo "RESULT churn server=${name#--} $r conns=$n per_loop=$per" \
            "cpu_us_per_conn=$(echo "scale=1; ($c1 - $c0) * 1000000 / $HZ / $n" | bc)"
        stop_echo
        start_echo "$mode"
        timeout $((SECS + 20)) "$LOAD" echo "$PORT" 100 1 "$SECS" 0 "${name#--}" >"$TMP/load" 2>&1 &
        load=$!
        sleep 1
        c0=$(cpu_ticks "$SRV")
        sleep "$SECS"
        c1=$(cpu_ticks "$SRV")
        wait "$load"
        reqs=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' "$TMP/load")
        rps=$(sed -n 's/.* req_per_s=\([0-9]*\).*/\1/p' "$TMP/load")
        if [ -z "$reqs" ]; then
            echo "RESULT echo server=${name#--} failed: $(tr '\n' ' ' <"$TMP/load")"
            stop_echo
            continue
        fi
        echo "RESULT echo server=${name#--} req_per_s=$rps" \
            "cpu_us_per_req=$(echo "scale=2; ($c1 - $c0) * 1000000 / $HZ / $reqs" | bc)"
        stop_echo
    done
done
