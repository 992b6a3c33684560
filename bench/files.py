"""files (asyncio / uvloop): N small reads (default 100,000) of a 4 KiB
file: asyncio.to_thread(read the whole file) per read, and one to_thread
call that does all N reads (a batch); wall and process CPU per read. The
same as files.c; aiofiles is not packaged here, and is to_thread per call
underneath.
Usage: files.py asyncio|uvloop [N]"""
import asyncio
import os
import time

import benchlib


def read_whole(path):
    with open(path, "rb") as f:
        return f.read()


def read_many(path, n):
    for _ in range(n):
        if len(read_whole(path)) != 4096:
            raise SystemExit("bench: short read")


def report(how, impl, n, t0, t1, c0, c1):
    benchlib.result(f"files_{how}", impl, n=n, ns_per_op=f"{(t1 - t0) / n:.1f}",
                    cpu_ns_per_op=f"{(c1 - c0) * 1e9 / n:.1f}", wall_s=f"{(t1 - t0) / 1e9:.3f}")


async def main(impl, n):
    path = f"/tmp/aioc-bench-files-py-{os.getpid()}"
    with open(path, "wb") as f:
        f.write(b"x" * 4096)
    await asyncio.to_thread(read_whole, path)
    t0, c0 = benchlib.now_ns(), time.process_time()
    for _ in range(n):
        if len(await asyncio.to_thread(read_whole, path)) != 4096:
            raise SystemExit("bench: short read")
    report("read_file_each", impl, n, t0, benchlib.now_ns(), c0, time.process_time())
    t0, c0 = benchlib.now_ns(), time.process_time()
    await asyncio.to_thread(read_many, path, n)
    report("read_file_batched", impl, n, t0, benchlib.now_ns(), c0, time.process_time())
    os.unlink(path)


if __name__ == "__main__":
    impl, n = benchlib.args(100_000)
    benchlib.run(impl, main(impl, n))
