#!/bin/sh
# Installs a built tree into a scratch prefix and builds an outside program
# against each installed library (the core, and each adapter that was
# built: tls, curl, http, pg, redis, ws, uring), both with pkg-config and with CMake's
# find_package(aioc), and runs every one:
#   - the pkg-config builds link the shared libraries (what -laioc picks)
#     and find them at run time through the run path the README shows;
#   - the CMake builds link the static ones (aioc::aioc, aioc::tls...), and
#     one links aioc::http_shared, found through the run path CMake sets.
# The programs are tests/install/use_*.c and examples/orders.c; each checks
# what it gets (a TLS round trip with a verified certificate, a fetch, an
# HTTP request, Redis commands against a redis-server it starts) and fails
# otherwise. The README's Redis and WebSocket examples must be
# use_redis.c's and use_ws.c's code.
#   scripts/test-install.sh [TREE]   (default build/release)
set -eu
tree=${1:-build/release}
top=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
# pg_server: the conninfo of a throwaway PostgreSQL server for use_pg,
# started on first use (adapters/pg/tests/pgserver.sh) and stopped on exit
pg_server() {
    [ -f "$scratch/pg.txt" ] ||
        "$top/adapters/pg/tests/pgserver.sh" start "$scratch/pg.txt" >/dev/null || return 1
    sed -n 's/^tcp=//p' "$scratch/pg.txt"
}
cleanup() {
    [ ! -f "$scratch/pg.txt" ] || "$top/adapters/pg/tests/pgserver.sh" stop "$scratch/pg.txt"
    rm -rf "$scratch"
}
trap cleanup EXIT
prefix=$scratch/prefix
cmake --install "$tree" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name aioc.pc)")/..
libdir=$(cd "$libdir" && pwd)
export PKG_CONFIG_PATH="$libdir/pkgconfig"

# what each library's program needs to run: the TLS one a certificate for
# 127.0.0.1 (and its key), the core one virtual time (orders.c sleeps)
if [ -f "$libdir/pkgconfig/aioc-tls.pc" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$scratch/key.pem" -out "$scratch/cert.pem" -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 2>/dev/null
fi
run() { # use program
    case $1 in
    aioc)
        AIOC_VIRTUAL_TIME=1 "$2" | diff -u "$top/tests/expected/orders.txt" - &&
            echo "orders: the expected output" ;;
    tls) "$2" "$scratch/cert.pem" "$scratch/key.pem" ;;
    pg) "$2" "$(pg_server)" ;;
    *) "$2" ;;
    esac
}
uses_shared() { # program library: the program loads libLIBRARY.so from the prefix
    ldd "$1" | grep -q "lib$2\.so\.0 => $libdir/"
}

for use in aioc tls curl http pg redis ws uring; do
    module=aioc-$use
    library=aioc_$use
    source=$top/tests/install/use_$use.c
    if [ "$use" = aioc ]; then
        module=aioc library=aioc source=$top/examples/orders.c
    fi
    if ! [ -f "$libdir/pkgconfig/$module.pc" ]; then
        echo "skipped: $library was not built (its library was missing: make deps)"
        continue
    fi

    # pkg-config: the shared library, found through the run path
    prog=$scratch/$use-pkgconfig
    # shellcheck disable=SC2046 # pkg-config's flags are words
    cc -std=gnu11 -o "$prog" "$source" $(pkg-config --cflags --libs "$module") \
        -Wl,-rpath,"$(pkg-config --variable=libdir "$module")"
    uses_shared "$prog" "$library" || { echo "$prog does not load the prefix's $library.so" >&2; exit 1; }
    run "$use" "$prog" >"$scratch/out" || { cat "$scratch/out"; exit 1; }
    echo "ok: pkg-config $module, shared library (run path): $(tail -n 1 "$scratch/out")"

    # CMake: the static library
    build=$scratch/$use-cmake
    cmake -S "$top/tests/install" -B "$build" -DCMAKE_PREFIX_PATH="$prefix" \
        -DUSE="$use" -DTARGET="$use" >/dev/null
    cmake --build "$build" >/dev/null
    if ldd "$build/outside" | grep -q "libaioc"; then
        echo "$build/outside should link aioc statically" >&2
        exit 1
    fi
    run "$use" "$build/outside" >"$scratch/out" || { cat "$scratch/out"; exit 1; }
    components=" COMPONENTS $use"
    [ "$use" != aioc ] || components=""
    echo "ok: find_package(aioc$components) aioc::$use, static library"
done

# pkg-config and the static libraries, named as files (the README's recipe)
if [ -f "$libdir/pkgconfig/aioc-http.pc" ]; then
    prog=$scratch/http-pkgconfig-static
    # shellcheck disable=SC2046
    cc -std=gnu11 -o "$prog" "$top/tests/install/use_http.c" $(pkg-config --cflags aioc-http) \
        "$libdir/libaioc_http.a" "$libdir/libaioc.a" -lpthread -lm
    if ldd "$prog" | grep -q "libaioc"; then
        echo "$prog should link aioc statically" >&2
        exit 1
    fi
    run http "$prog" >"$scratch/out" || { cat "$scratch/out"; exit 1; }
    echo "ok: pkg-config --cflags aioc-http with libaioc_http.a and libaioc.a, static libraries"
fi

# CMake and a shared library: aioc::http_shared (or aioc::aioc_shared),
# found at run time through the run path CMake puts in the program
use=http target=http_shared library=aioc_http
[ -f "$libdir/pkgconfig/aioc-http.pc" ] || use=aioc target=aioc_shared library=aioc
build=$scratch/shared-cmake
cmake -S "$top/tests/install" -B "$build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DUSE="$use" -DTARGET="$target" >/dev/null
cmake --build "$build" >/dev/null
if ! uses_shared "$build/outside" "$library" || ! uses_shared "$build/outside" aioc; then
    echo "$build/outside does not load the prefix's shared libraries" >&2
    exit 1
fi
run "$use" "$build/outside" >"$scratch/out" || { cat "$scratch/out"; exit 1; }
echo "ok: find_package(aioc) aioc::$target, shared library (CMake's run path)"

# the README's Redis and WebSocket examples are the code use_redis.c and
# use_ws.c compile and run
for use in redis ws; do
    [ -f "$libdir/pkgconfig/aioc-$use.pc" ] || continue
    sed -n '/README example begins/,/README example ends/p' "$top/tests/install/use_$use.c" |
        sed '1d;$d' >"$scratch/example.c"
    awk -v mark="<!-- the code of tests/install/use_$use.c -->" '$0 == mark { on = 1; next }
         on && /^```/ { if (in_block) exit; in_block = 1; next }
         in_block { print }' "$top/README.md" >"$scratch/readme.c"
    diff -u "$scratch/readme.c" "$scratch/example.c" ||
        { echo "README.md's example differs from tests/install/use_$use.c's" >&2; exit 1; }
    echo "ok: README.md's example is tests/install/use_$use.c's"
done
