#!/bin/sh
# The timeline (AIOC_TRACE=FILE), checked by tests/check_trace.py against
# the trace-event format Perfetto loads and against what the program did.
#   check_trace.sh orders BINARY   the user's orders example, virtual time:
#                                  three tasks, sleeps of 1 s and 2 s, the
#                                  gather waking main
#   check_trace.sh many BINARY     tests/trace_load: two loop threads, one
#                                  file, records spilled to disk on the way
. "$(dirname "$0")/lib.sh"
mode=$1 bin=$2
trace=$dir/trace.json
case $mode in
orders) AIOC_VIRTUAL_TIME=1 AIOC_TRACE=$trace ${AIOC_TEST_EMULATOR:-} "$bin" >"$dir/out" ||
    fail "$bin failed" ;;
many) AIOC_TRACE_BUFFER=1000 AIOC_TRACE=$trace ${AIOC_TEST_EMULATOR:-} "$bin" >"$dir/out" ||
    fail "$bin failed" ;;
unwritable)
    # a trace that cannot be written is reported, and the program still runs
    AIOC_TRACE=$dir/no/such/dir/trace.json ${AIOC_TEST_EMULATOR:-} "$bin" >"$dir/out" 2>"$dir/err" ||
        fail "$bin failed with an unwritable trace file"
    grep -q "AIOC_TRACE=.*cannot write the trace" "$dir/err" || fail "no message: $(cat "$dir/err")"
    grep -q "Finished 1" "$dir/out" || fail "the program did not run to its end"
    echo "ok: unwritable trace file reported"
    exit 0 ;;
*) fail "unknown mode $mode" ;;
esac
python3 "$(dirname "$0")/check_trace.py" "$trace" "$mode" || fail "the trace does not hold"
if [ "$mode" = orders ]; then # the picture of it (scripts/trace_view.py) draws the sleeps
    python3 "$(dirname "$0")/../scripts/trace_view.py" "$trace" "$dir/view.html" ||
        fail "trace_view.py failed"
    grep -Eq "sleep (1\.[5-9]|2\.[0-4])[0-9] s" "$dir/view.html" || fail "trace_view.py did not draw order 1's sleep"
fi
