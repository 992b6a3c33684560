"""timers (asyncio / uvloop): N tasks each sleep a pseudo-random 0..1000 ms
(the shared xorshift sequence). Wall time, worst lateness and the lateness
of the task that woke last. Usage: timers.py asyncio|uvloop [N]"""
import asyncio

import benchlib


async def main(impl, n):
    delays = benchlib.delays_ms(n)
    late = {"max": 0, "last": 0}
    now_ns = benchlib.now_ns

    async def sleeper(ms):
        due = now_ns() + ms * 1_000_000
        await asyncio.sleep(ms / 1000)
        lateness = now_ns() - due
        late["last"] = lateness  # one thread: the last writer woke last
        if lateness > late["max"]:
            late["max"] = lateness

    t0 = now_ns()
    tasks = [asyncio.create_task(sleeper(ms)) for ms in delays]
    await asyncio.gather(*tasks)
    t1 = now_ns()
    benchlib.result("timers", impl, n=n, wall_s=f"{(t1 - t0) / 1e9:.3f}",
                    max_late_ms=f"{late['max'] / 1e6:.2f}",
                    last_late_ms=f"{late['last'] / 1e6:.2f}",
                    peak_rss_kb=benchlib.peak_rss_kb())


if __name__ == "__main__":
    impl, n = benchlib.args()
    benchlib.run(impl, main(impl, n))
