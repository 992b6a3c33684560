#!/bin/sh
# The echo example against outside clients: socat (Debian's) and the
# example's own client; then Ctrl-C stops the server cleanly.
#   check_echo.sh ECHO_BINARY
set -u
bin=$1
dir=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$dir/server.out" "$dir/server.err" 2>/dev/null; exit 1; }

# a shell starts background jobs with SIGINT ignored; give it back
env --default-signal=INT ${AIOC_TEST_EMULATOR:-} "$bin" server 0 >"$dir/server.out" 2>"$dir/server.err" &
pid=$!
port=
for _ in $(seq 1 100); do # up to 10 s for the "listening" line
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$dir/server.out")
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || fail "the server did not start"

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

kill -INT "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 130 ] || fail "Ctrl-C: exit status $status, expected 130"
echo "ok: echo server served socat and its own client, and stopped on Ctrl-C"
