#!/bin/sh
# Checks the chat's page and WebSocket (examples/chat.c, chat.html) with
# peers nobody here wrote.
#   check_chat_browser.sh browser|websocket BINARY
# browser:   headless Chromium (Debian's chromium-headless-shell) opens the
#            page, joins, types lines, and reads what TCP clients say, all
#            checked from its DOM; Ctrl-C ends it with 1001
#            (tests/peers/chat_browser.py, driving Chromium through its
#            DevTools protocol); the screenshot stays in the scratch
#            directory (KEEP=1).
# websocket: Python's websockets library as the browser: the page's
#            handshake rules (same-origin only, 403 otherwise), long and
#            binary messages, lines across WebSocket and TCP clients in
#            order, a client that vanishes (tests/peers/chat_ws.py).
# Both end with Ctrl-C (status 130) and fail on a sanitizer's report.
. "$(dirname "$0")/lib.sh"
mode=$1 bin=$2
peers=$(dirname "$0")/peers

fail_details() {
    sed 's/^/  server: /' "$dir/server.out" "$dir/server.err" 2>/dev/null | head -40
}

/usr/bin/python3 -c 'import websockets' 2>/dev/null ||
    fail "Python's websockets is missing (python3-websockets)"
start ${AIOC_TEST_EMULATOR:-} "$bin" server 0 --web 0 >"$dir/server.out" 2>"$dir/server.err"
pid=$started
wait_line "$dir/server.out" 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' 20 ||
    fail "the server did not start"
port=$found
wait_line "$dir/server.out" 's|^page at http://127\.0\.0\.1:\([0-9][0-9]*\)/$|\1|p' 20 ||
    fail "the server did not serve its page"
web_port=$found

case $mode in
browser)
    chromium=$(command -v chromium-headless-shell) ||
        fail "chromium-headless-shell is missing (Debian's chromium-headless-shell)"
    # (Ctrl-C is the script's: the browser must see the server go)
    /usr/bin/python3 "$peers/chat_browser.py" "$chromium" "$port" "$web_port" "$pid" "$dir" ||
        fail "the browser's session failed"
    ;;
websocket)
    /usr/bin/python3 "$peers/chat_ws.py" "$port" "$web_port" || fail "a WebSocket check failed"
    kill -INT "$pid"
    ;;
*) fail "unknown mode $mode" ;;
esac

wait_bounded "$pid" 20
[ "$status" -eq 130 ] || fail "Ctrl-C: exit status $status, expected 130"
if grep -Eq '^==[0-9]+==|runtime error:|ERROR|aioc:' "$dir/server.err"; then
    fail "the server reported errors"
fi
echo "ok: chat $mode"
