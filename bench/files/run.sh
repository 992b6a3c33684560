#!/usr/bin/env bash
# File I/O, every implementation on one 1 GiB file (see bench/README.md):
#
#   random 4 KiB reads, sequential 1 MiB reads and sequential 1 MiB writes,
#   with 1 and 64 in flight, FILES_SECONDS (2) s each, all with O_DIRECT
#   (this machine's RAM holds any file we could make: O_DIRECT makes every
#   read reach the disk, as fio's direct=1), but aiofiles, which cannot
#   (its reads are Python buffers, not aligned): it reads the page cache;
#   and "cachedread", random 4 KiB reads from the page cache (no O_DIRECT,
#   the file read once before), for everyone: the cost of a call beyond
#   the disk, where aiofiles is compared on equal terms.
#   aioc_file_pread/pwrite from 1 or 64 tasks, on the pool engine and on
#   io_uring (fileio_aioc), and for the 1 MiB transfers on both again in
#   zero-copy mode (aioc_file_set_zero_copy: rows aioc-pool-zc and
#   aioc-uring-zc); fio with psync (1 or 64 threads) and io_uring
#   (iodepth 1 or 64); libuv's uv_fs_read/uv_fs_write (fileio_uv, 1 or
#   64 requests in flight, UV_THREADPOOL_SIZE 6 like aioc's pool here);
#   aiofiles (1 or 64 asyncio tasks). IOPS, GB/s, CPU time per operation
#   (the process's, all threads; fio's measured as a child's), and aioc's
#   ratios (IOPS of aioc-uring and aioc-pool over each row's).
#
#   bench/files/run.sh BUILD_DIR [FILE]
#
# FILE (default /var/tmp/aioc-fileio.dat, made if missing, removed
# afterwards) must be on a disk file system (not tmpfs: no O_DIRECT).
# About 100 s. RESULT lines are appended to BUILD_DIR/bench-files-results.txt.
set -euo pipefail
build=$(cd "${1:?usage: bench/files/run.sh BUILD_DIR [FILE]}" && pwd)
file=${2:-/var/tmp/aioc-fileio.dat}
here=$(cd "$(dirname "$0")" && pwd)
command -v fio >/dev/null || { echo "bench/files: fio not found (make deps: bench)" >&2; exit 1; }
# Debian's python3, where python3-aiofiles is (a python3 earlier on PATH,
# pyenv's say, may not have it)
py=
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import aiofiles' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "bench/files: python3-aiofiles missing (make deps: bench)" >&2; exit 1; }
[ -x "$build/bench/files/fileio_aioc" ] || { echo "bench/files: $build/bench/files/fileio_aioc not built (liburing-dev)" >&2; exit 1; }
made=0
if [ ! -f "$file" ]; then
  dd if=/dev/urandom of="$file" bs=1M count=1024 status=none
  made=1
fi
trap '[ $made = 1 ] && rm -f "$file"' EXIT
"$py" "$here/run.py" "$build" "$file" "${FILES_SECONDS:-2}" "$build/bench-files-results.txt"
