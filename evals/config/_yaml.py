"""YAML loading that remembers where every key stands, so errors can name file, line and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from evals.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[Any, ...]


def read_text(path: Path) -> str:
    """Read a UTF-8 file (a leading byte-order mark dropped), turning I/O and decoding failures into a
    ConfigError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "file not found") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(path, f"not valid UTF-8 (byte {exc.start}); save the file as UTF-8", line=line) from None
    # A byte-order mark (Windows editors write one) is not content: a template's '---' header must still
    # be found on line 1, and JSON parsers reject it.
    return text[1:] if text.startswith("\ufeff") else text


def parse_yaml(text: str, path: Path, *, line_offset: int = 0) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML text into plain data plus a map from key path to 1-based line number."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 + line_offset if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(path, f"YAML syntax error: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, f"YAML error: {exc}") from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _walk(node, (), lines, path, line_offset)
    return data, lines


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], path: Path, offset: int) -> None:
    lines.setdefault(loc, node.start_mark.line + 1 + offset)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1 + offset
            if key in seen:
                raise ConfigError(path, "duplicate key; remove one of them", line=line, field=_dotted(loc + (key,)))
            seen.add(key)
            lines[loc + (key,)] = line
            _walk(value_node, loc + (key,), lines, path, offset)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, loc + (index,), lines, path, offset)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _data_loc(data: Any, loc: Loc) -> Loc:
    """Keep the parts of a pydantic error location that exist in the data (drops union tags)."""
    kept: list[Any] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current:
            kept.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            kept.append(part)
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str) and not _looks_like_tag(part):
            kept.append(part)  # a missing field: name it, but stop descending
            break
    return tuple(kept)


def _looks_like_tag(part: str) -> bool:
    return "[" in part or part[:1].isupper() or part in {"str", "int", "float", "bool", "list", "dict", "literal"}


def _line_for(lines: dict[Loc, int], loc: Loc) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key; check the spelling (unknown keys are errors)"
    if kind == "missing":
        return "required field is missing"
    message = error.get("msg", "invalid value")
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    given = error.get("input")
    if kind.endswith("_type") and isinstance(given, (bool, int, float, str)) and len(repr(given)) <= 40:
        message += f", not {json.dumps(given)}" + (" (booleans are not numbers)" if isinstance(given, bool) else "")
    return message


def validate(model: type[M], data: Any, path: Path, lines: dict[Loc, int], context: dict | None = None) -> M:
    """Validate plain data from a file against a pydantic model, strictly; the first error becomes a
    ConfigError.

    Strict as JSON is: numbers are numbers and booleans booleans (``context_window: true`` is not 1,
    ``json_output: "yes"`` not true, ``max_tokens: "5"`` not 5); a list is accepted for a tuple. YAML
    values JSON lacks (dates) arrive as their text.
    """
    try:
        text = json.dumps(data, default=str, allow_nan=True)
    except (TypeError, ValueError) as exc:  # keys that are not strings, numbers or booleans
        raise ConfigError(path, f"cannot read the file's values: {exc}") from None
    try:
        return model.model_validate_json(text, strict=True, context={"strict": True, **(context or {})})
    except ValidationError as exc:
        errors = exc.errors()
        # Prefer the most specific error: the one whose location reaches deepest into the data.
        best = max(errors, key=lambda e: len(_data_loc(data, e["loc"])))
        loc = _data_loc(data, best["loc"])
        raise ConfigError(path, _message(best), line=_line_for(lines, loc), field=_dotted(loc) or None) from None


def load_yaml_model(model: type[M], path: Path, context: dict | None = None) -> M:
    """Load and validate one YAML file."""
    text = read_text(path)
    data, lines = parse_yaml(text, path)
    if data is None:
        raise ConfigError(path, "file is empty")
    return validate(model, data, path, lines, context)
