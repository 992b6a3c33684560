#!/bin/sh
# A real program seen from outside: the orders example, run with
# AIOC_INSPECT=1 and AIOC_DUMP_SIGNAL=USR1, is read by aioc-ps while it
# runs, then sent the dump signal; it must print its tasks to stderr and
# still finish as it always does (same output, status 0).
#   check_inspect.sh ORDERS AIOC_PS EXPECTED
. "$(dirname "$0")/lib.sh"
orders=$1 aioc_ps=$2 expected=$3
export XDG_RUNTIME_DIR="$dir" # the socket's default place, for both sides
AIOC_INSPECT=1 AIOC_DUMP_SIGNAL=USR1 start "$orders" >"$dir/out" 2>"$dir/err"
pid=$started
sock="$dir/aioc-$pid.sock"
# orders runs 2 s: the socket is there at once, the dump comes from a sleep
for _ in 1 2 3 4 5 6 7 8 9 10; do
    [ -S "$sock" ] && break
    sleep 0.1
done
[ -S "$sock" ] || fail "no socket at $sock"
"$aioc_ps" "$pid" >"$dir/ps" || fail "aioc-ps $pid failed"
cat "$dir/ps"
grep -q ' main .* waits on tasks' "$dir/ps" || fail "aioc-ps: main is not waiting on its tasks"
[ "$(grep -c 'waits on sleep' "$dir/ps")" -ge 1 ] || fail "aioc-ps: no order sleeping"
grep -q 'aioc-inspect' "$dir/ps" || fail "aioc-ps: the inspector is not listed"
kill -USR1 "$pid"
wait_bounded "$pid" 10
[ "$status" -eq 0 ] || fail "orders exited with $status after the dump signal"
cat "$dir/err"
grep -q 'live task(s)' "$dir/err" || fail "no dump on stderr"
diff -u "$expected" "$dir/out" || fail "orders' output changed"
[ ! -e "$sock" ] || fail "the socket file was left behind"
echo "ok: aioc-ps and the dump signal on a running orders"
