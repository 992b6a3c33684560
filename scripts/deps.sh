#!/bin/sh
# Installs the Debian packages a step needs, when they are missing.
#   scripts/deps.sh build   compiler, CMake
#   scripts/deps.sh libs    + every library the adapters and examples build
#                           on (OpenSSL, libcurl, llhttp, jansson, SQLite,
#                           hiredis): `make deps`
#   scripts/deps.sh demo    + what the web examples build on (libcurl, llhttp,
#                           jansson, SQLite, zlib), redis-cli for kv, and a
#                           browser for the chat's page
#   scripts/deps.sh test    + Valgrind, gdb, aarch64 cross compiler, qemu-user,
#                           and what the adapters build on and are tested with;
#                           redis-tools and redis-server for examples/kv
#   scripts/deps.sh format  clang-format (the CI's format check)
#   scripts/deps.sh docs    + Doxygen and man (the API reference: make docs);
#                           test installs them too (the ctest docs)
#   scripts/deps.sh bench   + Go, Python's uvloop, libuv, hyperfine, iperf3, and
#                           for bench/http: wrk, nginx, Node, aiohttp, libcurl, llhttp;
#                           for bench/kv and bench/redis: hiredis, redis-server (and
#                           redis-benchmark), Python's redis (redis.asyncio)
# and for the PostgreSQL adapter (aioc_pg): libpq-dev (libs, test, bench),
# the postgresql server its tests and bench/pg start (test, bench), and
# bench/pg's Python clients, python3-asyncpg and python3-psycopg (bench);
# for the WebSocket adapter (aioc_ws): zlib1g-dev (libs, test) and the
# outside peer its tests run, Python's websockets, python3-websockets (test);
# the browser the chat's page is checked in, chromium-headless-shell (test),
# and a font for Korean text in its screenshots, fonts-nanum (test, demo);
# bench/ws's other servers: python3-websockets, python3-aiohttp, Go's
# gorilla/websocket (golang-github-gorilla-websocket-dev) and npm (bench:
# bench/ws/run.sh installs Node's ws with npm into the build tree)
set -eu

need_build="cmake:cmake gcc:gcc make:make"
need_test="valgrind:valgrind gdb:gdb socat:socat aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu qemu-aarch64:qemu-user pkg-config:pkg-config"
# the adapters: OpenSSL (tls), libcurl (curl), llhttp's sources (http), and
# the outside peers their tests start: openssl, curl, nginx
need_test="$need_test openssl:openssl curl:curl /usr/sbin/nginx:nginx-light"
need_test="$need_test sqlite3:sqlite3 python3:python3"
need_test="$need_test chromium-headless-shell:chromium-headless-shell"
# the Redis adapter's tests start a throwaway redis-server; examples/kv's
# checks talk to it with redis-cli and redis-benchmark and compare it with one
need_test="$need_test redis-cli:redis-tools redis-benchmark:redis-tools redis-server:redis-server"
# the API reference (ctest docs builds it and reads its man pages)
need_docs="doxygen:doxygen man:man-db"
need_test="$need_test $need_docs"
need_bench="go:golang-go /usr/bin/python3:python3 hyperfine:hyperfine iperf3:iperf3 wrk:wrk curl:curl /usr/sbin/nginx:nginx-light node:nodejs"
need_bench="$need_bench redis-server:redis-server redis-benchmark:redis-tools"

case "${1:-build}" in
build) want="$need_build" ;;
libs) want="$need_build pkg-config:pkg-config" ;;
demo) want="$need_build pkg-config:pkg-config redis-cli:redis-tools python3:python3"
    want="$want chromium-headless-shell:chromium-headless-shell" ;;
test) want="$need_build $need_test" ;;
bench) want="$need_build $need_bench" ;;
format) want="clang-format:clang-format" ;;
docs) want="$need_build $need_docs" ;;
*) echo "usage: $0 build|libs|demo|test|bench|format|docs" >&2; exit 2 ;;
esac

missing=""
for pair in $want; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing="$missing $pkg"
done
# Debian's multiarch triplet (x86_64-linux-gnu, aarch64-linux-gnu...): some
# headers live in /usr/include/TRIPLET. Empty before dpkg-dev or gcc is in.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null ||
    gcc -print-multiarch 2>/dev/null || true)
has_header() { # path under /usr/include or /usr/include/TRIPLET
    [ -f "/usr/include/$1" ] || { [ -n "$multiarch" ] && [ -f "/usr/include/$multiarch/$1" ]; }
}
installed() { # any of these Debian packages is installed
    dpkg-query -W -f='${db:Status-Status}\n' "$@" 2>/dev/null | grep -qx installed
}
# the libraries the web examples (crawler, api_client, backend) build on
need_web_libs() {
    has_header curl/curl.h ||
        installed libcurl4-openssl-dev libcurl4-gnutls-dev libcurl4-nss-dev ||
        missing="$missing libcurl4-openssl-dev"
    [ -f /usr/share/llhttp/llhttp.c ] || missing="$missing node-llhttp"
    has_header jansson.h || missing="$missing libjansson-dev"
    has_header sqlite3.h || missing="$missing libsqlite3-dev"
}
case "${1:-build}" in
libs)
    has_header openssl/ssl.h || missing="$missing libssl-dev"
    has_header hiredis/hiredis.h || missing="$missing libhiredis-dev"
    need_web_libs ;;
demo) need_web_libs ;;
test)
    [ -f /usr/aarch64-linux-gnu/include/stdio.h ] || missing="$missing libc6-dev-arm64-cross"
    has_header valgrind/valgrind.h || missing="$missing valgrind"
    has_header openssl/ssl.h || missing="$missing libssl-dev"
    has_header hiredis/hiredis.h || missing="$missing libhiredis-dev"
    need_web_libs ;;
bench)
    /usr/bin/python3 -c 'import uvloop' 2>/dev/null || missing="$missing python3-uvloop"
    has_header uv.h || missing="$missing libuv1-dev"
    /usr/bin/python3 -c 'import aiohttp' 2>/dev/null || missing="$missing python3-aiohttp"
    has_header hiredis/hiredis.h || missing="$missing libhiredis-dev"
    /usr/bin/python3 -c 'import redis.asyncio' 2>/dev/null || missing="$missing python3-redis"
    need_web_libs ;;
esac
# the PostgreSQL adapter: libpq, the server (any version Debian ships)
need_pg() {
    has_header postgresql/libpq-fe.h || missing="$missing libpq-dev"
    [ "$1" = libs ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
        missing="$missing postgresql"
}
# the WebSocket adapter: zlib (permessage-deflate); its tests' outside peer
# and the chat's page: a browser for its check (and the demo's screenshot)
# and a Korean font for what the screenshots show
case "${1:-build}" in
libs | test | demo) has_header zlib.h || missing="$missing zlib1g-dev" ;;
esac
case "${1:-build}" in
test | demo)
    [ -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ] || missing="$missing fonts-nanum" ;;
esac
case "${1:-build}" in
test | bench) /usr/bin/python3 -c 'import websockets' 2>/dev/null || missing="$missing python3-websockets" ;;
esac
case "${1:-build}" in
bench)
    has_header zlib.h || missing="$missing zlib1g-dev"
    [ -d /usr/share/gocode/src/github.com/gorilla/websocket ] ||
        missing="$missing golang-github-gorilla-websocket-dev"
    command -v npm >/dev/null 2>&1 || missing="$missing npm" ;;
esac
case "${1:-build}" in
libs | test) need_pg "$1" ;;
bench)
    need_pg bench
    /usr/bin/python3 -c 'import asyncpg' 2>/dev/null || missing="$missing python3-asyncpg"
    /usr/bin/python3 -c 'import psycopg' 2>/dev/null || missing="$missing python3-psycopg" ;;
esac
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: no apt-get here; please install:$missing" >&2
    exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
