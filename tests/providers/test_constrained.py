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


def test_pattern_on_a_union_type_is_enforced_as_on_a_string():
    """The provider writes ``["string", "null"]`` as ``anyOf`` (``portable_schema``), so the converter keeps
    the string branch's ``pattern``; it used to drop it."""
    schema = {"type": "object", "properties": {
        "time": {"type": ["string", "null"], "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"},
        "date": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"}}}
    assert _found(schema) == []


def test_max_length_on_a_union_type_is_enforced_as_on_a_string():
    assert _found({"type": ["string", "null"], "maxLength": 5}) == []
    assert _found({"type": "string", "maxLength": 5}) == []


def test_numeric_bounds_and_unique_items_are_dropped():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1},
                                               "tags": {"type": "array", "uniqueItems": True,
                                                        "items": {"type": "string"}, "maxItems": 3}}}
    assert _found(schema) == [("minimum", "n"), ("uniqueItems", "tags")]


def test_a_closed_object_is_enforced_and_so_is_a_nullable_one():
    inner = {"type": "object", "additionalProperties": False, "required": ["date"],
             "properties": {"date": {"type": "string", "pattern": "^\\d{4}$"}}}
    nullable = {**copy.deepcopy(inner), "type": ["object", "null"]}  # no shared dicts between a and b
    schema = {"type": "object", "additionalProperties": False, "required": ["a", "b"],
              "properties": {"a": inner, "b": nullable}}
    assert _found(schema) == []


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


# -- the provider's own conversion (evals.providers.llama_cpp.gbnf) enforces a union type's keywords ---------

def _lead_schema():
    import json

    from tests.conftest import REPO

    return json.loads((REPO / "suites" / "extraction" / "lead-details" / "schema.json").read_text())


def test_a_nullable_object_keeps_its_properties_in_the_grammar():
    """llama-cpp-python's converter turns ``{"type": ["object", "null"], "properties": ...}`` into "any object
    or null": SmolLM2 then invented keys (``"date_time_local_local": ...``) until max_tokens. A list of
    types is sent as ``anyOf`` one branch per type, which the converter enforces whole."""
    from evals.providers.llama_cpp import gbnf, portable_schema

    grammar = gbnf(_lead_schema())
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines() if " ::= " in line)
    meeting = [name for name in rules if name.startswith("meeting")]
    assert any('"\\"date\\""' in rules[name] for name in meeting), "the meeting's keys are in the grammar"
    assert not any(rules[name].strip() == "object" for name in meeting + [n for n in rules if n.startswith("budget")])

    def no_type_lists(node):
        if isinstance(node, dict):
            assert not isinstance(node.get("type"), list), node
            for key, value in node.items():
                if key not in ("enum", "const", "default", "examples"):
                    no_type_lists(value)
        elif isinstance(node, list):
            for value in node:
                no_type_lists(value)

    no_type_lists(portable_schema(_lead_schema()))


def test_the_provider_s_grammar_enforces_a_union_type_s_keywords():
    """What ``evals validate`` warns about is measured on the grammar the provider builds: after the
    rewrite, a nullable string's ``pattern`` and ``minLength`` and a nullable object's ``properties``,
    ``required`` and ``additionalProperties`` are enforced; numeric bounds and ``uniqueItems`` are not
    (now also inside the nullable ``budget``, whose keywords the old grammar never reached)."""
    found = _found(_lead_schema())
    assert {keyword for keyword, _ in found} <= {"minimum", "exclusiveMinimum", "uniqueItems"}, found
    assert ("pattern", "company.domain") not in found and ("properties", "meeting") not in found


def test_a_union_type_beside_its_enum_or_a_combinator_is_left_as_written():
    from evals.providers.llama_cpp import portable_schema

    with_enum = {"type": ["string", "null"], "enum": ["video", None]}
    assert portable_schema(with_enum) == with_enum
    combined = {"type": ["string", "null"], "anyOf": [{"minLength": 2}, {"type": "null"}]}
    assert portable_schema(combined) == combined
    split = portable_schema({"description": "d", "type": ["string", "integer", "null"], "pattern": "^\\d+$"})
    assert split == {"description": "d", "anyOf": [{"type": "string", "pattern": "^[0-9]+$"},
                                                   {"type": "integer", "pattern": "^[0-9]+$"}, {"type": "null"}]}


def test_a_property_named_like_a_keyword_is_still_a_schema():
    from evals.providers.llama_cpp import portable_schema

    schema = {"type": "object", "properties": {"default": {"type": "string", "pattern": "^\\d$"},
                                               "enum": {"type": ["string", "null"]}}}
    out = portable_schema(schema)
    assert out["properties"]["default"]["pattern"] == "^[0-9]$"
    assert out["properties"]["enum"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}


def test_an_array_of_unique_values_from_a_finite_set_is_bounded_in_the_grammar():
    """SmolLM2 wrote ``"products": ["fine_tuning", "self_hosting", "self_hosting", ...]`` until its loop
    was stopped: ``uniqueItems`` is not in the grammar. Unique items from ``k`` values are at most ``k``,
    and ``maxItems`` is: the grammar closes the array by then."""
    from evals.providers.llama_cpp import gbnf, portable_schema

    def unique(items, **extra):
        return portable_schema({"type": "array", "uniqueItems": True, "items": items, **extra})

    assert unique({"enum": ["a", "b", "c"]})["maxItems"] == 3
    assert unique({"enum": ["a", "b", "c"]}, maxItems=2)["maxItems"] == 2  # a tighter bound is kept
    assert unique({"enum": ["a", "b", "c"]}, maxItems=9)["maxItems"] == 3
    assert unique({"const": "x"})["maxItems"] == 1 and unique({"type": "boolean"})["maxItems"] == 2
    assert "maxItems" not in unique({"type": "string"})  # unbounded values: nothing implied
    repeated = {"type": "array", "items": {"enum": ["a", "b"]}}
    assert portable_schema(repeated) == repeated  # repeats allowed: no bound either
    products = portable_schema(_lead_schema())["properties"]["products"]
    assert products["maxItems"] == len(products["items"]["enum"]) == 5

    def root(schema):
        return next(line for line in gbnf(schema).splitlines() if line.startswith("root ::="))

    assert "*" not in root({"type": "array", "uniqueItems": True, "items": {"enum": ["a", "b"]}})
    assert "*" in root(repeated)  # what the same array was before: any number of items
    # the bound is not uniqueness: `evals validate` still says the grammar leaves `uniqueItems` out
    assert ("uniqueItems", "products") in _found(_lead_schema())
    assert _found({"type": "array", "uniqueItems": True, "items": {"enum": ["a", "b"]}}) == [("uniqueItems", "(root)")]
    assert _found({"type": "array", "uniqueItems": True, "maxItems": 1, "items": {"enum": ["a", "b"]}}) == [
        ("uniqueItems", "(root)")]  # a bound of the schema's own is enforced as before
