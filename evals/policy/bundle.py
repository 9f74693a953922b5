"""The evidence bundle an approval commits, and the inputs its numbers were measured on.

``evals approve`` writes ``policies/evidence/<run>-<sha12>.parquet``: the result rows (scores, costs,
latencies, tokens, failure class; never outputs, prompts or error text) of every model and suite the
policy's rules cite from the run. Its sha256 is in the signed approval record, so the gate, in a clean
clone without ``reports/``, recomputes each rule's quality, interval, cost and p95 with
:func:`evals.policy.eligibility.rule_measure`, the recommender's own definition, and compares them with the
numbers the rule states. A cascade rule cites both legs: its numbers are re-derived at the rule's threshold
with :func:`evals.policy.cascade.cascade_figures`, and the bundle also holds the dev run's rows of its legs
and reference (column :data:`RUN_COLUMN` tells the runs apart), on which the recommender's sweep runs
again and must choose the rule's threshold (:func:`cascade_choice_problems`).

The record also holds, per rule, the sha256 of every input those numbers depend on: the files of each
suite (data and ``suite.yaml``), its scorer settings, the prompt variant each cited model renders, and
each cited model's entry in ``policies/models.yaml`` as far as it can change an answer
(:func:`model_identity_sha256` of ``ModelSpec.cache_identity()``, the response cache's identity).
:func:`rule_inputs` computes them from the files the branch holds; the gate fails a rule whose inputs
differ from the recorded ones, naming the file (and the model).

Answer-neutral fields of a model (concurrency, limits, timeouts, description) are not inputs. Its
``pricing`` is not either, but it is what the stated cost was priced at: the record keeps
:func:`pricing_sha256` of each cited model, and where the branch's prices differ the gate shows the cost
re-derived from the bundle's tokens and latencies under them (:func:`repriced_cost_per_1k`) beside the
stated one, and holds the stated one (the number the signed bundle reproduces).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.config.models import ModelsFile, ModelSpec
from evals.config.policy import CascadePoint, Evidence, ModelScore, Policy, Target
from evals.config.suite import load_suite
from evals.errors import ConfigError
from evals.policy.eligibility import rule_measure
from evals.policy.evidence import file_sha256
from evals.project import Project
from evals.suites import content_files, content_sha256, discover

if TYPE_CHECKING:
    from evals.policy.cascade import Cascade

BUNDLE_DIR = Path("policies") / "evidence"
BUNDLE_FORMAT = 1
EXCLUDED_COLUMNS = ("output", "error_message", "prompt_text", "gold", "detail", "tool_calls", "cache_key")
"""Result columns left out of a bundle (text that may be large or private); every other column is kept."""

SCORER_SUFFIX = "#scorer"


def _canonical_sha256(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def model_identity_sha256(spec: ModelSpec) -> str:
    """sha256 of what identifies a model's answers: ``spec.cache_identity()``, the response cache's exclude-list
    identity (every field but the answer-neutral ones, no credentials)."""
    return _canonical_sha256(spec.cache_identity())


def pricing_sha256(spec: ModelSpec) -> str:
    """sha256 of a model's ``pricing`` (answer-neutral, but what its stated cost was priced at)."""
    return _canonical_sha256(spec.pricing.model_dump(mode="json"))


def model_key(project: Project, model: str) -> str:
    """The input key of a model's entry: ``policies/models.yaml model <id>``."""
    return f"{_rel(project, project.models_file)} model {model}"


def cited_models(target: Target, ev: Evidence) -> list[str]:
    """The models whose numbers a rule's evidence states: a cascade's legs (its numbers are theirs, together),
    the chosen one, then its scored fallbacks."""
    legs = [leg.model for leg in target.cascade or []]
    return list(dict.fromkeys([*legs, ev.model or target.model, *(f.model for f in ev.fallbacks)]))


def _subject_measure(frame: Any, suites: list[str], subject: "str | Cascade", weights: dict[str, float],
                     confidence: float) -> tuple[Any, Any]:
    """A model's figures for a rule (:func:`~evals.policy.eligibility.rule_measure`), or a cascade's
    (:func:`~evals.policy.cascade.cascade_figures`, with its escalation share): the recommender's definitions."""
    from evals.policy.cascade import Cascade, cascade_figures

    if isinstance(subject, Cascade):
        figures = cascade_figures(frame, suites, subject, weights, confidence=confidence)
        return (figures.pooled, figures) if figures is not None else (None, None)
    return rule_measure(frame, suites, subject, weights, confidence=confidence), None


def cited_suites(ev: Evidence) -> list[str]:
    return [s for s in ev.suite.split(",") if s]


RUN_COLUMN = "run_id"
"""The bundle's own column: the run each row comes from (the evidence run, or a cascade's dev run)."""


def dev_models(target: Target, ev: Evidence) -> list[str]:
    """The models of a cascade rule's dev run its threshold choice rests on: the legs and the reference."""
    c = ev.cascade
    return [] if c is None else list(dict.fromkeys([c.cheap, c.strong, c.reference]))


def bundle_frame(frame: Any, policy: Policy, run_id: str, dev: dict[str, Any] | None = None) -> Any:
    """The rows of ``frame`` that the rules with evidence from ``run_id`` cite, without the excluded columns,
    tagged with their run (:data:`RUN_COLUMN`); with ``dev`` (run id -> frame), a cascade rule's dev-run rows
    of its legs and reference too, so its threshold choice is re-derivable (:func:`cascade_choice_problems`)."""
    import pandas as pd

    def rows(source: Any, run: str, pick: Any) -> Any:
        keep = pd.Series(False, index=source.index)
        for _, target in policy.targets():
            ev = target.evidence
            if ev is not None and ev.run_id == run_id:
                keep |= source["model"].isin(pick(target, ev)) & source["suite"].isin(cited_suites(ev))
        columns = [c for c in source.columns if c not in EXCLUDED_COLUMNS]
        return source.loc[keep, columns].assign(**{RUN_COLUMN: run})

    parts = [rows(frame, run_id, cited_models)]
    for dev_id, dev_frame in (dev or {}).items():
        parts.append(rows(dev_frame, dev_id, lambda t, ev, run=dev_id: dev_models(t, ev)
                          if ev.cascade is not None and ev.cascade.dev_run_id == run else []))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)


def run_rows(frame: Any, run_id: str) -> Any:
    """A bundle's rows of one run (every row of a frame without :data:`RUN_COLUMN`: a run's own results)."""
    return frame[frame[RUN_COLUMN] == run_id] if RUN_COLUMN in frame.columns else frame


def bundle_bytes(rows: Any) -> bytes:
    """The Parquet bytes of a bundle."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(rows, preserve_index=False)
    meta = {**(table.schema.metadata or {}), b"evals_bundle_format_version": str(BUNDLE_FORMAT).encode()}
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), sink, compression="zstd")
    return sink.getvalue()


def bundle_path(run_id: str, data: bytes) -> Path:
    """Where a bundle lives, relative to the project: content-addressed, so a bundle is never overwritten."""
    return BUNDLE_DIR / f"{run_id}-{hashlib.sha256(data).hexdigest()[:12]}.parquet"


def read_bundle(source: Path | bytes) -> Any:
    """A bundle (a file, or its bytes) as a DataFrame."""
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(source) if isinstance(source, bytes) else source).to_pandas()


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def _pairs(claimed: ModelScore | Evidence, measured: ModelScore) -> dict[str, tuple[Any, Any]]:
    ci_c, ci_m = claimed.quality_ci or (None, None), measured.quality_ci or (None, None)
    return {"quality": (claimed.quality, measured.quality), "quality_ci[0]": (ci_c[0], ci_m[0]),
            "quality_ci[1]": (ci_c[1], ci_m[1]), "n": (float(claimed.n), float(measured.n)),
            "cost_per_1k_usd": (claimed.cost_per_1k_usd, measured.cost_per_1k_usd),
            "p95_latency_ms": (claimed.p95_latency_ms, measured.p95_latency_ms)}


def _point_pairs(claimed: CascadePoint, measured: ModelScore, figures: Any) -> dict[str, tuple[Any, Any]]:
    pairs = _pairs(claimed, measured)
    pairs.pop("n")  # a point's n counts the examples paired with its reference, which the bundle need not hold
    return {**pairs, "escalation_share": (claimed.escalation_share, figures.escalation_share),
            "calls": (float(claimed.calls), float(figures.calls))}


def number_problems(frame: Any, rule_id: str, target: Target, ev: Evidence, *, confidence: float,
                    source: str, weights: dict[str, float]) -> list[str]:
    """Where the numbers ``ev`` states for a rule differ from what ``frame`` (the run, or its bundle) gives.

    Each model the evidence cites (the chosen one and every scored fallback) is measured again with
    :func:`~evals.policy.eligibility.rule_measure`, the recommender's definition (each suite measured
    with :func:`~evals.policy.evidence.measure`, several suites weighted by ``weights``, their weekly
    calls: :func:`suite_weights`); ``source`` names the frame in the messages. A cascade rule's numbers are
    its cascade's, at the threshold the rule names, re-derived from its legs' rows with
    :func:`~evals.policy.cascade.cascade_figures` (cost: :func:`evals.traffic.cascade_call_cost`), and
    ``evidence.cascade.test``, the confirmation the threshold was chosen on, must be those same figures.
    """
    from evals.policy.cascade import Cascade

    problems = []
    frame = run_rows(frame, ev.run_id)
    suites = cited_suites(ev)
    cascade = Cascade.of_target(target)
    head: str | Cascade = cascade if cascade is not None else ev.model or target.model
    claims: list[tuple[str, str | Cascade, ModelScore | Evidence]] = [("evidence", head, ev)]
    claims += [(f"evidence.fallbacks[{i}]", f.model, f) for i, f in enumerate(ev.fallbacks)]
    for where, subject, claimed in claims:
        m, figures = _subject_measure(frame, suites, subject, weights, confidence)
        name_of = subject.name if isinstance(subject, Cascade) else subject
        if m is None:
            problems.append(f"rule {rule_id!r}: {source} has no results for {name_of} on {ev.suite}; "
                            "the evidence is not from this run")
            continue
        measured = m.score()
        pairs = _pairs(claimed, measured)
        if figures is not None and ev.cascade is not None:
            pairs |= {f"cascade.test.{k}": v for k, v in _point_pairs(ev.cascade.test, measured, figures).items()}
        for name, (said, got) in pairs.items():
            if not _close(said, got):
                problems.append(f"rule {rule_id!r}: {where}.{name} says {said}, {source} gives {got}"
                                + (f" for the cascade {name_of}" if figures is not None else ""))
                break
        else:
            if claimed.variant is not None and claimed.variant != measured.variant:
                problems.append(f"rule {rule_id!r}: {where}.variant says {claimed.variant}, "
                                f"{source} gives {measured.variant}")
    return problems


def cascade_choice_problems(frame: Any, dev: Any, rule_id: str, target: Target, ev: Evidence, *, source: str,
                            weights: dict[str, float], max_infra_failure_rate: float) -> list[str]:
    """Where a cascade rule's threshold is not what the recommender's sweep chooses on its dev run.

    :func:`evals.policy.cascade.sweep` runs again on ``dev`` (the dev run's rows; ``frame`` the evidence
    run's) with the pair, reference, margin and confidence ``evidence.cascade`` records: its chosen
    threshold must be the rule's, and ``evidence.cascade.dev`` that point's figures. Needs the reference
    to be a model (a cascade in force as reference is not re-derived: none is named). ``source`` names the
    frames in the messages.
    """
    from evals.policy.cascade import sweep

    c = ev.cascade
    if c is None:
        return []
    dev = run_rows(dev, c.dev_run_id)
    suites = cited_suites(ev)
    if dev.empty or not set(dev_models(target, ev)) <= set(dev["model"]):
        return [f"rule {rule_id!r}: {source} holds no rows of dev run {c.dev_run_id} for {', '.join(dev_models(target, ev))}; "
                "the cascade's threshold cannot be re-derived: approve a proposal compiled with that dev run again"]
    if " -> " in c.reference:
        return []
    choice = sweep(dev, run_rows(frame, ev.run_id), cheap=c.cheap, strong=c.strong, reference=c.reference,
                   margin=c.margin, confidence=c.confidence, min_examples=1, suites=suites, weights=weights,
                   max_infra_failure_rate=max_infra_failure_rate)
    chosen = choice.chosen
    if chosen is None or chosen.written_threshold != c.threshold:
        got = ("none" if chosen is None else "always escalate" if chosen.written_threshold is None
               else f"{chosen.written_threshold:g}")
        return [f"rule {rule_id!r}: the cascade's threshold {c.threshold:g} is not what dev run {c.dev_run_id} chooses "
                f"in {source} (the cheapest non-inferior to {c.reference} within {c.margin}: {got}; {choice.reason})"]
    point = chosen.as_point()
    for name, said, got in (("quality", c.dev.quality, point.quality), ("cost_per_1k_usd", c.dev.cost_per_1k_usd,
                            point.cost_per_1k_usd), ("escalation_share", c.dev.escalation_share, point.escalation_share),
                            ("diff", c.dev.diff, point.diff)):
        if not _close(said, got):
            return [f"rule {rule_id!r}: evidence.cascade.dev.{name} says {said}, dev run {c.dev_run_id} in {source} "
                    f"gives {got}"]
    if c.dev.outcome != point.outcome:
        return [f"rule {rule_id!r}: evidence.cascade.dev.outcome says {c.dev.outcome}, dev run {c.dev_run_id} in "
                f"{source} gives {point.outcome}"]
    return []


def suite_weights(paths: dict[str, Path]) -> dict[str, float]:
    """Each suite's ``weekly_calls``, the weights of a rule's suites in its evidence numbers."""
    return {name: load_suite(p).weekly_calls for name, p in paths.items()}


def suite_paths(project: Project) -> dict[str, Path]:
    """Every suite's ``suite.yaml`` by suite name."""
    return {load_suite(p).name: p for p in discover(project.suites_dir)}


def rel_path(project: Project, path: Path) -> str:
    """``path`` relative to the project root (as given when it is outside)."""
    return _rel(project, path)


def _rel(project: Project, path: Path) -> str:
    try:
        return path.resolve().relative_to(project.root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def scorer_sha256(suite_yaml: Path) -> str:
    """sha256 of what a suite's scorer is configured with (its name, settings and the suite's labels)."""
    spec = load_suite(suite_yaml)
    return _canonical_sha256({"scorer": spec.scorer.model_dump(mode="json"), "labels": spec.labels})


def variant_path(project: Project, models: ModelsFile, prompt: str, model: str) -> Path | None:
    """The prompt variant ``model`` renders for ``prompt`` (None when there is none)."""
    from evals.prompts import resolve_variant

    spec = {m.id: m for m in models.models}.get(model)
    if spec is None:
        return None
    try:
        return resolve_variant(project.prompts_dir, prompt, model, spec.family)
    except ConfigError:
        return None


def rule_inputs(project: Project, models: ModelsFile, target: Target, ev: Evidence,
                paths: dict[str, Path]) -> dict[str, str]:
    """``{file: sha256}`` of everything the rule's evidence was measured on, as the branch holds it now.

    Keys are project-relative paths; a suite's scorer settings are ``<suite.yaml>#scorer``; a cited
    model's answer-changing spec is :func:`model_key` (absent when models.yaml no longer has the model).
    """
    out: dict[str, str] = {}
    specs = {m.id: m for m in models.models}
    for model in cited_models(target, ev):
        if model in specs:
            out[model_key(project, model)] = model_identity_sha256(specs[model])
    for name in cited_suites(ev):
        suite_yaml = paths.get(name)
        if suite_yaml is None:
            continue
        for path in content_files(suite_yaml):
            out[_rel(project, path)] = file_sha256(path)
        out[_rel(project, suite_yaml) + SCORER_SUFFIX] = scorer_sha256(suite_yaml)
        prompt = load_suite(suite_yaml).prompt
        for model in cited_models(target, ev):
            variant = variant_path(project, models, prompt, model)
            if variant is not None:
                out[_rel(project, variant)] = file_sha256(variant)
    return dict(sorted(out.items()))


def identity_changes(measured: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The fields of a model's spec identity ``now`` that differ from the identity a run recorded (the
    provider's, which may hold more: a GGUF's file and size); nested mappings are compared per key.

    >>> identity_changes({"model": "c", "options": {"seed": 0}, "file": "x.gguf"}, {"model": "c", "options": {"seed": 1}})
    ['options.seed']
    """
    out = []
    for key, value in now.items():
        was = measured.get(key)
        if isinstance(value, dict) and isinstance(was, dict):
            out += [f"{key}.{k}" for k in sorted(set(value) | set(was)) if value.get(k) != was.get(k)]
        elif was != value:
            out.append(key)
    return out


def repriced_cost_per_1k(frame: Any, suites: list[str], specs: ModelSpec | list[ModelSpec], weights: dict[str, float],
                         *, confidence: float = 0.95, subject: "str | Cascade | None" = None) -> float | None:
    """The cost per 1k calls on a rule's ``suites`` with each call of the models ``specs`` re-priced under
    their prices with :func:`evals.costs.call_cost` from the call's own tokens, latency and batch flag, then
    measured like the stated cost (:func:`~evals.policy.eligibility.rule_measure` of the first spec's model,
    or of ``subject``: a cascade of them, :func:`~evals.policy.cascade.cascade_figures`). Results do not keep
    a call's cache reads or measured busy time, so a call that had them is re-priced without them."""
    import pandas as pd

    from evals.costs import call_cost

    def value(v: Any) -> Any:
        return None if v is None or pd.isna(v) else v

    specs = [specs] if isinstance(specs, ModelSpec) else list(specs)
    repriced = frame.copy()
    for spec in specs:
        rows = frame[frame["model"] == spec.id]
        if rows.empty:
            return None
        batch = rows["batch"] if "batch" in rows.columns else pd.Series(False, index=rows.index)
        costs = [call_cost(spec, None if value(i) is None else int(i), None if value(o) is None else int(o),
                           value(lat), batch=bool(value(b))).usd
                 for i, o, lat, b in zip(rows["input_tokens"], rows["output_tokens"], rows["latency_ms"], batch)]
        repriced.loc[rows.index, "cost_usd"] = pd.Series(costs, index=rows.index, dtype=float)
    m, _ = _subject_measure(repriced, suites, subject if subject is not None else specs[0].id, weights, confidence)
    return None if m is None else m.cost_per_1k


def input_changes(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    """One entry per input file that differs: ``path (changed|added|removed)``."""
    out = []
    for path in sorted(set(recorded) | set(now)):
        before, after = recorded.get(path), now.get(path)
        if before == after:
            continue
        what = "added" if before is None else "removed" if after is None else "changed"
        out.append(f"{path} ({what})")
    return out


def manifest_problems(project: Project, models: ModelsFile, manifest: dict[str, Any], frame: Any, rule_id: str,
                      target: Target, ev: Evidence, paths: dict[str, Path]) -> list[str]:
    """Where the files the branch holds now differ from what the run recorded having measured.

    Run at approval, so the input hashes a record carries are those of the run: each suite's sha256
    (``manifest.suites[name].sha256``), each cited model's prompt variant (``manifest.prompts``) and its
    spec's cache identity (``manifest.models[id].identity``, compared with :func:`identity_changes`).
    """
    problems = []
    run = manifest.get("run_id", ev.run_id)
    suites = manifest.get("suites") if isinstance(manifest.get("suites"), dict) else {}
    prompts = manifest.get("prompts") if isinstance(manifest.get("prompts"), dict) else {}
    measured_models = manifest.get("models") if isinstance(manifest.get("models"), dict) else {}
    specs = {m.id: m for m in models.models}
    file = _rel(project, project.models_file)
    for model in cited_models(target, ev):
        entry = measured_models.get(model)
        identity = entry.get("identity") if isinstance(entry, dict) else None
        if model not in specs:
            problems.append(f"rule {rule_id!r}: {model} is no longer in {file}")
        elif not isinstance(identity, dict):
            problems.append(f"rule {rule_id!r}: run {run} does not record the identity of model {model}; re-run it "
                            "with this harness")
        elif changed := identity_changes(identity, specs[model].cache_identity()):
            problems.append(f"rule {rule_id!r}: the entry of {model} in {file} changed since run {run} "
                            f"({', '.join(changed)}); re-run `evals run` and `evals recommend`")
    for name in cited_suites(ev):
        suite_yaml = paths.get(name)
        recorded = (suites.get(name) or {}).get("sha256") if isinstance(suites.get(name), dict) else None
        if suite_yaml is None:
            problems.append(f"rule {rule_id!r}: suite {name} of run {run} is no longer in suites/")
            continue
        if not recorded:
            problems.append(f"rule {rule_id!r}: run {run} does not record the sha256 of suite {name}; "
                            "re-run it with this harness")
        elif recorded != content_sha256(suite_yaml):
            problems.append(f"rule {rule_id!r}: suite {name} ({_rel(project, suite_yaml.parent)}) changed since run "
                            f"{run}; re-run `evals run` and `evals recommend` on it")
        prompt = load_suite(suite_yaml).prompt
        rows = frame[frame["suite"] == name]
        for model in cited_models(target, ev):
            variant = variant_path(project, models, prompt, model)
            measured = sorted({str(v) for v in rows.loc[rows["model"] == model, "variant"].dropna()})
            if variant is None:
                problems.append(f"rule {rule_id!r}: {model} has no variant of prompt {prompt!r} now")
                continue
            if measured != [variant.stem]:
                problems.append(f"rule {rule_id!r}: {model} renders {_rel(project, variant)} now, run {run} "
                                f"measured variant {', '.join(measured) or 'none'}; re-run")
                continue
            key = f"{prompt}/{variant.stem}"
            if prompts.get(key) is None:
                problems.append(f"rule {rule_id!r}: run {run} does not record the sha256 of prompt {key}; re-run it")
            elif prompts[key] != file_sha256(variant):
                problems.append(f"rule {rule_id!r}: {_rel(project, variant)} changed since run {run}; re-run "
                                "`evals run` and `evals recommend`")
    return problems


__all__ = ["BUNDLE_DIR", "EXCLUDED_COLUMNS", "RUN_COLUMN", "bundle_bytes", "bundle_frame", "bundle_path",
           "cascade_choice_problems", "cited_models", "cited_suites", "dev_models", "run_rows", "identity_changes", "input_changes", "manifest_problems", "model_identity_sha256",
           "model_key", "number_problems", "pricing_sha256", "read_bundle", "rel_path", "repriced_cost_per_1k", "rule_inputs",
           "scorer_sha256", "suite_paths", "suite_weights"]
