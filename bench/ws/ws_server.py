"""The WebSocket benchmark's server in Python, for bench/ws/run.sh: the
same two routes as aioc_ws_server.c, written the usual way with aiohttp
or with websockets (Debian's python3-aiohttp, python3-websockets), on
asyncio or uvloop (python3-uvloop).

    /usr/bin/python3 ws_server.py aiohttp|websockets [--uvloop] [PORT [CERT KEY]]

/echo sends every message back (text as text, binary as binary);
/broadcast sends every message from any client to every client connected
to /broadcast, the sender included: aiohttp awaits send_str/send_bytes to
each client in turn (a send waits only when that client's transport is
over its high-water mark: nothing is dropped); websockets has
websockets.broadcast(), which writes to every open connection without
waiting (nothing dropped either: a slow client's buffer grows). Prints
"READY port=P pid=N" once it listens on 127.0.0.1 and serves until killed.
"""
import asyncio
import os
import ssl
import sys


def tls_context(argv):
    if len(argv) < 3:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(argv[1], argv[2])
    return ctx


def ready(port):
    print(f"READY port={port} pid={os.getpid()}", flush=True)


async def serve_aiohttp(argv):
    from aiohttp import web, WSMsgType

    clients = set()

    async def echo(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    async def broadcast(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        clients.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    for c in list(clients):
                        await c.send_str(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    for c in list(clients):
                        await c.send_bytes(msg.data)
        finally:
            clients.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/echo", echo)
    app.router.add_get("/broadcast", broadcast)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(argv[0]), ssl_context=tls_context(argv),
                       backlog=1024)
    await site.start()
    ready(site._server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


async def serve_websockets(argv):
    import websockets

    clients = set()

    async def handler(ws, path):
        if path == "/echo":
            async for msg in ws:
                await ws.send(msg)
        elif path == "/broadcast":
            clients.add(ws)
            try:
                async for msg in ws:
                    websockets.broadcast(clients, msg)
            finally:
                clients.discard(ws)

    server = await websockets.serve(handler, "127.0.0.1", int(argv[0]), ssl=tls_context(argv),
                                    compression=None, backlog=1024)
    ready(server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


def main():
    args = sys.argv[1:]
    if not args or args[0] not in ("aiohttp", "websockets"):
        sys.exit("usage: ws_server.py aiohttp|websockets [--uvloop] [PORT [CERT KEY]]")
    lib, args = args[0], args[1:]
    if args and args[0] == "--uvloop":
        import uvloop
        uvloop.install()
        args = args[1:]
    if not args:
        args = ["0"]
    asyncio.run(serve_aiohttp(args) if lib == "aiohttp" else serve_websockets(args))


if __name__ == "__main__":
    main()
