"""chat.py: examples/chat.c's chat server written the usual asyncio way,
for bench/chat/run.sh.

    /usr/bin/python3 chat.py [--uvloop] [PORT]

The same line protocol as examples/chat.c: the greeting "* nickname?", a
nickname of 1 to 16 letters, digits, '-' or '_' that is not taken,
"* NICK joined" to the others and "* welcome, NICK: N online (/who,
/quit)" to the newcomer, every further line sent to all the others as
"NICK: text", "/who", "/quit", "* NICK left". Empty lines are ignored,
control characters become '?', a line longer than 1024 bytes ends the
session, a last line without its newline is dropped.

How: asyncio.start_server and one coroutine per client, reading lines
with StreamReader.readline. A line is broadcast by writer.write() to
every other client: the transport sends it at once when nothing waits in
its buffer and keeps what the socket does not take, so a client's lines
gather there while it reads slowly. A client whose transport holds more
than BUFFER_LIMIT bytes has stopped reading: its connection is aborted
and the others see "* NICK was too slow". What a client is told itself
(the welcome, /who) is followed by a drain of its own writer, and so is
each line it sends, so a client that does not read what it is sent is
itself read more slowly.

Listens on 127.0.0.1:PORT (default 0: any free port), prints "listening
on 127.0.0.1:PORT" as the C server does, and serves until killed (Ctrl-C
tells everyone the server is shutting down). --uvloop runs it on uvloop
(Debian's python3-uvloop)."""
import asyncio
import os
import re
import signal
import sys

MAX_NICK = 16
MAX_LINE = 1024  # bytes of a line from a client, newline included
BUFFER_LIMIT = 1 << 20  # bytes a transport may hold for a client: too slow
LINGER = 2.0  # seconds a leaving client has to take what is buffered

NICK = re.compile(rb"[A-Za-z0-9_-]{1,%d}" % MAX_NICK)
# control characters become '?': no terminal escapes for the others
PRINTABLE = bytes(63 if b < 32 or b == 127 else b for b in range(256))


class Client:
    __slots__ = ("nick", "writer", "kicked")

    def __init__(self, nick, writer):
        self.nick = nick
        self.writer = writer
        self.kicked = False


room = {}  # nickname (bytes) -> Client, everyone who has joined


def send_to(client, data):
    """Writes `data` to `client` without waiting, or drops the client if
    its transport already holds more than BUFFER_LIMIT bytes."""
    if client.kicked:
        return
    transport = client.writer.transport
    if transport.get_write_buffer_size() > BUFFER_LIMIT:
        client.kicked = True
        transport.abort()  # its coroutine sees the end and leaves the room
        return
    client.writer.write(data)


def broadcast(data, sender=None):
    for client in list(room.values()):  # send_to never suspends, but may drop
        if client is not sender:
            send_to(client, data)


async def read_line(reader, writer):
    """The next line without its end of line, printable; None once the
    client is gone (end of stream, an error, a last line without newline,
    or a line too long, which the client is told)."""
    try:
        line = await reader.readline()
    except ValueError:  # past the reader's 64 KiB limit
        line = b"x" * (MAX_LINE + 1)
    except ConnectionError:
        return None
    if len(line) > MAX_LINE:
        writer.write(b"* lines are at most %d bytes: bye\n" % MAX_LINE)
        return None
    if not line.endswith(b"\n"):
        return None
    line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    return line.translate(PRINTABLE)


async def choose_nick(reader, writer):
    """Asks until the client gives a valid, free nickname; None if it went
    away first."""
    writer.write(b"* nickname?\n")
    while True:
        nick = await read_line(reader, writer)
        if nick is None:
            return None
        if not NICK.fullmatch(nick):
            writer.write(b"* a nickname is 1 to %d letters, digits, - or _; "
                         b"nickname?\n" % MAX_NICK)
        elif nick in room:
            writer.write(b"* %s is taken; nickname?\n" % nick)
        else:
            return nick


async def talk(client, reader):
    """Relays the client's lines until it leaves; returns how it left."""
    writer = client.writer
    while True:
        text = await read_line(reader, writer)
        if text is None:
            return b"was too slow" if client.kicked else b"left"
        if not text:
            continue
        if text == b"/quit":
            send_to(client, b"* bye\n")
            return b"left"
        if text == b"/who":
            send_to(client, b"* online: %s\n" % b" ".join(room))
        elif text.startswith(b"/"):
            send_to(client, b"* unknown command; try /who or /quit\n")
        else:
            broadcast(b"%s: %s\n" % (client.nick, text), client)
        try:
            await writer.drain()
        except ConnectionError:
            return b"was too slow" if client.kicked else b"left"


async def session(reader, writer):
    try:
        nick = await choose_nick(reader, writer)
        if nick is not None:
            broadcast(b"* %s joined\n" % nick)
            client = room[nick] = Client(nick, writer)
            send_to(client, b"* welcome, %s: %d online (/who, /quit)\n" % (nick, len(room)))
            try:
                how = await talk(client, reader)
            finally:
                del room[nick]
            broadcast(b"* %s %s\n" % (nick, how))
    finally:
        # close() sends what is buffered first; a client that does not take
        # it within LINGER seconds is cut off
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), LINGER)
        except (asyncio.TimeoutError, ConnectionError):
            writer.transport.abort()


async def main(port):
    server = await asyncio.start_server(session, "127.0.0.1", port, backlog=511)
    print("listening on 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    try:
        await server.serve_forever()
    except asyncio.CancelledError:  # Ctrl-C
        broadcast(b"* the server is shutting down\n")
        raise


if __name__ == "__main__":
    args = sys.argv[1:]
    use_uvloop = "--uvloop" in args
    args = [a for a in args if a != "--uvloop"]
    if len(args) > 1 or (args and not args[0].isdigit()):
        sys.exit(f"usage: {sys.argv[0]} [--uvloop] [PORT]")
    if use_uvloop:
        import uvloop
        uvloop.install()
    try:
        asyncio.run(main(int(args[0]) if args else 0))
    except KeyboardInterrupt:  # end by SIGINT, as the C server does
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
