"""idle_tasks (asyncio / uvloop): N tasks sleep 1 s all at once; wall time
and resident memory per task. Usage: idle_tasks.py asyncio|uvloop [N]"""
import asyncio

import benchlib


async def main(impl, n):
    base = benchlib.rss_kb()
    t0 = benchlib.now_ns()
    tasks = [asyncio.create_task(asyncio.sleep(1.0)) for _ in range(n)]
    await asyncio.gather(*tasks)
    t1 = benchlib.now_ns()
    peak = benchlib.peak_rss_kb()
    benchlib.result("idle_tasks", impl, n=n, wall_s=f"{(t1 - t0) / 1e9:.3f}",
                    rss_per_task_b=f"{(peak - base) * 1024 / n:.0f}",
                    peak_rss_kb=peak,
                    alive=n)  # no task starts before main awaits gather


if __name__ == "__main__":
    impl, n = benchlib.args()
    benchlib.run(impl, main(impl, n))
