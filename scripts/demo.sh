#!/bin/sh
# `make demo`: the tour. Runs the user's two programs and the deadline one.
set -eu
tree=${1:-build/release}
show() {
    echo
    echo "\$ $1    # $2"
    start=$(date +%s%N)
    "$tree/examples/$1"
    end=$(date +%s%N)
    echo "(took $(( (end - start) / 1000000 )) ms)"
}
show hello_await "print(await func()) -> 1"
show orders "three orders gathered: about 2 s in all, not 3"
show deadline "a deadline scope, wait_for, and cancelling a task"
