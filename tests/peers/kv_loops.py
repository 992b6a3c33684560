#!/usr/bin/env python3
"""kv on several loops is one keyspace. Python's stdlib only.

    kv_loops.py PORT

Opens connections until it has some on loop 0 and some on loop 1 (CLIENT
INFO's loop= field; the kernel spreads them, SO_REUSEPORT), then checks,
across loops:
  - a SET on one connection is seen by a GET on every other, both ways;
  - a batch of 20,000 pipelined requests on a loop-1 connection gets its
    replies in order;
  - WATCH on one loop, a write from the other: EXEC aborts;
  - MULTI/EXEC is atomic: a reader on the other loop, polling all the
    while, only ever sees the counter at a multiple of the transaction's
    1,000 INCRs;
  - PUBLISH from either loop reaches subscribers on both, every message,
    in order, with the right receiver count."""
import socket
import sys
import threading

HOST = "127.0.0.1"
port = int(sys.argv[1])


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self):
        self.s = socket.create_connection((HOST, port), timeout=60)
        self.buf = b""
        info = self.call("CLIENT", "INFO").decode()
        self.loop = int(info.split("loop=")[1].split()[0])

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return Exception(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError("bad reply %r" % line)

    def send(self, *args):
        self.s.sendall(cmd(*args))

    def call(self, *args):
        self.send(*args)
        return self.reply()

    def close(self):
        self.s.close()


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


# connections on both loops (the kernel's hash: all on one loop after
# 400 connections has a probability of about 2**-400)
on = {0: [], 1: []}
extra = []
for _ in range(400):
    c = Conn()
    check(c.loop in on, "CLIENT INFO: loop=%d" % c.loop)
    if len(on[c.loop]) < 3:
        on[c.loop].append(c)
    else:
        extra.append(c)
    if len(on[0]) == 3 and len(on[1]) == 3:
        break
check(len(on[0]) == 3 and len(on[1]) == 3, "400 connections did not land on both loops")
for c in extra:
    c.close()
conns = on[0] + on[1]
print("connections on loop 0 and loop 1")

# a SET on one connection, seen by every other
for i, writer in enumerate(conns):
    check(writer.call("SET", "key%d" % i, "from loop %d" % writer.loop) == "OK", "SET")
    for reader in conns:
        got = reader.call("GET", "key%d" % i)
        check(got == b"from loop %d" % writer.loop,
              "GET on loop %d after SET on loop %d: %r" % (reader.loop, writer.loop, got))
print("SETs seen by GETs on both loops")

# pipelined replies in order, on a connection of loop 1
c = on[1][0]
batch = b"".join(cmd("SET", "p%d" % i, i) + cmd("GET", "p%d" % i) for i in range(10000))
c.s.sendall(batch)
for i in range(10000):
    check(c.reply() == "OK", "pipelined SET %d" % i)
    check(c.reply() == b"%d" % i, "pipelined GET %d out of order" % i)
print("20,000 pipelined requests answered in order on loop 1")

# WATCH on loop 0, a write from loop 1: EXEC aborts
a, b = on[0][0], on[1][0]
check(a.call("WATCH", "w") == "OK", "WATCH")
check(b.call("SET", "w", "changed") == "OK", "SET w")
check(a.call("MULTI") == "OK", "MULTI")
check(a.call("SET", "w", "mine") == "QUEUED", "queued")
check(a.call("EXEC") is None, "EXEC after a write from the other loop did not abort")
check(b.call("GET", "w") == b"changed", "GET w")
print("WATCH sees a write from the other loop")

# MULTI/EXEC atomic as seen from the other loop
for writer, reader in ((on[0][1], on[1][1]), (on[1][1], on[0][1])):
    reader.call("DEL", "atomic")
    seen = []
    done = threading.Event()

    def poll():
        while not done.is_set():
            v = reader.call("GET", "atomic")
            seen.append(0 if v is None else int(v))

    t = threading.Thread(target=poll)
    t.start()
    for _ in range(5):
        writer.s.sendall(cmd("MULTI") + cmd("INCR", "atomic") * 1000 + cmd("EXEC"))
        check(writer.reply() == "OK", "MULTI")
        for _ in range(1000):
            check(writer.reply() == "QUEUED", "INCR queued")
        r = writer.reply()
        check(isinstance(r, list) and len(r) == 1000, "EXEC")
    done.set()
    t.join()
    check(all(v % 1000 == 0 for v in seen), "a reader saw a transaction half done: %r"
          % sorted(set(v for v in seen if v % 1000)))
    check(reader.call("GET", "atomic") == b"5000", "5 transactions of 1,000 INCRs")
print("MULTI/EXEC atomic as seen from the other loop")

# PUBLISH from either loop reaches subscribers on both
subs = [on[0][2], on[1][2]]
for s in subs:
    check(s.call("SUBSCRIBE", "ch") == [b"subscribe", b"ch", 1], "SUBSCRIBE")
for pub in (on[0][0], on[1][0]):
    n = 1000
    pub.s.sendall(b"".join(cmd("PUBLISH", "ch", "%d from loop %d" % (i, pub.loop))
                           for i in range(n)))
    for i in range(n):
        got = pub.reply()
        check(got == 2, "PUBLISH %d from loop %d: %r receivers" % (i, pub.loop, got))
    for s in subs:
        for i in range(n):
            got = s.reply()
            check(got == [b"message", b"ch", b"%d from loop %d" % (i, pub.loop)],
                  "subscriber on loop %d, message %d from loop %d: %r" % (s.loop, i, pub.loop, got))
print("PUBLISH from each loop reached the subscribers on both, in order")

for c in conns:
    c.close()
print("ok")
