#!/bin/sh
# The back end example (examples/backend/) driven from outside, by Python's
# http.client and json (standard library only; psql on PostgreSQL).
#   check_backend.sh MODE BACKEND_BINARY
#     crud        create, list, get, update, delete: exact JSON, ids, statuses,
#                 Location; and --demo, which must print the same tour twice
#     errors      400s with their reasons, 404s, 405s with Allow, 413, a
#                 locked database's 500: the server goes on serving
#     concurrent  200 creates from 20 threads at once while others list: all
#                 201, ids distinct, the list shows exactly those 200
#     restart     notes and ids survive a Ctrl-C and a restart on the same file
#     unblocked   slow queries (--db-delay 3) in flight: /health answers at
#                 once, reads run side by side, writes one after the other
#     sigint      Ctrl-C with slow queries in flight: within the grace period
#                 they are answered; past it they are cut off but the server
#                 waits for them; exit 130 and an intact, closed database
#   pg_MODE     the same MODE (all of the above) on PostgreSQL: a throwaway
#               server of its own (adapters/pg/tests/pgserver.sh: initdb, a
#               free loopback port; as the postgres user when run as root),
#               always stopped at the end, and a fresh database for each
#               run of the back end (--db postgresql://...). Differences,
#               from PostgreSQL's nature: errors' 500 comes from a CHECK
#               constraint added behind the server's back (a PATCH breaks
#               it), not from a lock; in unblocked, writes run side by side
#               too (no single writer); in sigint, the insert cut off past
#               the grace period is cancelled on the server (not in the
#               table), where SQLite's could not be stopped
#   pg_killed   PostgreSQL only: the server is killed (pg_ctl stop -m
#               immediate) under the back end with a slow query in flight:
#               it gets a 503 with the reason, so do new requests, /health
#               goes on answering; once the server is back, the back end
#               serves again and the notes are there
#   loops       --loops 2 on a fixed free port: both loops listen (SO_REUSEPORT),
#               each with its own connections to the one database; then
#               the concurrent scenario (200 creates from 20 threads, the
#               list shows exactly those), and Ctrl-C: each loop says its
#               database connections are closed, exit 130, the database
#               closed and intact (pg_loops: the same on PostgreSQL)
#   cache       SQLite behind --cache redis://... (a throwaway redis-server on
#               a free loopback port, --save ''): a GET fills "note:<id>"
#               (redis-cli GET shows the reply's JSON, with a TTL), a hit
#               comes from Redis (a note doctored there is served), PATCH,
#               PUT and DELETE remove the key and the reads after them are
#               fresh (exact JSON), 404s and lists are not cached; then
#               redis-server is stopped under it: every request still
#               answers right, one line on stderr says so; then a
#               redis-server comes back on the port holding a stale note,
#               which is not served (the writes' invalidations were lost).
#               And --cache with nothing listening: a clear error, exit 1
# Every run of the server must leave stderr empty (in cache, but for the
# cache's outage line; sanitizer and Valgrind
# reports included). AIOC_TEST_EMULATOR: a command prefix for the backend
# (valgrind ..., qemu-aarch64 -L DIR), split on spaces. AIOC_PG_BIN: the
# PostgreSQL server's programs (default: the newest Debian has installed).
. "$(dirname "$0")/lib.sh"
mode=$1
bin=$2
server=
pg=
case $mode in
pg_*)
    pg=1
    mode=${mode#pg_}
    ;;
esac
pgserver=$(cd "$(dirname "$0")/../adapters/pg/tests" && pwd)/pgserver.sh

# The throwaway PostgreSQL server, stopped at exit whatever happens.
pg_start() {
    "$pgserver" start "$dir/pg.txt" >"$dir/pgserver.out" 2>&1 ||
        fail "PostgreSQL did not start: $(cat "$dir/pgserver.out")"
    pg_port=$(sed -n 's/^port=//p' "$dir/pg.txt")
    pg_dir=$(sed -n 's/^dir=//p' "$dir/pg.txt")
    pg_bin=$(sed -n 's/^bin=//p' "$dir/pg.txt")
    # pg_ctl on the same data directory and port, for pg_killed's client:
    # stop (-m immediate: as if the server were killed) and start again
    as_pg=
    [ "$(id -u)" -ne 0 ] || as_pg="runuser -u postgres --" # initdb and postgres refuse root
    cat >"$dir/pg_stop.sh" <<EOF
cd / && $as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null
EOF
    cat >"$dir/pg_start.sh" <<EOF
cd / && $as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 -o \\
    "-k $pg_dir/sock -p $pg_port -c fsync=off -c listen_addresses=127.0.0.1 -c max_connections=200" \\
    start >/dev/null
EOF
}
trap '[ -f "$dir/pg.txt" ] && "$pgserver" stop "$dir/pg.txt" >/dev/null 2>&1; lib_cleanup' EXIT
trap 'exit 1' PIPE # as lib.sh does for INT, TERM, HUP: the server is stopped on a closed stdout too
psql_do() { # database, SQL: the result, unaligned
    "$pg_bin/psql" -X -q -tA -v ON_ERROR_STOP=1 \
        "postgresql://postgres@127.0.0.1:$pg_port/$1" -c "$2"
}
# A fresh database on the server, NAME: sets $db to its URL
new_db() { # name
    psql_do postgres "CREATE DATABASE $1" >/dev/null || fail "CREATE DATABASE $1 failed"
    db_name=$1
    db=postgresql://postgres@127.0.0.1:$pg_port/$1
}
fail_details() {
    for f in "$dir"/*.out "$dir"/*.err; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
}

# With $loops set (the loops mode), on $loops loops and a fixed free port,
# each loop saying "loop I: listening on ..."
loops=
start_server() { # database (a file, or a PostgreSQL URL or conninfo), more options
    db=$1
    shift
    port=0
    if [ -n "$loops" ]; then
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        set -- --loops "$loops" "$@"
    fi
    start ${AIOC_TEST_EMULATOR:-} "$bin" --db "$db" --port "$port" "$@" \
        >"$dir/server.out" 2>"$dir/server.err"
    server=$started
    # up to 10 s (each loop's) for the "listening" line
    i=0
    while [ "$i" -lt "${loops:-1}" ]; do
        prefix=${loops:+"loop $i: "}
        if ! wait_line "$dir/server.out" "s/^${prefix}listening on \(http:[^ ]*\)$/\1/p" 10 "$server"; then
            kill -0 "$server" 2>/dev/null || fail "the server ended before listening"
            fail "the server did not start${loops:+ on loop $i}"
        fi
        url=$found
        i=$((i + 1))
    done
}

# A file is empty, but for Valgrind's notes on system calls it does not
# know, and in pg_killed the server's farewell, which libpq's default
# notice processor prints (aioc_pg's pool leaves it as it is)
quiet() { # file
    ! grep -v '^--[0-9]*-- ' "$1" |
        if [ "$mode" = killed ]; then
            grep -v -e '^WARNING:  terminating connection due to immediate shutdown command$' -e '^$'
        elif [ "$mode" = cache ]; then
            grep -v '^backend: cache: '
        else
            cat
        fi | grep -q .
}

# Waits up to $1 seconds for the server to end after a Ctrl-C (sent here,
# unless $2 is "sent"), then checks that it ended as it should: status 130,
# the database closed cleanly (SQLite removes the WAL file when the last
# connection closes), not a word on stderr, and an intact file.
stop_server() { # seconds, ["sent"]
    [ "${2:-}" = sent ] || kill -INT "$server"
    wait_bounded "$server" "$1"
    server=
    [ "$status" -eq 130 ] || fail "exit status $status after Ctrl-C, expected 130"
    quiet "$dir/server.err" || fail "the server wrote to stderr"
    if [ -n "$loops" ]; then # a line per loop as it listened, and as it ended
        i=0
        while [ "$i" -lt "$loops" ]; do
            grep -qxF "backend: loop $i interrupted; its database connections are closed" \
                "$dir/server.out" || fail "loop $i did not say it closed its connections"
            i=$((i + 1))
        done
        [ "$(wc -l <"$dir/server.out")" -eq $((2 * loops)) ] || fail "unexpected output"
    else
        [ "$(sed -n '$p' "$dir/server.out")" = "backend: interrupted; the database is closed" ] &&
            [ "$(wc -l <"$dir/server.out")" -eq 2 ] || fail "unexpected output"
    fi
    if [ -n "$pg" ]; then # its connections are closed (the server notices within moments)
        for _ in $(seq 1 100); do
            left=$(psql_do postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db_name'")
            [ "$left" = 0 ] && return 0
            sleep 0.1
        done
        fail "$left connections to $db_name are left: the pool was not closed"
    fi
    [ ! -e "$db-wal" ] || fail "$db-wal is left: the database was not closed"
    check=$(sqlite3 "$db" 'PRAGMA integrity_check') || fail "sqlite3 cannot read $db"
    [ "$check" = ok ] || fail "integrity check of $db: $check"
}

rows() { # the number of notes in database $1
    if [ -n "$pg" ]; then
        psql_do "$db_name" 'SELECT count(*) FROM notes'
    else
        sqlite3 "$1" 'SELECT count(*) FROM notes'
    fi
}

# The client: python3 client.py SCENARIO URL [DATABASE | SERVER_PID]
cat >"$dir/client.py" <<'EOF'
import http.client, json, os, re, signal, sqlite3, subprocess, sys, threading, time
import urllib.parse

scenario, url = sys.argv[1], urllib.parse.urlsplit(sys.argv[2])
arg = sys.argv[3] if len(sys.argv) > 3 else None
pg = os.environ.get("BACKEND_PG")  # on PostgreSQL: the database's URL
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

def fail(msg):
    print("client:", msg)
    sys.stdout.flush()
    os._exit(1)  # from any thread

class Reply:
    def __init__(self, r):
        self.status, self.body = r.status, r.read()
        self.header = r.getheader
        try:
            self.json = json.loads(self.body) if self.body else None
        except ValueError:
            self.json = None
    def __repr__(self):
        return f"{self.status} {self.body[:200]!r}"

class Client:  # one keep-alive connection
    def __init__(self):
        self.c = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    def req(self, method, path, body=None, raw=None):
        data = raw if raw is not None else None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        self.c.request(method, path, body=data, headers=headers)
        return Reply(self.c.getresponse())

def expect(r, status, what):
    if r.status != status:
        fail(f"{what}: {r!r}, expected status {status}")
    if status != 204 and r.header("Content-Type") != "application/json":
        fail(f"{what}: Content-Type {r.header('Content-Type')}")
    if status == 204 and r.body:
        fail(f"{what}: a 204 with a body: {r!r}")
    return r.json

def expect_error(r, status, what, reason=""):
    j = expect(r, status, what)
    if not (isinstance(j, dict) and list(j) == ["error"] and isinstance(j["error"], str)
            and reason in j["error"]):
        fail(f"{what}: {r!r}, expected {{\"error\": \"...{reason}...\"}}")

def expect_note(r, status, what, id, title, body, created=None):
    n = expect(r, status, what)
    if not isinstance(n, dict) or sorted(n) != ["body", "created_at", "id", "title", "updated_at"]:
        fail(f"{what}: {r!r}: not a note")
    if (n["id"], n["title"], n["body"]) != (id, title, body):
        fail(f"{what}: {r!r}, expected id {id}, title {title!r}, body {body!r}")
    if not ISO.match(n["created_at"]) or not ISO.match(n["updated_at"]):
        fail(f"{what}: {r!r}: timestamps")
    if created is None and n["created_at"] != n["updated_at"]:
        fail(f"{what}: {r!r}: a new note was updated")
    if created is not None and (n["created_at"] != created or n["updated_at"] < created):
        fail(f"{what}: {r!r}: created_at changed or updated_at went back")
    return n

def expect_list(r, notes, what):
    if expect(r, 200, what) != {"notes": notes}:
        fail(f"{what}: {r!r}, expected {notes}")

def crud():
    c = Client()
    if expect(c.req("GET", "/health"), 200, "health") != {"status": "ok", "queries": 0}:
        fail("health")
    expect_list(c.req("GET", "/notes"), [], "an empty list")
    made = [("milk", "two litres"), ("café ☕", 'ünïcode, "quotes",\nlines'), ("no body", "")]
    notes = []
    for i, (title, body) in enumerate(made, 1):
        r = c.req("POST", "/notes", {"title": title, "body": body})
        notes.append(expect_note(r, 201, f"create {i}", i, title, body))
        if r.header("Location") != f"/notes/{i}":
            fail(f"create {i}: Location {r.header('Location')}")
    expect_list(c.req("GET", "/notes"), notes, "the list")
    if expect(c.req("GET", "/notes/2"), 200, "get 2") != notes[1]:
        fail("get 2: not what was created")
    expect_list(c.req("GET", "/notes?limit=1&offset=1"), notes[1:2], "limit 1, offset 1")
    expect_list(c.req("GET", "/notes?limit=2"), notes[:2], "limit 2")
    expect_list(c.req("GET", "/notes?offset=3&limit=10"), [], "offset 3")
    created = notes[1]["created_at"]
    expect_note(c.req("PUT", "/notes/2", {"title": "bread", "body": "rye"}), 200, "put 2",
                2, "bread", "rye", created)
    n = expect_note(c.req("PATCH", "/notes/2", {"body": "sourdough"}), 200, "patch 2",
                    2, "bread", "sourdough", created)
    if expect(c.req("GET", "/notes/2"), 200, "get 2 again") != n:
        fail("get 2 again: not what was stored")
    expect(c.req("DELETE", "/notes/1"), 204, "delete 1")
    expect_error(c.req("GET", "/notes/1"), 404, "get 1 deleted", "no such note")
    expect_list(c.req("GET", "/notes"), [n, notes[2]], "the list after delete")
    expect_note(c.req("POST", "/notes", {"title": "four", "body": ""}), 201, "create 4",
                4, "four", "")
    expect(c.req("DELETE", "/notes/4"), 204, "delete 4")
    # AUTOINCREMENT: the id of a deleted note is not given out again
    expect_note(c.req("POST", "/notes", {"title": "five", "body": ""}), 201, "create 5",
                5, "five", "")

def errors():
    c = Client()
    keep = expect_note(c.req("POST", "/notes", {"title": "keep", "body": "me"}), 201, "create",
                       1, "keep", "me")
    for raw, reason in [("{not json", "malformed JSON"), ("", "malformed JSON"),
                        ('{"title":"a","title":"b","body":"c"}', "malformed JSON"),
                        ("[1, 2]", "expected a JSON object"), ('"text"', "malformed JSON")]:
        expect_error(c.req("POST", "/notes", raw=raw), 400, f"POST {raw!r}", reason)
    for body, reason in [({"title": 5, "body": "x"}, '"title" must be a string'),
                         ({"title": "x", "body": None}, '"body" must be a string'),
                         ({"title": "x", "body": ["a"]}, '"body" must be a string'),
                         ({"title": "x"}, "are required"), ({"body": "x"}, "are required"),
                         ({}, "are required"), ({"title": "", "body": "x"}, "must not be empty"),
                         ({"title": "a\u0000b", "body": "x"}, "malformed JSON"),  # jansson
                         ({"title": "x", "body": "y", "tags": []}, 'unknown field "tags"')]:
        expect_error(c.req("POST", "/notes", body), 400, f"POST {body}", reason)
    expect_error(c.req("PUT", "/notes/1", {"title": "x"}), 400, "PUT without body", "required")
    expect_error(c.req("PATCH", "/notes/1", {}), 400, "PATCH {}", "nothing to change")
    expect_error(c.req("PATCH", "/notes/1", {"title": 3}), 400, "PATCH a number", "string")
    expect_error(c.req("PUT", "/notes/1", raw="{"), 400, "PUT bad JSON", "malformed JSON")
    if expect(c.req("GET", "/notes/1"), 200, "get 1") != keep:
        fail("a bad request changed the note")
    for path in ["/notes/999", "/notes/abc", "/notes/0", "/notes/-1", "/notes/1x",
                 "/notes/1.5", "/notes/99999999999999999999"]:
        expect_error(c.req("GET", path), 404, f"GET {path}", "no such note")
    expect_error(c.req("PUT", "/notes/999", {"title": "x", "body": "y"}), 404, "PUT 999")
    expect_error(c.req("PATCH", "/notes/999", {"body": "y"}), 404, "PATCH 999")
    expect_error(c.req("DELETE", "/notes/999"), 404, "DELETE 999")
    expect_error(c.req("DELETE", "/notes/abc"), 404, "DELETE abc")
    for path in ["/nope", "/notes/1/more", "/"]:
        expect_error(c.req("GET", path), 404, f"GET {path}", "not found")
    for query in ["limit=abc", "limit=0", "limit=1001", "limit=", "offset=-1", "offset=x",
                  "limit=5&offset=1e3"]:
        expect_error(c.req("GET", "/notes?" + query), 400, f"GET /notes?{query}")
    expect(c.req("DELETE", "/notes/1"), 204, "delete 1")
    expect_error(c.req("DELETE", "/notes/1"), 404, "delete 1 again", "no such note")
    for method, path, allow in [("DELETE", "/notes", "GET, POST"), ("PUT", "/notes", "GET, POST"),
                                ("POST", "/notes/1", "GET, PUT, PATCH, DELETE"),
                                ("POST", "/health", "GET")]:
        r = c.req(method, path)
        expect_error(r, 405, f"{method} {path}", "method not allowed")
        if r.header("Allow") != allow:
            fail(f"{method} {path}: Allow {r.header('Allow')}, expected {allow}")
    # over the 64 KiB limit: the server's 413 (plain text), and it closes
    big = Client()
    r = big.req("POST", "/notes", {"title": "big", "body": "x" * 100000})
    if r.status != 413:
        fail(f"a 100 kB body: {r!r}, expected 413")
    if pg:
        # A database failure: a constraint added behind the server's back,
        # which an update breaks; the 500 carries PostgreSQL's message.
        psql = [os.environ["PSQL"], "-X", "-q", "-v", "ON_ERROR_STOP=1", pg, "-c"]
        subprocess.run(psql + ["ALTER TABLE notes ADD CONSTRAINT short CHECK (length(title) < 9)"],
                       check=True)
        n = expect_note(c.req("POST", "/notes", {"title": "t", "body": "b"}), 201,
                        "a create that keeps to the constraint", 2, "t", "b")
        expect_error(c.req("PATCH", "/notes/2", {"title": "far too long"}), 500,
                     "an update that breaks the constraint",
                     'database: new row for relation "notes" violates check constraint "short"')
        if expect(c.req("GET", "/notes/2"), 200, "get 2") != n:
            fail("a failed update changed the note")
        subprocess.run(psql + ["ALTER TABLE notes DROP CONSTRAINT short"], check=True)
        expect(c.req("DELETE", "/notes/2"), 204, "delete 2")
    else:
        # A database failure: another process holds SQLite's write lock
        # longer than the server's busy timeout (5 s). Reads go on (WAL).
        lock = sqlite3.connect(arg, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        expect_list(c.req("GET", "/notes"), [], "a read while the database is locked")
        expect_error(c.req("POST", "/notes", {"title": "t", "body": "b"}), 500,
                     "a write while the database is locked", "database is locked")
        lock.execute("ROLLBACK")
        lock.close()
    # and after all that, it serves as before
    n = expect_note(c.req("POST", "/notes", {"title": "still", "body": "here"}), 201,
                    "create after the errors", 3 if pg else 2, "still", "here")
    expect_list(c.req("GET", "/notes"), [n], "the list after the errors")
    expect(c.req("GET", "/health"), 200, "health")

def concurrent():
    writers, each = 20, 10
    made, problems, done = [None] * writers, [], threading.Event()
    start = threading.Barrier(writers + 5)
    def write(k):
        try:
            c = Client()
            start.wait(30)
            made[k] = [c.req("POST", "/notes", {"title": f"t{k}-{i}", "body": "x" * k})
                       for i in range(each)]
        except Exception as e:
            problems.append(f"writer {k}: {e!r}")
    def read(k):  # lists while the writes go on: complete notes, in order, growing
        try:
            c, seen = Client(), 0
            start.wait(30)
            while not done.is_set():
                r = c.req("GET", "/notes?limit=1000")
                ids = [n["id"] for n in r.json["notes"]] if r.status == 200 else None
                if ids is None or ids != sorted(ids) or len(ids) < seen:
                    problems.append(f"reader {k}: {r!r} after {seen} notes")
                    return
                seen = len(ids)
        except Exception as e:
            problems.append(f"reader {k}: {e!r}")
    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    readers = [threading.Thread(target=read, args=(k,)) for k in range(5)]
    for t in threads + readers:
        t.start()
    for t in threads:
        t.join()
    done.set()
    for t in readers:
        t.join()
    if problems:
        fail("; ".join(problems))
    notes = {}
    for k in range(writers):
        for i, r in enumerate(made[k]):
            n = expect_note(r, 201, f"create t{k}-{i}", r.json and r.json.get("id"), f"t{k}-{i}",
                            "x" * k)
            if n["id"] in notes:
                fail(f"id {n['id']} given twice")
            notes[n["id"]] = n
    if sorted(notes) != list(range(1, writers * each + 1)):
        fail(f"ids {sorted(notes)}, expected 1 to {writers * each}")
    expect_list(Client().req("GET", "/notes?limit=1000"), [notes[i] for i in sorted(notes)],
                "the list of all 200")

def restart():
    c = Client()
    if arg == "before":
        for i in range(1, 4):
            expect_note(c.req("POST", "/notes", {"title": f"n{i}", "body": "b"}), 201,
                        f"create {i}", i, f"n{i}", "b")
        expect(c.req("DELETE", "/notes/3"), 204, "delete 3")
        print(json.dumps(expect(c.req("GET", "/notes"), 200, "the list")))
    else:  # after the restart: the same list (on stdin), and ids go on from 4
        before = json.load(sys.stdin)
        if expect(c.req("GET", "/notes"), 200, "the list after the restart") != before:
            fail("the notes changed across the restart")
        expect_note(c.req("POST", "/notes", {"title": "n4", "body": "b"}), 201, "create 4",
                    4, "n4", "b")

# Slow requests, each in a thread of its own; returns them once the server
# has taken them all in (its /health counts the requests waiting for the
# database), polling /health, which must answer within a second every time.
def slow_requests(kinds, health):
    out = {}
    def one(i, kind):
        t = time.monotonic()
        try:
            r = Client().req(*kind)
            out[i] = (kind[0], r.status, time.monotonic() - t)
        except (http.client.HTTPException, OSError) as e:
            out[i] = (kind[0], repr(e), time.monotonic() - t)
    threads = [threading.Thread(target=one, args=(i, k)) for i, k in enumerate(kinds)]
    for t in threads:
        t.start()
    give_up = time.monotonic() + 20
    while health_check(health)["queries"] < len(kinds):
        if time.monotonic() > give_up:
            fail("the slow requests never all reached the server")
        time.sleep(0.02)
    return threads, out

def health_check(c):
    t = time.monotonic()
    h = expect(c.req("GET", "/health"), 200, "health")
    if time.monotonic() - t > 1:
        fail(f"/health took {time.monotonic() - t:.2f} s: the loop is blocked")
    return h

def unblocked():  # the server runs with --db-delay 3
    delay = 3.0
    health = Client()
    kinds = [("GET", "/notes")] * 4 + [("POST", "/notes", {"title": "t", "body": "b"})] * 2
    threads, out = slow_requests(kinds, health)
    answered = 0  # /health while all six are in the server
    while len(out) == 0:
        answered += health_check(health)["queries"] == 6
        time.sleep(0.01)
    for t in threads:
        t.join()
    if answered < 10:
        fail(f"only {answered} answers from /health while six queries were in flight")
    got = sorted(out.values())
    if [(m, s) for m, s, _ in got] != [("GET", 200)] * 4 + [("POST", 201)] * 2:
        fail(f"slow requests: {got}")
    reads, writes = [t for m, _, t in got if m == "GET"], [t for m, _, t in got if m == "POST"]
    if min(reads + writes) < delay - 0.1:
        fail(f"a query was quicker than --db-delay: {got}")
    if max(reads) > 2 * delay - 0.5:  # four readers: side by side
        fail(f"the reads did not run side by side: {got}")
    if pg and max(writes) > 2 * delay - 0.5:  # no single writer: side by side
        fail(f"the writes did not run side by side: {got}")
    if not pg and max(writes) < 2 * delay - 0.5:  # one writer: one after the other
        fail(f"the writes did not run one after the other: {got}")
    print(f"{answered} answers from /health while the queries ran")

def sigint():  # arg: the server's pid; --db-delay 1.5 ("graceful") or 6 ("cut")
    graceful = scenario == "graceful"
    kinds = [("GET", "/notes")] * (3 if graceful else 1) + \
            [("POST", "/notes", {"title": "t", "body": "b"})]
    threads, out = slow_requests(kinds, Client())
    os.kill(int(arg), signal.SIGINT)
    for t in threads:
        t.join()
    got = sorted(out.values())
    if graceful and [(m, s) for m, s, _ in got] != [("GET", 200)] * 3 + [("POST", 201)]:
        fail(f"requests in progress at Ctrl-C, within the grace period: {got}")
    if not graceful and any(isinstance(s, int) for _, s, _ in got):
        fail(f"requests in progress past the grace period were answered: {got}")

def killed():  # PostgreSQL only, the back end with --db-delay 1
    c, health = Client(), Client()
    note = expect_note(c.req("POST", "/notes", {"title": "kept", "body": "b"}), 201, "create",
                       1, "kept", "b")
    # a query in flight (in pg_sleep) when the server is killed
    threads, out = slow_requests([("GET", "/notes/1")], health)
    subprocess.run(["sh", arg + "/pg_stop.sh"], check=True)
    threads[0].join()
    _, status, _ = out[0]
    if status != 503:
        fail(f"the query in flight when the server died: {out[0]}, expected 503")
    expect_error(c.req("GET", "/notes/1"), 503, "a read while the server is down",
                 "database unavailable: ")
    expect_error(c.req("POST", "/notes", {"title": "t", "body": "b"}), 503,
                 "a write while the server is down", "database unavailable: ")
    health_check(health)
    subprocess.run(["sh", arg + "/pg_start.sh"], check=True)
    give_up, tries = time.monotonic() + 60, 0
    while True:  # the pool drops the broken connections and connects again
        r = c.req("GET", "/notes/1")
        tries += 1
        if r.status == 200:
            break
        expect_error(r, 503, "a read while the server comes back", "database unavailable: ")
        if time.monotonic() > give_up:
            fail("the back end did not recover")
        time.sleep(0.1)
    if r.json != note:
        fail(f"the note after the server came back: {r!r}, expected {note}")
    # after a crash PostgreSQL's sequences may skip values: a new id only
    n = expect(c.req("POST", "/notes", {"title": "new", "body": "b"}), 201, "create after")
    if not isinstance(n, dict) or not isinstance(n.get("id"), int) or n["id"] <= 1:
        fail(f"create after the server came back: {n}")
    print(f"recovered after {tries} tries")

def redis(*args):  # redis-cli on the throwaway redis-server (port: arg); raw output
    p = subprocess.run(["redis-cli", "-p", arg] + list(args), capture_output=True, text=True,
                       timeout=60)
    if p.returncode or p.stderr:
        fail(f"redis-cli {args}: {p.stdout!r} {p.stderr!r}")
    return p.stdout.rstrip("\n")

def cached(id, what):  # the note's key holds the reply's JSON exactly, with a TTL
    r = Client().req("GET", f"/notes/{id}")
    n = expect(r, 200, what)
    if redis("GET", f"note:{id}") != r.body.decode():
        fail(f"{what}: note:{id} holds {redis('GET', f'note:{id}')!r}, expected {r.body!r}")
    if not 0 < int(redis("TTL", f"note:{id}")) <= 60:
        fail(f"{what}: note:{id} has TTL {redis('TTL', f'note:{id}')}")
    return n

def not_cached(id, what):
    if redis("EXISTS", f"note:{id}") != "0":
        fail(f"{what}: note:{id} is in the cache: {redis('GET', f'note:{id}')!r}")

def cache_up():  # the back end with --cache, redis-server on port `arg`
    c = Client()
    n1 = expect_note(c.req("POST", "/notes", {"title": "milk", "body": "two litres"}), 201,
                     "create 1", 1, "milk", "two litres")
    not_cached(1, "after create 1")
    if cached(1, "get 1") != n1:
        fail("get 1: not what was created")
    # a hit is Redis's: a note doctored there is what the back end serves
    doctored = dict(n1, title="from the cache")
    redis("SET", "note:1", json.dumps(doctored), "EX", "60")
    if expect(c.req("GET", "/notes/1"), 200, "get 1 from the cache") != doctored:
        fail("get 1 did not come from the cache")
    created = n1["created_at"]
    for method, body, title, text in [("PATCH", {"body": "three"}, "milk", "three"),
                                      ("PUT", {"title": "oat milk", "body": "one"}, "oat milk",
                                       "one")]:
        n = expect_note(c.req(method, "/notes/1", body), 200, method, 1, title, text, created)
        not_cached(1, f"after {method}")
        if cached(1, f"get 1 after {method}") != n:
            fail(f"get 1 after {method}: not what was stored")
        if expect(c.req("GET", "/notes/1"), 200, f"get 1 again after {method}") != n:
            fail(f"get 1 again after {method}: not fresh")
    expect(c.req("DELETE", "/notes/1"), 204, "delete 1")
    not_cached(1, "after delete 1")
    expect_error(c.req("GET", "/notes/1"), 404, "get 1 deleted", "no such note")
    not_cached(1, "after a 404")
    expect_error(c.req("PATCH", "/notes/1", {"body": "x"}), 404, "patch 1 deleted")
    # lists are not cached
    n2 = expect_note(c.req("POST", "/notes", {"title": "bread", "body": "rye"}), 201, "create 2",
                     2, "bread", "rye")
    cached(2, "get 2")
    keys = redis("KEYS", "*")
    expect_list(c.req("GET", "/notes"), [n2], "the list")
    if redis("KEYS", "*") != keys or keys != "note:2":
        fail(f"keys {keys!r} before the list, {redis('KEYS', '*')!r} after")
    print(json.dumps(n2))  # note 2 stays cached for cache_down

def cache_down():  # redis-server is gone; note 2 (on stdin) was cached
    n2, c = json.load(sys.stdin), Client()
    for i in range(3):
        if expect(c.req("GET", "/notes/2"), 200, f"get 2 with Redis down ({i})") != n2:
            fail("get 2 with Redis down: not the note")
    created = n2["created_at"]
    n3 = expect_note(c.req("POST", "/notes", {"title": "eggs", "body": "six"}), 201, "create 3",
                     3, "eggs", "six")
    if expect(c.req("GET", "/notes/3"), 200, "get 3") != n3:
        fail("get 3: not what was created")
    n2 = expect_note(c.req("PATCH", "/notes/2", {"body": "spelt"}), 200, "patch 2", 2, "bread",
                     "spelt", created)
    if expect(c.req("GET", "/notes/2"), 200, "get 2 after patch") != n2:
        fail("get 2 after patch: not fresh")
    n3 = expect_note(c.req("PUT", "/notes/3", {"title": "eggs", "body": "twelve"}), 200, "put 3",
                     3, "eggs", "twelve", n3["created_at"])
    if expect(c.req("GET", "/notes/3"), 200, "get 3 after put") != n3:
        fail("get 3 after put: not fresh")
    expect(c.req("DELETE", "/notes/3"), 204, "delete 3")
    expect_error(c.req("GET", "/notes/3"), 404, "get 3 deleted", "no such note")
    expect_list(c.req("GET", "/notes"), [n2], "the list with Redis down")
    # many at once, on connections of their own
    out = {}
    def one(i):
        out[i] = Client().req("GET", "/notes/2").json
    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if list(out.values()) != [n2] * 20:
        fail(f"20 reads at once with Redis down: {out}")
    expect(c.req("GET", "/health"), 200, "health")
    print(json.dumps(n2))

def cache_back():  # a redis-server again, holding a stale note 2: not served
    n2, c = json.load(sys.stdin), Client()
    redis("SET", "note:2", json.dumps(dict(n2, body="stale")), "EX", "60")
    for i in range(3):
        if expect(c.req("GET", "/notes/2"), 200, f"get 2 with Redis back ({i})") != n2:
            fail("get 2 after the outage: a stale note")
    n2 = expect_note(c.req("PATCH", "/notes/2", {"body": "barley"}), 200, "patch 2 again", 2,
                     "bread", "barley", n2["created_at"])
    if expect(c.req("GET", "/notes/2"), 200, "get 2 after the patch") != n2:
        fail("get 2 after the patch: not fresh")

{"crud": crud, "errors": errors, "killed": killed, "concurrent": concurrent, "restart": restart,
 "unblocked": unblocked, "graceful": sigint, "cut": sigint, "cache_up": cache_up,
 "cache_down": cache_down, "cache_back": cache_back}[scenario]()
EOF
client() { # scenario [argument]
    BACKEND_PG=${pg:+$db} PSQL=${pg_bin:-}/psql \
        python3 "$dir/client.py" "$1" "$url" ${2:+"$2"} >"$dir/client.out" 2>&1 ||
        fail "the client failed"
}

# A fresh database NAME: a file in the scratch directory, or a database on
# the PostgreSQL server; its name in $fresh
fresh() { # name
    if [ -n "$pg" ]; then
        new_db "$1"
        fresh=$db
    else
        fresh=$dir/$1.db
    fi
}
[ -z "$pg" ] || pg_start

case $mode in
crud)
    fresh notes
    start_server "$fresh"
    client crud
    stop_server 10
    # the tour, twice: the same lines each time, its temporary files removed
    # (on PostgreSQL: a fresh database each time)
    mkdir "$dir/tmp"
    for run in 1 2; do
        demo_db=
        if [ -n "$pg" ]; then
            new_db "demo$run"
            demo_db=$db
        fi
        TMPDIR=$dir/tmp timeout 60 ${AIOC_TEST_EMULATOR:-} "$bin" --demo ${demo_db:+--db "$demo_db"} \
            >"$dir/demo$run.out" 2>"$dir/demo$run.err" || fail "--demo: exit status $?"
        quiet "$dir/demo$run.err" || fail "--demo wrote to stderr"
    done
    cmp -s "$dir/demo1.out" "$dir/demo2.out" || fail "--demo printed something else the second time"
    for line in 'GET /notes -> 200 3 notes, ids 1 2 3' \
        'PUT /notes/2 {"title":"shopping","body":"milk, bread"} -> 200 {"id":2,"title":"shopping","body":"milk, bread"}' \
        'DELETE /notes/3 -> 204' 'GET /notes/3 -> 404 {"error":"no such note"}' \
        'DELETE /notes -> 405 {"error":"method not allowed"}' \
        'GET /notes?limit=10 -> 200 2 notes, ids 1 2' '14 requests, all as expected'; do
        grep -qxF "$line" "$dir/demo1.out" || fail "--demo did not print: $line"
    done
    [ "$(grep -c '^POST /notes {"title":"[^"]*","body":"[^"]*"} -> 201 {"title"' "$dir/demo1.out")" \
        -eq 3 ] || fail "--demo did not print three creates"
    [ -z "$(ls -A "$dir/tmp")" ] || fail "--demo left files: $(ls -A "$dir/tmp")"
    ;;
errors)
    fresh notes
    start_server "$fresh"
    client errors "$fresh"
    stop_server 10
    ;;
concurrent)
    fresh notes
    start_server "$fresh"
    client concurrent
    stop_server 10
    [ "$(rows "$db")" -eq 200 ] || fail "$(rows "$db") notes in the database"
    ;;
loops)
    loops=2
    fresh notes
    start_server "$fresh"
    client concurrent
    stop_server 10
    [ "$(rows "$db")" -eq 200 ] || fail "$(rows "$db") notes in the database"
    ;;
restart)
    fresh notes
    start_server "$fresh"
    client restart before
    cp "$dir/client.out" "$dir/list.json"
    stop_server 10
    [ "$(rows "$db")" -eq 2 ] || fail "$(rows "$db") notes in the database"
    # on PostgreSQL, the second time with a conninfo string, not a URL
    [ -z "$pg" ] || fresh="host=127.0.0.1 port=$pg_port user=postgres dbname=notes"
    start_server "$fresh"
    python3 "$dir/client.py" restart "$url" <"$dir/list.json" >"$dir/client.out" 2>&1 ||
        fail "the client failed after the restart"
    stop_server 10
    [ "$(rows "$db")" -eq 3 ] || fail "$(rows "$db") notes in the database"
    ;;
unblocked)
    fresh notes
    start_server "$fresh" --db-delay 3
    client unblocked
    stop_server 10
    ;;
sigint)
    # within the grace period (3 s): the requests get their answers
    fresh graceful
    start_server "$fresh" --db-delay 1.5
    client graceful "$server"
    stop_server 15 sent
    [ "$(rows "$db")" -eq 1 ] || fail "the note created during Ctrl-C is not in the database"
    # past it: the requests are cut off. SQLite's queries cannot be, so the
    # server waits for them before it closes the database: the insert that
    # was running when Ctrl-C came is in the file. PostgreSQL's are
    # cancelled on the server: the insert (still in its pg_sleep) is not.
    fresh cut
    start_server "$fresh" --db-delay 6
    client cut "$server"
    stop_server 20 sent
    if [ -n "$pg" ]; then
        [ "$(rows "$db")" -eq 0 ] || fail "the insert cut off at Ctrl-C was not cancelled"
    else
        [ "$(rows "$db")" -eq 1 ] || fail "the insert that was running at Ctrl-C is not in the file"
    fi
    ;;
cache)
    for p in redis-server redis-cli; do
        command -v $p >/dev/null || fail "$p is missing (Debian: redis-server, redis-tools)"
    done
    rport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # nothing listens on it yet: a clear error, exit 1
    status=0
    timeout 60 ${AIOC_TEST_EMULATOR:-} "$bin" --db "$dir/none.db" --port 0 \
        --cache "redis://127.0.0.1:$rport" >"$dir/none.out" 2>"$dir/none.err" || status=$?
    [ "$status" -eq 1 ] || fail "--cache without a Redis: exit status $status, expected 1"
    grep -v '^--[0-9]*-- ' "$dir/none.err" >"$dir/none.msg"
    [ "$(cat "$dir/none.msg")" = "backend: --cache: cannot reach Redis at redis://127.0.0.1:$rport: Connection refused" ] ||
        fail "--cache without a Redis: $(cat "$dir/none.err")"
    redis_start() { # on $rport, in the scratch directory; $rpid
        mkdir -p "$dir/redis"
        redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no \
            --dir "$dir/redis" --daemonize no >>"$dir/redis/log" 2>&1 &
        rpid=$!
        track "$rpid" TERM
        for _ in $(seq 1 200); do
            [ "$(timeout 5 redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && return 0
            kill -0 "$rpid" 2>/dev/null || break
            sleep 0.1
        done
        fail "redis-server did not start: $(cat "$dir/redis/log")"
    }
    redis_start
    fresh notes
    start_server "$fresh" --cache "redis://127.0.0.1:$rport"
    client cache_up "$rport"
    cp "$dir/client.out" "$dir/note2.json"
    # redis-server stopped under the back end
    kill -TERM "$rpid"
    wait_bounded "$rpid" 20
    python3 "$dir/client.py" cache_down "$url" "$rport" <"$dir/note2.json" >"$dir/client.out" 2>&1 ||
        fail "the client failed with Redis down"
    cp "$dir/client.out" "$dir/note2.json"
    # one line for the outage, naming Redis and the reason
    grep '^backend: cache: ' "$dir/server.err" >"$dir/outage.txt" || :
    [ "$(wc -l <"$dir/outage.txt")" -eq 1 ] &&
        grep -Eq "^backend: cache: redis://127.0.0.1:$rport: .+; reading the database directly until it is back\$" \
            "$dir/outage.txt" || fail "the outage's lines: $(cat "$dir/outage.txt")"
    redis_start # with a stale note: invalidations were lost in the outage
    python3 "$dir/client.py" cache_back "$url" "$rport" <"$dir/note2.json" >"$dir/client.out" 2>&1 ||
        fail "the client failed with Redis back"
    stop_server 10
    [ "$(rows "$db")" -eq 1 ] || fail "$(rows "$db") notes in the database"
    kill -TERM "$rpid"
    wait_bounded "$rpid" 20
    ;;
killed)
    [ -n "$pg" ] || fail "killed is a PostgreSQL mode: pg_killed"
    fresh notes
    start_server "$fresh" --db-delay 1
    client killed "$dir"
    stop_server 10
    ;;
*)
    fail "unknown mode"
    ;;
esac
echo "ok: backend ${pg:+pg_}$mode"
