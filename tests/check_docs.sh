#!/bin/sh
# The API reference: builds it from the headers (target docs: any Doxygen
# warning, an undocumented public symbol among them, fails the build),
# installs the tree into a scratch prefix and reads the man pages there as
# a user would, with MANPATH set.
#   check_docs.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
tree=$1
top=$(cd "$(dirname "$0")/.." && pwd)
command -v doxygen >/dev/null || fail "doxygen not found (Debian: doxygen; make deps installs it)"
command -v man >/dev/null || fail "man not found (Debian: man-db)"
cmake --build "$tree" --target docs >"$dir/docs.log" 2>&1 || {
    cat "$dir/docs.log"
    fail "the docs target failed (Doxygen warnings above)"
}
[ -s "$tree/docs/html/index.html" ] || fail "no HTML reference in $tree/docs/html"
cmake --install "$tree" --prefix "$dir/prefix" >/dev/null || fail "cmake --install failed"
mandir=$(dirname "$(find "$dir/prefix" -name aioc.7)")/..
export MANPATH="$mandir" MANWIDTH=100 MAN_KEEP_FORMATTING=
# the page of a function, found by its name, and the section it belongs to
man 3 aioc_gather >"$dir/gather.txt" 2>&1 || fail "man 3 aioc_gather: $(cat "$dir/gather.txt")"
grep -q "int aioc_gather (const aioc_task \* tasks, size_t n, void \*\* results)" "$dir/gather.txt" ||
    fail "man 3 aioc_gather does not show its declaration"
grep -q "Waits for every task in tasks and consumes all the handles" "$dir/gather.txt" ||
    fail "man 3 aioc_gather does not show its description"
# an adapter's function, and a field comment on its own member
man 3 aioc_ws_send >"$dir/ws.txt" 2>&1 || fail "man 3 aioc_ws_send: $(cat "$dir/ws.txt")"
grep -q "aioc_ws_send (aioc_ws \* ws, int type" "$dir/ws.txt" || fail "man 3 aioc_ws_send lacks its declaration"
man 3 aioc_process_opts >"$dir/opts.txt" 2>&1 || fail "man 3 aioc_process_opts: $(cat "$dir/opts.txt")"
grep -A1 "int stderr_mode" "$dir/opts.txt" | grep -q "stderr" || fail "aioc_process_opts.stderr_mode lost its comment"
# the overview, and the troff it is written in
man 7 aioc >"$dir/aioc7.txt" 2>&1 || fail "man 7 aioc: $(cat "$dir/aioc7.txt")"
grep -q "aioc_run" "$dir/aioc7.txt" || fail "man 7 aioc does not name aioc_run"
if command -v groff >/dev/null; then
    warnings=$(groff -man -ww -z "$top/docs/aioc.7" 2>&1)
    [ -z "$warnings" ] || fail "groff warns about docs/aioc.7: $warnings"
fi
# the page's example compiles against the installed library and runs:
# three orders that finish 1, 2, 3 (virtual time: no real waiting)
sed -n '/^\.EX$/,/^\.EE$/p' "$top/docs/aioc.7" | sed '1d;$d' |
    sed 's/\\e/\\/g; s/\\-/-/g' >"$dir/example.c"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$(find "$dir/prefix" -name aioc.pc)")
# shellcheck disable=SC2046
cc -Wall -Werror -o "$dir/example" "$dir/example.c" $(pkg-config --cflags --libs aioc) \
    -Wl,-rpath,"$(pkg-config --variable=libdir aioc)" 2>"$dir/cc.log" ||
    fail "the example of man 7 aioc does not compile: $(cat "$dir/cc.log")"
AIOC_VIRTUAL_TIME=1 "$dir/example" >"$dir/example.out" || fail "the example of man 7 aioc failed"
printf 'order 1 ready\norder 2 ready\norder 3 ready\n' | diff -u - "$dir/example.out" ||
    fail "the example of man 7 aioc printed something else"
echo "ok: $(ls "$tree/docs/man/man3" | wc -l) man pages, man 3 aioc_gather and man 7 aioc read from $dir/prefix"
