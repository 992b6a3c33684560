#!/bin/sh
# Cross-builds aioc for aarch64 and runs its tests under qemu-user: covers
# src/arch/switch_aarch64.S on an x86-64 machine.
#   scripts/test-aarch64.sh [extra ctest arguments, e.g. -R NAME or -E NAME]
# Environment: JOBS (build parallelism), CTEST_JOBS (default 1, see below),
# AIOC_AARCH64_BUILD (build directory, default build/aarch64).
# Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user
# (scripts/deps.sh test). Exits non-zero if anything fails.
set -eu

cd "$(dirname "$0")/.."
BUILD=${AIOC_AARCH64_BUILD:-build/aarch64}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

fail() {
    echo "test-aarch64: FAILED: $*" >&2
    exit 1
}

for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
    command -v "$tool" >/dev/null 2>&1 ||
        fail "$tool not found (run scripts/deps.sh test)"
done
[ -f /usr/aarch64-linux-gnu/include/stdio.h ] ||
    fail "aarch64 C library headers missing (libc6-dev-arm64-cross)"

echo "test-aarch64: configuring $BUILD"
cmake -S . -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIOC_WERROR=ON -DAIOC_BENCH=OFF ||
    fail "cmake configure"
echo "test-aarch64: building"
cmake --build "$BUILD" -j"$JOBS" || fail "build"

# ctest prefixes each test with CMAKE_CROSSCOMPILING_EMULATOR; make sure it
# did, rather than letting an x86-64 host try (and fail) to exec arm64 code.
grep -q qemu-aarch64 "$BUILD/tests/CTestTestfile.cmake" ||
    fail "tests are not run under qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR unused?)"

# qemu-user (7.2 at least) answers every madvise() with success and does
# nothing, so the stack code believes MADV_GUARD_INSTALL worked and task
# stacks get no guard page at all: an overflow would silently corrupt the
# next stack. qemu does emulate mprotect, so use that fallback here.
AIOC_STACK_GUARD=mprotect
export AIOC_STACK_GUARD

# One test at a time by default. Virtual time still moves with the real
# clock between jumps, and some tests bound that drift (a dump must show a
# 2 s wait as "2.0"). Under qemu, translating code on its first run alone
# costs a few ms of real time, and tests competing for the CPUs multiply it,
# so parallel runs make those tests fail at random.
CTEST_JOBS=${CTEST_JOBS:-1}

echo "test-aarch64: running tests under qemu-aarch64 (ctest -j$CTEST_JOBS)"
(cd "$BUILD" && ctest --output-on-failure --no-tests=error -j"$CTEST_JOBS" "$@") ||
    fail "tests under qemu-aarch64 (see $BUILD/Testing/Temporary/LastTest.log)"
echo "test-aarch64: all tests passed"
