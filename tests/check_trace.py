#!/usr/bin/env python3
"""Checks a trace written with AIOC_TRACE against what Chrome's trace-event
format asks of it (the format Perfetto and chrome://tracing load), then what
the program that made it must show.

    check_trace.py FILE orders|many

Format: a JSON object whose traceEvents is a list; every event has a known
phase, a pid, and (but metadata) a tid and a timestamp >= 0; complete (X)
slices have a duration >= 0 and, on each thread, start in time order and do
not overlap; async spans (b/e) open and close in pairs, per id, with the same
name; each flow (s/f) starts inside a slice of its thread and ends no
earlier, and every flow is finished; every thread with slices is named.
"""
import json
import sys
from collections import defaultdict

PHASES = {"X", "b", "e", "i", "s", "f", "C", "M"}


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check_format(events):
    slices = defaultdict(list)  # (pid, tid) -> [(ts, end)]
    spans = {}  # (cat, id) -> (name, ts)
    flows = {}  # id -> (pid, tid, ts) of the start
    finished = set()
    named = set()
    for n, e in enumerate(events):
        ph = e.get("ph")
        if ph not in PHASES:
            fail(f"event {n}: unknown phase {ph!r}")
        if not isinstance(e.get("pid"), int) or not isinstance(e.get("name"), str):
            fail(f"event {n}: no pid or name: {e}")
        if ph == "M":
            if e["name"] == "thread_name":
                named.add((e["pid"], e["tid"]))
            continue
        if not isinstance(e.get("tid"), int):
            fail(f"event {n}: no tid: {e}")
        ts = e.get("ts")
        if not isinstance(ts, (int, float)) or ts < 0:
            fail(f"event {n}: bad timestamp: {e}")
        thread = (e["pid"], e["tid"])
        if ph == "X":
            dur = e.get("dur")
            if not isinstance(dur, (int, float)) or dur < 0:
                fail(f"event {n}: bad duration: {e}")
            prior = slices[thread]
            if prior and ts < prior[-1][1] - 1e-9:
                fail(f"event {n}: slice starts at {ts} before the previous one on its thread ends at {prior[-1][1]}")
            prior.append((ts, ts + dur))
        elif ph == "b":
            key = (e.get("cat"), e.get("id"))
            if key in spans:
                fail(f"event {n}: span {key} opened twice")
            spans[key] = (e["name"], ts)
        elif ph == "e":
            key = (e.get("cat"), e.get("id"))
            if key not in spans:
                fail(f"event {n}: span {key} closed but not open")
            name, began = spans.pop(key)
            if name != e["name"] or ts < began:
                fail(f"event {n}: span {key} ({name} at {began}) closed as {e['name']} at {ts}")
        elif ph == "s":
            flows[e.get("id")] = (thread, ts)
        elif ph == "f":
            fid = e.get("id")
            if fid not in flows or flows[fid][1] > ts or e.get("bp") != "e":
                fail(f"event {n}: flow end {fid} without an earlier start")
            finished.add(fid)
    if spans:
        fail(f"spans never closed: {sorted(spans)[:5]}")
    if set(flows) != finished:
        fail(f"flows never finished: {sorted(set(flows) - finished)[:5]}")
    for fid, (thread, ts) in flows.items():  # inside a slice of its thread
        if not any(a <= ts <= b for a, b in slices[thread]):
            fail(f"flow {fid} starts at {ts}, outside every slice of its thread")
    for thread in slices:
        if thread not in named:
            fail(f"thread {thread} has slices but no thread_name")
    return slices


def spans_of(events, name):
    """Durations (µs) of the wait spans called `name`, per task id."""
    began, out = {}, defaultdict(list)
    for e in events:
        if e.get("cat") == "wait" and e["name"] == name:
            if e["ph"] == "b":
                began[e["id"]] = e["ts"]
            elif e["ph"] == "e":
                out[e["id"]].append(e["ts"] - began.pop(e["id"]))
    return out


def check_orders(events):
    tasks = {e["name"] for e in events if e["ph"] == "X" and e["cat"] == "task"}
    if tasks != {"main", "task-2", "task-3", "task-4"}:
        fail(f"expected main and three orders, found tasks {sorted(tasks)}")
    sleeps = sorted(max(d) for d in spans_of(events, "sleep").values())
    # orders 1 and 2 sleep 2 s and 1 s; order 3 sleeps 0 s, a yield. A
    # sleep counts from the loop's clock as last read, which may be a little
    # before the step that slept ended (much under Valgrind): bounds are wide,
    # the difference is narrow.
    if len(sleeps) != 2 or not (0.5e6 <= sleeps[0] <= 1.5e6 and 1.5e6 <= sleeps[1] <= 2.5e6
                                and 0.9e6 <= sleeps[1] - sleeps[0] <= 1.1e6):
        fail(f"expected sleeps of 1 s and 2 s, found {sleeps} µs")
    gather = [d for ds in spans_of(events, "await tasks").values() for d in ds]
    if not gather or sum(gather) < 1.5e6:
        fail(f"main's gather should wait about 2 s in all, found {gather} µs")
    wakes_of_main = [e for e in events if e["ph"] == "i" and e["args"]["task"] == "main"]
    if len(wakes_of_main) < 3:
        fail(f"each order's end should wake main, found {len(wakes_of_main)} wake-ups")


def check_many(events, slices):
    threads = [t for t, s in slices.items() if len(s) >= 2 * 3000]
    if len(threads) != 2:
        fail(f"expected two loop threads with 6000+ slices each, found {[(t, len(s)) for t, s in slices.items()]}")
    names = defaultdict(int)
    for e in events:
        if e["ph"] == "X":
            names[e["name"]] += 1
    if names["pinger"] < 2 * 3000 or names["ponger"] < 2 * 3000:
        fail(f"expected 3000+ steps of each named task per loop, found {dict(names)}")
    if not any(e["ph"] == "C" for e in events):
        fail("no counters")


def main():
    path, mode = sys.argv[1], sys.argv[2]
    with open(path) as f:
        doc = json.load(f)
    events = doc.get("traceEvents")
    if not isinstance(events, list) or not events:
        fail("no traceEvents list")
    slices = check_format(events)
    if mode == "orders":
        check_orders(events)
    else:
        check_many(events, slices)
    print(f"ok: {len(events)} events, {sum(len(s) for s in slices.values())} slices on {len(slices)} thread(s)")


main()
