"""The issue's reproduction on the wire: a 400 caused by a bad option is not replayed after the fix.

An OpenAI-compatible server (``httpx.MockTransport``) rejects requests that carry an unknown body
field; models.yaml sends one through ``options.extra_body``. Once the option is removed, the same
command must ask the server again rather than serve the cached 400s, and the server must see the fixed
request.
"""

from __future__ import annotations

import json
import socket

from evals.providers import openai as openai_module
from evals.runner.cache import ResponseCache
from evals.runner.run import RunOptions, run
from tests.conftest import write_project
from tests.providers.wire import httpx2, openai_chat, openai_error

MODELS = """\
format_version: 1
models:
  - id: fleet
    provider: openai-compatible
    model: served-model
    family: chatty
    context_window: 4096
    base_url: http://127.0.0.1:{port}/v1
    max_retries: 0
    pricing: {{self_hosted: {{hourly_usd: 1.0}}}}
{options}"""


def test_a_400_from_a_bad_option_is_not_replayed_after_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    bodies: list[dict] = []

    def server(req: httpx2.Request) -> httpx2.Response:
        body = json.loads(req.content)
        bodies.append(body)
        if "bogus_param" in body:
            return httpx2.Response(400, json=openai_error("Unrecognized request argument: bogus_param",
                                                          "invalid_request_error"))
        return httpx2.Response(200, json=openai_chat("lead"))

    monkeypatch.setattr(openai_module, "http_client_factory",
                        lambda: httpx2.AsyncClient(transport=httpx2.MockTransport(server)))
    listener = socket.socket()  # the availability probe needs something listening on the port
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        bad = MODELS.format(port=port, options="    options: {extra_body: {bogus_param: 1}}\n")
        project = write_project(tmp_path / "proj", n_examples=6, models_yaml=bad)
        first = run(project, RunOptions()).results
        assert (first["error"] == "invalid_request").all() and first["score"].isna().all()
        assert (first["error_class"] == "infra").all()
        project.models_file.write_text(MODELS.format(port=port, options=""))
        bodies.clear()
        second = run(project, RunOptions()).results
    finally:
        listener.close()
    assert len(bodies) == 6 and not any("bogus_param" in b for b in bodies)  # 6 of 6 asked again, fixed
    assert second["error"].isna().all() and not second["cached"].any()
    with ResponseCache(project.cache_file) as cache:
        assert len(cache) == 6  # only the answers are cached
