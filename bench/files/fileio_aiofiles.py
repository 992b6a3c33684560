"""fileio (aiofiles): DEPTH asyncio tasks, each with its own aiofiles file
object (seek + read, or write: aiofiles runs each call on the loop's
default executor), for SECONDS. aiofiles cannot do O_DIRECT (Python's
reads allocate unaligned buffers), so it reads through the page cache,
which holds the whole file here: every read is a memory copy, cheaper
than the others' disk reads, which favours it.

    python3 fileio_aiofiles.py MODE BS DEPTH SECONDS FILE
"""
import asyncio
import os
import random
import resource
import sys
import time

import aiofiles


def cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def main(mode, bs, depth, seconds, path):
    blocks = os.path.getsize(path) // bs
    end = time.monotonic() + seconds
    ops = 0
    state = {"next": 0}
    data = b"w" * bs

    async def worker(i):
        nonlocal ops
        rng = random.Random(i)
        async with aiofiles.open(path, "r+b" if mode == "write" else "rb", buffering=0) as f:
            while time.monotonic() < end:
                if mode in ("randread", "cachedread"):
                    b = rng.randrange(blocks)
                else:
                    b = state["next"] % blocks
                    state["next"] += 1
                await f.seek(b * bs)
                if mode == "write":
                    n = await f.write(data)
                else:
                    n = len(await f.read(bs))
                assert n == bs
                ops += 1

    c0, t0 = cpu_s(), time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(depth)))
    wall, cpu = time.monotonic() - t0, cpu_s() - c0
    print(f"RESULT impl=aiofiles mode={mode} bs={bs} depth={depth} ops={ops} "
          f"iops={ops / wall:.0f} gbps={ops * bs / wall / 1e9:.3f} "
          f"cpu_us_per_op={cpu * 1e6 / ops:.2f}")


if __name__ == "__main__":
    m, b, d, s, p = sys.argv[1:6]
    asyncio.run(main(m, int(b), int(d), float(s), p))
