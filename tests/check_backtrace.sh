#!/bin/sh
# A debugger's backtrace inside a task must end cleanly at the task's entry
# trampoline (the assembly's CFI marks it as the outermost frame), not run
# on into garbage or stop with "Backtrace stopped: ...".
set -u
bin=$1
out=$(gdb -nx -batch -ex "break give_order" -ex run -ex bt -ex kill "$bin" 2>&1)
echo "$out" | grep '^#'
echo "$out" | grep -q '^#.* give_order' || { echo "FAIL: breakpoint not reached"; exit 1; }
last=$(echo "$out" | grep '^#' | tail -n 1)
echo "$out" | grep -q 'Backtrace stopped' && { echo "FAIL: backtrace did not end cleanly"; exit 1; }
case "$last" in
# without debug info gdb reads the name as Ada's and prints aioc.ctx_entry
*aioc__ctx_entry* | *aioc.ctx_entry*) echo "ok: backtrace ends at aioc__ctx_entry" ;;
*) echo "FAIL: last frame is not the task entry: $last"; exit 1 ;;
esac
