"""The chat's WebSocket endpoint (examples/chat.c, /ws) against Python's
websockets library, with TCP clients in the same room.

    chat_ws.py TCP_PORT WEB_PORT

Checks:
  - the handshake: a page of another origin is refused (403), the page's
    own origin and clients that send no Origin are let in, a GET without
    the upgrade gets a 4xx; permessage-deflate is agreed (websockets
    offers it);
  - nicknames over WebSocket follow the same rules as on TCP;
  - 300 numbered lines from one WebSocket client reach another WebSocket
    client and a TCP client, in order, once; a TCP client's lines reach
    the WebSocket clients;
  - binary messages are not lines (nothing is said); a message over the
    line limit closes with 1009 and the others see its sender leave;
  - a WebSocket client that vanishes (its TCP connection reset) leaves.
Exits 0 when all hold, else prints what failed and exits 1.
"""
import asyncio
import http.client
import socket
import struct
import sys

import websockets

BOUND = 60.0
LINES = 300


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), BOUND)


async def expect(ws, want):
    got = await recv(ws)
    assert got == want, f"got {got!r}, wanted {want!r}"


async def ws_join(web_port, nick, **kw):
    ws = await websockets.connect(f"ws://127.0.0.1:{web_port}/ws", **kw)
    await expect(ws, "* nickname?")
    await ws.send(nick)
    got = await recv(ws)
    assert got.startswith(f"* welcome, {nick}:"), got
    return ws


async def tcp_line(r):
    raw = await asyncio.wait_for(r.readline(), BOUND)
    assert raw.endswith(b"\n"), f"TCP client: connection ended: {raw!r}"
    return raw[:-1].decode()


async def check(port, web_port):
    base = f"ws://127.0.0.1:{web_port}/ws"
    # the handshake
    try:
        await websockets.connect(base, origin="http://evil.example")
        raise AssertionError("a page of another origin was let in")
    except websockets.InvalidStatusCode as e:
        assert e.status_code == 403, e.status_code
    same = await websockets.connect(base, origin=f"http://127.0.0.1:{web_port}")
    await expect(same, "* nickname?")
    await same.close()
    conn = http.client.HTTPConnection("127.0.0.1", web_port, timeout=BOUND)
    conn.request("GET", "/ws")
    status = conn.getresponse().status
    assert 400 <= status < 500, f"a GET without the upgrade got {status}"
    conn.close()

    # nicknames
    ws = await websockets.connect(base)
    await expect(ws, "* nickname?")
    await ws.send("not a nick!")
    got = await recv(ws)
    assert got.startswith("* a nickname is 1 to 16"), got
    await ws.close()

    # lines across WebSocket and TCP clients
    r, w = await asyncio.open_connection("127.0.0.1", port)
    assert await tcp_line(r) == "* nickname?"
    w.write(b"tcp1\n")
    assert (await tcp_line(r)).startswith("* welcome, tcp1:")
    w1 = await ws_join(web_port, "w1")
    ext = w1.response_headers.get("Sec-WebSocket-Extensions", "")
    assert "permessage-deflate" in ext, f"no permessage-deflate: {ext!r}"
    assert await tcp_line(r) == "* w1 joined"
    w2 = await ws_join(web_port, "w2")
    await expect(w1, "* w2 joined")
    assert await tcp_line(r) == "* w2 joined"
    for i in range(LINES):
        await w1.send(f"line {i}\n" if i % 2 else f"line {i}")  # an end of line or not
    for i in range(LINES):
        await expect(w2, f"w1: line {i}")
        got = await tcp_line(r)
        assert got == f"w1: line {i}", f"tcp1 got {got!r} for line {i}"
    w.write("from tcp, 한국어\n".encode())
    await expect(w1, "tcp1: from tcp, 한국어")
    await expect(w2, "tcp1: from tcp, 한국어")

    # binary is not a line; a message over the limit closes with 1009
    await w1.send(b"\x00binary")
    await w1.send("after the binary one")
    await expect(w2, "w1: after the binary one")
    assert await tcp_line(r) == "w1: after the binary one"
    await w2.send("x" * 2000)
    try:
        got = await recv(w2)
        raise AssertionError(f"an over-long line was taken: {got!r}")
    except websockets.ConnectionClosed as e:
        assert e.rcvd and e.rcvd.code == 1009, f"closed with {e.rcvd}"
    await expect(w1, "* w2 left")
    assert await tcp_line(r) == "* w2 left"

    # a client that vanishes: its TCP connection reset
    sock = w1.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    w1.transport.abort()
    assert await tcp_line(r) == "* w1 left"
    w.close()


def main():
    port, web_port = int(sys.argv[1]), int(sys.argv[2])
    try:
        asyncio.run(check(port, web_port))
    except (AssertionError, asyncio.TimeoutError, OSError, websockets.WebSocketException) as e:
        print(f"chat_ws: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print("chat_ws: WebSocket and TCP clients share the room")


if __name__ == "__main__":
    main()
