#!/bin/sh
# `make demo`: the tour. Runs the user's two programs (the second once more
# with its timeline written, AIOC_TRACE), the deadline one, the
# data pipeline, the echo server, the chat server, kv (Redis-compatible),
# and the web examples on loopback: the crawler against the demo site and
# the API client against the demo API (tests/fixtures), and the back end
# with its own scripted client.
set -eu
tree=${1:-build/release}
show() { # program, what it shows, arguments...
    prog=$1 what=$2
    shift 2
    echo
    echo "\$ $prog${*:+ $*}    # $what"
    start=$(date +%s%N)
    "$tree/examples/$prog" "$@"
    end=$(date +%s%N)
    echo "(took $(( (end - start) / 1000000 )) ms)"
}
show hello_await "print(await func()) -> 1"
show orders "three orders gathered: about 2 s in all, not 3"
# the same run, traced: a timeline for ui.perfetto.dev, and a picture of it
trace_dir=$(cd "$tree" && pwd)
echo
echo "\$ AIOC_TRACE=$trace_dir/orders-trace.json orders    # the run's timeline (Chrome trace-event JSON)"
AIOC_TRACE="$trace_dir/orders-trace.json" "$tree/examples/orders" >/dev/null
python3 "$(dirname "$0")/trace_view.py" "$trace_dir/orders-trace.json" "$trace_dir/orders-trace.html"
echo "open it in ui.perfetto.dev or chrome://tracing; a picture: $trace_dir/orders-trace.html"
show deadline "a deadline scope, wait_for, and cancelling a task"
show pipeline "reader -> parsers -> transformers (thread pool) -> writer; Ctrl-C stops it cleanly" \
    --records 100000 --out /dev/null

# serve PROGRAM ARGS...: starts "PROGRAM server ARGS..." in the background,
# its output in $tmp/server; sets $server (its PID) and $port once it listens.
serve() {
    prog=$1
    shift
    # a shell starts background jobs with SIGINT ignored; give it back
    env --default-signal=INT "$tree/examples/$prog" server "$@" >"$tmp/server" 2>&1 &
    server=$!
    port=
    for _ in $(seq 1 100); do # up to 5 s for the "listening" line
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/server")
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    cat "$tmp/server"
    kill "$server"
    exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The echo server: bytes come back as they are, with or without a newline;
# the client half-closes at the end of its input and reads the rest.
echo
echo "\$ echo server 0 &  and  echo client 127.0.0.1 PORT    # bytes echoed as they arrive (RFC 862), then Ctrl-C"
start=$(date +%s%N)
serve echo 0
printf 'a message without a newline' | "$tree/examples/echo" client 127.0.0.1 "$port"
echo
head -c 1048576 /dev/urandom >"$tmp/random"
"$tree/examples/echo" client 127.0.0.1 "$port" <"$tmp/random" | cmp - "$tmp/random" &&
    echo "(1 MiB of random bytes came back unchanged)"
kill -INT "$server"
status=0
wait "$server" || status=$?
echo "--- the server's output, then Ctrl-C: exit status $status"
cat "$tmp/server"
end=$(date +%s%N)
echo "(took $(( (end - start) / 1000000 )) ms)"

# The chat server, with three scripted clients (the example's own client
# mode): they join, talk and leave; then Ctrl-C stops the server.
echo
echo "\$ chat server 0 &  and  3 x chat client 127.0.0.1 PORT    # a chat room: three people join, talk, leave; then Ctrl-C"
start=$(date +%s%N)
chat=$tree/examples/chat
serve chat 0
client() { # name: what the client types, line by line, with pauses, on stdin
    "$chat" client 127.0.0.1 "$port" >"$tmp/$1" 2>&1
}
{ echo alice; sleep 0.6; echo "hi bob"; sleep 1.4; echo "bye, carol"; } | client alice &
{ sleep 0.3; echo alice; echo bob; sleep 0.6; echo "hello alice"; sleep 0.9; echo /quit; } | client bob &
{ sleep 1.2; echo carol; sleep 0.3; echo /who; echo "hi both"; sleep 1.6; } | client carol &
sleep 2.6
kill -INT "$server"
status=0
wait "$server" || status=$?
wait
for name in alice bob carol; do
    echo "--- $name's screen"
    cat "$tmp/$name"
done
echo "--- the server's: $(cat "$tmp/server"), then Ctrl-C: exit status $status"
end=$(date +%s%N)
echo "(took $(( (end - start) / 1000000 )) ms)"

# The chat's page in a real browser: headless Chromium joins the room
# from the page the server serves, typing as a person would (driven by
# tests/peers/chat_browser.py), with two TCP clients in the room; its
# screen is saved as a PNG. Where the chat was built without its page
# (no WebSocket adapter) or no browser is installed, this is skipped.
if [ -x "$(command -v chromium-headless-shell)" ] &&
    "$chat" server 0 --web 0 --help 2>&1 | grep -q "^usage:"; then # built with its page
    echo
    echo "\$ chat server 0 --web 0 &  and a browser at http://127.0.0.1:WEBPORT/    # the same room from a web page (headless Chromium), then Ctrl-C"
    start=$(date +%s%N)
    serve chat 0 --web 0
    web_port=$(sed -n 's|^page at http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' "$tmp/server")
    /usr/bin/python3 tests/peers/chat_browser.py "$(command -v chromium-headless-shell)" \
        "$port" "$web_port" "$server" "$tree"
    status=0
    wait "$server" || status=$?
    echo "--- the page's screen: $tree/chat-page.png; the server exited with status $status"
    echo "--- to join yourself: $chat server 7000 --web 8000, then open http://127.0.0.1:8000/"
    echo "    in a browser, and: socat - TCP:127.0.0.1:7000 in a terminal"
    end=$(date +%s%N)
    echo "(took $(( (end - start) / 1000000 )) ms)"
fi

# start_fixture PROGRAM WHAT ARGS...: starts tests/fixtures' PROGRAM (the
# demo site, the demo API) in the background, its output in $tmp/fixture;
# sets $fixture (its PID) and $url once it says "serving the demo WHAT on
# URL".
start_fixture() {
    fixture_prog=$1 what=$2
    shift 2
    env --default-signal=INT "$tree/tests/fixtures/$fixture_prog" "$@" >"$tmp/fixture" 2>&1 &
    fixture=$!
    trap 'kill -INT "$fixture" 2>/dev/null; rm -rf "$tmp"' EXIT # even if the example fails
    url=
    for _ in $(seq 1 100); do # up to 5 s for the "serving" line
        url=$(sed -n "s/^serving the demo $what on \(http:[^ ]*\)\$/\1/p" "$tmp/fixture")
        [ -n "$url" ] && return 0
        sleep 0.05
    done
    cat "$tmp/fixture"
    kill "$fixture"
    exit 1
}
# stop_fixture: Ctrl-C to the fixture, by its PID; shows the counts it prints
stop_fixture() {
    kill -INT "$fixture"
    status=0
    wait "$fixture" || status=$?
    trap 'rm -rf "$tmp"' EXIT
    echo "--- $fixture_prog, then Ctrl-C: exit status $status; $(tail -n 1 "$tmp/fixture")"
}

# kv, the Redis-compatible server, answering Debian's redis-cli: strings,
# a counter, a key that expires, a list, a hash; then Ctrl-C.
if command -v redis-cli >/dev/null 2>&1; then
    echo
    echo "\$ kv 0 &  and  redis-cli -p PORT ...    # a Redis-compatible server (examples/kv), then Ctrl-C"
    start=$(date +%s%N)
    env --default-signal=INT "$tree/examples/kv" 0 >"$tmp/server" 2>&1 &
    server=$!
    port=
    for _ in $(seq 1 100); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/server")
        [ -n "$port" ] && break
        sleep 0.05
    done
    for cmd in "SET greeting hello" "GET greeting" "INCR visits" "INCRBY visits 41" \
        "SET session abc PX 200" "PTTL session" "RPUSH queue a b c" "LRANGE queue 0 -1" \
        "HSET user:1 name ada lang c" "HGETALL user:1" "GET nosuchkey" "LPUSH greeting x"; do
        echo "redis> $cmd"
        # (word splitting on purpose: the command's arguments)
        # shellcheck disable=SC2086
        redis-cli --no-raw -p "$port" $cmd | sed 's/^/  /'
    done
    sleep 0.3
    echo "redis> GET session    # its 200 ms are up: expired"
    redis-cli --no-raw -p "$port" GET session | sed 's/^/  /'
    kill -INT "$server"
    status=0
    wait "$server" || status=$?
    echo "--- the server's output: $(cat "$tmp/server"), then Ctrl-C: exit status $status"
    end=$(date +%s%N)
    echo "(took $(( (end - start) / 1000000 )) ms)"
fi

# The web crawler, on the demo site (tests/fixtures/demo_site.c): 200 pages
# (with broken links and a slow page) on a free loopback port, crawled
# breadth-first, 4 requests at a time per origin, 16 in all.
# (built only when the libcurl and HTTP adapters are)
if [ -x "$tree/examples/crawler" ] && [ -x "$tree/tests/fixtures/demo_site" ]; then
    start_fixture demo_site site
    echo
    echo "\$ demo_site &    # $(cat "$tmp/fixture")"
    show crawler "a task per URL, a task group per level, gated by semaphores; libcurl fetches" \
        "$url"
    stop_fixture
fi

# The API client, against the demo JSON API (tests/fixtures/demo_api.c) that
# fails some requests on purpose (503, 429, answers too slow for the 2 s
# deadline).
if [ -x "$tree/examples/api_client" ] && [ -x "$tree/tests/fixtures/demo_api" ]; then
    start_fixture demo_api API
    echo
    echo "\$ demo_api &    # $(cat "$tmp/fixture")"
    show api_client "1,000 JSON items, 50 in flight, retries and deadlines; jansson reads them" \
        "$url"
    stop_fixture
fi

# The back end: a notes service (HTTP JSON on aioc_http, SQLite through the
# thread pool), driven by a scripted client in the same loop.
if [ -x "$tree/examples/backend" ]; then
    show backend "create, list, update, delete notes; SQLite on the thread pool" --demo
fi

# The same back end on PostgreSQL (where the aioc_pg adapter is built and
# the server's programs are installed): a throwaway server (initdb, a free
# loopback port; adapters/pg/tests/pgserver.sh), stopped at the end.
pgserver=$(dirname "$0")/../adapters/pg/tests/pgserver.sh
if [ -x "$tree/examples/backend" ] && ls "$tree"/adapters/pg/libaioc_pg.* >/dev/null 2>&1 &&
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    trap '"$pgserver" stop "$tmp/pg.txt" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
    echo
    if "$pgserver" start "$tmp/pg.txt" >"$tmp/pgserver" 2>&1; then
        pg_url=$(sed -n 's/^url=//p' "$tmp/pg.txt")
        echo "\$ pgserver.sh start    # $(cat "$tmp/pgserver")"
        show backend "the same tour on PostgreSQL: aioc_pg's pool, pipelined, no threads" \
            --demo --db "$pg_url"
        "$pgserver" stop "$tmp/pg.txt"
    else
        echo "(PostgreSQL did not start: $(tail -n 3 "$tmp/pgserver"); its back end demo skipped)"
    fi
    trap 'rm -rf "$tmp"' EXIT
fi
