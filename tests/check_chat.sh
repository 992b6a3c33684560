#!/bin/sh
# Checks examples/chat.c with socat clients (Debian's socat).
#   check_chat.sh [loops_]basic|crowd|flood|slow|vanish|sigint|redis BINARY
#   check_chat.sh loops BINARY
# basic:  three clients join, talk and leave, one step at a time, and their
#         transcripts are compared exactly: notices, broadcasts, nickname
#         checks, /who, /quit, control characters, over-long lines.
# crowd:  1,000 clients (CROWD_CLIENTS) connected at once; once all have
#         joined, each sends 5 numbered lines, one every 0.5 s, and every
#         other client gets every one of them, in order per sender (checked
#         by tests/peers/chat_crowd, a client written without aioc, named
#         by CHAT_CROWD with the emulator prefix if any).
# flood:  two of ten clients flood 16 MiB of lines, an eleventh never
#         reads: every reader gets every line, only the eleventh is dropped.
# slow:   a client that never reads is disconnected ("was too slow") while
#         two others exchange 30,000 lines each, all of which arrive.
# vanish: clients that close mid-line, before or after their nickname, or
#         die (a reset): the others see them leave, never the partial line.
# sigint: Ctrl-C with a client connected: it is told, and the server exits
#         by SIGINT (status 130) in bounded time.
# redis:  three servers with --redis share a room through a throwaway
#         redis-server (Debian's, on a Unix socket in the scratch
#         directory); six clients, two on each, send 300 numbered lines
#         each at once: every client gets every other's lines exactly
#         once, in order per sender, and never its own.
# redis_lost: two servers; Redis is killed mid-run: the clients are told,
#         a server's own clients still hear each other; Redis is started
#         again: they are told, and lines cross between servers again.
# loops_MODE: MODE with each server on two loops (chat server --loops 2):
#         loop 0 hands each connection to the loop with the fewest
#         (aioc_server_opts.spread), so clients that join one after
#         another land on loop 0, 1, 0, ...: lines, notices, /who and the
#         nickname checks cross loops (in redis mode, within each server too).
# loops:  four clients on two loops (two each, by the rule above) send 300
#         numbered lines each at once: every client gets every other's
#         lines exactly once, in order per sender, and never its own;
#         /who lists all four from either loop; a nickname taken on one
#         loop is refused on the other.
# Every mode ends with Ctrl-C (status 130) and fails on a sanitizer's or
# Valgrind's report. AIOC_TEST_EMULATOR: a command prefix for the server
# (qemu-aarch64 -L DIR, valgrind ...), split on spaces. KEEP=1 keeps the
# scratch directory (transcripts, server output) for a look afterwards
# (tests/lib.sh).
. "$(dirname "$0")/lib.sh"
mode=$1 bin=$2
pid=
loops=
case $mode in
loops_*)
    mode=${mode#loops_}
    loops="--loops 2"
    ;;
loops) loops="--loops 2" ;;
esac
# (the clients end when the server does, and when the fifos they wait on
# lose their writers)
fail_details() {
    sed 's/^/  server: /' "$dir/server.out" "$dir/server.err" 2>/dev/null | head -40
    sed 's/^/  clients: /' "$dir/errors" 2>/dev/null | head -10
}

start_server() {
    start ${AIOC_TEST_EMULATOR:-} "$bin" server 0 $loops >"$dir/server.out" 2>"$dir/server.err"
    pid=$started
    # up to 20 s for the "listening" line (Valgrind)
    wait_line "$dir/server.out" 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' 20 ||
        fail "the server did not start"
    port=$found
}

# Ctrl-C: the server must die of SIGINT (130) within 20 s, quietly.
stop_server() {
    interrupt "$pid" 20
    pid=
    [ "$status" -eq 130 ] || fail "Ctrl-C: exit status $status, expected 130"
    if grep -Eq '^==[0-9]+==|runtime error:|ERROR|aioc:' "$dir/server.err"; then
        fail "the server reported errors"
    fi
}

# Waits (up to $2 seconds, default 20) until command $1 succeeds (it is
# evaluated here: it sees globals, not its caller's arguments).
until_true() {
    deadline=$(($(date +%s) + ${2:-20}))
    while ! eval "$1"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

# Each client of RECEIVERS got the lines of every other client of SENDERS
# (their DIR/NAME.lines) exactly once and in order, and never its own.
got_each_others_lines() { # receivers, senders
    for name in $1; do
        for other in $2; do
            got=$(sed -n "s/^$other: //p" "$dir/$name.out" | cmp - "$dir/$other.lines" 2>&1)
            if [ "$other" = "$name" ]; then
                [ -z "$(sed -n "/^$name: /p" "$dir/$name.out")" ] ||
                    fail "$name got its own lines back"
            elif [ -n "$got" ]; then
                fail "$name did not get $other's lines exactly once in order: $got"
            fi
        done
    done
}

# Waits until FILE has the exact line LINE.
await_line() { # file, line
    file=$1 line=$2
    until_true 'grep -qxF -- "$line" "$file"' || fail "$(basename "$file") never got '$line'"
}

# Ends a client's input and waits for its socat, which ends once the server
# has closed the connection too (socat's -T bounds the wait).
end_client() { # name, fd
    eval "exec $2>&-; client_pid=\$${1}_pid"
    wait "$client_pid" || fail "$1's socat failed"
}

# A client named NAME reading the fifo NAME.in, which the script writes to
# on file descriptor FD (3 to 6); output in NAME.out. Each client gets the
# script's descriptors closed, so that only the script holds the fifos.
client() { # name, fd
    mkfifo "$dir/$1.in"
    socat -T 60 -t 10 - "TCP:127.0.0.1:$port" <"$dir/$1.in" >"$dir/$1.out" \
        2>>"$dir/errors" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- &
    eval "${1}_pid=\$!; exec $2>\"\$dir/$1.in\""
}

# Compares a transcript with what stdin says it should be.
expect() { # name
    cat >"$dir/$1.want"
    diff -u "$dir/$1.want" "$dir/$1.out" || fail "$1's transcript differs"
}

# A redis-server of our own on a Unix socket ($redis_url), no disk.
start_redis() {
    start redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' --appendonly no \
        --dir "$dir" >"$dir/redis.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&-
    redis=$started
    wait_line "$dir/redis.log" '/[Rr]eady to accept connections/p' 20 "$redis" ||
        fail "redis-server did not start"
    redis_url="unix:$dir/redis.sock"
}

# Server number N with --redis: its pid in $pidN, its port in $portN, once
# it has subscribed.
start_linked() { # n
    : >"$dir/server$1.out"
    start ${AIOC_TEST_EMULATOR:-} "$bin" server 0 --redis "$redis_url" $loops \
        >"$dir/server$1.out" 2>"$dir/server$1.err"
    eval "pid$1=$started"
    wait_line "$dir/server$1.out" 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' 20 ||
        fail "server $1 did not start"
    eval "port$1=$found"
    wait_line "$dir/server$1.out" '/^redis: subscribed/p' 20 || fail "server $1 did not subscribe"
}

stop_linked() { # n
    eval "pid=\$pid$1"
    cp "$dir/server$1.err" "$dir/server.err"
    stop_server
}

fail_redis_details() {
    for f in "$dir"/server?.out "$dir"/server?.err "$dir/redis.log"; do
        sed "s|^|  $(basename "$f"): |" "$f" 2>/dev/null | tail -15
    done
    sed 's/^/  clients: /' "$dir/errors" 2>/dev/null | head -10
}

case $mode in
redis)
    command -v redis-server >/dev/null || fail "redis-server is missing"
    fail_details() { fail_redis_details; }
    lines=300
    start_redis
    for n in 1 2 3; do start_linked $n; done
    # two clients per server; each joins once the others have seen the
    # previous one join (so all are in the room, on every server)
    names="a1 b1 a2 b2 a3 b3"
    fd=3 joined=""
    for name in $names; do
        eval "port=\$port${name#?}"
        client "$name" $fd
        echo "$name" >&$fd
        until_true 'grep -q "^\* welcome, $name: " "$dir/$name.out"' || fail "$name not welcomed"
        for other in $joined; do
            await_line "$dir/$other.out" "* $name joined"
        done
        joined="$joined $name"
        fd=$((fd + 1))
    done
    for name in $names; do
        seq 1 $lines | sed "s/^/$name line /" >"$dir/$name.lines"
    done
    # all at once: each client's lines into its fifo, in the background
    fd=3
    for name in $names; do
        cat "$dir/$name.lines" >&$fd &
        fd=$((fd + 1))
    done
    wait_for_all() {
        for name in $names; do
            [ "$(grep -c ' line ' "$dir/$name.out")" -ge $((5 * lines)) ] || return 1
        done
    }
    until_true wait_for_all 60 || fail "not every line arrived within 60 s"
    got_each_others_lines "$names" "$names"
    fd=3
    for name in $names; do
        end_client "$name" $fd
        fd=$((fd + 1))
    done
    for n in 1 2 3; do stop_linked $n; done
    echo "6 clients on 3 servers: each got the others' 5 x $lines lines in order"
    ;;
loops)
    lines=300
    start_server
    # joined one after another, each once the others saw it: loop 0 (ann),
    # 1 (bob), 0 (cat), 1 (dan); the fewest connections, lowest index on a tie
    names="ann bob cat dan"
    fd=3 joined=""
    for name in $names; do
        client "$name" $fd
        echo "$name" >&$fd
        until_true 'grep -q "^\* welcome, $name: " "$dir/$name.out"' || fail "$name not welcomed"
        for other in $joined; do
            await_line "$dir/$other.out" "* $name joined"
        done
        joined="$joined $name"
        fd=$((fd + 1))
    done
    await_line "$dir/dan.out" "* welcome, dan: 4 online (/who, /quit)"
    # eve (loop 0) asks for bob's nickname, taken on loop 1
    client eve 7
    printf 'bob\neve\n' >&7
    await_line "$dir/eve.out" "* bob is taken; nickname?"
    await_line "$dir/eve.out" "* welcome, eve: 5 online (/who, /quit)"
    for name in $names; do
        await_line "$dir/$name.out" "* eve joined"
        seq 1 $lines | sed "s/^/$name line /" >"$dir/$name.lines"
    done
    # all at once: each client's lines into its fifo, in the background
    fd=3 writers=
    for name in $names; do
        cat "$dir/$name.lines" >&$fd &
        writers="$writers $!"
        fd=$((fd + 1))
    done
    wait_for_all() {
        for name in $names; do
            [ "$(grep -c ' line ' "$dir/$name.out")" -ge $((3 * lines)) ] || return 1
        done
        [ "$(grep -c ' line ' "$dir/eve.out")" -ge $((4 * lines)) ]
    }
    until_true wait_for_all 60 || fail "not every line arrived within 60 s"
    got_each_others_lines "$names eve" "$names"
    wait $writers # the writers into the fifos (done: every line arrived)
    echo /who >&3 # ann, on loop 0
    echo /who >&4 # bob, on loop 1
    await_line "$dir/ann.out" "* online: ann bob cat dan eve"
    await_line "$dir/bob.out" "* online: ann bob cat dan eve"
    echo /quit >&6 # dan leaves: loop 0 sees it, and the count
    await_line "$dir/ann.out" "* dan left"
    end_client dan 6
    client fay 6
    echo fay >&6
    await_line "$dir/fay.out" "* welcome, fay: 5 online (/who, /quit)"
    fd=3
    for name in ann bob cat fay eve; do
        [ $fd = 6 ] && fd=7
        [ "$name" = fay ] && fd=6
        eval "exec $fd>&-"
        fd=$((fd + 1))
    done
    for name in ann bob cat fay eve; do
        eval "wait \$${name}_pid" || fail "$name's socat failed"
    done
    stop_server
    echo "4 clients on 2 loops: each got the others' 3 x $lines lines in order; /who on both loops"
    ;;
redis_lost)
    command -v redis-server >/dev/null || fail "redis-server is missing"
    fail_details() { fail_redis_details; }
    start_redis
    for n in 1 2; do start_linked $n; done
    port=$port1
    client a 3
    echo a >&3
    await_line "$dir/a.out" "* welcome, a: 1 online (/who, /quit)"
    client c 5
    echo c >&5
    await_line "$dir/a.out" "* c joined"
    port=$port2
    client b 4
    echo b >&4
    await_line "$dir/a.out" "* b joined"
    await_line "$dir/c.out" "* b joined"
    echo "before" >&3
    await_line "$dir/b.out" "a: before"
    kill -KILL "$redis"
    wait "$redis" 2>/dev/null
    untrack "$redis"
    for name in a b c; do
        await_line "$dir/$name.out" "* lost the other servers: only this server's users hear you for now"
    done
    echo "local only" >&3
    await_line "$dir/c.out" "a: local only"
    start_redis
    for name in a b c; do
        await_line "$dir/$name.out" "* the other servers are back"
    done
    # the PUBLISH connection reconnects at its first command past its own
    # backoff (at most 2 s): say something until it crosses, then once more
    n=0
    until_true '[ -n "$(sed -n "/^a: again/p" "$dir/b.out")" ] || { n=$((n + 1)); echo "again $n" >&3; sleep 0.2; false; }' 30 ||
        fail "lines did not cross again after Redis came back"
    echo "after" >&3
    await_line "$dir/b.out" "a: after"
    grep -q "^a: local only" "$dir/b.out" && fail "b got a line sent while Redis was away"
    for name in a b c; do
        grep -cxF "* the other servers are back" "$dir/$name.out" | grep -qx 1 ||
            fail "$name was not told once that the link is back"
    done
    end_client a 3
    end_client b 4
    end_client c 5
    for n in 1 2; do stop_linked $n; done
    kill "$redis"
    ;;
basic)
    start_server
    client alice 3
    echo alice >&3
    await_line "$dir/alice.out" "* welcome, alice: 1 online (/who, /quit)"
    client bob 4
    echo bob >&4
    await_line "$dir/alice.out" "* bob joined"
    # carol: an empty nickname, a space, 17 characters, a taken one
    client carol 5
    printf '\nbad nick\nabcdefghijklmnopq\nalice\ncarol\n' >&5
    await_line "$dir/carol.out" "* welcome, carol: 3 online (/who, /quit)"
    await_line "$dir/bob.out" "* carol joined"
    await_line "$dir/alice.out" "* carol joined"
    echo "hi alice" >&4
    await_line "$dir/alice.out" "bob: hi alice"
    await_line "$dir/carol.out" "bob: hi alice"
    printf 'hello both\r\n/who\n/nope\ntab\there\n' >&5
    await_line "$dir/carol.out" "* unknown command; try /who or /quit"
    await_line "$dir/alice.out" "carol: tab?here"
    await_line "$dir/bob.out" "carol: tab?here"
    printf '\nx\n' >&3 # the empty line is not sent
    await_line "$dir/bob.out" "alice: x"
    await_line "$dir/carol.out" "alice: x"
    echo /quit >&4
    await_line "$dir/alice.out" "* bob left"
    await_line "$dir/carol.out" "* bob left"
    end_client bob 4
    # 1,025 bytes with the newline: one too many
    { head -c 1024 /dev/zero | tr '\0' y; echo; } >&5
    await_line "$dir/alice.out" "* carol left"
    end_client carol 5
    # 100,000 bytes without a newline: past the stream's 64 KiB limit
    client eve 6
    echo eve >&6
    await_line "$dir/alice.out" "* eve joined"
    head -c 100000 /dev/zero | tr '\0' z >&6
    await_line "$dir/alice.out" "* eve left"
    exec 6>&-
    wait "$eve_pid" # the server closed with her bytes unread: a reset, maybe
    end_client alice 3 # she leaves; the server closes
    expect alice <<'EOF'
* nickname?
* welcome, alice: 1 online (/who, /quit)
* bob joined
* carol joined
bob: hi alice
carol: hello both
carol: tab?here
* bob left
* carol left
* eve joined
* eve left
EOF
    expect bob <<'EOF'
* nickname?
* welcome, bob: 2 online (/who, /quit)
* carol joined
carol: hello both
carol: tab?here
alice: x
* bye
EOF
    expect carol <<'EOF'
* nickname?
* a nickname is 1 to 16 letters, digits, - or _; nickname?
* a nickname is 1 to 16 letters, digits, - or _; nickname?
* a nickname is 1 to 16 letters, digits, - or _; nickname?
* alice is taken; nickname?
* welcome, carol: 3 online (/who, /quit)
bob: hi alice
* online: alice bob carol
* unknown command; try /who or /quit
alice: x
* bob left
* lines are at most 1024 bytes: bye
EOF
    stop_server
    ;;
crowd)
    # chat_crowd (tests/peers, no aioc in it) checks every delivery itself
    start_server
    ${CHAT_CROWD:?} "$port" "${CROWD_CLIENTS:-1000}" 5 0.5 --stall 60 --server "$pid" \
        >"$dir/crowd.out" 2>&1 || { cat "$dir/crowd.out"; fail "chat_crowd failed"; }
    cat "$dir/crowd.out"
    stop_server
    ;;
flood)
    # two of ten clients send 16 MiB of 200-byte lines as fast as the server
    # reads them, an eleventh never reads: it alone is dropped, and the
    # other nine get every line
    start_server
    ${CHAT_CROWD:?} "$port" 10 42000 0 --senders 2 --size 200 --idle 1 --stall 60 \
        >"$dir/crowd.out" 2>&1 || { cat "$dir/crowd.out"; fail "chat_crowd failed"; }
    cat "$dir/crowd.out"
    grep -q "idle clients dropped 1 of 1" "$dir/crowd.out" ||
        fail "the client that never reads was not dropped"
    stop_server
    ;;
slow)
    lines=30000
    start_server
    mkfifo "$dir/go" "$dir/done"
    exec 7<>"$dir/go" 8<>"$dir/done"
    # 200-byte lines, numbered
    for f in fast1 fast2; do
        awk -v f=$f 'BEGIN { pad = sprintf("%180s", ""); gsub(/ /, ".", pad)
            for (i = 1; i <= '$lines'; i++) printf "%s %06d %s\n", f, i, pad }' >"$dir/$f.lines"
    done
    fast() { # name
        (
            {
                echo "$1"
                read -r _ <&7 || :
                cat "$dir/$1.lines"
                read -r _ <&8 || :
            } 7<"$dir/go" 8<"$dir/done" |
                socat -T 60 -t 10 - "TCP:127.0.0.1:$port" >"$dir/$1.out"
        ) 7>&- 8>&- >/dev/null 2>>"$dir/errors" &
    }
    fast fast1
    fast1=$!
    await_line "$dir/fast1.out" "* welcome, fast1: 1 online (/who, /quit)"
    # -u: socat never reads the connection, and a small receive buffer
    # keeps the kernel from holding much for it
    (
        { echo slow; read -r _ <&8 || :; } 8<"$dir/done" |
            socat -T 60 -u - "TCP:127.0.0.1:$port,rcvbuf=4096" 2>/dev/null # cut off
    ) 7>&- 8>&- >/dev/null 2>>"$dir/errors" &
    slow=$!
    await_line "$dir/fast1.out" "* slow joined"
    fast fast2
    fast2=$!
    await_line "$dir/fast1.out" "* fast2 joined"
    start=$(date +%s%N)
    exec 7>&- # go
    until_true '[ "$(grep -c "^fast2: " "$dir/fast1.out")" -ge $lines ] &&
                [ "$(grep -c "^fast1: " "$dir/fast2.out")" -ge $lines ]' 60 ||
        fail "the fast clients did not get all the lines within 60 s"
    end=$(date +%s%N)
    echo "2 x $lines lines exchanged in $(( (end - start) / 1000000 )) ms"
    kill -0 "$slow" 2>/dev/null || fail "the slow client ended on its own"
    exec 8>&- # done
    for p in $fast1 $fast2; do
        wait "$p" || fail "a fast client's socat failed"
    done
    wait "$slow" # its connection was cut: whatever its status
    for f in fast1 fast2; do
        other=fast$((3 - ${f#fast}))
        sed -n "s/^$other: //p" "$dir/$f.out" | cmp -s - "$dir/$other.lines" ||
            fail "$f did not get $other's lines exactly"
        [ "$(grep -cxF '* slow was too slow' "$dir/$f.out")" -eq 1 ] ||
            fail "$f was not told once that slow was too slow"
    done
    stop_server
    ;;
vanish)
    start_server
    client alice 3
    echo alice >&3
    await_line "$dir/alice.out" "* welcome, alice: 1 online (/who, /quit)"
    printf 'ghost\npartial' | timeout 20 socat -t 10 - "TCP:127.0.0.1:$port" >"$dir/ghost.out" ||
        fail "ghost's socat failed"
    await_line "$dir/alice.out" "* ghost left"
    printf 'nameless' | timeout 20 socat -t 10 - "TCP:127.0.0.1:$port" >/dev/null ||
        fail "nameless' socat failed"
    # ghost's name is free again; a new client still gets in
    printf 'ghost\nback\n' | timeout 20 socat -t 10 - "TCP:127.0.0.1:$port" >/dev/null ||
        fail "the last socat failed"
    until_true '[ "$(grep -cxF "* ghost left" "$dir/alice.out")" -eq 2 ]' ||
        fail "alice did not see ghost leave twice"
    # one that dies mid-line: -u never reads, so the kernel resets the
    # connection (the server's lines are unread) when socat is killed
    mkfifo "$dir/crash.in"
    socat -u - "TCP:127.0.0.1:$port" <"$dir/crash.in" 2>/dev/null 3>&- &
    crash=$!
    exec 4>"$dir/crash.in"
    printf 'crash\npart' >&4
    await_line "$dir/alice.out" "* crash joined"
    kill -KILL "$crash"
    wait "$crash" 2>/dev/null # "Killed"
    exec 4>&-
    await_line "$dir/alice.out" "* crash left"
    end_client alice 3
    expect alice <<'EOF'
* nickname?
* welcome, alice: 1 online (/who, /quit)
* ghost joined
* ghost left
* ghost joined
ghost: back
* ghost left
* crash joined
* crash left
EOF
    expect ghost <<'EOF'
* nickname?
* welcome, ghost: 2 online (/who, /quit)
EOF
    stop_server
    ;;
sigint)
    start_server
    client alice 3
    echo alice >&3
    await_line "$dir/alice.out" "* welcome, alice: 1 online (/who, /quit)"
    began=$(date +%s%N)
    stop_server
    end=$(date +%s%N)
    ms=$(( (end - began) / 1000000 ))
    echo "stopped in $ms ms with a client connected"
    [ "$ms" -lt 10000 ] || fail "Ctrl-C took $ms ms"
    end_client alice 3
    expect alice <<'EOF'
* nickname?
* welcome, alice: 1 online (/who, /quit)
* the server is shutting down
EOF
    ;;
*)
    fail "unknown mode"
    ;;
esac
echo "ok: chat $mode${loops:+ ($loops)}"
