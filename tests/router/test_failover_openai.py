"""Failover from an OpenAI-compatible primary: a 503 through httpx2's MockTransport, and a real loopback
server that is stopped between calls. The fallback is the fake provider with its own template."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("openai")
httpx2 = pytest.importorskip("httpx2")

import evals.providers.openai as openai_provider  # noqa: E402
from evals.client import CircuitBreaker, Client, load_router  # noqa: E402
from evals.providers.fake import FakeProvider  # noqa: E402

POLICY = """\
format_version: 1
rules:
  - {id: bulk, when: {task: classification}, model: local-llama, prompt: triage, fallbacks: [backup]}
default: {model: backup, prompt: triage}
"""
CHAT = {"id": "c1", "object": "chat.completion", "created": 1, "model": "llama",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "lead"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 1, "total_tokens": 31}}


def write_project(root: Path, port: int) -> object:
    (root / "models.yaml").write_text(f"""\
format_version: 1
models:
  - id: local-llama
    provider: openai-compatible
    model: llama-3.1-8b
    family: llama3
    context_window: 8192
    base_url: http://127.0.0.1:{port}/v1
    pricing: {{self_hosted: {{hourly_usd: 3.6}}}}
  - {{id: backup, provider: fake, model: backup, family: fam-b, context_window: 4096,
     pricing: {{tokens: {{input_per_mtok: 1.0, output_per_mtok: 2.0}}}}}}
""")
    (root / "policy.yaml").write_text(POLICY)
    triage = root / "prompts" / "triage"
    triage.mkdir(parents=True)
    (triage / "llama3.j2").write_text("{% block system %}LLAMA TEMPLATE{% endblock %}{% block user %}{{ text }}{% endblock %}\n")
    (triage / "fam-b.j2").write_text("{% block prompt %}BACKUP TEMPLATE: {{ text }} ->{% endblock %}\n")
    return load_router(root / "policy.yaml", root / "models.yaml", root / "prompts")


def lines(path: Path) -> list[tuple]:
    return [(r["attempt"], r["model"], r["variant"], r["outcome"]) for r in map(json.loads, path.read_text().splitlines())]


@pytest.fixture
def listener():
    """A loopback TCP listener, so the provider's reachability probe passes (HTTP goes to the mock)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


async def test_503_from_openai_compatible_primary_fails_over(tmp_path, listener, monkeypatch):
    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        return httpx2.Response(503, json={"error": {"message": "overloaded", "type": "server_error", "code": None}})

    monkeypatch.setattr(openai_provider, "http_client_factory",
                        lambda: httpx2.AsyncClient(transport=httpx2.MockTransport(handler)))
    FakeProvider.reset(responder=lambda req: "support")
    router = write_project(tmp_path, listener)
    client = Client(router, log_path=tmp_path / "routing.jsonl")
    try:
        result = await client.complete({"task": "classification", "context_tokens": 40}, {"text": "my invoice"})
    finally:
        await client.aclose()
    assert (result.text, result.model, result.decision.model) == ("support", "backup", "local-llama")
    assert len(seen) == 1 and seen[0]["messages"][0] == {"role": "system", "content": "LLAMA TEMPLATE"}
    assert FakeProvider.calls[0].prompt.prompt == "BACKUP TEMPLATE: my invoice ->"
    assert lines(tmp_path / "routing.jsonl") == [(1, "local-llama", "llama3", "server_error"), (2, "backup", "fam-b", "ok")]


class _Chat(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps(CHAT).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


async def test_real_local_server_stopped_between_calls(tmp_path, monkeypatch):
    monkeypatch.setattr(openai_provider, "http_client_factory", None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Chat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeProvider.reset(responder=lambda req: "support")
    router = write_project(tmp_path, server.server_address[1])
    client = Client(router, log_path=tmp_path / "routing.jsonl", breaker=CircuitBreaker(threshold=1, cooldown_s=60))
    try:
        first = await client.complete({"task": "classification"}, {"text": "hi"})
        assert (first.model, first.text, first.response.input_tokens) == ("local-llama", "lead", 30)
        server.shutdown()
        server.server_close()
        second = await client.complete({"task": "classification"}, {"text": "hi"})
        third = await client.complete({"task": "classification"}, {"text": "hi"})  # breaker open: no connect
    finally:
        await client.aclose()
        thread.join(timeout=5)
    assert (second.model, second.text, third.model) == ("backup", "support", "backup")
    assert lines(tmp_path / "routing.jsonl") == [
        (1, "local-llama", "llama3", "ok"),
        (1, "local-llama", "llama3", "connection"), (2, "backup", "fam-b", "ok"),
        (1, "local-llama", None, "circuit_open"), (2, "backup", "fam-b", "ok"),
    ]
