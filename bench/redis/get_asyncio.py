"""The redis.asyncio side of bench/redis: TASKS asyncio tasks share one
redis.asyncio.Redis client (its connection pool opens a connection per
task that needs one) and GET one key until REQUESTS GETs are done. Prints
  RESULT impl=redis.asyncio requests=N seconds=S rps=R cpu_us_per_req=C
(the process's CPU time, user + system).
  python3 get_asyncio.py HOST PORT [TASKS=50] [REQUESTS=50000] [uvloop]"""
import asyncio
import sys
import time

import redis.asyncio as aioredis


async def main(host, port, tasks, requests):
    r = aioredis.Redis(host=host, port=port)
    await r.set("bench:key", "xyz")
    left = requests
    bad = 0

    async def getter():
        nonlocal left, bad
        while left > 0:
            left -= 1
            if await r.get("bench:key") != b"xyz":
                bad += 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(getter() for _ in range(tasks)))
    secs, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await r.close()
    if bad:
        sys.exit(f"get_asyncio: {bad} wrong replies")
    return secs, cpu


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    tasks = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    requests = int(sys.argv[4]) if len(sys.argv) > 4 else 50000
    impl = "redis.asyncio"
    if len(sys.argv) > 5 and sys.argv[5] == "uvloop":
        import uvloop

        uvloop.install()
        impl = "redis.asyncio+uvloop"
    secs, cpu = asyncio.run(main(host, port, tasks, requests))
    print(f"RESULT impl={impl} requests={requests} seconds={secs:.3f} "
          f"rps={requests / secs:.0f} cpu_us_per_req={cpu * 1e6 / requests:.3f}")
