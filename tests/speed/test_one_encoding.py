"""The prompt hash and the cache key come from one JSON encoding of the request
(``RenderedPrompt.canonical_json``); every key and hash must stay the one the old formulas gave, or every
cached answer would be asked again (and paid for) after an upgrade."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from evals.prompts import RenderedPrompt
from evals.runner.cache import cache_key, prompt_key

TOOLS = ({"name": "lookup", "description": "Read one account.",
          "parameters": {"type": "object", "properties": {"account": {"type": "string"}}}},)
PROMPTS = [
    RenderedPrompt(messages=({"role": "system", "content": "Sort."}, {"role": "user", "content": "Hi \u00e9 \"q\""}),
                   prompt=None, max_tokens=12, temperature=0.0, json_output=True,
                   json_schema={"type": "string", "enum": ["b", "a"]}, confidence=True),
    RenderedPrompt(messages=None, prompt="Email: x\nLabel:", max_tokens=4, temperature=0.7, top_p=0.9,
                   stop=("\n", "###"), seed=3),
    RenderedPrompt(messages=({"role": "user", "content": "call it"},), prompt=None, max_tokens=64,
                   temperature=0.0, tools=TOOLS),
]
IDENTITIES = [{"model": "m", "provider": "fake"},
              {"provider": "llama-cpp", "options": {"n_ctx": 2048, "seed": 0}, "gguf": ["a.gguf", 123], "z": None}]


def _old_key(identity: dict, request: dict, repeat: int) -> str:
    payload = json.dumps({"identity": identity, "request": request, "repeat": repeat}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("repeat", [0, 1, 12])
def test_keys_and_hashes_are_the_ones_the_old_formulas_gave(prompt, identity, repeat):
    assert prompt_key(identity, prompt, repeat) == _old_key(identity, prompt.canonical(), repeat)
    assert cache_key(identity, prompt.canonical(), repeat) == _old_key(identity, prompt.canonical(), repeat)
    assert prompt.sha256 == hashlib.sha256(json.dumps(prompt.canonical(), sort_keys=True).encode()).hexdigest()


def test_a_changed_copy_has_its_own_encoding():
    prompt = PROMPTS[1]
    assert prompt.sha256  # cached on this instance
    changed = dataclasses.replace(prompt, max_tokens=5)
    assert changed.sha256 != prompt.sha256 and changed.canonical_json == json.dumps(changed.canonical(), sort_keys=True)
    assert dataclasses.replace(prompt) == prompt and hash(dataclasses.replace(prompt)) == hash(prompt)
