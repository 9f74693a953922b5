"""The scrubber (evals.secrets) and where it is applied: the provider layer and the response cache."""

from __future__ import annotations

import base64
import json

import pytest

from evals.config.models import ModelSpec
from evals.providers.base import ErrorKind, GenerateRequest, GenerateResponse, Provider
from evals.runner.cache import ResponseCache
from evals.tool_calls import ToolCall
from evals.secrets import KNOWN_KEY_VARS, REDACTED, key_vars, scrub, scrub_data

KEY = "sk-live-4c8e2a9f1b7d3e6a0c5f9b2d8e1a7c3f"


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("MY_FLEET_KEY", KEY)
    return ["MY_FLEET_KEY"]


@pytest.mark.parametrize("prefix", ["", "a", "ab", "Bearer ", "Authorization: Bearer ", "{\"api_key\": \""])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_key_is_redacted_base64_encoded_at_any_alignment(key, prefix, encode):
    encoded = encode((prefix + KEY + " and more").encode()).decode()
    out = scrub(f"echo: {encoded}", key)
    assert REDACTED in out
    # nothing of the key's own 4-character groups survives
    for k in range(3):
        middle = base64.b64encode(b"\0" * k + KEY.encode()).decode()[4:-4]
        assert middle not in out


def test_plain_keys_headers_and_userinfo(key):
    text = (f"key {KEY}; Authorization: Bearer abcDEF0123456789xyz; x-api-key: zzzz1111yyyy2222; "
            "proxy http://user:hunter2hunter2@proxy:3128/ and https://ghp_token123@github.com/x")
    out = scrub(text, key)
    assert KEY not in out and "abcDEF0123456789xyz" not in out and "zzzz1111yyyy2222" not in out
    assert "hunter2" not in out and "ghp_token123" not in out
    assert out.count(REDACTED) == 5 and "proxy:3128/" in out and "github.com/x" in out


def test_prose_is_not_redacted(key):
    prose = "Bearer bonds are paid to whoever holds them; email ada@example.com or see https://example.com/a@b"
    assert scrub(prose, key) == prose


def test_short_or_unset_values_are_not_secrets(monkeypatch):
    monkeypatch.setenv("TINY_KEY", "1")
    monkeypatch.delenv("UNSET_KEY", raising=False)
    assert scrub("version 1 of 1", ["TINY_KEY", "UNSET_KEY"]) == "version 1 of 1"


def test_scrubbing_is_idempotent_and_reaches_nested_data(key):
    data = {"a": [KEY, {"b": (f"x {KEY}",)}], KEY: 3, "n": 1.5}
    once = scrub_data(data, key)
    assert KEY not in json.dumps(once) and scrub_data(once, key) == once and once["n"] == 1.5


def test_key_vars_are_the_known_ones_and_each_models_env(tmp_path):
    spec = ModelSpec(id="m", provider="fake", model="m", family="f", context_window=8, api_key_env="FLEET_KEY")
    names = key_vars([spec], ["EXTRA"])
    assert set(KNOWN_KEY_VARS) <= set(names) and "FLEET_KEY" in names and "EXTRA" in names


class Echo(Provider):
    """A provider that echoes the key in every text it returns: an answer, a refusal, an error."""

    name = "echo"

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        kind = request.request_id
        if kind == "refusal":
            return GenerateResponse(error=ErrorKind.REFUSED, error_message=f"I won't say {KEY}")
        if kind == "raise":
            raise RuntimeError(f"SDK bug, key={KEY}")
        return GenerateResponse(text=f"the key is {KEY}", extra={"echo": {"header": f"Bearer {KEY}"}})


async def test_every_response_leaving_a_provider_is_scrubbed(key):
    from tests.providers.wire import chat_prompt

    provider = Echo(ModelSpec(id="m", provider="fake", model="m", family="f", context_window=8,
                              api_key_env="MY_FLEET_KEY"))
    answer = await provider.generate(GenerateRequest(chat_prompt(), request_id="answer"))
    refusal = await provider.generate(GenerateRequest(chat_prompt(), request_id="refusal"))
    assert KEY not in json.dumps(answer.to_dict()) and KEY not in json.dumps(refusal.to_dict())
    assert answer.text == f"the key is {REDACTED}" and refusal.error_message == f"I won't say {REDACTED}"
    with pytest.raises(RuntimeError) as info:
        await provider.generate(GenerateRequest(chat_prompt(), request_id="raise"))
    assert KEY not in str(info.value)


def test_the_cache_stores_only_scrubbed_responses(tmp_path, key):
    path = tmp_path / "c.sqlite"
    with ResponseCache(path, key_vars=key) as cache:
        attempt = cache.begin_attempt("k1", "m")
        cache.record("k1", "m", GenerateResponse(text=f"echo {KEY}"), attempt)
        attempt = cache.begin_attempt("k2", "m")
        cache.record("k2", "m", GenerateResponse(error=ErrorKind.AUTH, error_message=f"bad key {KEY}"), attempt)
        attempt = cache.begin_attempt("k3", "m")
        cache.record("k3", "m", GenerateResponse(text="ok", raw_model=f"m-{KEY}", extra={"echo": [f"x {KEY}"], KEY: 1},
                                                 tool_calls=[ToolCall("f", f'{{"key": "{KEY}"}}')]), attempt)
        assert cache.get("k1").text == f"echo {REDACTED}"
        stored = cache.get("k3")
        assert stored.extra == {"echo": [f"x {REDACTED}"], REDACTED: 1} and stored.raw_model == f"m-{REDACTED}"
        assert stored.tool_calls[0].arguments == f'{{"key": "{REDACTED}"}}'
    assert KEY.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())


def test_a_cache_of_a_newer_format_is_refused(tmp_path):
    import sqlite3

    from evals.errors import FormatVersionError

    path = tmp_path / "c.sqlite"
    ResponseCache(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '9' WHERE name = 'format'")
    db.commit()
    db.close()
    with pytest.raises(FormatVersionError, match="format '9' is newer"):
        ResponseCache(path)


def test_scrub_frame_reaches_pandas_string_columns(key):
    import pandas as pd

    frame = pd.DataFrame({"output": ["ok", f"echo {KEY}"], "detail": [None, {"raw": KEY}], "score": [1.0, 0.0]})
    assert pd.api.types.is_string_dtype(frame["output"].dtype)  # pandas 3: not object
    out = __import__("evals.secrets", fromlist=["scrub_frame"]).scrub_frame(frame, key)
    assert out["output"].tolist() == ["ok", f"echo {REDACTED}"] and out["detail"][1] == {"raw": REDACTED}
    assert out.dtypes.to_dict() == frame.dtypes.to_dict()


def test_results_hold_no_key_even_from_a_response_that_skipped_the_provider_layer(project, key, monkeypatch):
    """The run scrubs what it writes itself: a response built outside a provider (a bug, a new path)."""
    from evals.runner import calls
    from evals.runner.run import RunOptions, run
    from evals.runner.store import read_results

    models = project.models_file.read_text().replace("family: chatty\n", "family: chatty\n    api_key_env: MY_FLEET_KEY\n")
    project.models_file.write_text(models)

    async def bypass(provider, request):
        return GenerateResponse(text=f"lead {KEY}", error=None, finish_reason="stop")

    monkeypatch.setattr(calls, "_guarded", bypass)
    result = run(project, RunOptions(models=["fake-a"]))
    assert KEY not in read_results(result.folder).to_json()
    assert KEY.encode() not in (result.folder / "results.parquet").read_bytes()
