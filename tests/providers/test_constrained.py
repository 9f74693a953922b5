"""Which JSON-schema keywords llama.cpp's grammar conversion enforces, measured on the installed converter."""

from __future__ import annotations

import copy
import importlib.util

import pytest

from evals.config.models import ModelSpec
from evals.providers.constrained import LLAMA_CPP, decoder_for, unenforced_keywords

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                reason="llama-cpp-python (the local extra) converts schemas to grammars")


def _found(schema):
    result = unenforced_keywords(LLAMA_CPP, schema)
    assert result is not None and result.error is None
    return result.keywords


def test_pattern_on_a_union_type_is_dropped_on_a_string_kept():
    schema = {"type": "object", "properties": {
        "time": {"type": ["string", "null"], "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"},
        "date": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"}}}
    assert _found(schema) == [("pattern", "time")]


def test_max_length_on_a_union_type_is_dropped_on_a_string_kept():
    assert _found({"type": ["string", "null"], "maxLength": 5}) == [("maxLength", "(root)")]
    assert _found({"type": "string", "maxLength": 5}) == []


def test_numeric_bounds_and_unique_items_are_dropped():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1},
                                               "tags": {"type": "array", "uniqueItems": True,
                                                        "items": {"type": "string"}, "maxItems": 3}}}
    assert _found(schema) == [("minimum", "n"), ("uniqueItems", "tags")]


def test_a_closed_object_is_enforced_a_nullable_one_is_dropped_once():
    inner = {"type": "object", "additionalProperties": False, "required": ["date"],
             "properties": {"date": {"type": "string", "pattern": "^\\d{4}$"}}}
    nullable = {**copy.deepcopy(inner), "type": ["object", "null"]}  # no shared dicts between a and b
    schema = {"type": "object", "additionalProperties": False, "required": ["a", "b"],
              "properties": {"a": inner, "b": nullable}}
    found = _found(schema)
    assert ("additionalProperties", "(root)") not in found and not any(path == "a" for _, path in found)
    assert sorted(found) == [("additionalProperties", "b"), ("properties", "b"), ("required", "b")]
    assert not any(path.startswith("b.") for _, path in found)  # below a dropped `properties`: said once


def test_a_schema_the_converter_refuses_is_reported():
    result = unenforced_keywords(LLAMA_CPP, {"type": "string", "pattern": "^(?=x)y$"})
    assert result is not None and result.error and "pattern" in result.error.lower()


def test_which_models_use_the_llama_cpp_grammar():
    def spec(provider, **options):
        return ModelSpec(id="m", provider=provider, model="x", family="f", context_window=10, options=options)

    assert decoder_for(spec("llama-cpp")) == LLAMA_CPP
    assert decoder_for(spec("openai-compatible", json_mode="json_object")) == LLAMA_CPP
    assert decoder_for(spec("openai-compatible")) is None  # vLLM or a server we cannot see
    assert decoder_for(spec("openai")) is None and decoder_for(spec("anthropic")) is None


def test_a_keyword_the_schema_cannot_convert_without_is_enforced():
    """Without `$defs` the `$ref` cannot resolve and the converter refuses: `$defs` shapes the grammar."""
    schema = {"$defs": {"short": {"type": "string", "maxLength": 3}},
              "type": "object", "properties": {"a": {"$ref": "#/$defs/short"}}}
    assert _found(schema) == []
    assert _found({"type": "object", "properties": {"f": {"enum": ["video", "phone", None]}}}) == []
