#!/bin/sh
# The echo example on 3 loops (echo server --loops 3): every loop listens
# on the one port (SO_REUSEPORT), 20 socat clients at once get their bytes
# back, more than one loop serves them, and Ctrl-C stops every loop.
#   check_echo_loops.sh ECHO_BINARY
. "$(dirname "$0")/lib.sh"
bin=$1
fail_details() { cat "$dir/server.out" "$dir/server.err" 2>/dev/null; }

start ${AIOC_TEST_EMULATOR:-} "$bin" server --loops 3 0 >"$dir/server.out" 2>"$dir/server.err"
pid=$started
wait_line "$dir/server.out" 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' ||
    fail "the server did not start"
port=$found
threads=$(ls "/proc/$pid/task" | wc -l)
[ "$threads" -ge 3 ] || fail "$threads thread(s), expected a loop per thread (3)"

seq 1 2000 | sed 's/^/line /' >"$dir/lines"
clients=
for i in $(seq 0 19); do
    timeout 20 socat -t 5 - "TCP:127.0.0.1:$port,shut-down" <"$dir/lines" >"$dir/back.$i" &
    clients="$clients $!"
done
for c in $clients; do
    wait "$c" || fail "a socat client failed"
done
for i in $(seq 0 19); do
    cmp -s "$dir/lines" "$dir/back.$i" || fail "client $i got back something else"
done
n=0
for _ in $(seq 1 100); do
    n=$(grep -c '^127\.0\.0\.1:[0-9]*: [0-9]* bytes echoed on loop [0-2]$' "$dir/server.out")
    [ "$n" -ge 20 ] && break
    sleep 0.1
done
[ "$n" -eq 20 ] || fail "expected 20 'bytes echoed on loop' lines, found $n"
# the kernel hashes each connection's 4-tuple: 20 connections on 3 loops
# all land on one loop with a probability of about 1e-9
loops=$(sed -n 's/.* on loop \([0-2]\)$/\1/p' "$dir/server.out" | sort -u | wc -l)
[ "$loops" -ge 2 ] || fail "every connection was served by one loop"

interrupt "$pid"
[ "$status" -eq 130 ] || fail "Ctrl-C: exit status $status, expected 130"
echo "ok: echo on 3 loops, $loops of them served"
