#!/bin/sh
# The crawler example against its demo site (see examples/crawler.c): 200
# pages, 20 links to missing pages, one slow page.
#   check_crawler.sh MODE CRAWLER_BINARY
#     own     no URL: it serves and crawls its own site; every page found
#     depth   --depth 0 and 1: the start page, then it and its links
#     bounds  a separate site process counts what it serves: no URL twice,
#             never more requests at once than --concurrency / --per-host
#     sigint  Ctrl-C mid-crawl: the summary, then exit status 130
# AIOC_TEST_EMULATOR: a command prefix for the crawler in the own and depth
# modes (Valgrind: its exit status 99 on an error or a leak fails the test).
set -u
mode=$1
bin=$2
dir=$(mktemp -d)
site=
cleanup() {
    [ -n "$site" ] && kill "$site" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
fail() {
    echo "FAIL ($mode): $*"
    for f in "$dir"/*; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
    exit 1
}

# The summary line: "crawler: P pages, E errors (N not found), ..."
expect_summary() { # output file, pages, errors, not found
    grep -q "^crawler: $2 pages, $3 errors ($4 not found), " "$1" ||
        fail "expected $2 pages, $3 errors ($4 not found)"
}

start_site() { # delay per page
    # a shell starts background jobs with SIGINT ignored; give it back
    env --default-signal=INT "$bin" --serve-demo-site 0 "$1" >"$dir/site.out" 2>&1 &
    site=$!
    url=
    for _ in $(seq 1 100); do # up to 10 s for the "serving" line
        url=$(sed -n 's/^serving the demo site on \(http:[^ ]*\)$/\1/p' "$dir/site.out")
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || fail "the demo site did not start"
}

stop_site() { # sets served, distinct, others, most from the site's last line
    kill -INT "$site"
    status=0
    wait "$site" || status=$?
    site=
    [ "$status" -eq 130 ] || fail "the site's exit status after Ctrl-C: $status, expected 130"
    line=$(grep '^served ' "$dir/site.out") || fail "the site printed no counts"
    set -- $line # served N requests, M distinct, O outside the site, at most K at once
    served=$2 distinct=$4 others=$6 most=${12}
}

case $mode in
own)
    timeout 300 ${AIOC_TEST_EMULATOR:-} "$bin" --quiet >"$dir/out" 2>&1 || fail "exit status $?"
    expect_summary "$dir/out" 200 20 20
    ;;
depth)
    # the start page links to pages 1-4 and 11, and to /missing/0
    # ("#top" and a mailto: link do not count, nor a link in a comment)
    timeout 300 ${AIOC_TEST_EMULATOR:-} "$bin" --quiet --depth 0 >"$dir/out0" 2>&1 ||
        fail "exit status $?"
    expect_summary "$dir/out0" 1 0 0
    timeout 300 ${AIOC_TEST_EMULATOR:-} "$bin" --quiet --depth 1 >"$dir/out1" 2>&1 ||
        fail "exit status $?"
    expect_summary "$dir/out1" 6 1 1
    ;;
bounds)
    for limits in "--concurrency 3 --per-host 100:3" "--per-host 2:2"; do
        start_site 0.002
        timeout 60 "$bin" --quiet ${limits%:*} "$url" >"$dir/crawl" 2>&1 ||
            fail "$limits: exit status $?"
        expect_summary "$dir/crawl" 200 20 20
        stop_site
        bound=${limits#*:}
        # 200 pages, 20 missing ones and robots.txt
        [ "$served" -eq 221 ] && [ "$distinct" -eq 221 ] && [ "$others" -eq 0 ] ||
            fail "$limits: the site served $served requests for $distinct paths" \
                "($others outside the site), expected 221 distinct paths once each"
        [ "$most" -le "$bound" ] || fail "$limits: $most requests at once, over $bound"
        [ "$most" -ge 2 ] || fail "$limits: never more than one request at once"
    done
    ;;
sigint)
    start_site 0.05 # 221 requests two at a time: about 6 s in all
    env --default-signal=INT "$bin" --quiet --list --concurrency 2 "$url" >"$dir/crawl" 2>&1 &
    crawler=$!
    # Ctrl-C once 10 URLs are listed (each line is written as it comes)
    while [ "$(grep -c '^[0-9]* http' "$dir/crawl")" -lt 10 ]; do
        kill -0 "$crawler" 2>/dev/null || fail "the crawler ended before Ctrl-C"
        sleep 0.05
    done
    kill -INT "$crawler"
    status=0
    wait "$crawler" || status=$?
    [ "$status" -eq 130 ] || fail "exit status $status after Ctrl-C, expected 130"
    grep -q '^crawler: interrupted$' "$dir/crawl" || fail "no 'interrupted' line"
    line=$(grep '^crawler: [0-9]* pages, ' "$dir/crawl") || fail "no summary after Ctrl-C"
    set -- $line
    [ "$2" -gt 0 ] && [ "$2" -lt 200 ] || fail "$2 pages: Ctrl-C did not come mid-crawl"
    stop_site
    [ "$served" -eq "$distinct" ] || fail "the site served $served requests for $distinct paths"
    ;;
*)
    fail "unknown mode"
    ;;
esac
echo "ok: crawler $mode"
