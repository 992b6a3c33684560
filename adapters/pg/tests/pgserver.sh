#!/bin/sh
# The throwaway PostgreSQL server of aioc_pg's tests, run as a ctest
# fixture (pg_server_start / pg_server_stop), so that it starts once per
# tree and is always stopped:
#   pgserver.sh start INFO   initdb into a scratch directory, start postgres
#                            on loopback and a Unix socket there, on a free
#                            port, and write INFO: lines "KEY=VALUE" (conninfo
#                            for TCP and for the socket, data dir, pg_ctl)
#   pgserver.sh stop INFO    stop that server (pg_ctl, by its data dir) and
#                            remove the scratch directory
# initdb and postgres refuse to run as root: as root they run as the
# postgres user (runuser), which owns the scratch directory.
set -eu
cmd=$1
info=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd / # the postgres user may not enter the caller's directory (/root...)
# the server's programs: AIOC_PG_BIN, else the newest Debian version
bin=${AIOC_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case $cmd in
start)
    if [ -f "$info" ]; then # a stale one (an earlier run that was killed)
        "$self" stop "$info" || true
    fi
    dir=$(mktemp -d /tmp/aioc-pg.XXXXXX)
    chmod 755 "$dir"
    mkdir "$dir/data" "$dir/sock"
    [ "$(id -u)" -ne 0 ] || chown -R postgres "$dir"
    as_pg "$bin/initdb" -A trust -U postgres -D "$dir/data" >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    tries=0
    while :; do
        # a port from the ephemeral range's gap; pg_ctl fails if it is taken
        port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000 ))
        if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-k $dir/sock -p $port -c fsync=off -c listen_addresses=127.0.0.1 -c max_connections=200" \
            start >/dev/null 2>&1; then
            break
        fi
        tries=$((tries + 1))
        if [ $tries -ge 5 ]; then
            cat "$dir/server.log" >&2
            rm -rf "$dir"
            exit 1
        fi
    done
    {
        echo "tcp=host=127.0.0.1 port=$port user=postgres dbname=postgres"
        echo "unix=host=$dir/sock port=$port user=postgres dbname=postgres"
        echo "url=postgresql://postgres@localhost:$port/postgres"
        echo "port=$port"
        echo "dir=$dir"
        echo "data=$dir/data"
        echo "bin=$bin"
    } >"$info"
    echo "PostgreSQL on 127.0.0.1:$port, $dir"
    ;;
stop)
    [ -f "$info" ] || exit 0
    dir=$(sed -n 's/^dir=//p' "$info")
    if [ -n "$dir" ] && [ -d "$dir/data" ]; then
        as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$dir"
    fi
    rm -f "$info"
    ;;
*)
    echo "usage: $0 start|stop INFO" >&2
    exit 2
    ;;
esac
