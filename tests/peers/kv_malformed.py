#!/usr/bin/env python3
"""Sends malformed RESP to a Redis-compatible server, one connection per
case, and checks that each gets an error reply and/or a closed connection
(never a crash, a hang, or memory the input did not bring), and that a
fresh client is served after every case. Python's standard library only.

    kv_malformed.py PORT [--pid PID] [--loose]

--pid: the server's process, whose resident memory must not jump by the
sizes the malformed requests declare (and which must still run at the end).
--loose: any "-ERR" reply will do, not our exact wording (for running the
same cases against redis-server)."""
import os
import random
import socket
import sys
import time

HOST = "127.0.0.1"
WAIT = 10.0  # seconds a case may take to be answered or closed: a hang bound


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def connect(port):
    s = socket.create_connection((HOST, port), timeout=WAIT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def exchange(port, data, half_close=True, pieces=1):
    """Sends data (in `pieces` parts), half-closes, and reads until the
    server closes or WAIT passes. Returns (reply bytes, closed?)."""
    s = connect(port)
    try:
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            try:
                s.sendall(data[i : i + step])
            except (BrokenPipeError, ConnectionResetError):
                break  # the server closed on an earlier error: fine
        if half_close:
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        got = b""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = s.recv(65536)
            except socket.timeout:
                return got, False
            except ConnectionResetError:
                return got, True
            if not chunk:
                return got, True
            got += chunk
        return got, False
    finally:
        s.close()


def ping(port):
    s = connect(port)
    try:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        got = b""
        while not got.endswith(b"\r\n"):
            chunk = s.recv(100)
            if not chunk:
                break
            got += chunk
        return got
    finally:
        s.close()


def main():
    port = int(sys.argv[1])
    pid = int(sys.argv[sys.argv.index("--pid") + 1]) if "--pid" in sys.argv else None
    loose = "--loose" in sys.argv
    rng = random.Random(20261205)
    garbage = bytes(rng.randrange(256) for _ in range(200000))
    # (name, bytes, the reply's start or None for "an error or a close")
    cases = [
        ("multibulk count not a number", b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length"),
        ("multibulk count too big", b"*99999999\r\n", b"-ERR Protocol error: invalid multibulk length"),
        ("multibulk count overflows", b"*99999999999999999999999\r\n", b"-ERR Protocol error: invalid multibulk length"),
        ("bulk length negative", b"*1\r\n$-5\r\n", b"-ERR Protocol error: invalid bulk length"),
        ("bulk length past 512 MB", b"*1\r\n$536870913\r\n", b"-ERR Protocol error: invalid bulk length"),
        ("bulk length not a number", b"*1\r\n$4x\r\nPING\r\n", b"-ERR Protocol error: invalid bulk length"),
        ("nested array", b"*2\r\n*1\r\n$1\r\na\r\n", b"-ERR Protocol error: expected '$', got '*'"),
        ("integer instead of bulk", b"*1\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'"),
        ("binary byte instead of bulk", b"*1\r\n\x00\r\n", None),
        ("count line without end", b"*" + b"1" * 70000, b"-ERR Protocol error: too big mbulk count string"),
        ("bulk line without end", b"*1\r\n$" + b"9" * 70000, b"-ERR Protocol error: too big bulk count string"),
        ("inline line without end", b"A" * 70000, b"-ERR Protocol error: too big inline request"),
        ("bulk without its CRLF", b"*1\r\n$4\r\nPINGxx", None),
        ("truncated request", b"*3\r\n$3\r\nSET\r\n$1\r\nk", b""),
        ("truncated bulk", b"*2\r\n$4\r\nECHO\r\n$100\r\nonly a few bytes", b""),
        ("512 MB declared, 3 bytes sent", b"*1\r\n$536870912\r\nabc", b""),
        ("a million arguments declared", b"*1048576\r\n$1\r\na\r\n", b""),
        ("binary garbage", garbage, None),
        ("garbage without newlines", bytes(b for b in garbage if b not in (10, 13))[:100000], None),
        ("CR without LF", b"*1\r$4\rPING\r", None),
        ("empty arrays skipped", b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", b"+PONG\r\n"),
        ("byte by byte", b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n", b"$5\r\nhello\r\n"),
    ]
    failures = 0
    rss0 = rss_kib(pid) if pid else 0
    for name, data, want in cases:
        pieces = len(data) if name == "byte by byte" else 1
        got, closed = exchange(port, data, pieces=pieces)
        if want is None:  # some error reply (or none), and a close
            ok = closed and (loose or got == b"" or got.startswith(b"-"))
        elif want.startswith(b"-"):  # this error, and a close
            # (--loose: Redis itself is lenient in places, e.g. a missing CRLF)
            ok = closed and (loose or got.startswith(want))
        elif want == b"":  # no reply: the server closes at the end of the input
            ok = closed and got == b""
        else:  # served: the reply, and a close after the half-close
            ok = closed and got == want
        after = ping(port)
        status = "ok" if ok and after == b"+PONG\r\n" else "FAIL"
        if status == "FAIL":
            failures += 1
        print(f"{status}: {name}: got {got[:70]!r}{' closed' if closed else ' still open'}; "
              f"then a fresh client's PING: {after!r}")
    # A client that vanishes mid-reply: a 4 MiB value asked for 32 times,
    # then the socket is reset without reading (SO_LINGER 0).
    s = connect(port)
    s.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$4194304\r\n" + b"x" * 4194304 + b"\r\n")
    s.recv(5)
    s.sendall(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 32)
    time.sleep(0.05)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    after = ping(port)
    ok = after == b"+PONG\r\n"
    print(f"{'ok' if ok else 'FAIL'}: a client reset mid-reply; then a fresh client's PING: {after!r}")
    failures += not ok
    if pid:
        grew = rss_kib(pid) - rss0
        # the cases declared 512 MB and a million arguments; the 4 MiB value
        # and the buffers of the last client may stay
        ok = grew < 96 * 1024
        print(f"{'ok' if ok else 'FAIL'}: the server's memory grew by {grew} KiB")
        failures += not ok
        alive = os.path.exists(f"/proc/{pid}")
        print(f"{'ok' if alive else 'FAIL'}: the server still runs")
        failures += not alive
    print(f"{failures} failed" if failures else "all cases passed")
    sys.exit(1 if failures else 0)


main()
