#!/bin/sh
# Installs a built tree into a scratch prefix and builds an outside program
# against it twice: with pkg-config and with CMake's find_package(aioc).
set -eu
tree=${1:-build/release}
top=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$tree" --prefix "$scratch/prefix" >/dev/null

# a program that is not part of the project: the user's second example
cp "$top/examples/orders.c" "$scratch/outside.c"

PKG_CONFIG_PATH="$scratch/prefix/lib/pkgconfig:$scratch/prefix/lib64/pkgconfig:$(find "$scratch/prefix" -name pkgconfig -type d | tr '\n' ':')"
export PKG_CONFIG_PATH
# pkg-config links the shared library: run it from the scratch prefix
cc -std=c11 -o "$scratch/with-pkgconfig" "$scratch/outside.c" \
    $(pkg-config --cflags aioc) $(pkg-config --libs aioc)
libdir=$(pkg-config --variable=libdir aioc)
AIOC_VIRTUAL_TIME=1 LD_LIBRARY_PATH="$libdir" "$scratch/with-pkgconfig" |
    diff -u "$top/tests/expected/orders.txt" -
echo "ok: pkg-config build of an outside program (shared library)"

mkdir -p "$scratch/cmake-project"
cat >"$scratch/cmake-project/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(outside C)
find_package(aioc 0.1 REQUIRED)
add_executable(outside ../outside.c)
target_link_libraries(outside PRIVATE aioc::aioc)
CM
cmake -S "$scratch/cmake-project" -B "$scratch/cmake-build" \
    -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/cmake-build" >/dev/null
AIOC_VIRTUAL_TIME=1 "$scratch/cmake-build/outside" | diff -u "$top/tests/expected/orders.txt" -
echo "ok: find_package(aioc) build of an outside program (static library)"
