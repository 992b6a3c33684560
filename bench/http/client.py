"""client.py: the HTTP client benchmark on aiohttp, for bench/http/run.sh.
CONC tasks share a count of REQS GET requests to URL through one
ClientSession whose TCPConnector allows CONC connections (keep-alive);
each body is read whole.

    taskset -c 1 python3 client.py URL REQS CONC

Prints "RESULT name=client impl=aiohttp ... client_ns_per_req=..." with
the process's CPU time (getrusage) from the first request to the last
response (interpreter start-up and imports excluded). Fails (exit status
1) on any error or non-200 answer.
"""
import asyncio
import resource
import sys
import time

import aiohttp


def cpu_s():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def main(url, reqs, conc):
    left = reqs
    body_bytes = 0

    async def worker(session):
        nonlocal left, body_bytes
        while left > 0:
            left -= 1
            async with session.get(url) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"status {resp.status}")
                body_bytes += len(body)

    connector = aiohttp.TCPConnector(limit=conc)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0, c0 = time.monotonic(), cpu_s()
        await asyncio.gather(*(worker(session) for _ in range(conc)))
        secs, cpu = time.monotonic() - t0, cpu_s() - c0
    print(f"RESULT name=client impl=aiohttp reqs={reqs} conc={conc} seconds={secs:.4f} "
          f"req_per_s={reqs / secs:.0f} client_ns_per_req={cpu * 1e9 / reqs:.0f} "
          f"client_cpu_pct={100 * cpu / secs:.1f} body_bytes={body_bytes}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit("usage: client.py URL REQS CONC")
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
