#!/usr/bin/env bash
# Runs every benchmark for every implementation and prints one table per
# benchmark with aioc's ratio to each other implementation.
#
#   bench/run.sh BUILD_DIR [N]
#
# BUILD_DIR is a configured and built CMake tree (make builds build/release);
# the aioc and libuv programs are in BUILD_DIR/bench. The Go programs are
# built here, into BUILD_DIR/bench/go. N (default 1000000) is the task /
# hand-off / timer / queue item / lock acquisition count; to_thread makes
# N / 10 round trips (each costs microseconds, not nanoseconds);
# to_thread_map runs N items, 100 per batch. Raw RESULT lines go to
# BUILD_DIR/bench-results.txt.
#
# spawn_gather, pingpong, queue_throughput, lock_contention, to_thread and
# to_thread_map are repeated (best of BENCH_REPEAT, default 3) when a run takes under 2 s;
# the others run once: they take seconds and their figures are dominated by
# the 1 s sleeps, not by noise.
#
# Environment: BENCH_TIMEOUT (seconds per run, default 120), BENCH_REPEAT,
# BENCH_WARMUP=0 skips the warm-up run, BENCH_ONLY="pingpong timers" runs a
# subset.
#
# A missing tool (go, python3, uvloop, libuv) or a run that fails or times
# out shows as n/a; it never stops the other runs.
set -u

BUILD=$(cd "${1:-build/release}" 2>/dev/null && pwd) || {
    echo "usage: $0 BUILD_DIR [N]   (build the tree first: make)" >&2
    exit 2
}
N=${2:-1000000}
N_THREAD=$((N / 10 > 0 ? N / 10 : 1)) # to_thread's round trips
SRC=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/bench
OUT=$BUILD/bench-results.txt
TIMEOUT=${BENCH_TIMEOUT:-120}
REPEAT=${BENCH_REPEAT:-3}
QUICK_S=2      # a first run shorter than this is repeated REPEAT times
PY=/usr/bin/python3  # Debian's, which has uvloop; not a pyenv shim
ALL="spawn_gather pingpong idle_tasks timers timers_cb queue_throughput lock_contention to_thread to_thread_map"
# queue_throughput's cases, PxC_maxM: P producers, C consumers, maxsize M;
# each is a table of its own, named queue_PxC_maxM
QUEUE_CASES="1x1_max1 1x1_max1024 8x8_max1 8x8_max1024"
ONLY=${BENCH_ONLY:-$ALL}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

: >"$OUT"
echo "# aioc benchmarks, N=$N, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm)," \
     "$(nproc) CPUs" >>"$OUT"

# ------------------------------------------------------------ Go build --
# GOCACHE and GOPATH live in the build tree: no HOME needed (CI as root).
GO_OK=0
if command -v go >/dev/null 2>&1; then
    mkdir -p "$BIN/go"
    export GOCACHE="$BUILD/go-cache" GOPATH="$BUILD/go-path" GOFLAGS=
    GO_OK=1
    for b in $ALL; do
        [ -f "$SRC/$b.go" ] || continue # to_thread(_map) has no Go program
        # each program is main plus the helpers they all share
        (cd "$SRC" && go build -o "$BIN/go/${b}_go" benchlib.go "$b.go") ||
            { echo "bench: go build $b.go failed" >&2; rm -f "$BIN/go/${b}_go"; }
    done
else
    echo "bench: go not found; Go columns will be n/a" >&2
fi
NPROC=$(nproc 2>/dev/null || echo 1)
# the first CPU this script may run on, for the pinned to_thread run
PIN_CPU=$(taskset -pc $$ 2>/dev/null | sed 's/.*: *//; s/[-,].*//')
PIN_CPU=${PIN_CPU:-0}

# ------------------------------------------------------------- running --
# field LINE KEY: the value of KEY=value in a RESULT line.
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

# run_impl BENCH IMPL PRIMARY CMD...: runs CMD (once, or REPEAT times if
# the benchmark repeats and the run was quick), keeps the RESULT line with
# the lowest PRIMARY value, and appends it (or an n/a line) to $TMP/BENCH.
run_impl() {
    local bench=$1 impl=$2 primary=$3
    shift 3
    local best="" reason="" runs=1 i line rc
    for ((i = 1; i <= runs; i++)); do
        timeout "$TIMEOUT" "$@" >"$TMP/out" 2>"$TMP/err"
        rc=$?
        line=$(grep -m1 '^RESULT ' "$TMP/out")
        if [ -z "$line" ]; then
            if [ $rc -eq 124 ]; then reason="timeout ${TIMEOUT}s"; else reason="failed (exit $rc)"; fi
            sed 's/^/    /' "$TMP/err" | tail -n 3 >&2
            break
        fi
        reason=""
        if [ -z "$best" ] || awk -v a="$(field "$line" "$primary")" \
                -v b="$(field "$best" "$primary")" 'BEGIN { exit !(a + 0 < b + 0) }'; then
            best=$line
        fi
        # repeat only the quick ones: one run of a slow one is steady enough
        if [ $i -eq 1 ] && [ "$REPEATS" = 1 ] && awk -v w="$(field "$line" wall_s)" -v q=$QUICK_S \
                'BEGIN { exit !(w + 0 < q) }'; then
            runs=$REPEAT
        fi
    done
    if [ -n "$best" ]; then
        [ "$runs" -gt 1 ] && best="$best runs=$runs"
        echo "$best" >>"$OUT"
        echo "$best" >>"$TMP/$bench"
    else
        echo "# n/a name=$bench impl=$impl reason=$reason" >>"$OUT"
        echo "NA name=$bench impl=$impl reason=${reason// /_}" >>"$TMP/$bench"
    fi
    printf '  %-8s %s\n' "$impl" "${best:-n/a: $reason}" >&2
}

# na BENCH IMPL REASON: records an implementation that cannot run here.
na() {
    echo "# n/a name=$1 impl=$2 reason=$3" >>"$OUT"
    echo "NA name=$1 impl=$2 reason=${3// /_}" >>"$TMP/$1"
    printf '  %-8s n/a: %s\n' "$2" "$3" >&2
}

# run_bench BENCH PRIMARY REPEATS [PROG [ARGS [WRAP]]]: every implementation
# of one benchmark; REPEATS=1 makes quick runs best of $REPEAT. PROG
# (default BENCH) names the programs: PROG_aioc, PROG_go, PROG.py. ARGS
# (default N; split on spaces) follow the program, and the loop name for
# Python. WRAP (split on spaces) goes before every command, e.g. taskset.
run_bench() {
    local b=$1 primary=$2 prog=${4:-$1} args wrap
    read -r -a args <<<"${5:-$N}"
    read -r -a wrap <<<"${6:-}"
    REPEATS=$3
    : >"$TMP/$b"
    echo "running $b ..." >&2
    if [ -x "$BIN/${prog}_aioc" ]; then
        run_impl "$b" aioc "$primary" "${wrap[@]}" "$BIN/${prog}_aioc" "${args[@]}"
    else
        na "$b" aioc "not built ($BIN/${prog}_aioc)"
    fi
    if [ "$prog" = timers_cb ]; then
        if [ -x "$BIN/timers_cb_libuv" ]; then
            run_impl "$b" libuv "$primary" "$BIN/timers_cb_libuv" "${args[@]}"
        else
            na "$b" libuv "not built (libuv missing?)"
        fi
    fi
    if [ "$prog" = to_thread ]; then
        # a thread pool's floor, in place of Go: goroutines handing work to
        # each other through channels would not involve a second OS thread
        if [ -x "$BIN/to_thread_condvar" ]; then
            run_impl "$b" pthread-condvar "$primary" "${wrap[@]}" "$BIN/to_thread_condvar" "${args[@]}"
        else
            na "$b" pthread-condvar "not built ($BIN/to_thread_condvar)"
        fi
    elif [ "$prog" = to_thread_map ]; then
        # the same batches over a bare pthread pool (a worker per CPU)
        if [ -x "$BIN/to_thread_map_pthread" ]; then
            run_impl "$b" pthread-pool "$primary" "${wrap[@]}" "$BIN/to_thread_map_pthread" "${args[@]}"
        else
            na "$b" pthread-pool "not built ($BIN/to_thread_map_pthread)"
        fi
    elif [ $GO_OK -eq 1 ] && [ -x "$BIN/go/${prog}_go" ]; then
        run_impl "$b" go "$primary" "$BIN/go/${prog}_go" "${args[@]}"
        # one P as well: the same single thread aioc and asyncio get
        [ "$NPROC" -gt 1 ] &&
            run_impl "$b" go-1p "$primary" env GOMAXPROCS=1 "$BIN/go/${prog}_go" "${args[@]}"
    else
        na "$b" go "go not found or build failed"
    fi
    for loop in asyncio uvloop; do
        if [ -x "$PY" ]; then
            run_impl "$b" "$loop" "$primary" "${wrap[@]}" "$PY" -B "$SRC/$prog.py" "$loop" "${args[@]}"
        else
            na "$b" "$loop" "$PY not found"
        fi
    done
}

# ------------------------------------------------------------- tables --
# table BENCH TITLE COLS RATIOS: COLS is "key:header:scale,..." (values are
# multiplied by scale), RATIOS is "key:kind:header,..." with kind time or
# mem: each gives a column "Nx faster/slower" or "Nx less/more", which is
# aioc's standing against that row (other / aioc, lower is better).
table() {
    local b=$1 title=$2 cols=$3 ratios=$4
    echo
    echo "== $b: $title =="
    awk -v cols="$cols" -v ratios="$ratios" '
    function num(v) { return v + 0 }
    function fmt(r) { return sprintf(r < 10 ? "%.2fx" : "%.1fx", r) }
    function ratio(kind, a, o,   r) {
        if (a == "" || o == "" || num(a) <= 0 || num(o) <= 0) return "n/a"
        r = num(o) / num(a)
        if (kind == "time")
            return r >= 1 ? fmt(r) " faster" : fmt(1 / r) " slower"
        return r >= 1 ? fmt(r) " less" : fmt(1 / r) " more"  # memory
    }
    BEGIN { nc = split(cols, c, ","); nr = split(ratios, rt, ","); w = 8 }
    {
        delete v
        for (i = 1; i <= NF; i++) { eq = index($i, "="); if (eq) v[substr($i, 1, eq - 1)] = substr($i, eq + 1) }
        impl = v["impl"]
        order[++n] = impl; na[impl] = ($1 == "NA") ? v["reason"] : ""
        for (k in v) val[impl, k] = v[k]
        if (length(impl) > w) w = length(impl)  # the impl column fits the longest name
    }
    END {
        iw = "%-" w "s"
        printf iw, "impl"
        for (i = 1; i <= nc; i++) { split(c[i], p, ":"); printf " %13s", p[2] }
        for (i = 1; i <= nr; i++) { split(rt[i], p, ":"); printf "  %-14s", p[3] }
        printf "\n"
        for (j = 1; j <= n; j++) {
            impl = order[j]
            printf iw, impl
            if (na[impl] != "") {
                gsub("_", " ", na[impl]); printf " n/a (%s)\n", na[impl]; continue
            }
            for (i = 1; i <= nc; i++) {
                split(c[i], p, ":"); x = val[impl, p[1]]
                if (x == "") printf " %13s", "-"
                else printf " %13s", (p[3] == 1 ? x : sprintf("%.1f", num(x) * p[3]))
            }
            for (i = 1; i <= nr; i++) {
                split(rt[i], p, ":")
                if (impl == "aioc") { printf "  %-14s", "-"; continue }
                printf "  %-14s", (na["aioc"] != "" ? "n/a" : ratio(p[2], val["aioc", p[1]], val[impl, p[1]]))
            }
            printf "\n"
        }
    }' "$TMP/$b"
}

if [ "${BENCH_WARMUP:-1}" != 0 ] && [ -x "$BIN/idle_tasks_aioc" ]; then
    # On a VM whose memory the host backs lazily (as on the machine these figures come from), the
    # first touch of a guest page costs several times a normal page fault.
    # One discarded run of the largest-memory program touches ~4 GB, so
    # whichever implementation runs first is not charged for it.
    echo "warm-up (discarded): idle_tasks_aioc $N" >&2
    timeout "$TIMEOUT" "$BIN/idle_tasks_aioc" "$N" >/dev/null 2>&1
fi

for b in $ONLY; do
    case $b in
    spawn_gather | pingpong | lock_contention) run_bench "$b" ns_per_op 1 ;;
    queue_throughput)
        for c in $QUEUE_CASES; do
            run_bench "queue_$c" ns_per_op 1 queue_throughput "$N $c"
        done ;;
    to_thread)
        run_bench "$b" ns_per_op 1 to_thread "$N_THREAD"
        # All threads on one CPU: on a VM an idle vCPU takes tens of us to
        # wake, so whether the scheduler puts the two sides of the hand-off
        # on one CPU or two decides the figure above. Pinned, it is the
        # software's own cost: two futex wake-ups and context switches.
        if command -v taskset >/dev/null 2>&1; then
            run_bench to_thread_1cpu ns_per_op 1 to_thread "$N_THREAD" "taskset -c $PIN_CPU"
        else
            na to_thread_1cpu aioc "taskset not found"
        fi ;;
    to_thread_map)
        run_bench "$b" ns_per_item 1
        if command -v taskset >/dev/null 2>&1; then
            run_bench to_thread_map_1cpu ns_per_item 1 to_thread_map "$N" "taskset -c $PIN_CPU"
        else
            na to_thread_map_1cpu aioc "taskset not found"
        fi ;;
    *) run_bench "$b" wall_s 0 ;;
    esac
done

for b in $ONLY; do
    case $b in
    spawn_gather)
        table "$b" "spawn $N tasks returning their index, gather, sum" \
            "ns_per_op:ns/task:1,warm_ns_per_op:warm ns/task:1,peak_rss_kb:peak RSS MiB:0.0009765625" \
            "ns_per_op:time:aioc is,peak_rss_kb:mem:aioc uses" ;;
    pingpong)
        table "$b" "$N hand-offs of a token between two tasks" \
            "ns_per_op:ns/hand-off:1,wall_s:wall s:1" "ns_per_op:time:aioc is" ;;
    idle_tasks)
        table "$b" "$N tasks sleeping 1 s at once" \
            "wall_s:wall s:1,rss_per_task_b:RSS B/task:1,peak_rss_kb:peak RSS MiB:0.0009765625" \
            "wall_s:time:aioc is,rss_per_task_b:mem:aioc uses" ;;
    timers)
        table "$b" "$N tasks sleeping random 0-1000 ms" \
            "wall_s:wall s:1,max_late_ms:max late ms:1,last_late_ms:last late ms:1,peak_rss_kb:peak RSS MiB:0.0009765625" \
            "wall_s:time:aioc is" ;;
    timers_cb)
        table "$b" "$N callback timers, random 0-1000 ms (call_later / uv_timer / AfterFunc)" \
            "wall_s:wall s:1,sched_s:schedule s:1,max_late_ms:max late ms:1,last_late_ms:last late ms:1,peak_rss_kb:peak RSS MiB:0.0009765625" \
            "wall_s:time:aioc is" ;;
    queue_throughput)
        for c in $QUEUE_CASES; do
            # 8x8_max1024: 8 producers, 8 consumers, at most 1024 items queued
            p=${c%%x*} rest=${c#*x}
            table "queue_$c" "$N items, $p producer(s) -> ${rest%%_*} consumer(s), maxsize ${c##*max}" \
                "ns_per_op:ns/item:1,items_per_s:items/s:1,wall_s:wall s:1" \
                "ns_per_op:time:aioc is"
        done ;;
    lock_contention)
        table "$b" "1000 tasks, $N acquisitions of one lock (acquire, ++, release, yield)" \
            "ns_per_op:ns/acquire:1,acq_per_s:acquires/s:1,wall_s:wall s:1" \
            "ns_per_op:time:aioc is" ;;
    to_thread)
        table "$b" "$N_THREAD round trips of a trivial function through a thread pool" \
            "ns_per_op:ns/round trip:1,wall_s:wall s:1" "ns_per_op:time:aioc is"
        table to_thread_1cpu "the same, every thread pinned to CPU $PIN_CPU" \
            "ns_per_op:ns/round trip:1,wall_s:wall s:1" "ns_per_op:time:aioc is" ;;
    to_thread_map)
        table "$b" "$N items of a trivial function through a thread pool, 100 per hand-off" \
            "ns_per_item:ns/item:1,ns_per_batch:ns/batch:1,wall_s:wall s:1" \
            "ns_per_item:time:aioc is"
        table to_thread_map_1cpu "the same, every thread pinned to CPU $PIN_CPU" \
            "ns_per_item:ns/item:1,ns_per_batch:ns/batch:1,wall_s:wall s:1" \
            "ns_per_item:time:aioc is" ;;
    esac
done
echo
echo "raw results: $OUT"
