"""A tiny, fast OpenAI-compatible server on loopback, so the model is never the bottleneck.

Standard library only (``asyncio`` streams would be slower; this is a bare ``asyncio.Protocol`` with
HTTP/1.1 keep-alive). ``POST .../chat/completions`` answers every request with the same label and
filled-in usage (prompt tokens estimated as characters / 4); ``"stream": true`` gets the same answer as
server-sent events. ``GET .../models`` lists the one model. Anything else is a 404.

    python bench/stub_server.py [--port 0] [--label inbound_lead]     # prints the base URL, then serves

:class:`StubServer` starts it in a subprocess for the benchmarks (``with StubServer() as base_url``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MODEL = "stub-model"


def _completion(body: dict, label: str) -> bytes:
    chars = sum(len(m.get("content") or "") if isinstance(m.get("content"), str) else 0
                for m in body.get("messages", []))
    prompt_tokens = max(1, chars // 4)
    created = int(time.time())
    if body.get("stream"):
        head = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": created,
                "model": body.get("model", MODEL)}
        events = [
            {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": label}, "finish_reason": None}]},
            {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1}},
        ]
        return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    return json.dumps({
        "id": "chatcmpl-stub", "object": "chat.completion", "created": created, "model": body.get("model", MODEL),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": label}, "finish_reason": "stop",
                     "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 1, "total_tokens": prompt_tokens + 1},
    }).encode()


class _Http(asyncio.Protocol):
    def __init__(self, label: str, counter: list[int]):
        self.label, self.counter, self.buffer = label, counter, b""

    def connection_made(self, transport):  # type: ignore[override]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            raw, self.buffer = self.buffer[end + 4 : end + 4 + length], self.buffer[end + 4 + length :]
            method, path = (head.split(" ", 2) + ["", ""])[:2]
            self._answer(method, path, raw)

    def _answer(self, method: str, path: str, raw: bytes) -> None:
        status, kind = "200 OK", "application/json"
        if method == "POST" and path.rstrip("/").endswith("/chat/completions"):
            body = json.loads(raw or b"{}")
            payload = _completion(body, self.label)
            if body.get("stream"):
                kind = "text/event-stream"
            self.counter[0] += 1
        elif method == "GET" and path.rstrip("/").endswith("/models"):
            payload = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "stub"}]}).encode()
        else:
            status, payload = "404 Not Found", b'{"error": {"message": "not found", "type": "invalid_request_error"}}'
        self.transport.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(payload)}\r\n"
            f"Connection: keep-alive\r\n\r\n".encode() + payload
        )


async def serve(port: int, label: str) -> None:
    counter = [0]
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(label, counter), "127.0.0.1", port, backlog=1024)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", flush=True)
    async with server:
        await server.serve_forever()


class StubServer:
    """The stub in a subprocess; ``with StubServer() as base_url: ...`` stops it on exit."""

    def __init__(self, label: str = "inbound_lead"):
        self.label = label
        self.process: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> str:
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--label", self.label],
                                        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONOPTIMIZE": "1"})
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http://"):
            raise RuntimeError("the stub server did not start")
        return self.base_url

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--label", default="inbound_lead")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.label))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
