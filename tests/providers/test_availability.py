"""``evals models`` states and ``evals run`` skipping unavailable models with one line each."""

from __future__ import annotations

from evals.cli.models import state_label
from evals.providers import ProviderEntry, availability, default_registry
from evals.runner.run import RunOptions, SilentReporter, run
from tests.conftest import MODELS_YAML, REPO, run_cli
from tests.providers.wire import spec

API_MODELS = MODELS_YAML + """\
  - id: claude
    provider: anthropic
    model: claude-sonnet-4-6
    family: claude
    context_window: 200000
  - id: gpt
    provider: openai
    model: gpt-4o-mini
    family: gpt
    context_window: 128000
    api_key_env: MY_OPENAI_KEY
  - id: fleet
    provider: openai-compatible
    model: llama
    family: llama3
    context_window: 8192
    base_url: http://127.0.0.1:9/v1
    pricing: {self_hosted: {hourly_usd: 1.0}}
"""


def test_run_skips_each_unavailable_model_with_one_line(project, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("MY_OPENAI_KEY", raising=False)
    project.models_file.write_text(API_MODELS)
    reporter = SilentReporter()
    frame = run(project, RunOptions(), reporter=reporter).results
    assert set(frame["model"]) == {"fake-a", "fake-b"}
    assert reporter.warnings == [
        "skipping claude: missing key: set ANTHROPIC_API_KEY",
        "skipping gpt: missing key: set MY_OPENAI_KEY",
        reporter.warnings[2],
    ]
    assert reporter.warnings[2].startswith("skipping fleet: endpoint unreachable: http://127.0.0.1:9/v1")


def test_extra_not_installed_names_the_pip_command():
    registry = default_registry()
    registry["openai"] = ProviderEntry("evals.providers.openai:OpenAIProvider", "openai", "no_such_module_xyz")
    state = availability(spec("openai", "gpt-4o"), registry)
    assert state.reason.startswith("extra not installed: pip install 'portfolio-evals[openai]'")
    assert state_label(state.ready, state.reason) == "extra not installed"


def test_models_command_on_the_shipped_project(tmp_path, monkeypatch):
    env = {"ANTHROPIC_API_KEY": "", "OPENAI_API_KEY": "", "COLUMNS": "250"}
    out = run_cli("models", "--project", str(REPO), cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    lines = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.count("│") > 3}
    assert "missing key" in lines["claude-sonnet-4-6"] and "ANTHROPIC_API_KEY" in lines["claude-sonnet-4-6"]
    assert "OPENAI_API_KEY" in lines["gpt-4o"] and "OPENAI_API_KEY" in lines["gpt-4o-mini"]
    assert "endpoint unreachable" in lines["llama-3.1-70b-vllm"] and "127.0.0.1:8000/v1" in lines["llama-3.1-70b-vllm"]
