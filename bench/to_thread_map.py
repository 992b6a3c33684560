"""to_thread_map (asyncio / uvloop): one task runs a trivial function
(x + 1) over N items (default 1,000,000) in the default thread pool, B at a
time (default 100): asyncio.to_thread of a function that runs the whole
batch, Python's way to hand many small jobs to a pool in one go (the GIL
lets only one thread run Python code anyway). ns per item and per batch.
One untimed batch first starts the executor's thread, as in the C programs.
Usage: to_thread_map.py asyncio|uvloop [N [B]]"""
import asyncio
import sys

import benchlib


def bump(x):
    return x + 1


def run_batch(items):
    return [bump(x) for x in items]


async def main(impl, n, b):
    n = (n + b - 1) // b * b
    await asyncio.to_thread(run_batch, range(b))
    t0 = benchlib.now_ns()
    for start in range(0, n, b):
        results = await asyncio.to_thread(run_batch, range(start, start + b))
        if results[-1] != start + b:
            raise SystemExit("bench: wrong result")
    t1 = benchlib.now_ns()
    benchlib.result("to_thread_map", impl, n=n, batch=b,
                    ns_per_item=f"{(t1 - t0) / n:.1f}",
                    ns_per_batch=f"{(t1 - t0) / (n // b):.1f}",
                    wall_s=f"{(t1 - t0) / 1e9:.3f}")


if __name__ == "__main__":
    impl, n = benchlib.args(1_000_000)
    b = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    benchlib.run(impl, main(impl, n, b))
