"""``evals validate``: load every user-edited file the way a run would, check each suite's data against
the suite itself, and stop at the first problem (a :class:`~evals.errors.ConfigError` naming file, line
and field). What is allowed but likely wrong comes back as warnings.

Errors, beyond what loading finds: a gold label outside the suite's labels; an extraction gold record
that breaks the suite's JSON schema; an answer schema whose label enum differs from the labels (constrained
decoding could never produce a missing label); a suite's ``rule:`` that names no rule of the policy; a
policy target calls can reach (a rule, or the default unless a rule catches everything) that names no
prompt, or a prompt without a variant for a model of its chain (the runtime could not serve it); a distilled
model's recipe (``options.distill``) naming no suite, a suite that is not classification, a split the suite
does not have, or the split it is scored on.
Warnings: a model with no variant of its own for a prompt (it gets ``default.j2``, chat or not); JSON
schema keywords a model's constrained decoder does not enforce (:mod:`evals.providers.constrained`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.config._yaml import parse_yaml, read_text
from evals.config.descriptor import Match
from evals.config.models import ModelSpec, ModelsFile, load_models
from evals.config.policy import Policy, load_settings
from evals.errors import ConfigError
from evals.preview import schema_source
from evals.project import Project
from evals.prompts import PromptTemplate, RenderedPrompt
from evals.providers.constrained import decoder_for, unenforced_keywords
from evals.requests import example_request, variant_for
from evals.scorers import build_scorer
from evals.scorers.classification import normalise_label
from evals.scorers.tool_call import gold_call_problems
from evals.tool_calls import call_object_schema
from evals.suites import Example, Suite, discover, open_suite


@dataclass(frozen=True)
class SplitCount:
    """Examples a split scores, and the few-shot examples left out of its scoring."""

    split: str
    examples: int
    unscored_shots: int = 0

    def __str__(self) -> str:
        extra = f" (+{self.unscored_shots} shots not scored)" if self.unscored_shots else ""
        return f"{self.split} {self.examples}{extra}"


@dataclass
class Checked:
    """What ``validate_project`` checked; ``warnings`` are printed but do not fail."""

    models: int = 0
    suites: int = 0
    examples: int = 0
    templates: set[str] = field(default_factory=set)
    policy: bool = False
    counts: dict[str, list[SplitCount]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: totals, then examples per suite and split."""
        policy = "policy ok" if self.policy else "no policy file"
        per_suite = "; ".join(f"{name} {', '.join(map(str, splits))}" for name, splits in self.counts.items())
        return (f"{self.models} models, {self.suites} suites, {self.examples} examples, "
                f"{len(self.templates)} prompt variants, {policy} ({per_suite})")


def check_policy_models(policy: Policy, models: ModelsFile, path) -> None:
    """Every model a policy names exists in models.yaml."""
    known = set(models.ids)
    targets = [(f"rules[{i}]", r) for i, r in enumerate(policy.rules)] + [("default", policy.default)]
    for where, target in targets:
        for name, model in [("model", target.model)] + [(f"fallbacks[{j}]", m) for j, m in enumerate(target.fallbacks)]:
            if model not in known:
                raise ConfigError(path, f"unknown model {model!r}; known: {', '.join(sorted(known))}",
                                  field=f"{where}.{name}")


def check_distill_recipes(models: ModelsFile, suites: list[Suite], models_path: Path) -> None:
    """A ``provider: sklearn`` model's recipe (``options.distill``) names a classification suite and one of its
    splits other than the one it is scored on: what ``evals run`` would need to build the artifact."""
    by_name = {s.name: s.spec for s in suites}
    _, lines = parse_yaml(read_text(models_path), models_path)
    for index, spec in enumerate(models.models):
        recipe = getattr(spec.options, "distill", None)
        if spec.provider != "sklearn" or recipe is None:
            continue
        loc = ("models", index, "options", "distill")
        where = f"models[{index}].options.distill"
        suite = by_name.get(recipe.suite)
        problem, key = None, "suite"
        if suite is None:
            problem = f"names no suite; suites: {', '.join(sorted(by_name)) or 'none'}"
        elif suite.task != "classification":
            problem = f"suite {recipe.suite!r} has task {suite.task!r}; a distilled model learns a classification suite"
        else:
            key = "split"
            splits = list(suite.data.files or {})
            if splits and recipe.split not in splits:
                problem = f"suite {recipe.suite!r} has no split {recipe.split!r}; splits: {', '.join(splits)}"
            elif recipe.split == suite.default_split:
                problem = (f"split {recipe.split!r} is the one {recipe.suite!r} is scored on; the model would be scored "
                           f"on what it learned: train on another split")
        if problem is not None:
            line = lines.get(loc + (key,)) or lines.get(loc) or lines.get(("models", index))
            raise ConfigError(models_path, f"model {spec.id!r}: {problem}", line=line, field=f"{where}.{key}")


def check_rules(suites: list[Suite], policy: Policy, policy_path: Path) -> None:
    """A suite's ``rule:`` names a rule of the policy, or ``default``."""
    ids = [r.id for r in policy.rules]
    for suite in suites:
        rule = suite.spec.rule
        if rule is not None and rule != "default" and rule not in ids:
            raise ConfigError(suite.path, f"names no rule of {policy_path}; rules: {', '.join(ids + ['default'])}",
                              line=suite.spec.line("rule"), field="rule")


def check_servable(policy: Policy, models: ModelsFile, prompts_dir: Path, policy_path: Path) -> None:
    """Every target calls can reach names a prompt that every model of its chain has a variant of."""
    from evals.policy.checks import covers

    _, lines = parse_yaml(read_text(policy_path), policy_path)
    catch_all = next((r for r in policy.rules if covers(r.when, Match())), None)
    available = sorted(p.name for p in prompts_dir.iterdir() if p.is_dir()) if prompts_dir.is_dir() else []
    targets = [(("rules", i), f"rule {r.id!r}", r) for i, r in enumerate(policy.rules)]
    if catch_all is None:
        targets.append((("default",), "the default", policy.default))
    for loc, who, target in targets:
        where = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(loc))
        if target.prompt is None:
            line = lines.get(loc)
            raise ConfigError(policy_path, f"{who} names no prompt, so the runtime cannot serve the calls routed to "
                                           f"it; add `prompt: <name>` (prompts here: {', '.join(available) or 'none'})",
                              line=line, field=f"{where}.prompt")
        for model_id in [target.model, *target.fallbacks]:
            spec = models.get(model_id)
            try:
                variant_for(prompts_dir, target.prompt, spec.id, spec.family)
            except ConfigError as exc:
                raise ConfigError(policy_path, f"{who}: prompt {target.prompt!r} cannot serve {model_id}: "
                                               f"{exc.message}", line=lines.get(loc + ("prompt",)),
                                  field=f"{where}.prompt") from None


# -- a suite's data against the suite -----------------------------------------------------------------


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _data_error(suite: Suite, bad: list[tuple[Example, str, str]]) -> ConfigError:
    example, where, message = bad[0]
    more = f" ({len(bad) - 1} more rows of this file are wrong too)" if len(bad) > 1 else ""
    where_row = "" if example.line is not None else f"example {example.id!r}: "
    return ConfigError(suite.data_file or suite.path, f"{where_row}{message}{more}", line=example.line, field=where)


def check_gold_labels(suite: Suite) -> None:
    """Every gold label of a classification suite is one of its labels (both normalised as the scorer does)."""
    labels = suite.labels
    if suite.spec.task != "classification" or not labels:
        return
    allowed = {normalise_label(str(label)) for label in labels}
    bad = [(e, suite.spec.fields.gold, f"gold label {_short(e.gold)} is not one of the suite's labels "
                                       f"({', '.join(labels)}); fix the label or add it to `labels:`")
           for e in suite.examples if normalise_label(str(e.gold)) not in allowed]
    if bad:
        raise _data_error(suite, bad)


def _validator(schema: dict[str, Any], path: Path):
    from jsonschema import Draft202012Validator  # what the extraction scorer checks answers with
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(path, f"not a valid JSON Schema: {exc.message[:200]}",
                          field=".".join(map(str, exc.absolute_path)) or None) from None
    return Draft202012Validator(schema)


def check_gold_schema(suite: Suite) -> None:
    """Every gold record of an extraction suite is valid against the suite's own JSON schema."""
    if suite.spec.task != "extraction" or suite.schema is None:
        return
    from jsonschema.exceptions import best_match

    schema_path = suite.folder / str(suite.spec.schema_file)
    validator = _validator(suite.schema, schema_path)
    column = suite.spec.fields.gold
    bad = []
    for example in suite.examples:
        gold = example.gold
        if isinstance(gold, str):
            try:
                gold = json.loads(gold)
            except json.JSONDecodeError:
                bad.append((example, column, "gold is a string that is not JSON"))
                continue
        error = best_match(validator.iter_errors(gold))
        if error is not None:
            where = column + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            bad.append((example, where, f"gold breaks {schema_path.name}: {error.message[:200]}"))
    if bad:
        raise _data_error(suite, bad)


def check_gold_calls(suite: Suite) -> None:
    """Every expected call of a tool_call suite names one of its tools with valid arguments
    (:func:`evals.scorers.tool_call.gold_call_problems`)."""
    if suite.spec.task == "tool_call":
        bad = gold_call_problems(suite)
        if bad:
            raise _data_error(suite, bad)


def _string_enums(schema: Any, loc: str = "") -> list[tuple[str, list[str]]]:
    """Every ``enum`` of strings in a schema, with its location, in document order."""
    found: list[tuple[str, list[str]]] = []
    if isinstance(schema, dict):
        enum = schema.get("enum")
        if isinstance(enum, list) and any(isinstance(v, str) for v in enum):
            found.append((f"{loc}.enum" if loc else "enum", [v for v in enum if isinstance(v, str)]))
        for key, value in schema.items():
            if key != "enum":
                found += _string_enums(value, f"{loc}.{key}" if loc else key)
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += _string_enums(value, f"{loc}[{index}]")
    return found


def _enum_line(path: Path, index: int) -> int | None:
    """The line of the ``index``-th ``"enum"`` key of a JSON file (document order)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    at = -1
    for _ in range(index + 1):
        at = text.find('"enum"', at + 1)
        if at < 0:
            return None
    return text.count("\n", 0, at) + 1


def check_label_schema(suite: Suite, template: PromptTemplate, request: RenderedPrompt) -> None:
    """The label enum of a classification answer schema holds exactly the suite's labels.

    The enum is the schema's only string enum, or the one sharing most labels; a schema without one is
    not a label schema and is not checked.
    """
    labels = suite.labels
    if suite.spec.task != "classification" or not labels or request.json_schema is None:
        return
    enums = _string_enums(request.json_schema)
    if not enums:
        return
    wanted = {normalise_label(label): label for label in labels}
    shared = [len(wanted.keys() & {normalise_label(v) for v in values}) for _, values in enums]
    index = shared.index(max(shared))
    if len(enums) > 1 and not shared[index]:
        return  # several enums and none of them about the labels: not a label schema
    where, values = enums[index]
    have = {normalise_label(v): v for v in values}
    missing = [wanted[k] for k in wanted if k not in have]
    extra = [have[k] for k in have if k not in wanted]
    if missing or extra:
        path = schema_source(template, suite) or template.path
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(missing)} (constrained decoding can never answer it)")
        if extra:
            parts.append(f"has {', '.join(extra)}, not a label (every such answer is invalid)")
        raise ConfigError(path, f"the answer schema of {template.path.name} disagrees with the labels of "
                                f"{suite.path}: it {' and '.join(parts)}", line=_enum_line(path, index), field=where)


# -- warnings -------------------------------------------------------------------------------------------


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def variant_warning(prompts_dir: Path, prompt: str, models: list[ModelSpec]) -> str | None:
    """The families with no variant of their own (``<id>.j2`` or ``<family>.j2``) for ``prompt``, and
    where a family's own variants for other prompts are of the other mode (chat vs completion)."""
    families: dict[str, list[str]] = {}
    template = None
    for spec in models:
        resolved = variant_for(prompts_dir, prompt, spec.id, spec.family)
        if resolved.variant not in (spec.id, spec.family):
            template = resolved
            families.setdefault(spec.family, []).append(spec.id)
    if template is None:
        return None
    from evals.prompts import load_template

    def other_mode(family: str) -> list[str]:
        own = [path for path in sorted(prompts_dir.glob(f"*/{family}.j2")) if path.parent.name != prompt]
        return [path.parent.name for path in own if load_template(path).mode != template.mode]

    who = []
    for family, ids in families.items():
        elsewhere = other_mode(family)
        note = f"; its own variants for {', '.join(elsewhere)} are not {template.mode} prompts" if elsewhere else ""
        who.append(f"{family} ({', '.join(ids)}{note})")
    rel = _relative(template.path, prompts_dir.parent)
    return (f"{rel.rsplit('/', 1)[0]}: families without a variant of their own get {template.path.name}, a "
            f"{template.mode} prompt: {'; '.join(who)}. Add {prompt}/<family>.j2 where that is wrong (a base "
            f"model wants a completion prompt)")


def keyword_warning(spec: ModelSpec, template: PromptTemplate, suite: Suite, schema: dict[str, Any],
                    root: Path) -> str | None:
    """The schema keywords ``spec``'s constrained decoder would not enforce for this template."""
    decoder = decoder_for(spec)
    found = unenforced_keywords(decoder, schema) if decoder else None
    if found is None:
        return None
    source = _relative(schema_source(template, suite) or template.path, root)
    head = f"{spec.id} ({spec.provider}) with {_relative(template.path, root)}: {found.decoder}"
    if found.error:
        return f"{head} cannot convert {source}: {found.error}; every JSON answer of this model will fail"
    if not found.keywords:
        return None
    grouped: dict[str, list[str]] = {}
    for keyword, path in found.keywords:
        grouped.setdefault(keyword, []).append(path)
    said = "; ".join(f"{keyword} at {', '.join(paths)}" for keyword, paths in grouped.items())
    return (f"{head} does not enforce, of {source}: {said}; the scorer still checks answers against the "
            f"whole schema")


# -- the project ----------------------------------------------------------------------------------------


def _check_suite(project: Project, suite: Suite, models: ModelsFile, checked: Checked, said: set[str]) -> None:
    check_gold_labels(suite)
    check_gold_schema(suite)
    check_gold_calls(suite)
    for spec in models.models:
        template = variant_for(project.prompts_dir, suite.spec.prompt, spec.id, spec.family)
        checked.templates.add(str(template.path))
        requests = [example_request(template, suite, example) for example in suite.examples]
        if not requests:
            continue
        check_label_schema(suite, template, requests[0])
        first = requests[0]
        schema = (call_object_schema(first.tools) if first.tools is not None  # what a call-object decoder gets
                  else first.json_schema if first.json_output else None)
        if schema is not None and (key := f"{spec.id}\0{template.path}\0{json.dumps(schema, sort_keys=True)}") not in said:
            said.add(key)
            warning = keyword_warning(spec, template, suite, schema, project.root)
            if warning:
                checked.warnings.append(warning)


def validate_project(project: Project) -> Checked:
    """Check every file a user edits as a run would read it; raise at the first problem."""
    checked = Checked()
    models = load_models(project.models_file)
    checked.models = len(models.models)
    names: dict[str, str] = {}
    opened: list[Suite] = []
    said: set[str] = set()
    prompts: list[str] = []
    for suite_path in discover(project.suites_dir):
        first = open_suite(suite_path)
        if first.name in names:
            raise ConfigError(suite_path, f"suite name {first.name!r} is also used by {names[first.name]}", field="name")
        names[first.name] = str(suite_path)
        build_scorer(first)
        counts = checked.counts.setdefault(first.name, [])
        for split in first.spec.data.files or {first.split: ""}:
            suite = first if split == first.split else open_suite(suite_path, split=split)
            _check_suite(project, suite, models, checked, said)
            checked.examples += len(suite.examples)
            counts.append(SplitCount(split, len(suite.examples), len(suite.unscored_shots)))
        opened.append(first)
        if first.spec.prompt not in prompts:
            prompts.append(first.spec.prompt)
        checked.suites += 1
    def serving(prompt: str) -> list[ModelSpec]:  # a distilled model's recipe names the one suite it runs on
        suites = {s.name for s in opened if s.spec.prompt == prompt}
        return [m for m in models.models
                if getattr(getattr(m.options, "distill", None), "suite", None) in (None, *suites)]

    check_distill_recipes(models, opened, project.models_file)
    variants = [variant_warning(project.prompts_dir, prompt, serving(prompt)) for prompt in prompts]
    checked.warnings[:0] = [w for w in variants if w]
    if project.policy_file.is_file():
        from evals.policy.checks import load_checked_policy  # shadowing, default, fallbacks, context windows

        policy = load_checked_policy(project.policy_file, models)
        check_policy_models(policy, models, project.policy_file)
        check_rules(opened, policy, project.policy_file)
        check_servable(policy, models, project.prompts_dir, project.policy_file)
        load_settings(project.root / "policies" / "gate.yaml")
        checked.policy = True
    elif any(s.spec.rule for s in opened):
        checked.warnings.append(f"no {project.policy_file}: the suites' `rule:` fields are not checked")
    return checked
