"""What of a JSON Schema a provider's constrained decoding enforces, for ``evals validate`` to warn about.

A template with ``json_output`` sends the schema to the provider, which constrains decoding to it. Not
every decoder enforces every keyword: llama.cpp turns the schema into a GBNF grammar and drops, for
example, every numeric bound and ``uniqueItems``. A model can then write ``"seats": -3`` against
``minimum: 1``; the scorer still checks each answer against the whole schema, so it counts as a schema
failure, but the template author should know. (A union type's keywords, such as ``pattern`` on
``["string", "null"]`` or the ``properties`` of ``["object", "null"]``, used to be dropped too; the
provider now writes a union as ``anyOf``, :func:`evals.providers.llama_cpp.portable_schema`.)

The check is measured, not listed: each assertion keyword of the schema is deleted in turn and the
schema converted again as the provider converts it (:func:`evals.providers.llama_cpp.gbnf`: its rewrites,
then the installed converter); a keyword whose deletion leaves the grammar unchanged
is not enforced. Decoders known here: llama.cpp's grammar (provider ``llama-cpp``, and
``openai-compatible`` with ``options.json_mode: json_object``, which is the llama-cpp-python server).
Other providers are not checked (their decoders run remotely).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from evals.config.models import ModelSpec

LLAMA_CPP = "llama.cpp grammar"

# Keywords that describe rather than constrain (never deleted).
_ANNOTATIONS = {"description", "title", "$schema", "$id", "$comment", "$anchor", "examples", "default",
                "deprecated", "readOnly", "writeOnly", "contentMediaType", "contentEncoding"}
#: The keywords that hold sub-schemas: by name, in a list, or one (visited here, not deleted; also what
#: :func:`evals.providers.llama_cpp.portable_schema` walks). The rest of a schema is data.
SUB_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
SUB_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
SUB_SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
                  "unevaluatedProperties", "unevaluatedItems", "additionalItems")
# Never deleted: `type` and `$ref` shape the grammar itself; llama.cpp writes no key outside `properties`
# (where it writes them), so `additionalProperties: false` holds there although deleting it changes nothing.
_NEVER = {"type", "$ref"}


@dataclass
class Unenforced:
    """The keywords ``decoder`` does not enforce, as ``(keyword, path)``; ``error`` when it cannot convert."""

    decoder: str
    keywords: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


def decoder_for(spec: ModelSpec) -> str | None:
    """Which known constrained decoder serves ``spec`` (None: not known here, so not checked)."""
    options = spec.options
    json_mode = options.get("json_mode") if isinstance(options, dict) else getattr(options, "json_mode", None)
    if spec.provider == "llama-cpp" or (spec.provider == "openai-compatible" and json_mode == "json_object"):
        return LLAMA_CPP
    return None


#: A decoder's conversion of a schema into what it enforces, and the rewrites it makes that keep every
#: keyword in place (the bounds a schema implies, written out), applied before keywords are deleted.
Converter = tuple[Callable[[dict[str, Any]], str], Callable[[dict[str, Any]], dict[str, Any]]]


def _llama_cpp_converter() -> Converter | None:
    try:
        import llama_cpp.llama_grammar  # noqa: F401
    except Exception:  # the `local` extra is not installed (or its library does not load)
        return None
    from evals.providers.llama_cpp import gbnf, portable_schema

    # the grammar the provider builds (its schema rewrites included), not the bare converter; a bound it
    # derives from a keyword (`maxItems` from `uniqueItems` over an enum) is written out first, so deleting
    # the keyword shows what the grammar holds of the keyword itself (the bound stays; uniqueness does not)
    return gbnf, lambda schema: portable_schema(schema, unions=False)


_CONVERTERS: dict[str, Callable[[], Converter | None]] = {LLAMA_CPP: _llama_cpp_converter}


def _display(loc: tuple[Any, ...]) -> str:
    """A readable path: property names dotted, ``[]`` for array items, other keywords as written."""
    out: list[str] = []
    i = 0
    while i < len(loc):
        part = loc[i]
        if part in SUB_SCHEMA_MAPS and i + 1 < len(loc):
            out.append(str(loc[i + 1]) if part == "properties" else f"{part}.{loc[i + 1]}")
            i += 2
            continue
        if part in SUB_SCHEMA_LISTS and i + 1 < len(loc):
            out.append(f"{part}[{loc[i + 1]}]")
            i += 2
            continue
        out.append("[]" if part == "items" else str(part))
        i += 1
    text = ".".join(out).replace(".[]", "[]")
    return text or "(root)"


def _children(node: dict[str, Any], keyword: str, loc: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """The sub-schemas ``node[keyword]`` holds, with their locations."""
    value = node.get(keyword)
    if keyword in SUB_SCHEMA_MAPS and isinstance(value, dict):
        yield from ((loc + (keyword, name), sub) for name, sub in value.items())
    elif isinstance(value, list) and (keyword in SUB_SCHEMA_LISTS or keyword == "items"):
        yield from ((loc + (keyword, index), sub) for index, sub in enumerate(value))
    elif keyword in SUB_SCHEMA_ONE and isinstance(value, dict):
        yield loc + (keyword,), value


def _without(schema: dict[str, Any], loc: tuple[Any, ...], keyword: str) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    node: Any = out
    for part in loc:
        node = node[part]
    del node[keyword]
    return out


def unenforced_keywords(decoder: str, schema: dict[str, Any]) -> Unenforced | None:
    """The assertion keywords of ``schema`` that ``decoder`` leaves unenforced (None: cannot check here).

    >>> from evals.providers.constrained import LLAMA_CPP, unenforced_keywords
    >>> found = unenforced_keywords(LLAMA_CPP, {"type": "object", "properties": {
    ...     "a": {"type": ["string", "null"], "pattern": "^x$"}, "b": {"type": ["integer", "null"], "minimum": 1}}})
    >>> found is None or found.keywords == [("minimum", "b")]
    True
    """
    make = _CONVERTERS.get(decoder)
    converter = make() if make else None
    if converter is None:
        return None
    convert, prepare = converter
    result = Unenforced(decoder)
    try:
        prepared = prepare(schema)  # the same keywords at the same places: deleted there, visited here
        grammar = convert(prepared)
    except Exception as exc:  # the converter asserts on what it does not support
        result.error = f"{type(exc).__name__}: {str(exc)[:200]}"
        return result

    def dropped(loc: tuple[Any, ...], keyword: str) -> bool:
        try:
            return convert(_without(prepared, loc, keyword)) == grammar
        except Exception:
            return False  # the keyword was what made the schema convert: it shapes the grammar

    def visit(loc: tuple[Any, ...], node: Any) -> None:
        if not isinstance(node, dict):
            return
        closed = node.get("additionalProperties") is False
        gone = {k for k in node if k not in _ANNOTATIONS and k not in _NEVER
                and not (k == "additionalProperties" and closed) and dropped(loc, k)}
        if closed and "properties" in gone:
            gone.add("additionalProperties")  # llama.cpp writes no extra key only where it writes properties
        result.keywords.extend((k, _display(loc)) for k in node if k in gone)
        for keyword in node:
            if keyword not in gone:  # below a dropped keyword, everything is dropped: said once
                for sub_loc, sub in _children(node, keyword, loc):
                    visit(sub_loc, sub)

    visit((), schema)
    return result
