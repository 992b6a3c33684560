#!/bin/sh
# The echo example on 3 loops (echo server --loops 3): every loop listens
# on the one port (SO_REUSEPORT), 20 socat clients at once get their bytes
# back, more than one loop serves them, and Ctrl-C stops every loop.
# With --spread (echo server --loops 3 --spread): loop 0 alone accepts and
# hands each connection to the least-loaded loop; 21 long-lived clients
# opened one after the other are served 7 by each loop.
#   check_echo_loops.sh ECHO_BINARY [--spread]
. "$(dirname "$0")/lib.sh"
bin=$1
mode=${2:-}
fail_details() { cat "$dir/server.out" "$dir/server.err" 2>/dev/null; }

start ${AIOC_TEST_EMULATOR:-} "$bin" server --loops 3 $mode 0 >"$dir/server.out" 2>"$dir/server.err"
pid=$started
wait_line "$dir/server.out" 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' ||
    fail "the server did not start"
port=$found
threads=$(ls "/proc/$pid/task" | wc -l)
[ "$threads" -ge 3 ] || fail "$threads thread(s), expected a loop per thread (3)"

if [ "$mode" = --spread ]; then
    # each client says hello, keeps the connection open until the script
    # makes the file "release", then half-closes; the next starts once the
    # last one's hello came back, so the server has handed over the last
    # connection before the next comes
    clients=
    for i in $(seq 0 20); do
        {
            printf 'hello %d\n' "$i"
            while [ ! -e "$dir/release" ]; do sleep 0.05; done
        } | timeout 30 socat -t 5 - "TCP:127.0.0.1:$port,shut-down" >"$dir/back.$i" &
        clients="$clients $!"
        wait_line "$dir/back.$i" "/^hello $i\$/p" 10 ||
            fail "client $i got no echo"
    done
    : >"$dir/release" # every client's input ends: each half-closes
    for c in $clients; do
        wait "$c" || fail "a socat client failed"
    done
    for i in $(seq 0 20); do
        [ "$(cat "$dir/back.$i")" = "hello $i" ] || fail "client $i got back something else"
    done
    n=0
    for _ in $(seq 1 100); do
        n=$(grep -c '^127\.0\.0\.1:[0-9]*: [0-9]* bytes echoed on loop [0-2]$' "$dir/server.out")
        [ "$n" -ge 21 ] && break
        sleep 0.1
    done
    [ "$n" -eq 21 ] || fail "expected 21 'bytes echoed on loop' lines, found $n"
    counts=$(for l in 0 1 2; do grep -c " on loop $l\$" "$dir/server.out"; done | sort -n)
    low=$(echo "$counts" | head -1)
    high=$(echo "$counts" | tail -1)
    [ $((high - low)) -le 1 ] || fail "uneven: connections per loop $(echo $counts)"
    interrupt "$pid"
    [ "$status" -eq 130 ] || fail "Ctrl-C: exit status $status, expected 130"
    echo "ok: echo on 3 loops with one acceptor, connections per loop: $(echo $counts)"
    exit 0
fi

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
