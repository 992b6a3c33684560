#!/usr/bin/env python3
"""Draws a trace written with AIOC_TRACE=FILE as one self-contained HTML
page (an SVG), for a quick look where ui.perfetto.dev is out of reach:

    scripts/trace_view.py TRACE.json OUT.html

Per loop thread, a row of task steps (each at least 2 px wide, so that a
step of a few µs in a run of seconds still shows), then a row per task with
what it waited on (sleep, await tasks, ...), and the wake-ups as arrows from
the step that made them to the step they started. Perfetto shows the same
file with zoom and search; this is only a picture of it."""
import html
import json
import sys
from collections import defaultdict

WIDTH, LEFT, ROW, TOP = 1100, 150, 26, 40
COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]


def main():
    events = json.load(open(sys.argv[1]))["traceEvents"]
    timed = [e for e in events if e["ph"] != "M"]
    t0 = min(e["ts"] for e in timed)
    t1 = max(e["ts"] + e.get("dur", 0) for e in timed)
    scale = (WIDTH - LEFT - 20) / max(t1 - t0, 1)
    x = lambda ts: LEFT + (ts - t0) * scale
    threads = sorted({(e["pid"], e["tid"]) for e in timed if e["ph"] == "X"})
    thread_names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
                    if e["ph"] == "M" and e["name"] == "thread_name"}
    # tasks in the order they first ran, with their names
    tasks, names = [], {}
    for e in timed:
        if e["ph"] == "X" and e["cat"] == "task" and e["args"]["id"] not in names:
            tasks.append(e["args"]["id"])
            names[e["args"]["id"]] = e["name"]
    color = {t: COLORS[i % len(COLORS)] for i, t in enumerate(tasks)}
    rows = {th: TOP + i * ROW for i, th in enumerate(threads)}
    task_row = {t: TOP + (len(threads) + 1 + i) * ROW for i, t in enumerate(tasks)}
    height = TOP + (len(threads) + 2 + len(tasks)) * ROW + 30
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
           '<path d="M0,0 L8,4 L0,8 z" fill="#444"/></marker></defs>']
    # time axis: about ten ticks, in s or ms
    span = t1 - t0
    unit, div = ("s", 1e6) if span >= 2e6 else ("ms", 1e3)
    step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1e9)
                if span / div / s <= 10)
    tick = 0.0
    while tick * div <= span:
        px = x(t0 + tick * div)
        out.append(f'<line x1="{px:.1f}" y1="{TOP - 8}" x2="{px:.1f}" y2="{height - 30}" stroke="#eee"/>')
        out.append(f'<text x="{px:.1f}" y="{TOP - 12}" text-anchor="middle" fill="#666">{tick:g} {unit}</text>')
        tick = round(tick + step, 6)
    for th, y in rows.items():
        label = html.escape(thread_names.get(th, f"thread {th[1]}"))
        out.append(f'<text x="8" y="{y + 16}" font-weight="bold">{label}</text>')
    out.append(f'<text x="8" y="{TOP + len(threads) * ROW + 16}" fill="#666">waits, per task</text>')
    for t, y in task_row.items():
        out.append(f'<text x="20" y="{y + 16}" fill="{color[t]}">{html.escape(names[t])}</text>')
    starts = {}  # flow id -> (x, y)
    slice_at = []  # (x, y) of each task step start, for flow ends
    for e in timed:
        th = (e["pid"], e["tid"])
        if e["ph"] == "X" and th in rows:
            fill = color.get(e["args"].get("id"), "#999") if e["cat"] == "task" else "#999"
            w = max(e["dur"] * scale, 2)
            out.append(f'<rect x="{x(e["ts"]):.1f}" y="{rows[th] + 3}" width="{w:.1f}" height="{ROW - 6}" '
                       f'fill="{fill}"><title>{html.escape(e["name"])} {e["dur"]:.1f} µs</title></rect>')
    opened = {}
    for e in timed:
        if e["ph"] == "b":
            opened[e["id"]] = e
        elif e["ph"] == "e" and e["id"] in opened and e["id"] in task_row:
            b = opened.pop(e["id"])
            y = task_row[e["id"]]
            x0, x1 = x(b["ts"]), x(e["ts"])
            out.append(f'<rect x="{x0:.1f}" y="{y + 5}" width="{max(x1 - x0, 1):.1f}" height="{ROW - 10}" '
                       f'fill="{color[e["id"]]}" fill-opacity="0.25" stroke="{color[e["id"]]}"/>')
            secs = (e["ts"] - b["ts"]) / 1e6
            label = f'{b["name"]} {secs:.2f} s' if secs >= 0.01 else b["name"]
            if x1 - x0 > 60:
                out.append(f'<text x="{x0 + 4:.1f}" y="{y + 17}">{html.escape(label)}</text>')
        elif e["ph"] == "s":
            starts[e["id"]] = (x(e["ts"]), rows[(e["pid"], e["tid"])] + ROW / 2)
        elif e["ph"] == "f" and e["id"] in starts:
            (sx, sy), ex = starts[e["id"]], x(e["ts"])
            ey = rows[(e["pid"], e["tid"])] + ROW / 2
            out.append(f'<path d="M{sx:.1f},{sy - 10} C{sx + 12:.1f},{sy - 24} {ex - 12:.1f},{ey - 24} {ex:.1f},{ey - 10}" '
                       'fill="none" stroke="#444" marker-end="url(#arrow)"/>')
    out.append(f'<text x="{LEFT}" y="{height - 10}" fill="#666">{html.escape(sys.argv[1].split("/")[-1])}: '
               f'{len(timed)} events; task steps on top (min 2 px wide), arrows are wake-ups</text>')
    out.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("<!doctype html><meta charset='utf-8'><body style='margin:0'>" + "\n".join(out) + "</body>")


main()
