"""spawn_gather (asyncio / uvloop): create N tasks that return their index,
gather them all, check the sum. Usage: spawn_gather.py asyncio|uvloop [N]"""
import asyncio

import benchlib


async def trivial(i):
    return i


async def one_round(n):
    """Spawns n tasks, gathers them, checks the sum; returns elapsed ns."""
    t0 = benchlib.now_ns()
    tasks = [asyncio.create_task(trivial(i)) for i in range(n)]
    results = await asyncio.gather(*tasks)
    t1 = benchlib.now_ns()
    if sum(results) != n * (n - 1) // 2:
        raise SystemExit("bench: wrong sum")
    return t1 - t0


async def main(impl, n):
    # The first round is the figure; the second runs with memory already
    # touched (the first round's tasks are freed in between).
    cold = await one_round(n)
    warm = await one_round(n)
    benchlib.result("spawn_gather", impl, n=n, ns_per_op=f"{cold / n:.1f}",
                    warm_ns_per_op=f"{warm / n:.1f}",
                    peak_rss_kb=benchlib.peak_rss_kb(),
                    wall_s=f"{cold / 1e9:.3f}")


if __name__ == "__main__":
    impl, n = benchlib.args()
    benchlib.run(impl, main(impl, n))
