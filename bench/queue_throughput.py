"""queue_throughput (asyncio / uvloop): N items through one
asyncio.Queue(maxsize), from P producer tasks to C consumer tasks, each
producer putting its share (N / P, the first N % P one more). Python 3.11
has no Queue.shutdown, so once every producer has finished one None per
consumer follows the items; the sentinels are not counted.

Usage: queue_throughput.py asyncio|uvloop [N] [CASE]
CASE is PxC_maxM (e.g. 8x8_max1024); without it the four standard cases
run one after the other, one RESULT line each."""
import asyncio
import re
import sys

import benchlib

CASES = ["1x1_max1", "1x1_max1024", "8x8_max1", "8x8_max1024"]


async def one_case(impl, n, name):
    m = re.fullmatch(r"(\d+)x(\d+)_max(\d+)", name)
    if not m or min(int(g) for g in m.groups()) <= 0:
        raise SystemExit("bench: case must look like 8x8_max1024")
    np, nc, maxsize = (int(g) for g in m.groups())
    q = asyncio.Queue(maxsize)

    async def produce(first, share):
        for i in range(first + 1, first + share + 1):
            await q.put(i)

    async def consume():
        count = total = 0
        while True:
            v = await q.get()
            if v is None:
                return count, total
            count += 1
            total += v

    t0 = benchlib.now_ns()
    consumers = [asyncio.create_task(consume()) for _ in range(nc)]
    producers = []
    first = 0
    for p in range(np):
        share = n // np + (p < n % np)
        producers.append(asyncio.create_task(produce(first, share)))
        first += share
    await asyncio.gather(*producers)
    for _ in range(nc):
        await q.put(None)
    got = await asyncio.gather(*consumers)
    t1 = benchlib.now_ns()

    if sum(c for c, _ in got) != n or sum(s for _, s in got) != n * (n + 1) // 2:
        raise SystemExit("bench: wrong item count or sum")
    ns = t1 - t0
    benchlib.result(f"queue_{name}", impl, n=n, producers=np, consumers=nc,
                    maxsize=maxsize, ns_per_op=f"{ns / n:.1f}",
                    items_per_s=f"{n * 1e9 / ns:.0f}", wall_s=f"{ns / 1e9:.3f}")


async def main(impl, n, only):
    for name in [only] if only else CASES:
        await one_case(impl, n, name)


if __name__ == "__main__":
    impl, n = benchlib.args()
    benchlib.run(impl, main(impl, n, sys.argv[3] if len(sys.argv) > 3 else None))
