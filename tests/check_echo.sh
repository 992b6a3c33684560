#!/bin/sh
# The echo example against outside clients, on one loop or on three; in
# every mode Ctrl-C stops the server cleanly (exit status 130).
#   check_echo.sh ECHO_BINARY
#       one loop: socat (Debian's) and the example's own client, in its
#       bytes mode (RFC 862: any bytes, any size, half-close honoured) and
#       its --lines mode
#   check_echo.sh ECHO_BINARY loops
#       echo server --loops 3: every loop listens on the one port
#       (SO_REUSEPORT), 20 socat clients at once get their bytes back, and
#       more than one loop serves them
#   check_echo.sh ECHO_BINARY spread
#       echo server --loops 3 --spread: loop 0 alone accepts and hands each
#       connection to the least-loaded loop; 21 long-lived clients opened
#       one after the other are served 7 by each loop
. "$(dirname "$0")/lib.sh"
bin=$1
mode=${2:-}
pid=
fail_details() { cat "$dir/server.out" "$dir/server.err" 2>/dev/null; }

start_server() { # extra server arguments
    start ${AIOC_TEST_EMULATOR:-} "$bin" server "$@" 0 >"$dir/server.out" 2>"$dir/server.err"
    pid=$started
    # up to 10 s for the "listening" line
    wait_line "$dir/server.out" 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' ||
        fail "the server did not start"
    port=$found
}

stop_server() {
    interrupt "$pid"
    pid=
    [ "$status" -eq 130 ] || fail "Ctrl-C: exit status $status, expected 130"
}

# socat sends FILE, half-closes, and keeps what comes back until the server
# closes: it must be FILE exactly
socat_echo() { # file, name
    timeout 60 socat -t 30 - "TCP:127.0.0.1:$port,shut-down" <"$1" >"$dir/$2.back" ||
        fail "socat ($2) failed"
    cmp -s "$1" "$dir/$2.back" || fail "socat ($2) got back something else"
}

# N socat clients at once send FILE: each must get it back
many_clients() { # n, file
    clients=
    for i in $(seq 1 "$1"); do
        timeout 20 socat -t 5 - "TCP:127.0.0.1:$port,shut-down" <"$2" >"$dir/many.$i" &
        clients="$clients $!"
    done
    for c in $clients; do
        wait "$c" || fail "a concurrent socat client failed"
    done
    for i in $(seq 1 "$1"); do
        cmp -s "$2" "$dir/many.$i" || fail "concurrent client $i got back something else"
    done
}

# The server logs a line per connection once it has closed it: waits (10 s
# at most) for N lines that match the grep PATTERN, and fails on another
# count
echoed_lines() { # n, pattern
    n=0
    for _ in $(seq 1 100); do
        n=$(grep -c "$2" "$dir/server.out")
        [ "$n" -ge "$1" ] && break
        sleep 0.1
    done
    [ "$n" -eq "$1" ] || fail "expected $1 'bytes echoed' lines, found $n"
}

# a line per connection on one of three loops, with the peer's address
on_loop='^127\.0\.0\.1:[0-9]*: [0-9]* bytes echoed on loop [0-2]$'

# three loops, each a thread of its own
start_loops() { # extra server arguments
    start_server --loops 3 "$@"
    threads=$(ls "/proc/$pid/task" | wc -l)
    [ "$threads" -ge 3 ] || fail "$threads thread(s), expected a loop per thread (3)"
}

case $mode in
"")
    # bytes: 64 bytes without a newline, 4 MiB of random bytes, one line of
    # 100,000 bytes, from socat and from the example's own client
    start_server
    head -c 64 /dev/zero | tr '\0' a >"$dir/short"
    head -c 4194304 /dev/urandom >"$dir/random"
    head -c 100000 /dev/zero | tr '\0' b >"$dir/long"
    echo >>"$dir/long"
    for f in short random long; do
        socat_echo "$dir/$f" "$f"
    done
    timeout 60 ${AIOC_TEST_EMULATOR:-} "$bin" client 127.0.0.1 "$port" <"$dir/random" \
        >"$dir/client.back" || fail "the example client failed"
    cmp -s "$dir/random" "$dir/client.back" || fail "the example client got back something else"
    # a line per connection, with the peer's address: socat's three, then
    # the client's (the random bytes)
    echoed_lines 4 '^127\.0\.0\.1:[0-9]*: [0-9]* bytes echoed$'
    grep -q ': 4194304 bytes echoed$' "$dir/server.out" || fail "no line for the 4 MiB connection"
    stop_server

    # lines: from socat, from the example's own client, then from ten
    # socat clients at once
    start_server --lines
    seq 1 1000 | sed 's/^/line /' >"$dir/lines"
    timeout 20 socat -t 5 - "TCP:127.0.0.1:$port,shut-down" <"$dir/lines" >"$dir/socat.out" ||
        fail "socat failed"
    cmp -s "$dir/lines" "$dir/socat.out" || fail "socat got back something else"
    timeout 20 ${AIOC_TEST_EMULATOR:-} "$bin" client 127.0.0.1 "$port" <"$dir/lines" \
        >"$dir/client.out" || fail "the example client failed"
    cmp -s "$dir/lines" "$dir/client.out" || fail "the example client got back something else"
    many_clients 10 "$dir/lines"
    stop_server
    echo "ok: echo server echoed bytes and lines to socat and its own client, and stopped on Ctrl-C"
    ;;
loops)
    start_loops
    seq 1 2000 | sed 's/^/line /' >"$dir/lines"
    many_clients 20 "$dir/lines"
    echoed_lines 20 "$on_loop"
    # the kernel hashes each connection's 4-tuple: 20 connections on 3
    # loops all land on one loop with a probability of about 1e-9
    loops=$(sed -n 's/.* on loop \([0-2]\)$/\1/p' "$dir/server.out" | sort -u | wc -l)
    [ "$loops" -ge 2 ] || fail "every connection was served by one loop"
    stop_server
    echo "ok: echo on 3 loops, $loops of them served"
    ;;
spread)
    start_loops --spread
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
    echoed_lines 21 "$on_loop"
    counts=$(for l in 0 1 2; do grep -c " on loop $l\$" "$dir/server.out"; done | sort -n)
    low=$(echo "$counts" | head -1)
    high=$(echo "$counts" | tail -1)
    [ $((high - low)) -le 1 ] || fail "uneven: connections per loop $(echo $counts)"
    stop_server
    echo "ok: echo on 3 loops with one acceptor, connections per loop: $(echo $counts)"
    ;;
*)
    fail "unknown mode (expected none, loops or spread)"
    ;;
esac
