#!/bin/sh
# `make test`: every test, in every configuration that CI checks.
#   1. release build (-Werror), all tests
#   2. AddressSanitizer + UBSan build, all tests
#   3. the core suite under Valgrind
#   4. the ucontext context switch, all tests
#   5. aarch64 cross build, all tests under qemu-user
# (an installed copy building and running outside programs is the ctest
# `install` of the release and ucontext trees: scripts/test-install.sh)
# Each ctest run ends with its own "N tests passed" line; the script stops
# at the first failing step and exits non-zero.
set -eu
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
scripts/deps.sh test

run_tree() { # name, ctest args..., -- cmake args...
    name=$1; shift
    ctest_args=""
    while [ "$1" != "--" ]; do ctest_args="$ctest_args $1"; shift; done
    shift
    echo "=== $name"
    cmake -S . -B "build/test-$name" -DAIOC_WERROR=ON -DAIOC_BENCH=OFF "$@" >/dev/null
    cmake --build "build/test-$name" -j"$JOBS" >/dev/null
    (cd "build/test-$name" && ctest -j"$JOBS" --output-on-failure $ctest_args)
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_tree release -- -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_tree asan -- -DCMAKE_BUILD_TYPE=Debug -DAIOC_SANITIZE=ON
run_tree valgrind -L valgrind -- -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIOC_VALGRIND_TESTS=ON
run_tree ucontext -- -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIOC_SWITCH=ucontext
echo "=== aarch64 (cross-compiled, run under qemu-user)"
scripts/test-aarch64.sh
echo "make test: every step passed"
