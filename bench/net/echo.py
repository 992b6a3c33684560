"""echo (asyncio / uvloop): a TCP echo server, either with streams
(asyncio.start_server, a handler coroutine per connection reading up to
4 KiB and writing it back, then drain) or with a Protocol (data_received
writes straight to the transport).

    /usr/bin/python3 echo.py asyncio|uvloop streams|protocol [PORT]

Listens on 127.0.0.1:PORT (default 0: any free port), prints
"READY port=P pid=N" and serves until killed. bench/net/run.sh drives it
with loadgen as the other servers. Backlog 511, as the C servers'."""
import asyncio
import os
import sys


async def handle(reader, writer):
    try:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    writer.close()


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(kind, port):
    if kind == "streams":
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=511)
    else:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", port, backlog=511)
    port = server.sockets[0].getsockname()[1]
    print(f"READY port={port} pid={os.getpid()}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("asyncio", "uvloop") \
            or sys.argv[2] not in ("streams", "protocol"):
        sys.exit(f"usage: {sys.argv[0]} asyncio|uvloop streams|protocol [PORT]")
    if sys.argv[1] == "uvloop":
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(main(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0))
