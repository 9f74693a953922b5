"""A run made with a fake key leaves that key in no artifact: results, manifest, cache, logs."""

from __future__ import annotations

import json
import logging

import pytest


httpx2 = pytest.importorskip("httpx2", reason="the anthropic/openai SDKs (and their httpx2) are not installed")

from evals.providers import openai as openai_module
from evals.runner.run import RunOptions, SilentReporter, run
from tests.conftest import write_project
from tests.providers.wire import openai_chat, openai_error

FAKE_KEY = "sk-fake-3c9e1d5a77b24f0e9a1b6c2d8e4f0a13"

MODELS = """\
format_version: 1
models:
  - id: vllm-local
    provider: openai-compatible
    model: served-model
    family: llama3
    context_window: 8192
    base_url: http://127.0.0.1:{port}/v1
    api_key_env: FLEET_KEY
    max_retries: 0
    pricing: {{self_hosted: {{hourly_usd: 2.0}}}}
"""


def every_file(*roots):
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                yield path


def test_fake_key_reaches_the_server_but_no_artifact(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("EVALS_CACHE", str(cache_dir / "responses.sqlite"))
    monkeypatch.setenv("FLEET_KEY", FAKE_KEY)
    seen_auth: list[str] = []
    calls = {"n": 0}

    def server(req: httpx2.Request) -> httpx2.Response:
        seen_auth.append(req.headers.get("authorization", ""))
        calls["n"] += 1
        if calls["n"] == 2:  # a server that echoes the key in its error message (OpenAI does, partly)
            return httpx2.Response(401, json=openai_error(f"Incorrect API key provided: {FAKE_KEY}",
                                                          "invalid_request_error", "invalid_api_key"))
        if calls["n"] == 3:
            return httpx2.Response(500, json=openai_error(f"upstream saw {FAKE_KEY}", "server_error"))
        return httpx2.Response(200, json=openai_chat("lead"))

    monkeypatch.setattr(openai_module, "http_client_factory",
                        lambda: httpx2.AsyncClient(transport=httpx2.MockTransport(server)))
    # the availability probe needs something listening on the base_url's port
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        project = write_project(tmp_path / "proj", n_examples=4, models_yaml=MODELS.format(port=port))
        reporter = SilentReporter()
        result = run(project, RunOptions(concurrency=1), reporter=reporter)
    finally:
        listener.close()

    assert seen_auth and all(a == f"Bearer {FAKE_KEY}" for a in seen_auth)  # the key was really used
    frame = result.results
    assert sorted(frame["error"].fillna("ok")) == ["auth", "ok", "ok", "server_error"]
    assert frame["error_message"].dropna().str.contains(r"\*\*\*").all()

    files = list(every_file(result.folder, cache_dir, project.root))
    assert any(p.name == "results.parquet" for p in files) and any(p.suffix == ".sqlite" for p in files)
    needle = FAKE_KEY.encode()
    leaks = [str(p) for p in files if needle in p.read_bytes()]
    assert leaks == []
    # also what the run said and logged
    assert FAKE_KEY not in json.dumps(reporter.warnings) and FAKE_KEY not in caplog.text
    assert FAKE_KEY not in json.dumps(result.manifest, default=str)
    assert FAKE_KEY not in frame.to_json()


def test_scan_would_find_a_leak(tmp_path):
    """The scan itself works: a file holding the key is found."""
    (tmp_path / "a.txt").write_bytes(b"header: Bearer " + FAKE_KEY.encode())
    assert [p.name for p in every_file(tmp_path) if FAKE_KEY.encode() in p.read_bytes()] == ["a.txt"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_cache_identity_and_reasons_never_hold_keys(provider, monkeypatch):
    from evals.providers import availability, create_provider
    from tests.providers.wire import spec

    env = "OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY"
    monkeypatch.setenv(env, FAKE_KEY)
    s = spec(provider, "some-model")
    assert availability(s).ready
    assert FAKE_KEY not in json.dumps(create_provider(s).cache_identity())


# -- issue 17 item 6: a canary in each of the four leak paths, through the real CLI and the client ---------

import base64  # noqa: E402
import socket  # noqa: E402

from evals.cli.main import main  # noqa: E402
from evals.secrets import _base64_forms  # noqa: E402

CANARY = "sk-canary-7f3a9c21d4e84b6f8a0e5d7c9b1f2a3e"
URL_SECRET = "urlpass-5e8d2c7a9b14f6e3d0a1"
CANARY_MODELS = """\
format_version: 1
models:
  - id: fleet
    provider: openai-compatible
    model: served-model
    family: chatty
    context_window: 8192
    base_url: http://evals:{secret}@127.0.0.1:{port}/v1
    api_key_env: FLEET_KEY
    max_retries: 0
    pricing: {{self_hosted: {{hourly_usd: 2.0}}}}
"""
CANARY_POLICY = """\
format_version: 1
rules:
  - id: triage
    when: {task: classification}
    model: fleet
    prompt: tiny
default:
  model: fleet
  prompt: tiny
"""
B64_HEADER = base64.b64encode(f"Authorization: Bearer {CANARY}".encode()).decode()
B64_API_KEY = base64.b64encode(f"x-api-key: {CANARY}".encode()).decode()


def canary_server(req: httpx2.Request) -> httpx2.Response:
    """Each example hits one leak path: an answer echoing the key, a refusal holding it, an answer and an
    error holding it base64-encoded as an echoed header, an error echoing the base_url's userinfo."""
    body = json.loads(req.content)
    text = body["messages"][-1]["content"]
    if "message 0" in text:
        return httpx2.Response(200, json=openai_chat(f"your key is {CANARY}, label lead"))
    if "message 1" in text:
        return httpx2.Response(200, json=openai_chat(None, refusal=f"I will not repeat {CANARY}"))
    if "message 2" in text:
        return httpx2.Response(200, json=openai_chat(f"request headers were: {B64_HEADER}"))
    if "message 3" in text:
        return httpx2.Response(400, json=openai_error(f"bad header {B64_API_KEY}", "invalid_request_error"))
    if "message 4" in text:
        return httpx2.Response(500, json=openai_error(f"upstream http://evals:{URL_SECRET}@10.0.0.1/v1 failed",
                                                      "server_error"))
    return httpx2.Response(200, json=openai_chat("support"))


def needles() -> list[str]:
    return [CANARY, URL_SECRET, B64_HEADER, B64_API_KEY, *_base64_forms(CANARY)]


def test_a_canary_in_each_leak_path_reaches_no_artifact(tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("EVALS_CACHE", str(cache_dir / "responses.sqlite"))
    monkeypatch.setenv("FLEET_KEY", CANARY)
    monkeypatch.setattr(openai_module, "http_client_factory",
                        lambda: httpx2.AsyncClient(transport=httpx2.MockTransport(canary_server)))
    listener = socket.socket()  # the availability probe connects to the base_url's port
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    said: list[str] = []
    try:
        project = write_project(tmp_path / "proj", n_examples=6,
                                models_yaml=CANARY_MODELS.format(port=port, secret=URL_SECRET))
        root = project.root
        (root / "policies" / "current.yaml").write_text(CANARY_POLICY)
        for args in (["run"], ["report"], ["models"], ["route", "--task", "classification"],
                     ["route", "--task", "classification", "--json"]):
            code = main([*args, "--project", str(root)])
            assert code == 0, args
            captured = capsys.readouterr()
            said += [captured.out, captured.err]

        import asyncio

        from evals.client import Client, load_router

        router = load_router(project.policy_file, project.models_file, project.prompts_dir)
        client = Client(router, log_path=root / "logs" / "routing.jsonl")

        async def calls():
            try:
                return [await client.complete({"task": "classification"}, {"text": f"message {i}"}) for i in range(5)]
            finally:
                await client.aclose()

        completions = asyncio.run(calls())
    finally:
        listener.close()

    frame = __import__("evals.runner.store", fromlist=["read_results"]).read_results(
        next(root.glob("reports/*/manifest.json")).parent)
    # the leak paths were really taken: an echoed answer, a refusal, a base64 echo, two errors
    assert set(frame["error"].fillna("ok")) >= {"ok", "refused", "invalid_request", "server_error"}
    assert "[REDACTED]" in " ".join(frame["output"].fillna("")) + " ".join(frame["error_message"].fillna(""))
    assert any("[REDACTED]" in c.text for c in completions) and (root / "logs" / "routing.jsonl").is_file()
    names = {p.name for p in every_file(root, cache_dir)}
    assert {"results.parquet", "manifest.json", "report.html", "summary.md", "responses.sqlite",
            "routing.jsonl"} <= names

    artifacts = [p for p in every_file(root, cache_dir) if p != project.models_file]  # models.yaml is the input
    for needle in needles():
        raw = needle.encode()
        leaks = [str(p) for p in artifacts if raw in p.read_bytes()]
        assert leaks == [], f"{needle[:12]}… found in {leaks}"
        assert not [s for s in said if needle in s], f"{needle[:12]}… in CLI output"
        if needle != URL_SECRET:  # httpx itself logs request URLs at DEBUG (off unless a user turns it on)
            assert needle not in caplog.text
        assert needle not in repr(completions), f"{needle[:12]}… in what Client.complete returned"
