#!/bin/sh
# `make demo`: the tour. Runs the user's two programs, the deadline one and
# the data pipeline.
set -eu
tree=${1:-build/release}
show() { # program, what it shows, arguments...
    prog=$1 what=$2
    shift 2
    echo
    echo "\$ $prog${*:+ $*}    # $what"
    start=$(date +%s%N)
    "$tree/examples/$prog" "$@"
    end=$(date +%s%N)
    echo "(took $(( (end - start) / 1000000 )) ms)"
}
show hello_await "print(await func()) -> 1"
show orders "three orders gathered: about 2 s in all, not 3"
show deadline "a deadline scope, wait_for, and cancelling a task"
show pipeline "reader -> parsers -> transformers (thread pool) -> writer; Ctrl-C stops it cleanly" \
    --records 100000 --out /dev/null
