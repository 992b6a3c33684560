#!/usr/bin/env bash
# What a change costs when nothing new is switched on: two builds of aioc,
# side by side, on the three benchmarks issue 15 names (pingpong, spawn and
# echo), run alternately so that both meet the same machine:
#
#   bench/offcost.sh BASE_BUILD NEW_BUILD [ROUNDS]
#
# Each BUILD is a Release tree configured with -DAIOC_BENCH=ON and built
# (targets pingpong_aioc, spawn_gather_aioc, echo_aioc_stream, loadgen).
# Each round runs, in both builds (the order flips every round):
#   pingpong      3,000,000 hand-offs: ns per hand-off
#   spawn_gather  1,000,000 tasks, the warm round: ns per task
#   echo          echo_aioc_stream on the first CPU, bench/net's loadgen on
#                 the second, 100 connections of 64-byte ping-pong, 1 s of
#                 warm-up and 4 s measured: requests/s and server ns/request
# pingpong and spawn_gather run pinned to one CPU (the second), which
# narrows their spread (an unpinned run sometimes moves mid-way).
# ROUNDS (default 7) rounds; prints each figure's median per build, the
# new/base ratio, the middle half (first to third quartile) and the spread
# (the min-max range of each build's runs), so that a ratio inside them
# reads as noise. AIOC_* variables in the
# environment reach both builds alike (AIOC_DEBUG=1 measures the cost on).
set -euo pipefail
base=$(cd "${1:?usage: bench/offcost.sh BASE_BUILD NEW_BUILD [ROUNDS]}" && pwd)
new=$(cd "${2:?usage: bench/offcost.sh BASE_BUILD NEW_BUILD [ROUNDS]}" && pwd)
rounds=${3:-7}
for b in "$base" "$new"; do
    for p in bench/pingpong_aioc bench/spawn_gather_aioc bench/net/echo_aioc_stream bench/net/loadgen; do
        [ -x "$b/$p" ] || { echo "bench/offcost.sh: $b/$p not built" >&2; exit 2; }
    done
done
cpus=$(nproc)
server_cpu=0 client_cpu=$((cpus > 1 ? 1 : 0))
out=$(mktemp)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -f "$out"' EXIT

field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# one BUILD_DIR LABEL: one run of each benchmark, appended to $out
one() {
    local b=$1 label=$2 line ready port pid
    line=$(timeout 120 taskset -c "$client_cpu" "$b/bench/pingpong_aioc" 3000000 | grep -m1 '^RESULT')
    echo "$label pingpong_ns $(field "$line" ns_per_op)" >>"$out"
    line=$(timeout 120 taskset -c "$client_cpu" "$b/bench/spawn_gather_aioc" 1000000 | grep -m1 '^RESULT')
    echo "$label spawn_warm_ns $(field "$line" warm_ns_per_op)" >>"$out"
    coproc SRV { exec timeout -k 2 60 taskset -c "$server_cpu" "$b/bench/net/echo_aioc_stream" 0; }
    server=$SRV_PID
    read -r ready <&"${SRV[0]}"
    port=$(field "$ready" port) pid=$(field "$ready" pid)
    line=$(timeout 60 taskset -c "$client_cpu" "$b/bench/net/loadgen" echo "$port" 100 1 4 "$pid" aioc |
        grep -m1 '^RESULT')
    kill "$pid" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
    echo "$label echo_req_per_s $(field "$line" req_per_s)" >>"$out"
    echo "$label echo_server_ns $(field "$line" server_ns_per_req)" >>"$out"
}

for ((r = 1; r <= rounds; r++)); do
    printf '\rround %d/%d ' "$r" "$rounds" >&2
    if ((r % 2)); then one "$base" base; one "$new" new; else one "$new" new; one "$base" base; fi
done
echo >&2
python3 - "$out" "$base" "$new" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    label, key, value = line.split()
    runs.setdefault(key, {}).setdefault(label, []).append(float(value))
print(f"base: {sys.argv[2]}\nnew:  {sys.argv[3]}")
print(f"{'figure':<16} {'base median':>12} {'new median':>12} {'new/base':>9}  "
      "middle half base, new; spread base, new")


def quartiles(xs):
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return f"{q[0]:.1f}-{q[2]:.1f}"


for key, by in runs.items():
    b, n = by.get("base", []), by.get("new", [])
    if not b or not n:
        continue
    mb, mn = statistics.median(b), statistics.median(n)
    print(f"{key:<16} {mb:>12.1f} {mn:>12.1f} {mn / mb:>9.3f}  "
          f"{quartiles(b)}, {quartiles(n)}; "
          f"{min(b):.1f}-{max(b):.1f}, {min(n):.1f}-{max(n):.1f}")
EOF
