"""Helpers shared by the Python benchmark programs.

Every program takes `asyncio` or `uvloop` as its first argument (which
event loop to run on) and an optional operation count, and prints one line
    RESULT name=<bench> impl=<asyncio|uvloop> key=value ...
that bench/run.sh collects. Run them with the system interpreter
(/usr/bin/python3), which has uvloop.
"""
import asyncio
import os
import resource
import sys
import time


def args(default_n=1_000_000):
    """(impl, n) from the command line."""
    impl = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
    if impl not in ("asyncio", "uvloop"):
        sys.exit(f"usage: {sys.argv[0]} asyncio|uvloop [N]")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else default_n
    return impl, n


def run(impl, coro):
    """Runs `coro` to completion on the chosen loop."""
    if impl == "uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(coro)


def now_ns():
    # CLOCK_MONOTONIC, the clock asyncio's and uvloop's loop.time() read
    return time.monotonic_ns()


def peak_rss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_kb():
    """Current resident set size (second field of /proc/self/statm)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGESIZE") // 1024


def delays_ms(n):
    """The shared delay sequence: xorshift64 (13, 7, 17), seed 42, % 1001."""
    mask = (1 << 64) - 1
    s = 42
    out = [0] * n
    for i in range(n):
        s ^= (s << 13) & mask
        s ^= s >> 7
        s ^= (s << 17) & mask
        out[i] = s % 1001
    return out


def result(name, impl, **fields):
    parts = " ".join(f"{k}={v}" for k, v in fields.items())
    print(f"RESULT name={name} impl={impl} {parts}", flush=True)
