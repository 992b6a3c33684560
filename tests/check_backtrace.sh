#!/bin/sh
# A debugger's backtrace inside a task must end cleanly at the task's entry
# trampoline (the assembly's CFI marks it as the outermost frame), not run
# on into garbage or stop with "Backtrace stopped: ...".
. "$(dirname "$0")/lib.sh"
bin=$1
out=$(gdb -nx -batch -ex "break give_order" -ex run -ex bt -ex kill "$bin" 2>&1)
echo "$out" | grep '^#'
echo "$out" | grep -q '^#.* give_order' || fail "breakpoint not reached"
last=$(echo "$out" | grep '^#' | tail -n 1)
! echo "$out" | grep -q 'Backtrace stopped' || fail "backtrace did not end cleanly"
case "$last" in
# without debug info gdb reads the name as Ada's and prints aioc.ctx_entry
*aioc__ctx_entry* | *aioc.ctx_entry*) echo "ok: backtrace ends at aioc__ctx_entry" ;;
*) fail "last frame is not the task entry: $last" ;;
esac
