"""timers_cb (asyncio / uvloop): the timer benchmark with plain callbacks,
loop.call_later, same delays and measures as timers.py; sched_s is the time
the N call_later calls took.
Usage: timers_cb.py asyncio|uvloop [N]"""
import asyncio

import benchlib


async def main(impl, n):
    loop = asyncio.get_running_loop()
    delays = benchlib.delays_ms(n)
    due = [0] * n
    state = {"fired": 0, "max": 0, "last": 0}
    done = loop.create_future()
    now_ns = benchlib.now_ns

    def on_timer(i):
        lateness = now_ns() - due[i]
        state["last"] = lateness
        if lateness > state["max"]:
            state["max"] = lateness
        state["fired"] += 1
        if state["fired"] == n:
            done.set_result(None)

    t0 = now_ns()
    for i, ms in enumerate(delays):
        due[i] = now_ns() + ms * 1_000_000
        loop.call_later(ms / 1000, on_timer, i)
    scheduled = now_ns()
    await done
    t1 = now_ns()
    benchlib.result("timers_cb", impl, n=n, wall_s=f"{(t1 - t0) / 1e9:.3f}",
                    max_late_ms=f"{state['max'] / 1e6:.2f}",
                    last_late_ms=f"{state['last'] / 1e6:.2f}",
                    sched_s=f"{(scheduled - t0) / 1e9:.3f}",
                    peak_rss_kb=benchlib.peak_rss_kb())


if __name__ == "__main__":
    impl, n = benchlib.args()
    benchlib.run(impl, main(impl, n))
