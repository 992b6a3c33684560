# What the check_*.sh scripts share; each one sources it first:
#   . "$(dirname "$0")/lib.sh"
# POSIX sh (dash). It gives:
#   $dir                a fresh scratch directory, removed at exit (KEEP=1
#                       keeps it and says where)
#   fail MESSAGE...     prints "FAIL (MODE): MESSAGE" ("FAIL: ..." when the
#                       script has no $mode), runs the script's
#                       fail_details function if it defines one (to show
#                       its logs), and exits 1
#   track PID [SIGNAL]  at exit, PID (a child of the script) is sent SIGNAL
#                       (default KILL) and reaped if it still runs: a
#                       script ends only what it started. untrack PID once
#                       the script has reaped it itself
#   start COMMAND...    starts COMMAND in the background, tracked, with
#                       SIGINT at its default action (a shell starts
#                       background jobs with SIGINT ignored, and Ctrl-C is
#                       what the checks send); its pid in $started.
#                       Redirect the call: start prog >"$dir/out" 2>&1
#   wait_line FILE SED [SECONDS [PID]]
#                       waits (default 10 s) until `sed -n SED FILE`
#                       prints something, which it puts in $found; returns
#                       1 when the time is up or PID has ended first
#   wait_bounded PID SECONDS
#                       reaps PID, setting $status to its exit status;
#                       fails if it still runs after SECONDS (and kills it)
#   interrupt PID [SECONDS]
#                       Ctrl-C: SIGINT, then wait_bounded (default 20 s)
#   nginx_start PREFIX  starts /usr/sbin/nginx with PREFIX/nginx.conf
#                       (logs in PREFIX/error.log), tracked, and waits
#                       until it has written its pid file, i.e. listens;
#                       $nginx is its pid. Returns 1 if it ended first
#   nginx_stop          stops it (SIGTERM) and reaps it

set -u
dir=$(mktemp -d)
lib_tracked=""

lib_cleanup() {
    for lib_entry in $lib_tracked; do
        lib_pid=${lib_entry%:*}
        kill -"${lib_entry#*:}" "$lib_pid" 2>/dev/null && wait "$lib_pid" 2>/dev/null
    done
    if [ -n "${KEEP:-}" ]; then
        echo "kept $dir"
    else
        rm -rf "$dir"
    fi
}
trap lib_cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
    echo "FAIL${mode:+ ($mode)}: $*"
    if command -v fail_details >/dev/null 2>&1; then
        fail_details
    fi
    exit 1
}

track() { # pid, [signal]
    lib_tracked="$lib_tracked $1:${2:-KILL}"
}

untrack() { # pid
    lib_kept=""
    for lib_entry in $lib_tracked; do
        [ "${lib_entry%:*}" = "$1" ] || lib_kept="$lib_kept $lib_entry"
    done
    lib_tracked=$lib_kept
}

start() { # command...
    env --default-signal=INT "$@" &
    started=$!
    track "$started"
}

wait_line() { # file, sed script, [seconds], [pid]
    lib_tries=$((${3:-10} * 10))
    found=
    while [ "$lib_tries" -gt 0 ]; do
        found=$(sed -n "$2" "$1" 2>/dev/null)
        [ -n "$found" ] && return 0
        if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
        lib_tries=$((lib_tries - 1))
    done
    return 1
}

# The wait is a plain `wait` (a child that has ended but is not reaped yet
# still answers kill -0); a watchdog kills the process if the time runs out.
wait_bounded() { # pid, seconds
    rm -f "$dir/.ended.$1" "$dir/.killed.$1"
    (
        lib_tries=$(($2 * 20))
        while [ ! -e "$dir/.ended.$1" ] && [ "$lib_tries" -gt 0 ]; do
            sleep 0.05
            lib_tries=$((lib_tries - 1))
        done
        if [ ! -e "$dir/.ended.$1" ] && kill -KILL "$1"; then
            : >"$dir/.killed.$1"
        fi
    ) >/dev/null 2>&1 &
    lib_watchdog=$!
    status=0
    wait "$1" || status=$?
    : >"$dir/.ended.$1"
    wait "$lib_watchdog"
    untrack "$1"
    [ ! -e "$dir/.killed.$1" ] || fail "process $1 still running after $2 s"
}

interrupt() { # pid, [seconds]
    kill -INT "$1"
    wait_bounded "$1" "${2:-20}"
}

nginx_start() { # prefix
    [ -x /usr/sbin/nginx ] || fail "/usr/sbin/nginx is missing"
    /usr/sbin/nginx -p "$1" -c "$1/nginx.conf" -e "$1/error.log" >>"$1/error.log" 2>&1 &
    nginx=$!
    track "$nginx" TERM
    # nginx writes its pid file once it listens: wait for that or its end
    # (the bound only against a wedged nginx)
    for _ in $(seq 1 1200); do
        [ -s "$1/nginx.pid" ] && return 0
        kill -0 "$nginx" 2>/dev/null || break
        sleep 0.05
    done
    nginx_stop
    return 1
}

nginx_stop() {
    kill "$nginx" 2>/dev/null
    wait "$nginx"
    untrack "$nginx"
    nginx=
}
