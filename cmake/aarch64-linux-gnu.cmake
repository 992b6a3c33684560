# CMake toolchain file: cross-compile for 64-bit Arm Linux with Debian's
# cross toolchain, and run what we build (ctest's tests) under qemu-user.
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# Debian packages: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user
# (scripts/deps.sh test installs them).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(AIOC_CROSS_PREFIX aarch64-linux-gnu- CACHE STRING "Cross toolchain prefix")
set(AIOC_CROSS_SYSROOT /usr/aarch64-linux-gnu CACHE PATH
    "Target libraries, for qemu's -L (Debian's multiarch cross root)")
# try_compile projects re-read this file; pass them any override of the two.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES AIOC_CROSS_PREFIX AIOC_CROSS_SYSROOT)

set(CMAKE_C_COMPILER ${AIOC_CROSS_PREFIX}gcc)
# .S files go through the same driver so they get the C preprocessor.
set(CMAKE_ASM_COMPILER ${AIOC_CROSS_PREFIX}gcc)

# Search target headers and libraries only in the cross root, programs only
# on the host.
set(CMAKE_FIND_ROOT_PATH ${AIOC_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest (and try_run) prefix every target executable with this. -L points
# qemu at the target's dynamic loader and libc.
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;${AIOC_CROSS_SYSROOT}")
