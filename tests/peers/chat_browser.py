"""A real browser in the chat: headless Chromium opens the page that
examples/chat.c serves, and is driven as a person would drive it (keys
typed into the input, Enter), through the DevTools protocol, while TCP
clients share the room. What the person would see is read back from the
page's DOM.

    chat_browser.py CHROMIUM TCP_PORT WEB_PORT SERVER_PID OUT_DIR

Checks, each with a generous bound (a busy machine, a sanitized server):
  - the page loads and asks for a nickname; the browser joins as web1,
    a TCP client (tcp1) sees it join, the online list shows both;
  - a line typed in the browser (with Korean text) reaches tcp1 byte for
    byte, and shows in the browser's own log;
  - tcp1's line shows in the browser, with markup shown as text, not run;
  - a second TCP client joining and leaving updates the online list;
  - /who typed in the browser lists everyone;
  - Ctrl-C to the server: the page shows the shutdown notice and the
    close code 1001 with its reason.
A screenshot of the page (chat-page.png) is left in OUT_DIR, and the
page's log is printed as the browser showed it (make demo shows both).
Exits 0 when all hold, else prints what failed and exits 1. Needs Debian's python3 with
python3-websockets (the DevTools protocol is JSON over a WebSocket).
"""
import asyncio
import base64
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import websockets

BOUND = 60.0  # seconds any one expected change may take


class Browser:
    """Chromium's DevTools protocol: commands to one page's session."""

    def __init__(self, ws, session):
        self.ws, self.session = ws, session
        self.ids = itertools.count(1)
        self.replies = {}

    @classmethod
    async def open(cls, ws, url):
        b = cls(ws, None)
        target = await b.call("Target.createTarget", url="about:blank")
        attached = await b.call("Target.attachToTarget", targetId=target["targetId"],
                                flatten=True)
        b.session = attached["sessionId"]
        await b.call("Page.enable")
        await b.call("Page.navigate", url=url)
        return b

    async def call(self, method, **params):
        msg_id = next(self.ids)
        msg = {"id": msg_id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        await self.ws.send(json.dumps(msg))
        while True:  # events come between replies: skipped
            reply = json.loads(await self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    async def js(self, expression):
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def until(self, expression, what):
        """Waits until the page's `expression` is true."""
        deadline = time.monotonic() + BOUND
        while not await self.js(expression):
            if time.monotonic() > deadline:
                raise AssertionError(f"the page never showed {what}; its log:\n" +
                                     "\n".join(await self.log()))
            await asyncio.sleep(0.05)

    async def log(self):
        return await self.js("[...document.querySelectorAll('#log li')].map(li => li.textContent)")

    async def online(self):
        return await self.js("[...document.querySelectorAll('#online li')].map(li => li.textContent)")

    async def type_line(self, text):
        """Types `text` into the input, as keys would, and presses Enter."""
        await self.js("document.getElementById('input').focus()")
        await self.call("Input.insertText", text=text)
        for kind in ("keyDown", "keyUp"):
            await self.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                            windowsVirtualKeyCode=13, nativeVirtualKeyCode=13,
                            **({"text": "\r"} if kind == "keyDown" else {}))


def has_line(text):
    return f"(() => [...document.querySelectorAll('#log li')].some(li => li.textContent === {json.dumps(text)}))()"


def online_is(names):
    return (f"(() => JSON.stringify([...document.querySelectorAll('#online li')]"
            f".map(li => li.textContent)) === {json.dumps(json.dumps(names, ensure_ascii=False, separators=(',', ':')))})()")


class Tcp:
    """A chat client on TCP, as socat would be."""

    @classmethod
    async def join(cls, port, nick):
        c = cls()
        c.nick = nick
        c.r, c.w = await asyncio.open_connection("127.0.0.1", port)
        await c.expect("* nickname?")
        c.w.write(nick.encode() + b"\n")
        line = await c.line()
        assert line.startswith(f"* welcome, {nick}:"), line
        return c

    async def line(self):
        raw = await asyncio.wait_for(self.r.readline(), BOUND)
        assert raw.endswith(b"\n"), f"{self.nick}: connection ended: {raw!r}"
        return raw[:-1].decode("utf-8")

    async def expect(self, want):
        got = await self.line()
        assert got == want, f"{getattr(self, 'nick', '?')} got {got!r}, wanted {want!r}"

    def say(self, text):
        self.w.write(text.encode("utf-8") + b"\n")


async def check(chromium, port, web_port, server_pid, out_dir):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=out_dir)
    proc = subprocess.Popen(
        [chromium, "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "--window-size=900,600", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        # "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID"
        url = None
        deadline = time.monotonic() + BOUND
        loop = asyncio.get_running_loop()
        while url is None:
            line = await asyncio.wait_for(loop.run_in_executor(None, proc.stderr.readline),
                                          max(0.1, deadline - time.monotonic()))
            if not line:
                raise AssertionError("Chromium ended before its DevTools endpoint was up")
            m = re.search(rb"DevTools listening on (ws://\S+)", line)
            url = m and m.group(1).decode()
        async with websockets.connect(url, max_size=None) as ws:
            tcp1 = await Tcp.join(port, "tcp1")
            page = await Browser.open(ws, f"http://127.0.0.1:{web_port}/")
            await page.until(has_line("* nickname?"), "the nickname question")

            await page.type_line("web1")
            await page.until(has_line("* welcome, web1: 2 online (/who, /quit)"), "the welcome")
            await tcp1.expect("* web1 joined")
            await page.until(online_is(["tcp1", "web1 (you)"]), "tcp1 and web1 online")

            said = "hello from the browser, 안녕하세요"
            await page.type_line(said)
            await tcp1.expect(f"web1: {said}")
            await page.until(has_line(f"web1: {said}"), "its own line")

            tcp1.say("hello from tcp <b>not bold</b>")
            await page.until(has_line("tcp1: hello from tcp <b>not bold</b>"), "tcp1's line")
            assert await page.js("document.querySelectorAll('#log b').length") == 0, \
                "markup from a TCP client became HTML"

            tcp2 = await Tcp.join(port, "tcp2")
            await page.until(online_is(["tcp1", "tcp2", "web1 (you)"]), "tcp2 online")
            await tcp1.expect("* tcp2 joined")
            tcp2.say("/quit")
            await tcp2.expect("* bye")
            await page.until(has_line("* tcp2 left"), "tcp2 leaving")
            await page.until(online_is(["tcp1", "web1 (you)"]), "tcp2 gone from the list")
            await tcp1.expect("* tcp2 left")

            await page.type_line("/who")
            await page.until(has_line("* online: tcp1 web1"), "the answer to /who")

            shot = await page.call("Page.captureScreenshot", format="png")
            with open(os.path.join(out_dir, "chat-page.png"), "wb") as f:
                f.write(base64.b64decode(shot["data"]))

            os.kill(server_pid, signal.SIGINT)  # Ctrl-C
            await page.until(has_line("* the server is shutting down"), "the shutdown notice")
            await page.until(has_line("* disconnected (1001: the server is shutting down)"),
                             "the close code 1001 and its reason")
            await tcp1.expect("* the server is shutting down")
            tcp1.w.close()
            for line in await page.log():
                print(f"  page: {line}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def main():
    chromium, port, web_port, server_pid, out_dir = sys.argv[1:6]
    try:
        asyncio.run(check(chromium, int(port), int(web_port), int(server_pid), out_dir))
    except (AssertionError, RuntimeError, asyncio.TimeoutError, OSError) as e:
        print(f"chat_browser: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print("chat_browser: the browser chatted with TCP clients")


if __name__ == "__main__":
    main()
