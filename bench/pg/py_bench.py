"""The Python side of bench/pg: `SELECT $1::int4` (the answer checked) on
one connection, one query after another (asyncpg and psycopg allow one
operation at a time per connection), for SECONDS.

    python3 py_bench.py asyncpg|asyncpg-uvloop|psycopg DSN SECONDS

asyncpg is Debian's python3-asyncpg (its own protocol implementation,
binary, with a statement cache); psycopg is Debian's python3-psycopg 3
(async, the pure-Python implementation over libpq). Prints one line:
RESULT name=... queries=N seconds=S qps=Q cpu_us=C (this process's CPU
per query, in microseconds)."""
import asyncio
import sys
import time


async def run_asyncpg(dsn, secs):
    import asyncpg
    conn = await asyncpg.connect(dsn)
    n = 0
    end = time.monotonic() + secs
    while n % 256 or time.monotonic() < end:
        v = await conn.fetchval("SELECT $1::int4", n % 1000000)
        if v != n % 1000000:
            raise SystemExit("wrong answer")
        n += 1
    await conn.close()
    return n


async def run_psycopg(dsn, secs):
    import psycopg
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    n = 0
    end = time.monotonic() + secs
    async with conn.cursor() as cur:
        while n % 256 or time.monotonic() < end:
            await cur.execute("SELECT %s::int4", (n % 1000000,))
            (v,) = await cur.fetchone()
            if v != n % 1000000:
                raise SystemExit("wrong answer")
            n += 1
    await conn.close()
    return n


def main():
    kind, dsn, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if kind == "asyncpg-uvloop":
        import uvloop
        uvloop.install()
    fn = run_psycopg if kind == "psycopg" else run_asyncpg
    t0, c0 = time.monotonic(), time.process_time()
    n = asyncio.run(fn(dsn, secs))
    t, c = time.monotonic() - t0, time.process_time() - c0
    print(f"RESULT name={kind} queries={n} seconds={t:.3f} qps={n / t:.0f} "
          f"cpu_us={c * 1e6 / n:.2f}")


if __name__ == "__main__":
    main()
