# Python's websockets (Debian's python3-websockets) as the server of aioc's
# WebSocket client (test_ws.c's python_server). Prints its port, then
# serves until its stdin ends: echoes messages; "close:CODE" closes with
# CODE; "ext?" answers with the connection's extensions and subprotocol;
# "frag?" answers with a fragmented message; "ping?" sends a ping first.
import asyncio
import sys

import websockets


async def handler(ws):
    try:
        await serve(ws)
    except websockets.ConnectionClosed:
        pass  # a close code other than 1000 and 1001 ends the loop this way


async def serve(ws):
    async for msg in ws:
        if msg == "ext?":
            names = ",".join(e.name for e in ws.extensions)
            await ws.send(f"{names};{ws.subprotocol}")
        elif msg == "frag?":
            await ws.send(["frag", "men", "ted"])
        elif msg == "ping?":
            await ws.ping(b"from python")
            await ws.send("pinged")
        elif isinstance(msg, str) and msg.startswith("close:"):
            await ws.close(code=int(msg[6:]), reason="python closes")
        else:
            await ws.send(msg)


async def main():
    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["chat"],
                                max_size=2**21) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


asyncio.run(main())
