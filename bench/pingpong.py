"""pingpong (asyncio / uvloop): two tasks hand a token back and forth
through two asyncio.Events; N hand-offs (one hand-off = one transfer to the
other task). Usage: pingpong.py asyncio|uvloop [N]"""
import asyncio

import benchlib


async def main(impl, n):
    turn = [asyncio.Event(), asyncio.Event()]
    state = {"left": n, "made": 0}

    async def player(me):
        other = turn[1 - me]
        mine = turn[me]
        while True:
            await mine.wait()
            mine.clear()
            if state["left"] == 0:
                other.set()  # let the peer see the end too
                return
            state["left"] -= 1
            state["made"] += 1
            other.set()

    tasks = [asyncio.create_task(player(0)), asyncio.create_task(player(1))]
    t0 = benchlib.now_ns()
    turn[0].set()
    await asyncio.gather(*tasks)
    t1 = benchlib.now_ns()
    if state["made"] != n:
        raise SystemExit("bench: wrong hand-off count")
    benchlib.result("pingpong", impl, n=n, ns_per_op=f"{(t1 - t0) / n:.1f}",
                    peak_rss_kb=benchlib.peak_rss_kb(),
                    wall_s=f"{(t1 - t0) / 1e9:.3f}")


if __name__ == "__main__":
    impl, n = benchlib.args()
    benchlib.run(impl, main(impl, n))
