# Python's websockets (Debian's python3-websockets) as a client of aioc's
# WebSocket server (test_ws.c's python_client): argv[1] is the URL. Prints
# one line per check; the test compares the whole output.
import asyncio
import sys

import websockets


async def main(url):
    async with websockets.connect(url, subprotocols=["chat"], max_size=2**21) as ws:
        print("extensions", ",".join(e.name for e in ws.extensions))
        print("subprotocol", ws.subprotocol)
        for msg in ["hello", "h\u00e9llo \u20ac \U0001f600", b"\x00\x01\x02\xff", ""]:
            await ws.send(msg)
            print("echo", await ws.recv() == msg)
        big = bytes((i * 7 + (i >> 9)) & 0xFF for i in range(1 << 20))[:-64]
        await ws.send(big)
        print("1 MiB", await ws.recv() == big)
        # a fragmented message, with a ping in the middle of it
        async def fragments():
            yield "one "
            yield "two "
            await ws.ping(b"in between")
            yield "three"
        await ws.send(fragments())
        print("fragments", await ws.recv())
        pong = await ws.ping(b"ping data")
        await asyncio.wait_for(pong, 10)
        print("pong", True)
        await ws.close(code=4000, reason="python says bye")
        print("closed", ws.close_code, ws.close_reason)
    # the server closes, with a code of its own
    async with websockets.connect(url) as ws:
        await ws.send("close:1001")
        try:
            await ws.recv()
        except websockets.ConnectionClosedOK as e:
            print("server closed", e.rcvd.code, e.rcvd.reason)
    # no compression offered: none used
    async with websockets.connect(url, compression=None) as ws:
        await ws.send("plain")
        print("uncompressed", await ws.recv(), len(ws.extensions))


asyncio.run(main(sys.argv[1]))
