#!/bin/sh
# The crawler example against the demo site (tests/fixtures/demo_site.c,
# named by DEMO_SITE with the emulator prefix if any: 200 pages, 20 links
# to missing pages, one slow page, robots.txt; it counts what it serves), a
# fresh one for each crawl; and against a generated site of about 3,000
# pages served by nginx (tests/fixtures/crawler_site.py: redirects, chains,
# a loop, broken links, files of a few MiB, links in every spelling,
# another origin on a second port, robots.txt).
#   check_crawler.sh MODE CRAWLER_BINARY
#     whole   every page found, each path requested once (and without a
#             URL, the usage message)
#     depth   --depth 0 and 1: the start page, then it and its links
#     bounds  no URL twice, never more requests at once than
#             --concurrency / --per-host
#     sigint  Ctrl-C mid-crawl: the summary, then exit status 130
#   On the nginx site, where each crawl's --list must equal, line for line,
#   the list the generator computed by its own breadth-first search, its
#   summary the generator's counts, and nginx's access log the list (each
#   URL requested once, with the status listed; robots.txt once per origin):
#     nginx_full      the whole site
#     nginx_depth     --depth 3 (a page at depth 3 only through a slow page's
#                     shorter path, found last) and --depth 1
#     nginx_robots    robots.txt obeyed (its Disallow'd paths not requested),
#                     then --ignore-robots (they are; robots.txt is not)
#     nginx_allhosts  --all-hosts: the second origin too, its own robots.txt
# AIOC_TEST_EMULATOR: a command prefix for the crawler in the whole, depth
# and nginx modes (Valgrind: its exit status 99 on an error or a leak fails
# the test).
. "$(dirname "$0")/lib.sh"
mode=$1
bin=$2
fixtures=$(cd "$(dirname "$0")" && pwd)/fixtures
fail_details() {
    for f in "$dir"/*; do [ -f "$f" ] && { echo "--- $f"; head -c 20000 "$f"; }; done
}

# The summary line: "crawler: P pages, E errors (N not found), ..."
expect_summary() { # output file, pages, errors, not found
    grep -q "^crawler: $2 pages, $3 errors ($4 not found), " "$1" ||
        fail "expected $2 pages, $3 errors ($4 not found)"
}

start_site() { # delay per page
    start ${DEMO_SITE:?} 0 "$1" >"$dir/site.out" 2>&1
    site=$started
    # up to 10 s for the "serving" line
    wait_line "$dir/site.out" 's/^serving the demo site on \(http:[^ ]*\)$/\1/p' ||
        fail "the demo site did not start"
    url=$found
}

# crawl_site NAME DELAY OPTION...: crawls a fresh demo site with the
# options (the crawler under AIOC_TEST_EMULATOR); its output in $dir/NAME
crawl_site() {
    name=$1 delay=$2
    shift 2
    start_site "$delay"
    timeout 300 ${AIOC_TEST_EMULATOR:-} "$bin" --quiet "$@" "$url" >"$dir/$name" 2>&1 ||
        fail "$name: exit status $?"
    stop_site
}

# the site served `paths` of its paths, each once, and nothing else
expect_served() { # what, paths
    [ "$served" -eq "$2" ] && [ "$distinct" -eq "$2" ] && [ "$others" -eq 0 ] ||
        fail "$1: the site served $served requests for $distinct paths" \
            "($others outside the site), expected $2 distinct paths once each"
}

stop_site() { # sets served, distinct, others, most from the site's last line
    interrupt "$site"
    site=
    [ "$status" -eq 130 ] || fail "the site's exit status after Ctrl-C: $status, expected 130"
    line=$(grep '^served ' "$dir/site.out") || fail "the site printed no counts"
    set -- $line # served N requests, M distinct, O outside the site, at most K at once
    served=$2 distinct=$4 others=$6 most=${12}
}

# start_nginx: generates the site for two free loopback ports ($port, and
# $port2 for the other origin) into $dir/www and starts nginx on it, with
# its own prefix, configuration, pid file and logs there
start_nginx() {
    for _ in 1 2 3 4 5; do # a port taken meanwhile: again, with others
        set -- $(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])') # (closed: nginx binds them)
        port=$1 port2=$2
        rm -rf "$dir/www" && mkdir "$dir/www" || fail "cannot make $dir/www"
        python3 "$fixtures/crawler_site.py" "$dir/www" "$port" "$port2" ||
            fail "the site generator failed"
        nginx_start "$dir/www" && return
    done
    cat "$dir/www/error.log"
    fail "nginx did not start"
}

# crawl NAME OPTION...: crawls the nginx site with --list and the options;
# the list must be expected/NAME, the summary expected/NAME.summary, and
# the requests nginx logged meanwhile the list: no URL twice, each with the
# status listed, robots.txt ($robots: once per origin crawled, or 0)
crawl() {
    name=$1
    shift
    logged=$(wc -l <"$dir/www/access.log" 2>/dev/null || echo 0)
    timeout 600 ${AIOC_TEST_EMULATOR:-} "$bin" --quiet --list --timeout 300 "$@" \
        "http://127.0.0.1:$port/" >"$dir/$name.out" 2>"$dir/$name.err" ||
        fail "$name: exit status $?"
    if grep -Eq '^==[0-9]+==|runtime error:' "$dir/$name.err"; then
        cat "$dir/$name.err"
        fail "$name: sanitizer or valgrind report on stderr"
    fi
    grep -v '^crawler: ' "$dir/$name.out" | sort >"$dir/$name.list"
    dups=$(cut -d' ' -f2 "$dir/$name.list" | uniq -d | head -5 | tr '\n' ' ')
    [ -z "$dups" ] || fail "$name: listed more than once: $dups"
    if ! cmp -s "$dir/$name.list" "$dir/www/expected/$name"; then
        diff "$dir/www/expected/$name" "$dir/$name.list" | head -40
        fail "$name: the list is not the expected one (< expected, > listed)"
    fi
    summary=$(cat "$dir/www/expected/$name.summary")
    grep -q "^crawler: $summary, " "$dir/$name.out" ||
        fail "$name: expected the summary 'crawler: $summary, ...'"
    # the access log: "PORT STATUS URI" as "STATUS URL", robots.txt apart.
    # nginx writes a line once it is done with a request, which may be just
    # after the crawler is (a file cut short: once nginx finds the
    # connection closed): wait until the lines are all there.
    want=$(($(wc -l <"$dir/$name.list") + robots))
    for _ in $(seq 1 600); do
        [ $(($(wc -l <"$dir/www/access.log") - logged)) -ge "$want" ] && break
        kill -0 "$nginx" 2>/dev/null || fail "nginx died"
        sleep 0.1
    done
    tail -n +$((logged + 1)) "$dir/www/access.log" |
        awk '{ print $2 " http://127.0.0.1:" $1 $3 }' | sort >"$dir/$name.log"
    grep -c ' http://[^/]*/robots\.txt$' "$dir/$name.log" >"$dir/$name.robots"
    dups=$(cut -d' ' -f2 "$dir/$name.log" | uniq -d | head -5 | tr '\n' ' ')
    [ -z "$dups" ] || fail "$name: nginx served these more than once: $dups"
    [ "$(cat "$dir/$name.robots")" -eq "$robots" ] ||
        fail "$name: robots.txt requested $(cat "$dir/$name.robots") times, expected $robots"
    grep -v ' http://[^/]*/robots\.txt$' "$dir/$name.log" >"$dir/$name.pages"
    if ! cmp -s "$dir/$name.pages" "$dir/$name.list"; then
        diff "$dir/$name.list" "$dir/$name.pages" | head -40
        fail "$name: nginx's log is not the list (< listed, > logged)"
    fi
    echo "$name: $(wc -l <"$dir/$name.list") URLs as expected; $(grep '^crawler: ' "$dir/$name.out")"
}

case $mode in
nginx_full)
    start_nginx
    robots=1 crawl full --depth 100
    nginx_stop
    ;;
nginx_depth)
    start_nginx
    robots=1 crawl depth3 --depth 3
    grep -q "^200 http://127.0.0.1:$port/trap/y.html$" "$dir/depth3.list" ||
        fail "depth3: /trap/y.html (depth 3 by the shorter path) not fetched"
    robots=1 crawl depth1 --depth 1
    nginx_stop
    ;;
nginx_robots)
    start_nginx
    robots=1 crawl full --depth 100
    for path in /private/p1.html /s1/draft-1.html; do
        ! grep -q " http://127.0.0.1:$port$path$" "$dir/full.log" ||
            fail "$path requested, though robots.txt forbids it"
    done
    robots=0 crawl ignore --depth 100 --ignore-robots
    for path in /private/p1.html /s1/draft-1.html; do
        grep -q "^200 http://127.0.0.1:$port$path$" "$dir/ignore.log" ||
            fail "$path not requested with --ignore-robots"
    done
    nginx_stop
    ;;
nginx_allhosts)
    start_nginx
    robots=2 crawl allhosts --depth 100 --all-hosts
    nginx_stop
    ;;
whole)
    status=0
    ${AIOC_TEST_EMULATOR:-} "$bin" >"$dir/usage" 2>&1 || status=$?
    [ "$status" -eq 2 ] || fail "exit status $status without a URL, expected 2"
    grep -q '^usage: crawler ' "$dir/usage" || fail "no usage message without a URL"
    crawl_site out 0.002
    expect_summary "$dir/out" 200 20 20
    # 200 pages, 20 missing ones and robots.txt
    expect_served "the whole site" 221
    ;;
depth)
    # the start page links to pages 1-4 and 11, and to /missing/0
    # ("#top" and a mailto: link do not count, nor a link in a comment)
    crawl_site out0 0.002 --depth 0
    expect_summary "$dir/out0" 1 0 0
    expect_served "--depth 0" 2 # and robots.txt
    crawl_site out1 0.002 --depth 1
    expect_summary "$dir/out1" 6 1 1
    expect_served "--depth 1" 8
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
        expect_served "$limits" 221
        [ "$most" -le "$bound" ] || fail "$limits: $most requests at once, over $bound"
        [ "$most" -ge 2 ] || fail "$limits: never more than one request at once"
    done
    ;;
sigint)
    start_site 0.05 # 221 requests two at a time: about 6 s in all
    : >"$dir/crawl"
    start "$bin" --quiet --list --concurrency 2 "$url" >"$dir/crawl" 2>&1
    crawler=$started
    # Ctrl-C once 10 URLs are listed (each line is written as it comes):
    # by then the crawler runs, with its SIGINT handler in place
    while [ "$(grep -c '^[0-9]* http' "$dir/crawl")" -lt 10 ]; do
        kill -0 "$crawler" 2>/dev/null || fail "the crawler ended before Ctrl-C"
        sleep 0.05
    done
    interrupt "$crawler"
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
