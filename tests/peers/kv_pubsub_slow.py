#!/usr/bin/env python3
"""A subscriber that never reads must be dropped, not slow the others down
or make the server's memory grow without bound. Python's stdlib only.

    kv_pubsub_slow.py PORT [COUNT [SIZE]]

Two subscribers on one channel: one reads everything, the other never
reads (a small receive buffer). A publisher sends COUNT messages of SIZE
bytes (default 4,000 x 4 KiB: 16 MB, past a server started with a 1 MiB
--pubsub-limit), never more than 100 ahead of the reader. Checks that the reader gets every message, in order; that
PUBLISH counts 2 receivers at first and 1 by the end (the slow one was
dropped); and that the slow one's connection was closed by the server."""
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
port = int(sys.argv[1])
count = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
size = int(sys.argv[3]) if len(sys.argv) > 3 else 4096


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def subscribe(rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(60)
    s.connect((HOST, port))
    s.sendall(cmd("SUBSCRIBE", "ch"))
    want = b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
    got = b""
    while len(got) < len(want):
        got += s.recv(len(want) - len(got))
    assert got == want, got
    return s


def payload(i):
    return (b"%08d" % i) + b"x" * (size - 8)


def message(i):
    p = payload(i)
    return b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$%d\r\n%s\r\n" % (len(p), p)


slow = subscribe(rcvbuf=4096)
reader = subscribe()
received = bytearray()
def read_all():
    total = len(message(0)) * count
    while len(received) < total:
        chunk = reader.recv(1 << 20)
        if not chunk:
            break
        received.extend(chunk)
t = threading.Thread(target=read_all, daemon=True)
t.start()

pub = socket.create_connection((HOST, port), timeout=60)
replies = []
buf = b""
batch = 50
window = 100  # messages the reader may be behind: with a batch, well under 1 MiB
msglen = len(message(0))
for start in range(0, count, batch):
    n = min(batch, count - start)
    # The publisher keeps pace with the reader (only the slow subscriber is
    # to fall behind); a reader that stops for 60 s fails the test.
    last, moved = len(received), time.monotonic()
    while len(received) < (start - window) * msglen and t.is_alive():
        if len(received) != last:
            last, moved = len(received), time.monotonic()
        elif time.monotonic() - moved > 60:
            break
        time.sleep(0.001)
    pub.sendall(b"".join(cmd("PUBLISH", "ch", payload(i)) for i in range(start, start + n)))
    while buf.count(b"\r\n") < n:
        chunk = pub.recv(65536)
        assert chunk, "the publisher's connection closed"
        buf += chunk
    lines = buf.split(b"\r\n")
    replies += [int(x[1:]) for x in lines[:n]]
    buf = b"\r\n".join(lines[n:])
t.join(60)
failures = []
if t.is_alive() or len(received) != len(message(0)) * count:
    failures.append(f"the reader got {len(received)} bytes of {len(message(0)) * count}")
elif bytes(received) != b"".join(message(i) for i in range(count)):
    failures.append("the reader's messages differ from what was published")
if replies[0] != 2 or replies[-1] != 1:
    failures.append(f"PUBLISH counted {replies[0]} receivers first, {replies[-1]} last (want 2, 1)")
# the slow one: the server closed it (after what the kernel buffered)
slow.settimeout(30)
closed = False
try:
    while True:
        if not slow.recv(1 << 20):
            closed = True
            break
except ConnectionResetError:
    closed = True
except socket.timeout:
    pass
if not closed:
    failures.append("the slow subscriber's connection was not closed")
drop_at = replies.index(1) if 1 in replies else -1
print(f"{count} messages of {size} bytes: the reader got all {len(received)} bytes; "
      f"the slow subscriber was dropped at message {drop_at}")
for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
