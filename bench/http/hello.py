"""hello.py: the HTTP hello-world servers in Python, for bench/http/run.sh.
Every request gets 200 "Hello, World!\\n" as text/plain, with keep-alive.

    python3 hello.py aiohttp [PORT]   aiohttp's web server (access log off)
    python3 hello.py asyncio [PORT]   asyncio.start_server, the request head
                                      read by hand (readuntil CRLF CRLF),
                                      one prepared response written back

The asyncio one understands just enough HTTP for the benchmark: requests
without a body (GET), keep-alive unless the client says
"Connection: close". Prints "READY port=P pid=N" once it listens on
127.0.0.1 (PORT 0, the default: any free one) and serves until killed.
"""
import asyncio
import os
import sys

HELLO = b"Hello, World!\n"


def ready(port):
    print(f"READY port={port} pid={os.getpid()}", flush=True)


async def serve_aiohttp(port):
    from aiohttp import web

    async def hello(request):
        return web.Response(body=HELLO, content_type="text/plain")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=511)
    await site.start()
    ready(site._server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\n\r\n" % len(HELLO)) + HELLO


async def handle(reader, writer):
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                break
            writer.write(RESPONSE)
            await writer.drain()
            if b"\r\nconnection: close" in head.lower() or head.endswith(b"HTTP/1.0\r\n\r\n"):
                break
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve_asyncio(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=511)
    ready(server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    asyncio.run({"aiohttp": serve_aiohttp, "asyncio": serve_asyncio}[kind](port))


if __name__ == "__main__":
    main()
