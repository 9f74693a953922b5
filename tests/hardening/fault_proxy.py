"""A fault-injecting HTTP proxy for an OpenAI-compatible server, on loopback, deterministic by seed.

For a share of requests (``fault_rate``) it answers by itself instead of forwarding: ``429`` with a
``retry-after-ms`` header, ``500``, a hang until the client gives up (a timeout), or a malformed
``200`` body (truncated JSON, or JSON of the wrong shape). Which request gets which fault depends only
on the seed, the request body and how many times that body was seen, so a run is reproducible
whatever order concurrent requests arrive in. Every request is logged with its outcome, so a test can
check what the client made of each one.

Standard library asyncio streams only (HTTP/1.1, one request per connection, ``Connection: close``);
forwarding uses httpx.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

FAULTS = ("rate_limited", "server_error", "timeout", "malformed_truncated", "malformed_shape")


@dataclass
class Event:
    """One request the proxy saw: its body's identity, the n-th time that body came, what it did."""

    body_key: str
    user: str | None  # the last user message (or completion prompt), to match a result row
    seen: int
    outcome: str  # "forwarded", "forwarded_undelivered" (the client timed out first), or one of FAULTS


@dataclass
class FaultProxy:
    """Run with ``with FaultProxy(upstream) as proxy:``; ``proxy.base_url`` replaces the server's."""

    upstream: str  # e.g. http://127.0.0.1:8000 (no /v1)
    seed: int = 0
    fault_rate: float = 0.3
    hang_s: float = 30.0
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- deterministic choice --------------------------------------------------------------------
    def choose(self, identity: bytes, seen: int) -> str:
        """The outcome for the ``seen``-th arrival of a request (``identity``: its user text, else its body)."""
        digest = hashlib.sha256(f"{self.seed}:{seen}:".encode() + identity).digest()
        if int.from_bytes(digest[:4], "big") / 2**32 >= self.fault_rate:
            return "forwarded"
        return FAULTS[digest[4] % len(FAULTS)]

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._client = httpx.AsyncClient(base_url=self.upstream, timeout=120)
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            self._server.close()
            await self._client.aclose()

    # -- one connection --------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if method != "POST":
                status, out_headers, payload = await self._forward(method, path, headers, body)
                await self._reply(writer, status, out_headers, payload)
                return
            key = hashlib.sha256(body).hexdigest()
            with self._lock:
                self._seen[key] += 1
                seen = self._seen[key]
            user = _user_text(body)
            outcome = self.choose(user.encode() if user is not None else body, seen)
            self.events.append(Event(key, user, seen, outcome))
            if outcome == "forwarded":
                event = self.events[-1]
                forward = asyncio.ensure_future(self._forward(method, path, headers, body))
                hangup = asyncio.ensure_future(reader.read(1))  # EOF: the client gave up waiting
                await asyncio.wait({forward, hangup}, return_when=asyncio.FIRST_COMPLETED)
                status, out_headers, payload = await forward
                if hangup.done():
                    event.outcome = "forwarded_undelivered"  # the server worked, the client never saw it
                    return
                hangup.cancel()
                if status != 200:  # the upstream itself failed: log it as what it was
                    event.outcome = f"upstream_{status}"
                await self._reply(writer, status, out_headers, payload)
            elif outcome == "rate_limited":
                await self._reply(writer, 429, {"retry-after-ms": "50", "retry-after": "1"},
                                  b'{"error": {"message": "slow down", "type": "rate_limit_error"}}')
            elif outcome == "server_error":
                await self._reply(writer, 500, {}, b'{"error": {"message": "boom", "type": "server_error"}}')
            elif outcome == "timeout":
                try:  # hang until the client gives up and closes the connection
                    await asyncio.wait_for(reader.read(1), self.hang_s)
                except asyncio.TimeoutError:
                    pass
            elif outcome == "malformed_truncated":
                await self._reply(writer, 200, {}, b'{"id": "cmpl-1", "object": "chat.completion", "choices": [{"ind')
            else:  # malformed_shape: valid JSON, not a completion
                await self._reply(writer, 200, {}, b'{"id": "cmpl-1", "result": "ok", "choices": "none"}')
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass

    async def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes
                       ) -> tuple[int, dict[str, str], bytes]:
        keep = {k: v for k, v in headers.items() if k in ("content-type", "authorization", "accept")}
        response = await self._client.request(method, path, headers=keep, content=body)
        return response.status_code, {"content-type": response.headers.get("content-type", "application/json")}, \
            response.content

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, headers: dict[str, str], payload: bytes) -> None:
        reason = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error"}.get(status, "Status")
        out = {"content-type": "application/json", **headers, "content-length": str(len(payload)),
               "connection": "close"}
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in out.items()) + "\r\n"
        writer.write(head.encode("latin-1") + payload)
        await writer.drain()


def _user_text(body: bytes) -> str | None:
    try:
        data: Any = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        users = [m.get("content") for m in data["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else None
    return data.get("prompt") if isinstance(data, dict) else None
