# What bench/net/run.sh and bench/http/run.sh share: scratch space, the
# processes they start (and end, by PID, on exit), the CPUs the server and
# the client are pinned to, the results file's header, and waiting for a
# quiet machine, and the ratio tables. Sourced after BUILD, OUT, QUIET_PCT and QUIET_WAIT are
# set, with BENCH_NAME (net, http) and BENCH_TITLE (for the header).
TMP=$(mktemp -d "$BUILD/bench-$BENCH_NAME.XXXXXX")

# ------------------------------------------------------- processes --
PIDS="" # every process started here and not yet waited for
forget() { PIDS=" $PIDS "; PIDS=${PIDS// $1 / }; }
cleanup() {
    local p
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# The first two CPUs this script may use: the server's and the client's.
CPUS=$(taskset -pc $$ 2>/dev/null | sed 's/.*: *//')
CPU_LIST=$(echo "$CPUS" | tr ',' '\n' | awk -F- '{ for (i = $1; i <= ($2 == "" ? $1 : $2); i++) print i }')
SERVER_CPU=$(echo "$CPU_LIST" | sed -n 1p)
CLIENT_CPU=$(echo "$CPU_LIST" | sed -n 2p)
SERVER_CPU=${SERVER_CPU:-0}
if [ -z "$CLIENT_CPU" ]; then
    echo "bench/$BENCH_NAME: one CPU only: server and client share it" >&2
    CLIENT_CPU=$SERVER_CPU
fi

: >>"$OUT"
echo "# aioc $BENCH_TITLE benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm)," \
     "$(nproc) CPUs, server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU" >>"$OUT"

# field LINE KEY: the value of KEY=value in a line.
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# busy_pct: how busy all CPUs together were over half a second, in %.
busy_pct() {
    local a b
    a=$(head -n 1 /proc/stat)
    sleep 0.5
    b=$(head -n 1 /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {
        split(a, x); split(b, y)
        busy = y[2] - x[2] + y[3] - x[3] + y[4] - x[4] + y[7] - x[7] + y[8] - x[8] + y[9] - x[9]
        all = busy + y[5] - x[5] + y[6] - x[6]
        printf "%d\n", (all > 0 ? 100 * busy / all : 0) }'
}

# wait_quiet: waits until the machine is idle, at most QUIET_WAIT seconds.
wait_quiet() {
    local end=$((SECONDS + QUIET_WAIT)) b
    while b=$(busy_pct) && [ "$b" -ge $QUIET_PCT ] && [ $SECONDS -lt $end ]; do :; done
    [ "$b" -lt $QUIET_PCT ] || echo "    (machine still ${b}% busy; running anyway)" >&2
}

# table NAME TITLE REF COLS RATIOS: COLS is "key:header:scale:decimals,...";
# RATIOS is "key:kind:header,..." comparing each row with row REF: kind
# rate (higher is better: "REF is Nx faster/slower"), cost (lower is
# better: "REF uses Nx less/more") or share (the row's value / REF's).
table() {
    local name=$1 title=$2 ref=$3 cols=$4 ratios=$5
    [ -s "$TMP/$name" ] || return
    echo
    echo "== $name: $title =="
    awk -v cols="$cols" -v ratios="$ratios" -v ref="$ref" -v w="${TABLE_WIDTH:-8}" '
    function num(v) { return v + 0 }
    function fmt(r) { return sprintf(r < 10 ? "%.2fx" : "%.1fx", r) }
    function ratio(kind, a, o,   r) {
        if (a == "" || o == "" || num(a) <= 0 || num(o) <= 0) return "n/a"
        if (kind == "share") return fmt(num(o) / num(a))
        if (kind == "rate") { r = num(a) / num(o); return r >= 1 ? fmt(r) " faster" : fmt(1 / r) " slower" }
        r = num(o) / num(a); return r >= 1 ? fmt(r) " less" : fmt(1 / r) " more"
    }
    BEGIN { nc = split(cols, c, ","); nr = split(ratios, rt, ",") }
    {
        delete v
        for (i = 1; i <= NF; i++) { eq = index($i, "="); if (eq) v[substr($i, 1, eq - 1)] = substr($i, eq + 1) }
        impl = v["impl"]
        order[++n] = impl; na[impl] = ($1 == "NA") ? v["reason"] : ""
        for (k in v) val[impl, k] = v[k]
        if (length(impl) > w) w = length(impl)
    }
    END {
        iw = "%-" w "s"
        printf iw, "impl"
        for (i = 1; i <= nc; i++) { split(c[i], p, ":"); printf " %12s", p[2] }
        for (i = 1; i <= nr; i++) { split(rt[i], p, ":"); printf "  %-14s", p[3] }
        printf "\n"
        for (j = 1; j <= n; j++) {
            impl = order[j]
            printf iw, impl
            if (na[impl] != "") { gsub("_", " ", na[impl]); printf " n/a (%s)\n", na[impl]; continue }
            for (i = 1; i <= nc; i++) {
                split(c[i], p, ":"); x = val[impl, p[1]]
                printf " %12s", x == "" ? "-" : sprintf("%." p[4] "f", num(x) * p[3])
            }
            for (i = 1; i <= nr; i++) {
                split(rt[i], p, ":")
                if (impl == ref) { printf "  %-14s", "-"; continue }
                printf "  %-14s", (na[ref] != "" ? "n/a" : ratio(p[2], val[ref, p[1]], val[impl, p[1]]))
            }
            printf "\n"
        }
    }' "$TMP/$name"
}
