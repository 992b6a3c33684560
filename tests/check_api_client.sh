#!/bin/sh
# The api_client example against the demo API (tests/fixtures/demo_api.c,
# named by DEMO_API with the emulator prefix if any), a fresh one for each
# run, whose own counts of what it served are checked too. Item ID costs
# 1.00 + ((37 * ID) % 9973) / 100; each item's first request fails when the
# ID ends in 3 (503), in 7 (429) or in 42 (no answer within the client's
# timeout), so 1000 items have 210 faults; with --bad-json the IDs ending
# in 11, 25, 36, 58, 64, 89 and 90 have broken bodies (70 of 1000).
#   check_api_client.sh MODE API_CLIENT_BINARY
#     whole    every item, every fault retried once, the exact total (and
#              without a URL, the usage message)
#     retries  --retries 0: the faults are errors; --retries 1: none are;
#              a 429's Retry-After is honoured
#     deadline --deadline ends the run in time (while fetching, while
#              listing), with the requests in flight cancelled
#     bounds   never more requests at once than --concurrency, and each
#              one asked for
#     badjson  broken items are errors, each asked for once; a refused
#              connection, a listing of the wrong kind and a server that
#              vanishes mid-run end in errors, not crashes
#     sigint   Ctrl-C mid-run: the summary, then exit status 130
. "$(dirname "$0")/lib.sh"
mode=$1
bin=$2
api=
fail_details() {
    for f in "$dir"/*; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
}

faulty="$(seq -s ' ' 3 10 99) $(seq -s ' ' 7 10 99) 42" # ID % 100 of the faults
broken="11 25 36 58 64 89 90"                            # and of --bad-json's

# The sum of the prices of items 1..N, leaving out the IDs whose last two
# digits are listed, as the summary prints it.
total() { # N, residues left out
    seq 1 "$1" | awk -v skip="$2" '
        BEGIN { n = split(skip, r, " "); for (i = 1; i <= n; i++) out[r[i]] = 1 }
        !(($1 % 100) in out) { s += 100 + ($1 * 37) % 9973 }
        END { printf "%d.%02d\n", int(s / 100), s % 100 }'
}

# Reads the summary line of an output file into items, errors, retries,
# cancelled, untried and elapsed.
summary() {
    line=$(grep '^api_client: [0-9]* items, ' "$1") || fail "no summary line in $1"
    # api_client: I items, E errors, R retries, total price P, C cancelled,
    # U not attempted, in T s
    set -- $line
    items=$2 errors=$4 retries=$6 cancelled=${11} untried=${13} elapsed=${17}
}

expect_summary() { # file, items, errors, retries, price, cancelled, not attempted
    want="$2 items, $3 errors, $4 retries, total price $5, $6 cancelled, $7 not attempted"
    grep -q "^api_client: $want, in [0-9.]* s$" "$1" || fail "$1: expected $want"
}

expect_status() { # expected, actual, what
    [ "$2" -eq "$1" ] || fail "$3: exit status $2, expected $1"
}

# The client's run against a fresh demo API: `against OPTIONS -- CLIENT
# OPTIONS`; the client's output in $dir/NAME, its exit status in $status,
# the API's counts in served, listings and most.
against() { # name, the API's options, --, the client's options
    name=$1
    shift
    api_opts=""
    while [ "$1" != "--" ]; do api_opts="$api_opts $1"; shift; done
    shift
    start_api $api_opts
    status=0
    timeout 60 "$bin" --quiet "$@" "$url" >"$dir/$name" 2>&1 || status=$?
    client_status=$status
    stop_api
    status=$client_status
}

expect_served() { # what, requests, listings
    [ "$served" -eq "$2" ] && [ "$listings" -eq "$3" ] ||
        fail "$1: the API served $served requests ($listings listings), expected $2 ($3)"
}

# Waits up to 20 s for a line of FILE that the sed script prints; sets found.
await_line() { # file, sed script
    wait_line "$1" "$2" 20 || fail "$1: no line matching $2"
}

start_api() { # the demo API's options
    start ${DEMO_API:?} "$@" 0 >"$dir/api.out" 2>&1
    api=$started
    await_line "$dir/api.out" 's/^serving the demo API on \(http:[^ ]*\)$/\1/p'
    url=$found
}

stop_api() { # sets served, listings, most from the API's last line
    interrupt "$api" 10
    api=
    expect_status 130 "$status" "the demo API after Ctrl-C"
    line=$(grep '^served .* at once$' "$dir/api.out") || fail "the demo API printed no counts"
    set -- $line # served N requests (L listings), at most K at once
    served=$2 listings=${4#(} most=${8}
}

case $mode in
whole)
    status=0
    "$bin" >"$dir/usage" 2>&1 || status=$?
    expect_status 2 "$status" "no URL"
    grep -q '^usage: api_client ' "$dir/usage" || fail "no usage message without a URL"
    against whole --
    expect_status 0 "$status" "the whole run"
    expect_summary "$dir/whole" 1000 0 210 "$(total 1000 '')" 0 0
    # the listing, 1000 items and a second request for each of 210 faults
    expect_served "the whole run" 1211 1
    ;;
retries)
    against none -- --retries 0
    expect_status 1 "$status" "--retries 0"
    expect_summary "$dir/none" 790 210 0 "$(total 1000 "$faulty")" 0 0
    grep -q '^  item 3: HTTP status 503$' "$dir/none" || fail "no 503 for item 3"
    grep -q '^  item 7: HTTP status 429$' "$dir/none" || fail "no 429 for item 7"
    grep -q '^  item 42: no answer within 2 s$' "$dir/none" || fail "no timeout for item 42"
    grep -q '^  (and 200 more)$' "$dir/none" || fail "not 10 errors shown of 210"
    expect_served "--retries 0" 1001 1

    against one -- --retries 1
    expect_status 0 "$status" "--retries 1"
    expect_summary "$dir/one" 1000 0 210 "$(total 1000 '')" 0 0
    expect_served "--retries 1" 1211 1

    # Items 1-10 without stalls: item 3's 503 is retried after 0.05-0.1 s,
    # item 7's 429 after its Retry-After: 1, so the run takes over 1 s.
    against after --stall 0 -- --count 10
    expect_status 0 "$status" "Retry-After"
    expect_summary "$dir/after" 10 0 2 "$(total 10 '')" 0 0
    summary "$dir/after"
    awk -v t="$elapsed" 'BEGIN { exit !(t >= 1.0 && t < 5) }' ||
        fail "$elapsed s for a run with a Retry-After of 1 s"
    expect_served "Retry-After" 13 1
    ;;
deadline)
    # 1000 items taking 0.2 s each, 50 at a time, would take 4 s or more
    start=$(date +%s)
    against fetching --delay 0.2 -- --deadline 1
    expect_status 1 "$status" "--deadline 1"
    [ $(($(date +%s) - start)) -le 10 ] || fail "the run took over 10 s"
    grep -q '^api_client: the deadline of 1 s passed$' "$dir/fetching" || fail "no deadline line"
    summary "$dir/fetching"
    [ "$items" -gt 0 ] && [ "$items" -lt 1000 ] || fail "$items items: not ended mid-run"
    [ "$cancelled" -gt 0 ] || fail "no request in flight was cancelled"
    [ "$untried" -gt 0 ] || fail "every item attempted"
    [ $((items + errors + cancelled + untried)) -eq 1000 ] ||
        fail "$items + $errors + $cancelled + $untried items, not 1000"
    awk -v t="$elapsed" 'BEGIN { exit !(t >= 1.0 && t < 3) }' ||
        fail "$elapsed s for a deadline of 1 s"
    # the listing, and at most one request per item and retry begun
    [ "$served" -ge $((1 + items)) ] &&
        [ "$served" -le $((1 + items + errors + cancelled + retries)) ] ||
        fail "the API served $served requests"

    # The listing itself takes 5 s: the deadline ends it, without a retry
    # (the overall deadline is no request timing out).
    against listing --delay 5 -- --deadline 0.5
    expect_status 1 "$status" "--deadline 0.5 while listing"
    grep -q '^api_client: the deadline of 0.5 s passed$' "$dir/listing" || fail "no deadline line"
    expect_summary "$dir/listing" 0 0 0 0.00 0 1000
    summary "$dir/listing"
    awk -v t="$elapsed" 'BEGIN { exit !(t >= 0.5 && t < 2) }' ||
        fail "$elapsed s for a deadline of 0.5 s"
    [ "$served" -le 1 ] || fail "the API served $served requests, expected the listing once"
    ;;
bounds)
    # Stalls shorter than the client's timeout: no request is given up, so
    # the API sees each one to its end and counts every request exactly.
    start_api --delay 0.005 --stall 0.3
    timeout 60 "$bin" --quiet --concurrency 7 --timeout 5 "$url" >"$dir/client" 2>&1 ||
        fail "exit status $?"
    # the 10 stalled items are slow, not failed: 200 retries
    expect_summary "$dir/client" 1000 0 200 "$(total 1000 '')" 0 0
    stop_api
    [ "$served" -eq 1201 ] && [ "$listings" -eq 1 ] ||
        fail "the API served $served requests ($listings listings), expected 1201 (1)"
    [ "$most" -le 7 ] || fail "$most requests at once, over --concurrency 7"
    [ "$most" -ge 2 ] || fail "never more than one request at once"
    ;;
badjson)
    start_api --bad-json
    status=0
    timeout 60 "$bin" --quiet "$url" >"$dir/client" 2>&1 || status=$?
    expect_status 1 "$status" "broken items"
    expect_summary "$dir/client" 930 70 210 "$(total 1000 "$broken")" 0 0
    for e in "11: invalid JSON at line 1, column [0-9]*: premature end of input" \
        "25: unexpected JSON: Expected integer, got string" \
        "36: invalid JSON at line 1, column [0-9]*: duplicate object key" \
        "58: invalid JSON at line 1, column [0-9]*: unable to decode byte 0xff" \
        "64: invalid JSON at line 1, column 1: " \
        "89: body over the size limit" \
        "90: the answer is item 91"; do
        grep -q "^  item $e" "$dir/client" || fail "no error 'item $e'"
    done

    # listings that are not lists of ids: an item, then HTML (the query
    # string swallows the "/items?limit=N" the client appends)
    status=0
    timeout 60 "$bin" --quiet "$url/items/1?" >"$dir/shape" 2>&1 || status=$?
    expect_status 1 "$status" "a listing of the wrong shape"
    grep -q '^api_client: cannot list the items: unexpected JSON: Object item not found: ids$' \
        "$dir/shape" ||
        fail "no error for a listing of the wrong shape"
    status=0
    timeout 60 "$bin" --quiet "$url/items/64?" >"$dir/html" 2>&1 || status=$?
    expect_status 1 "$status" "a listing in HTML"
    grep -q '^api_client: cannot list the items: invalid JSON at line 1' "$dir/html" ||
        fail "no error for a listing in HTML"
    status=0
    timeout 60 "$bin" --quiet "$url/nothing" >"$dir/missing" 2>&1 || status=$?
    expect_status 1 "$status" "a missing listing"
    grep -q '^api_client: cannot list the items: HTTP status 404$' "$dir/missing" ||
        fail "no 404 for a missing listing (not retried)"

    stop_api
    # one request for each broken item: 1 listing, 1000 items, 210 retries,
    # and the 2 items asked for as listings (the 404 matched no route)
    [ "$served" -eq 1213 ] || fail "the API served $served requests, expected 1213"

    # the API is gone: connections are refused
    status=0
    timeout 60 "$bin" --quiet --retries 1 "$url" >"$dir/refused" 2>&1 || status=$?
    expect_status 1 "$status" "a refused connection"
    grep -q '^api_client: cannot list the items: Connection refused (2 attempts)$' \
        "$dir/refused" || fail "no 'Connection refused' after 2 attempts"
    expect_summary "$dir/refused" 0 0 1 0.00 0 1000

    # an API that vanishes mid-run (killed)
    start_api --delay 0.05
    timeout 60 "$bin" --count 400 --retries 1 "$url" >"$dir/vanish" 2>&1 &
    client=$!
    track "$client" TERM # timeout passes it on
    await_line "$dir/vanish" 's/^api_client: 400 items listed.*/yes/p'
    kill -KILL "$api"
    wait "$api" 2>/dev/null
    untrack "$api"
    api=
    wait_bounded "$client" 60
    expect_status 1 "$status" "a vanished API"
    summary "$dir/vanish"
    [ "$errors" -gt 0 ] && [ "$items" -lt 400 ] || fail "$items items, $errors errors"
    [ $((items + errors)) -eq 400 ] || fail "$items items + $errors errors, not 400"
    ;;
sigint)
    start_api --delay 0.05 # 1000 items two at a time: about 25 s in all
    start "$bin" --quiet --concurrency 2 "$url" >"$dir/client" 2>&1
    client=$started
    # 100 requests arrived with at most 2 in flight: 97 or more answered
    await_line "$dir/api.out" 's/^so far: 100 requests$/yes/p'
    interrupt "$client" 30
    expect_status 130 "$status" "Ctrl-C"
    grep -q '^api_client: interrupted$' "$dir/client" || fail "no 'interrupted' line"
    summary "$dir/client"
    [ "$items" -gt 0 ] && [ "$items" -lt 1000 ] && [ "$untried" -gt 0 ] ||
        fail "$items items: Ctrl-C did not come mid-run"
    [ $((items + errors + cancelled + untried)) -eq 1000 ] ||
        fail "$items + $errors + $cancelled + $untried items, not 1000"
    stop_api
    # the listing, and at most one request per item and retry begun
    [ "$served" -ge 1 ] && [ "$served" -le $((1 + items + errors + cancelled + retries)) ] ||
        fail "the API served $served requests"
    ;;
*)
    fail "unknown mode"
    ;;
esac
echo "ok: api_client $mode"
