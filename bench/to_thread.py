"""to_thread (asyncio / uvloop): one task runs a trivial function in the
default thread pool with asyncio.to_thread and awaits its result, N times
in a row (default 100,000); ns per round trip. One untimed call first
starts the executor's thread, as in the C programs.
Usage: to_thread.py asyncio|uvloop [N]"""
import asyncio

import benchlib


def bump(x):
    return x + 1


async def main(impl, n):
    await asyncio.to_thread(bump, 0)
    t0 = benchlib.now_ns()
    for i in range(n):
        if await asyncio.to_thread(bump, i) != i + 1:
            raise SystemExit("bench: wrong result")
    t1 = benchlib.now_ns()
    benchlib.result("to_thread", impl, n=n, ns_per_op=f"{(t1 - t0) / n:.1f}",
                    wall_s=f"{(t1 - t0) / 1e9:.3f}")


if __name__ == "__main__":
    impl, n = benchlib.args(100_000)
    benchlib.run(impl, main(impl, n))
