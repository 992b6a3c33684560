#!/bin/sh
# Runs an example and compares its output with the expected text exactly.
#   check_example.sh BINARY EXPECTED [MIN_SECONDS MAX_SECONDS]
# With the bounds, the run's wall time must fall between them (generous
# bounds, for the real-time run of a program whose length is its point).
set -u
bin=$1 expected=$2 min=${3:-} max=${4:-}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s%N)
# AIOC_TEST_EMULATOR: a command prefix such as "qemu-aarch64 -L DIR", split on spaces
${AIOC_TEST_EMULATOR:-} "$bin" >"$out"
status=$?
end=$(date +%s%N)
if [ "$status" -ne 0 ]; then
    echo "FAIL: $bin exited with $status"
    exit 1
fi
if ! diff -u "$expected" "$out"; then
    echo "FAIL: output of $bin differs from $expected"
    exit 1
fi
if [ -n "$min" ]; then
    ms=$(( (end - start) / 1000000 ))
    echo "$bin took $ms ms (allowed ${min}-${max} s)"
    awk -v ms="$ms" -v lo="$min" -v hi="$max" 'BEGIN { exit !(ms >= lo * 1000 && ms <= hi * 1000) }' || {
        echo "FAIL: wall time out of bounds"
        exit 1
    }
fi
echo "ok: $bin"
