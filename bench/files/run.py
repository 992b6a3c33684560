"""File I/O benchmark driver (bench/files/run.sh): every implementation on
one file, each configuration for a few seconds, and a table with aioc's
ratios. See run.sh for what is measured."""
import json
import os
import resource
import subprocess
import sys

build, path, seconds, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
here = os.path.dirname(os.path.abspath(__file__))
bindir = os.path.join(build, "bench", "files")
configs = [("cachedread", 4096, 1), ("cachedread", 4096, 64),
           ("randread", 4096, 1), ("randread", 4096, 64), ("read", 1 << 20, 1),
           ("read", 1 << 20, 64), ("write", 1 << 20, 1), ("write", 1 << 20, 64)]


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def result_line(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    sys.stderr.write(f"{' '.join(cmd)}: {p.stderr.strip()}\n")
    return None


def fio(engine, mode, bs, depth):
    rw = {"randread": "randread", "cachedread": "randread", "read": "read", "write": "write"}[mode]
    cmd = ["fio", "--name=bench", f"--filename={path}", f"--rw={rw}", f"--bs={bs}",
           f"--direct={0 if mode == 'cachedread' else 1}", f"--ioengine={engine}", "--time_based", f"--runtime={seconds}",
           "--group_reporting", "--output-format=json"]
    if mode == "cachedread":  # fio drops the file's cached pages first unless told not to
        cmd += ["--invalidate=0"]
    if engine == "psync":  # depth = threads, each with one request
        cmd += [f"--numjobs={depth}", "--thread"]
    else:
        cmd += [f"--iodepth={depth}"]
    c0 = children_cpu()
    p = subprocess.run(cmd, capture_output=True, text=True)
    cpu = children_cpu() - c0
    job = json.loads(p.stdout)["jobs"][0]
    side = job["write" if mode == "write" else "read"]
    ops = side["total_ios"]
    runtime = side["runtime"] / 1000.0  # ms
    return {"impl": f"fio-{engine}", "ops": ops, "iops": ops / runtime,
            "gbps": ops * bs / runtime / 1e9, "cpu_us_per_op": cpu * 1e6 / ops}


def warm():
    """Reads the whole file, so that the page cache holds it for cachedread
    (the O_DIRECT writes and reads of the other modes do not evict it, but
    the kernel's proactive reclaim may, between configurations)."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


rows = []
for mode, bs, depth in configs:
    if mode == "cachedread":
        warm()
    got = {}
    # the zero-copy rows only where the copy weighs: 1 MiB transfers
    engines = ("pool", "uring") + (("pool-zc", "uring-zc") if bs >= 1 << 20 else ())
    for engine in engines:
        got[f"aioc-{engine}"] = result_line(
            [os.path.join(bindir, "fileio_aioc"), engine, mode, str(bs), str(depth),
             str(seconds), path])
    for engine in ("io_uring", "psync"):
        got[f"fio-{engine}"] = fio(engine, mode, bs, depth)
    env = dict(os.environ, UV_THREADPOOL_SIZE=os.environ.get("UV_THREADPOOL_SIZE", "6"))
    got["libuv"] = result_line([os.path.join(bindir, "fileio_uv"), mode, str(bs), str(depth),
                                str(seconds), path], env)
    got["aiofiles"] = result_line([sys.executable, os.path.join(here, "fileio_aiofiles.py"), mode,
                                   str(bs), str(depth), str(seconds), path])
    for impl, r in got.items():
        if r:
            rows.append((mode, bs, depth, impl, float(r["iops"]), float(r["gbps"]),
                         float(r["cpu_us_per_op"])))

with open(out, "a") as f:
    for row in rows:
        f.write("RESULT mode=%s bs=%d depth=%d impl=%s iops=%.0f gbps=%.3f cpu_us_per_op=%.2f\n"
                % row)

print(f"{'mode':9} {'bs':>7} {'depth':>5} {'impl':14} {'IOPS':>9} {'GB/s':>7} {'CPU us/op':>9}"
      f" {'uring/x':>8} {'pool/x':>7}")
for mode, bs, depth in configs:
    sel = {r[3]: r for r in rows if r[:3] == (mode, bs, depth)}
    for impl, r in sel.items():
        u = sel.get("aioc-uring")
        p = sel.get("aioc-pool")
        ru = f"{u[4] / r[4]:.2f}" if u else "-"
        rp = f"{p[4] / r[4]:.2f}" if p else "-"
        print(f"{mode:9} {bs:>7} {depth:>5} {impl:14} {r[4]:>9.0f} {r[5]:>7.3f} {r[6]:>9.2f}"
              f" {ru:>8} {rp:>7}")
