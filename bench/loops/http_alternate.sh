#!/usr/bin/env bash
# aioc_http's hello-world against nginx's, the two alternated round by
# round, for the server CPU per request that single runs (bench/loops/run.sh)
# leave within their noise:
#
#   bench/loops/http_alternate.sh BUILD_DIR [N [ROUNDS]]
#
# Each round runs `serve_loops http N` (N loops, SO_REUSEPORT) and then
# nginx with N workers (bench/nginx.sh's configuration, master process on),
# each under `wrk -t1 -c100`: 1 s of warm-up, then 4 s measured. Printed:
# each round's requests/s and server ns per request (utime + stime from
# /proc/PID/stat of every thread and process of the server, over the
# measured window), then the medians and aioc / nginx. N defaults to 1,
# ROUNDS to 8. HTTP_PIN_SERVER and HTTP_PIN_CLIENT, taskset CPU lists, pin
# the server and wrk (unset: nothing pinned). The script kills only what it
# started.
set -euo pipefail
build=$(cd "${1:?usage: bench/loops/http_alternate.sh BUILD_DIR [N [ROUNDS]]}" && pwd)
n=${2:-1}
rounds=${3:-8}
here=$(cd "$(dirname "$0")" && pwd)
HELLO="Hello, World!"
. "$here/../nginx.sh"
for tool in wrk curl /usr/sbin/nginx "$build/bench/loops/serve_loops"; do
    command -v "$tool" >/dev/null || { echo "http_alternate: $tool missing" >&2; exit 2; }
done
pin_server=${HTTP_PIN_SERVER:+taskset -c $HTTP_PIN_SERVER}
pin_client=${HTTP_PIN_CLIENT:+taskset -c $HTTP_PIN_CLIENT}
tmp=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$tmp"' EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# CPU ticks of the processes given and their children
ticks() {
    local t=0 p
    for p in "$@" $(pgrep -P "$1" || true); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}

# one KIND (aioc or nginx): one round, a line "KIND REQ_PER_S NS_PER_REQ"
one() {
    local kind=$1 port out c0 c1 count rps
    port=$(free_port)
    if [ "$kind" = aioc ]; then
        $pin_server "$build/bench/loops/serve_loops" http "$n" "$port" >/dev/null 2>&1 &
    else
        $pin_server /usr/sbin/nginx -c "$(nginx_hello_conf "$tmp/nginx" "$port" "$n" on reuseport)/nginx.conf" \
            -e "$tmp/nginx/error.log" &
    fi
    server=$!
    for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.05; done
    $pin_client wrk -t1 -c100 -d1s "http://127.0.0.1:$port/" >/dev/null
    c0=$(ticks "$server")
    out=$($pin_client wrk -t1 -c100 -d4s "http://127.0.0.1:$port/")
    c1=$(ticks "$server")
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=""
    count=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    echo "$kind $rps $(((c1 - c0) * 1000000000 / $(getconf CLK_TCK) / count))"
}

for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then one aioc; one nginx; else one nginx; one aioc; fi
done | tee "$tmp/rounds"
python3 - "$tmp/rounds" "$n" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    kind, rps, ns = line.split()
    runs.setdefault(kind, []).append((float(rps), float(ns)))
med = {k: (statistics.median(r for r, _ in v), statistics.median(n for _, n in v)) for k, v in runs.items()}
for k, (rps, ns) in med.items():
    print(f"{k:<6} median req/s {rps:>9.0f}  server ns/req {ns:>7.0f}")
print(f"aioc / nginx, server ns per request, {sys.argv[2]} loop(s) / worker(s): "
      f"{med['aioc'][1] / med['nginx'][1]:.3f}")
EOF
