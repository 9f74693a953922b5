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
