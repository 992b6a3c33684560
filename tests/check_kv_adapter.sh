#!/bin/sh
# Runs one test of the Redis adapter's suite (adapters/redis/tests) against
# examples/kv instead of redis-server:
#   check_kv_adapter.sh TEST KV_BINARY SUITE_BINARY
# starts kv on a free loopback port (port 0: it prints the one it got),
# runs `SUITE_BINARY TEST` with AIOC_REDIS_TEST_ADDR=127.0.0.1:PORT (the
# suite then uses that server: server.h), then stops kv with Ctrl-C (exit
# status 130) and fails on a sanitizer's report from either side.
# tests/CMakeLists.txt registers one ctest entry per suite test,
# kv_redis_TEST, except the tests listed there as not run against kv (with
# the reason). AIOC_TEST_EMULATOR: a command prefix for both programs;
# AIOC_KV_WRAPPER: one for kv alone (Valgrind, for the valgrind_kv_redis_
# twins: its exit status 99 on an error or a definite leak fails them);
# KV_FLAGS: kv's flags (the kv_loops_redis_ entries: "--loops 2").
# KEEP=1 keeps the scratch directory (tests/lib.sh).
. "$(dirname "$0")/lib.sh"
mode=$1 kv=$2 suite=$3
fail_details() {
    sed 's/^/  kv: /' "$dir/kv.out" "$dir/kv.err" 2>/dev/null | tail -40
}

start ${AIOC_TEST_EMULATOR:-} ${AIOC_KV_WRAPPER:-} "$kv" ${KV_FLAGS:-} 0 >"$dir/kv.out" 2>"$dir/kv.err"
pid=$started
wait_line "$dir/kv.out" 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' 20 "$pid" ||
    fail "kv did not start"
port=$found

AIOC_REDIS_TEST_ADDR=127.0.0.1:$port ${AIOC_TEST_EMULATOR:-} "$suite" "$mode" >"$dir/suite.out" 2>&1
suite_status=$?
cat "$dir/suite.out"
[ "$suite_status" -eq 0 ] || fail "the suite's $mode failed (exit status $suite_status)"
# a test that skips itself (one that must own the server) would pass
# without running: such tests go on the list in tests/CMakeLists.txt
! grep -q '^skipped' "$dir/suite.out" || fail "$mode skipped itself: list it as not run against kv"

interrupt "$pid" 20
[ "$status" -eq 130 ] || fail "Ctrl-C: kv's exit status $status, expected 130"
if grep -Eq '^==[0-9]+==|runtime error:|ERROR|aioc:' "$dir/kv.err"; then
    fail "kv reported errors"
fi
echo "ok: redis_$mode against kv${KV_FLAGS:+ $KV_FLAGS}"
