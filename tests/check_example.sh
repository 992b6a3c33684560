#!/bin/sh
# Runs an example and compares its output with the expected text exactly.
#   check_example.sh BINARY EXPECTED [MIN_SECONDS MAX_SECONDS]
# With the bounds, the run's wall time must fall between them (generous
# bounds, for the real-time run of a program whose length is its point).
. "$(dirname "$0")/lib.sh"
bin=$1 expected=$2 min=${3:-} max=${4:-}
out=$dir/out
began=$(date +%s%N)
# AIOC_TEST_EMULATOR: a command prefix such as "qemu-aarch64 -L DIR", split on spaces
${AIOC_TEST_EMULATOR:-} "$bin" >"$out"
status=$?
end=$(date +%s%N)
[ "$status" -eq 0 ] || fail "$bin exited with $status"
diff -u "$expected" "$out" || fail "output of $bin differs from $expected"
if [ -n "$min" ]; then
    ms=$(( (end - began) / 1000000 ))
    echo "$bin took $ms ms (allowed ${min}-${max} s)"
    awk -v ms="$ms" -v lo="$min" -v hi="$max" 'BEGIN { exit !(ms >= lo * 1000 && ms <= hi * 1000) }' ||
        fail "wall time out of bounds"
fi
echo "ok: $bin"
