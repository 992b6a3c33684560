#!/usr/bin/env bash
# The PostgreSQL benchmark: `SELECT $1::int4` on one connection to a
# throwaway local server (adapters/pg/tests/pgserver.sh; TCP on loopback),
# side by side:
#   libpq-rt         plain libpq, one query per round trip (PQexecParams)
#   libpq-pipeline   libpq's pipeline mode, 100 in flight, a Sync after each
#                    query (each query its own transaction)
#   libpq-batch      pipeline mode, batches of 100 and one Sync per batch
#                    (libpq's best case; aioc_pg batches a loop turn's
#                    queries the same way, up to 64 per Sync, and sends a
#                    failed batch's other queries again, so that each
#                    behaves as its own transaction)
#   aioc-1           aioc_pg, one task
#   aioc-100         aioc_pg, 100 tasks on the one connection (pipelined)
#   aioc-100-prepared  the same with the prepared-statement cache
#   asyncpg, asyncpg-uvloop, psycopg   Debian's python3-asyncpg (on asyncio,
#                    and on uvloop if python3-uvloop is there) and
#                    python3-psycopg 3 (async), one query after another
# Figures: queries/s and the client's CPU per query (user+system, µs), and
# ratios. The server runs on one CPU and the clients on another (taskset);
# each program runs PG_SECONDS (2) s, PG_RUNS (5) times, the programs in
# turn, and the median run of each counts (on a shared machine single runs
# swing by 2x; the median of runs interleaved in time is the fair figure).
#
#   bench/pg/run.sh BUILD_DIR
#
# BUILD_DIR is a built CMake tree with aioc_pg (make builds build/release).
# RESULT lines are appended to BUILD_DIR/bench-pg-results.txt.
set -u
BUILD=$(cd "${1:-build/release}" 2>/dev/null && pwd) || {
    echo "usage: $0 BUILD_DIR   (build the tree first: make)" >&2
    exit 2
}
SRC=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/bench/pg
OUT=$BUILD/bench-pg-results.txt
PY=/usr/bin/python3 # Debian's, with python3-asyncpg, -uvloop, -psycopg
SECS=${PG_SECONDS:-2}
RUNS=${PG_RUNS:-5}
if ! [ -x "$BIN/pg_aioc_bench" ] || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "bench/pg: skipped (aioc_pg or the PostgreSQL server missing: scripts/deps.sh bench)"
    exit 0
fi
INFO=$(mktemp "$BUILD/bench-pg.XXXXXX")
stop() { "$SRC/../../adapters/pg/tests/pgserver.sh" stop "$INFO" >/dev/null 2>&1; rm -f "$INFO"; }
trap stop EXIT
trap 'exit 130' INT TERM HUP
"$SRC/../../adapters/pg/tests/pgserver.sh" start "$INFO" >/dev/null || exit 1
get() { sed -n "s/^$1=//p" "$INFO"; }
CONNINFO=$(get tcp)
URL="postgresql://postgres@127.0.0.1:$(get port)/postgres"

# the server on the first CPU we may use, the clients on the second
CPUS=$(taskset -pc $$ 2>/dev/null | sed 's/.*: *//' | tr ',' '\n' |
    awk -F- '{ for (i = $1; i <= ($2 == "" ? $1 : $2); i++) print i }')
SERVER_CPU=$(echo "$CPUS" | sed -n 1p)
CLIENT_CPU=$(echo "$CPUS" | sed -n 2p)
CLIENT_CPU=${CLIENT_CPU:-$SERVER_CPU}
taskset -a -p -c "$SERVER_CPU" "$(head -n 1 "$(get data)/postmaster.pid")" >/dev/null

configs="libpq-rt libpq-pipeline libpq-batch aioc-1 aioc-100 aioc-100-prepared"
if $PY -c 'import asyncpg' 2>/dev/null; then
    configs="$configs asyncpg"
    $PY -c 'import uvloop' 2>/dev/null && configs="$configs asyncpg-uvloop"
fi
$PY -c 'import psycopg' 2>/dev/null && configs="$configs psycopg"

run_one() { # config
    local c=(taskset -c "$CLIENT_CPU")
    case $1 in
    libpq-rt) "${c[@]}" "$BIN/pg_libpq_bench" rt "$CONNINFO" "$SECS" ;;
    libpq-pipeline) "${c[@]}" "$BIN/pg_libpq_bench" pipeline "$CONNINFO" "$SECS" 100 ;;
    libpq-batch) "${c[@]}" "$BIN/pg_libpq_bench" batch "$CONNINFO" "$SECS" 100 ;;
    aioc-1) "${c[@]}" "$BIN/pg_aioc_bench" "$CONNINFO" "$SECS" 1 ;;
    aioc-100) "${c[@]}" "$BIN/pg_aioc_bench" "$CONNINFO" "$SECS" 100 ;;
    aioc-100-prepared) "${c[@]}" "$BIN/pg_aioc_bench" "$CONNINFO" "$SECS" 100 prepare ;;
    asyncpg | asyncpg-uvloop | psycopg) "${c[@]}" "$PY" "$SRC/py_bench.py" "$1" "$URL" "$SECS" ;;
    esac
}
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

echo "# aioc PostgreSQL benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm)," \
    "server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU, median of $RUNS x ${SECS}s" >>"$OUT"
declare -A RUNS_OF QPS CPU
for r in $(seq "$RUNS"); do
    for cfg in $configs; do
        line=$(run_one "$cfg" 2>/dev/null | grep '^RESULT') || { echo "  $cfg: failed" >&2; continue; }
        echo "$line" >>"$OUT"
        RUNS_OF[$cfg]="${RUNS_OF[$cfg]:-}$(field "$line" qps) $(field "$line" cpu_us)
"
    done
done
for cfg in $configs; do # the median run by queries/s
    [ -n "${RUNS_OF[$cfg]:-}" ] || continue
    mid=$(printf '%s' "${RUNS_OF[$cfg]}" | sort -n | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
    QPS[$cfg]=${mid%% *}
    CPU[$cfg]=${mid##* }
done

echo "PostgreSQL, SELECT \$1::int4 on one connection (median of $RUNS x ${SECS}s):"
printf '  %-19s %10s %14s\n' program "queries/s" "client µs/query"
for cfg in $configs; do
    [ -n "${QPS[$cfg]:-}" ] || { printf '  %-19s %10s\n' "$cfg" n/a; continue; }
    printf '  %-19s %10s %14s\n' "$cfg" "${QPS[$cfg]}" "${CPU[$cfg]}"
done
ratio() { # a b: a's qps / b's qps
    if [ -n "${QPS[$1]:-}" ] && [ -n "${QPS[$2]:-}" ]; then
        awk -v a="${QPS[$1]}" -v b="${QPS[$2]}" -v x="$1" -v y="$2" \
            'BEGIN { printf "  %-17s / %-15s %6.2fx\n", x, y, a / b }'
    fi
}
echo "ratios (queries/s):"
ratio aioc-1 libpq-rt
ratio aioc-100 libpq-pipeline
ratio aioc-100 libpq-batch
ratio aioc-100-prepared libpq-batch
ratio aioc-100 asyncpg
ratio aioc-100 asyncpg-uvloop
ratio aioc-100-prepared asyncpg-uvloop
ratio aioc-100 psycopg
ratio aioc-1 asyncpg-uvloop
