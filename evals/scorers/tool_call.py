"""Tool calls: the right tool (or rightly none), its arguments valid and equal to gold, argument by argument.

**Gold** (the suite's gold column): ``{"kind", "tool", "arguments", "accept", "missing", "reply"}``.
``kind`` is ``call`` (``tool`` and ``arguments`` give the expected call), ``no_tool`` (the right answer is
text) or ``clarify`` (a required argument is missing, named in ``missing``: the right answer is a
question, not a call). ``accept`` lists other correct values per argument (``null``: leaving the
argument out is also right). ``reply`` is a reference text, not scored. A gold without ``kind`` is a call
when it names a tool.

**The answer** (:func:`read_answer`): the response's tool calls (:func:`evals.tool_calls.scorer_text`),
or a call object written as text (``{"tool": name, "arguments": {...}}`` / ``{"tool": null, ...}``), or
plain text, which is no call.

**Score.** The tool is right when the answer makes exactly the gold call's tool, once, or makes no call
where none is right (``no_tool`` and ``clarify`` alike; the breakdown reports them apart). A wrong tool,
a call where none is right, no call where one is, or several calls score 0. The right tool scores its
**argument accuracy**: arguments are compared as extraction compares fields (:mod:`evals.scorers.
extraction`: the same value normalisation, with kinds read from the tool's parameter schema: dates,
date-times as instants, time zones, durations, amounts, lists as sets, absent = null), and

- an argument counts where gold or the answer gives it; the score is the share of counted arguments
  that are correct (1.0 for a call with nothing to fill);
- an argument the answer invents (not in gold nor accepted) counts against it; one gold gives and the
  answer leaves out is a miss; one in ``accept`` as ``null`` and left out is not counted
  (``detail.accepted_absent``);
- an argument whose value breaks its schema (type, pattern, enum, bounds) is wrong even if its
  normalised value equals gold: the tool would reject it;
- free-text arguments (``free_text_arguments``: summary, body, ...) hold a reference text: they are right
  when given, never compared word for word;
- arguments that are not a JSON object score 0.

**Detail** (read by the metrics): ``fields`` holds one cell per argument path ``<tool>.<argument>`` as
CONTRACTS section 6 has it (``{"gold", "pred", "correct"}``, plus ``"invalid": true`` for a schema
violation); a wrong tool's arguments appear as its own invented paths. ``gold_tool`` /
``predicted_tool`` use :data:`NO_CALL` for no call (``+``-joined names for several calls), for the
confusion table (``predicted_tool`` is null for an answer failure: no answer to read); ``gold_kind``,
``calls``, ``schema_errors``, ``both_null``, ``accepted_absent``, ``missing``. **Sub-scores**:
``tool_correct`` and ``exact_call`` on every example; ``argument_accuracy``
and ``arguments_valid`` where the gold is a call and the tool is right.

**Baseline**: no call on every example (what "never call a tool" scores).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

from pydantic import Field

from evals.errors import ConfigError
from evals.scorers.base import Baseline, Score, Scorer, ScorerSettings
from evals.scorers.extraction import ExtractionScorer, ExtractionSettings, Kind, parse_json_object, present
from evals.tool_calls import ToolCall, call_from_value

#: The tool label of "no call" in ``gold_tool``, ``predicted_tool`` and the confusion table.
NO_CALL = "no_call"
CALL, NO_TOOL, CLARIFY = "call", "no_tool", "clarify"
DEFAULT_FREE_TEXT = ["summary", "notes", "title", "agenda", "subject", "body"]


@dataclass(frozen=True)
class Answer:
    """What a tool-calling answer says: its calls ``(name, arguments or None when not an object, raw)``
    and its text."""

    calls: list[tuple[str, dict[str, Any] | None, str]]
    text: str


def read_answer(output: str) -> Answer:
    """Read a scorer's input: the envelope of :func:`evals.tool_calls.scorer_text`, a call object, or
    plain text (no call).

    >>> read_answer('{"tool": "f", "arguments": {"a": 1}}').calls
    [('f', {'a': 1}, '{"a": 1}')]
    >>> read_answer('{"tool_calls": [{"name": "f", "arguments": "{\\\\"a\\\\": "}], "text": ""}').calls
    [('f', None, '{"a": ')]
    >>> read_answer("Which account do you mean?").calls
    []
    """
    value = parse_json_object(output)
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        calls = []
        for item in value["tool_calls"]:
            if isinstance(item, dict) and item.get("name"):
                call = ToolCall.of(str(item["name"]), item.get("arguments", {}))
                calls.append((call.name, call.parsed(), call.arguments))
        text = value.get("text")
        return Answer(calls, text if isinstance(text, str) else "")
    found = call_from_value(value)
    if found is not None:
        made, text = found
        return Answer([(c.name, c.parsed(), c.arguments) for c in made], text)
    return Answer([], output)


class ToolCallSettings(ScorerSettings):
    free_text_arguments: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FREE_TEXT),
        description="Arguments holding free text (an argument name of any tool, or tool.argument): right when "
                    "given, never compared word for word.")
    kinds: dict[str, Kind] = Field(default_factory=dict,
                                   description="tool.argument -> value kind, where the tool's schema does not say.")
    timezone_aliases: dict[str, str] = Field(default_factory=dict,
                                             description="More timezone aliases: alias -> IANA zone.")


def _gold(example: Any) -> dict[str, Any]:
    gold = example.gold if not isinstance(example.gold, str) else json.loads(example.gold)
    if not isinstance(gold, dict):
        raise ValueError(f"example {example.id}: a tool_call gold is an object with tool and arguments")
    kind = gold.get("kind") or (CALL if gold.get("tool") else NO_TOOL)
    # A table loader (datasets, Parquet) gives every row every key of the column: null means absent.
    arguments = {k: v for k, v in (gold.get("arguments") or {}).items() if v is not None}
    accept = {k: v for k, v in (gold.get("accept") or {}).items() if v is not None}
    return {**gold, "kind": kind, "arguments": arguments, "accept": accept}


class ToolCallScorer(Scorer):
    name: ClassVar[str] = "tool_call"
    Settings = ToolCallSettings

    def __init__(self, suite, settings: ToolCallSettings):
        super().__init__(suite, settings)
        from jsonschema import Draft202012Validator

        where = getattr(suite, "path", "suite.yaml")
        tools = getattr(suite, "tools", None)
        if not tools:
            raise ConfigError(where, "the tool_call scorer needs the suite's tools (suite.yaml `tools:`)",
                              field="tools")
        self.tools = {t["name"]: t for t in tools}
        arguments = {name: set((t.get("parameters") or {}).get("properties") or {}) for name, t in self.tools.items()}
        for setting, paths in (("free_text_arguments", settings.free_text_arguments), ("kinds", settings.kinds)):
            known = {f"{t}.{a}" for t, names in arguments.items() for a in names}
            bare = {a for names in arguments.values() for a in names}
            unknown = [p for p in paths if p not in known and (setting == "kinds" or p not in bare)]
            if unknown:
                raise ConfigError(where, f"{', '.join(map(repr, unknown))} names no argument of the tools",
                                  field=f"scorer.settings.{setting}")
        self._validators = {name: Draft202012Validator(t.get("parameters") or {"type": "object"})
                            for name, t in self.tools.items()}
        self._compare = {}
        for name, tool in self.tools.items():
            kinds = {path.split(".", 1)[1]: kind for path, kind in settings.kinds.items()
                     if path.startswith(name + ".")}
            extraction = ExtractionSettings(kinds=kinds, timezone_aliases=settings.timezone_aliases)
            self._compare[name] = ExtractionScorer(SimpleNamespace(schema=tool.get("parameters"), path=where),
                                                   extraction)

    # -- arguments ------------------------------------------------------------------------------------
    def free_text(self, tool: str, argument: str) -> bool:
        names = self.settings.free_text_arguments
        return argument in names or f"{tool}.{argument}" in names

    def _same(self, tool: str, argument: str, gold: Any, pred: Any) -> bool:
        compare = self._compare.get(tool)
        if compare is None:
            return False
        return compare.same(argument, gold, pred)

    def argument_cells(self, tool: str, gold: dict[str, Any], accept: dict[str, list[Any]],
                       predicted: dict[str, Any] | None) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """``(fields, extra)`` for a call of the right tool: one cell per counted argument, keyed
        ``<tool>.<argument>``; ``extra`` has ``both_null``, ``accepted_absent``, ``schema_errors``."""
        extra: dict[str, Any] = {"both_null": [], "accepted_absent": [], "schema_errors": []}
        if predicted is None:
            cells = {f"{tool}.{a}": {"gold": True, "pred": False, "correct": False}
                     for a, v in gold.items() if present(v)}
            extra["schema_errors"] = ["the arguments are not a JSON object"]
            return cells, extra
        invalid: set[str] = set()
        validator = self._validators.get(tool)
        for error in (validator.iter_errors(predicted) if validator else ()):
            extra["schema_errors"].append(error.message[:200])
            if error.absolute_path:
                invalid.add(str(error.absolute_path[0]))
        extra["schema_errors"] = extra["schema_errors"][:5]
        cells: dict[str, dict[str, Any]] = {}
        for argument in sorted(set(gold) | set(predicted) | set(accept)):
            gv, pv = gold.get(argument), predicted.get(argument)
            alternatives = accept.get(argument) or []
            gp, pp = present(gv), present(pv)
            path = f"{tool}.{argument}"
            if not pp and (not gp or any(not present(a) for a in alternatives)):
                if gp:
                    extra["accepted_absent"].append(path)
                elif argument in gold or argument in predicted:
                    extra["both_null"].append(path)
                continue
            wanted = [v for v in [gv, *alternatives] if present(v)]
            if self.free_text(tool, argument):
                correct = pp and bool(wanted)
            else:
                correct = pp and any(self._same(tool, argument, w, pv) for w in wanted)
            cell = {"gold": bool(wanted), "pred": pp, "correct": bool(correct and argument not in invalid)}
            if argument in invalid:
                cell["invalid"] = True
            cells[path] = cell
        return cells, extra

    # -- scoring --------------------------------------------------------------------------------------
    def score(self, output: str, example) -> Score:
        gold = _gold(example)
        answer = read_answer(output)
        gold_tool = gold.get("tool") if gold["kind"] == CALL else None
        names = [name for name, _, _ in answer.calls]
        compared = next((i for i, c in enumerate(answer.calls) if gold_tool and c[0] == gold_tool), None)
        chosen = answer.calls[compared] if compared is not None else None
        predicted_label = "+".join(names) if names else NO_CALL
        tool_correct = (len(names) == 1 and names[0] == gold_tool) if gold_tool else not names
        fields: dict[str, dict[str, Any]] = {}
        extra: dict[str, Any] = {"both_null": [], "accepted_absent": [], "schema_errors": []}
        if chosen is not None:
            fields, extra = self.argument_cells(gold_tool, gold["arguments"], gold["accept"], chosen[1])
        elif gold_tool:  # no call, or another tool: every gold argument is missed
            fields = {f"{gold_tool}.{a}": {"gold": True, "pred": False, "correct": False}
                      for a, v in gold["arguments"].items() if present(v)}
        for index, (name, arguments, _) in enumerate(answer.calls):  # calls not compared: invented arguments
            if index == compared:
                continue
            for argument, value in (arguments or {}).items():
                path = f"{name}.{argument}"
                if present(value) and path not in fields:
                    fields[path] = {"gold": False, "pred": True, "correct": False}
        counted = len(fields)
        right = sum(1 for f in fields.values() if f["correct"])
        accuracy = right / counted if counted else 1.0
        arguments_ok = chosen is not None and chosen[1] is not None and not extra["schema_errors"]
        if not tool_correct:
            value = 0.0
        elif gold_tool is None:
            value = 1.0
        else:
            value = accuracy if chosen is not None and chosen[1] is not None else 0.0
        exact = tool_correct and (gold_tool is None or (arguments_ok and right == counted))
        subscores = {"tool_correct": float(tool_correct), "exact_call": float(exact)}
        if gold_tool and tool_correct:
            subscores["argument_accuracy"] = value
            subscores["arguments_valid"] = float(arguments_ok)
        detail = {"gold_kind": gold["kind"], "gold_tool": gold_tool or NO_CALL, "predicted_tool": predicted_label,
                  "calls": len(names), "fields": fields, **extra}
        if gold.get("missing"):
            detail["missing"] = list(gold["missing"])
        return Score(value, subscores, detail)

    def info(self) -> dict[str, Any]:
        """The suite's tool names (the classes of the tool-choice metrics)."""
        return {"tools": list(self.tools)}

    def unanswered_detail(self, example) -> dict[str, Any]:
        """No call: the gold call's arguments missed, the predicted tool ``no_call``."""
        detail = self.score("", example).detail
        return {**detail, "predicted_tool": None}

    def baseline(self, examples) -> Baseline:
        """No call on every example: what never calling a tool scores."""
        return Baseline("no tool", {e.id: json.dumps({"tool": None, "reply": ""}) for e in examples})

    def gold_answer(self, example) -> str:
        """The gold as an answer (a call object): scores 1.0 (tests, and `evals validate`'s check)."""
        gold = _gold(example)
        if gold["kind"] == CALL:
            return json.dumps({"tool": gold["tool"], "arguments": gold["arguments"]}, ensure_ascii=False)
        return json.dumps({"tool": None, "reply": gold.get("reply") or ""}, ensure_ascii=False)


def gold_call_problems(suite) -> list[tuple[Any, str, str]]:
    """What is wrong with a tool_call suite's gold, per example: ``(example, field, message)``. A call
    names one of the tools, its arguments (and each accepted alternative) are valid against that tool's
    schema, a required argument is never accepted as absent, ``kind`` is call, no_tool or clarify."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    tools = {t["name"]: t for t in suite.tools or ()}
    column = suite.spec.fields.gold
    bad: list[tuple[Any, str, str]] = []
    for example in suite.examples:
        try:
            gold = _gold(example)
        except (ValueError, TypeError) as exc:
            bad.append((example, column, str(exc)))
            continue
        if gold["kind"] not in (CALL, NO_TOOL, CLARIFY):
            bad.append((example, f"{column}.kind", f"kind {gold['kind']!r} is not one of call, no_tool, clarify"))
            continue
        if gold["kind"] != CALL:
            if gold.get("tool"):
                bad.append((example, f"{column}.tool", f"a {gold['kind']} row names no tool (got {gold['tool']!r})"))
            continue
        tool = tools.get(gold.get("tool"))
        if tool is None:
            bad.append((example, f"{column}.tool", f"unknown tool {gold.get('tool')!r}; tools: {', '.join(tools)}"))
            continue
        schema = tool.get("parameters") or {"type": "object"}
        validator = Draft202012Validator(schema)
        error = best_match(validator.iter_errors(gold["arguments"]))
        if error is not None:
            where = ".".join([column, "arguments", *map(str, error.absolute_path)])
            bad.append((example, where, f"gold breaks the parameters of {tool['name']}: {error.message[:200]}"))
            continue
        for argument, alternatives in gold["accept"].items():
            if argument not in (schema.get("properties") or {}):
                bad.append((example, f"{column}.accept.{argument}", f"{tool['name']} has no argument {argument!r}"))
                continue
            for alternative in alternatives if isinstance(alternatives, list) else [alternatives]:
                changed = {k: v for k, v in gold["arguments"].items() if k != argument}
                if alternative is not None:
                    changed[argument] = alternative
                elif argument in schema.get("required", []):
                    bad.append((example, f"{column}.accept.{argument}",
                                f"{argument} is required by {tool['name']}; it cannot be accepted as absent"))
                    continue
                error = best_match(validator.iter_errors(changed))
                if error is not None:
                    bad.append((example, f"{column}.accept.{argument}",
                                f"accepted value {alternative!r} breaks {tool['name']}: {error.message[:200]}"))
    return bad
