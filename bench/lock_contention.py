"""lock_contention (asyncio / uvloop): 1,000 tasks share one asyncio.Lock;
each, N / 1,000 times, acquires it (`async with`), increments a shared
counter, releases it and yields with asyncio.sleep(0), so every task gets
its turn between two of its own acquisitions. N acquisitions in all.
Usage: lock_contention.py asyncio|uvloop [N]"""
import asyncio

import benchlib

TASKS = 1000


async def main(impl, n):
    each = max(n // TASKS, 1)
    n = each * TASKS  # what actually runs, when N is not a multiple
    lock = asyncio.Lock()
    state = {"counter": 0}

    async def worker():
        for _ in range(each):
            async with lock:
                state["counter"] += 1
            await asyncio.sleep(0)

    t0 = benchlib.now_ns()
    await asyncio.gather(*[asyncio.create_task(worker()) for _ in range(TASKS)])
    t1 = benchlib.now_ns()
    if state["counter"] != n:
        raise SystemExit("bench: wrong counter")
    ns = t1 - t0
    benchlib.result("lock_contention", impl, n=n, tasks=TASKS,
                    ns_per_op=f"{ns / n:.1f}", acq_per_s=f"{n * 1e9 / ns:.0f}",
                    wall_s=f"{ns / 1e9:.3f}")


if __name__ == "__main__":
    impl, n = benchlib.args()
    benchlib.run(impl, main(impl, n))
