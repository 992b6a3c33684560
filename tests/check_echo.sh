#!/bin/sh
# The echo example against outside clients: socat (Debian's) and the
# example's own client, in its bytes mode (RFC 862: any bytes, any size,
# half-close honoured) and its --lines mode; then Ctrl-C stops the server
# cleanly.
#   check_echo.sh ECHO_BINARY
. "$(dirname "$0")/lib.sh"
bin=$1
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
timeout 60 ${AIOC_TEST_EMULATOR:-} "$bin" client 127.0.0.1 "$port" <"$dir/random" >"$dir/client.back" ||
    fail "the example client failed"
cmp -s "$dir/random" "$dir/client.back" || fail "the example client got back something else"
# a line per connection, with the peer's address: socat's three, then the
# client's (the random bytes)
until_lines=0
for _ in $(seq 1 100); do
    until_lines=$(grep -c '^127\.0\.0\.1:[0-9]*: [0-9]* bytes echoed$' "$dir/server.out")
    [ "$until_lines" -ge 4 ] && break
    sleep 0.1
done
[ "$until_lines" -eq 4 ] || fail "expected 4 'bytes echoed' lines, found $until_lines"
grep -q ': 4194304 bytes echoed$' "$dir/server.out" || fail "no line for the 4 MiB connection"
stop_server

# lines
start_server --lines
seq 1 1000 | sed 's/^/line /' >"$dir/lines"
timeout 20 socat -t 5 - "TCP:127.0.0.1:$port,shut-down" <"$dir/lines" >"$dir/socat.out" ||
    fail "socat failed"
cmp -s "$dir/lines" "$dir/socat.out" || fail "socat got back something else"

timeout 20 ${AIOC_TEST_EMULATOR:-} "$bin" client 127.0.0.1 "$port" <"$dir/lines" >"$dir/client.out" ||
    fail "the example client failed"
cmp -s "$dir/lines" "$dir/client.out" || fail "the example client got back something else"

# ten socat clients at once
clients=
for i in $(seq 0 9); do
    timeout 20 socat -t 5 - "TCP:127.0.0.1:$port,shut-down" <"$dir/lines" >"$dir/many.$i" &
    clients="$clients $!"
done
for c in $clients; do
    wait "$c" || fail "a concurrent socat client failed"
done
for i in $(seq 0 9); do
    cmp -s "$dir/lines" "$dir/many.$i" || fail "concurrent client $i got back something else"
done

stop_server
echo "ok: echo server echoed bytes and lines to socat and its own client, and stopped on Ctrl-C"
