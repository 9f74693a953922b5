"""Replay: what the logged calls would have cost, and scored, under another policy.

Each logged call (:mod:`evals.traffic`) is routed under the replayed policy, with ``models.yaml``'s
context windows as at run time, and priced by :func:`evals.costs.call_cost` in one of three ways:

* ``logged``: it goes where it went (same first model, same prompt). Every attempt is re-priced from
  its own logged token counts (and busy time, for a self-hosted model); its failovers are replayed
  as logged.
* ``ratio``: it moves to model M'. It is priced as M' answering it, with the logged answer's token
  counts scaled by the ratio of M''s to the logged model's tokens on the same examples of the new
  rule's suites in the evidence run; a self-hosted M' is priced at its mean busy time per call there.
  Its failures under M' are not simulated.
* ``eval mean``: it moves, but the logged model was not measured on those suites, the call was never
  answered, or its prompt changes: M''s mean tokens and busy time per call in the evidence run.

Anything else is **unknown**: no evidence run for a call that moves, a model without a price, a call
with no route. An unknown call makes every total it enters unknown (never $0). Totals per week are the
traffic model's: the log's totals divided by the weeks its span stands for, as in
``evals recommend --routing-log``. Projected quality comes from the rules' evidence, actual quality
from the baseline policy's evidence for the rule and model that answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evals.config.models import ModelsFile, load_models
from evals.config.policy import Policy, Target, load_policy
from evals.costs import call_cost
from evals.errors import ConfigError
from evals.report.format import fmt_pct, fmt_usd
from evals.client import ANSWERED, NOT_SENT, billable
from evals.router import Decision, NoRoute, Router
from evals.spend import markdown_table
from evals.stats import per_example_means
from evals.traffic import Traffic, missing, total, traffic

DESCRIPTOR_KEYS = ("task", "context_tokens", "latency_ms", "cost_ceiling_usd", "volume", "tags")
METHODS = ("logged", "ratio", "eval mean")
NO_ROUTE = "(no route)"


@dataclass
class ReplayResult:
    """The replay of one policy over routing logs.

    ``calls``: one row per call (how it was priced); ``weekly``: the log's calls per ISO week, actual
    vs projected, unscaled; ``per_rule``: per rule of the replayed policy, scaled to one week;
    ``total``: the whole log scaled to one week; ``moves``: calls per (old -> new) route.
    """

    calls: pd.DataFrame
    weekly: pd.DataFrame
    per_rule: pd.DataFrame
    total: dict[str, Any]
    moves: pd.DataFrame
    policy: str
    notes: list[str] = field(default_factory=list)


def evidence_for(target: Target | None, model: str) -> tuple[float | None, float | None]:
    """(quality, cost per call in USD) that ``target``'s evidence records for ``model``; Nones when absent."""
    ev = target.evidence if target is not None else None
    if ev is None:
        return None, None
    scores = [(ev.model or target.model, ev.quality, ev.cost_per_1k_usd)]
    scores += [(s.model, s.quality, s.cost_per_1k_usd) for s in getattr(ev, "fallbacks", [])]
    for name, quality, per_1k in scores:
        if name == model:
            return quality, (per_1k / 1000 if per_1k is not None else None)
    return None, None


class RunEvidence:
    """Token counts and busy time per call of the models of an evidence run (its results frame)."""

    def __init__(self, frame: pd.DataFrame | None):
        rows = frame if frame is not None else pd.DataFrame(columns=["suite", "model", "example_id"])
        for col in ("input_tokens", "output_tokens", "latency_ms"):
            rows = rows.assign(**{col: pd.to_numeric(rows[col], errors="coerce")}) if col in rows else rows.assign(**{col: math.nan})
        self.all = rows
        self.rows = rows[rows["input_tokens"].notna() & rows["output_tokens"].notna()]
        self._cache: dict[tuple, Any] = {}

    def _per_example(self, suites: tuple[str, ...], model: str) -> pd.DataFrame:
        rows = self.rows[self.rows["suite"].isin(suites) & (self.rows["model"] == model)]
        out = None
        for col in ("input_tokens", "output_tokens", "latency_ms"):
            means = per_example_means(rows, value=col).set_index(["suite", "example_id"])[col]
            out = means.to_frame() if out is None else out.join(means, how="outer")
        return out

    def ratio(self, suites: tuple[str, ...], source: str, target: str) -> tuple[float, float] | None:
        """(input, output) token ratio target / source over the examples both answered, or None."""
        key = ("ratio", suites, source, target)
        if key not in self._cache:
            a, b = self._per_example(suites, source), self._per_example(suites, target)
            common = a.index.intersection(b.index)
            a, b = a.loc[common], b.loc[common]
            ok = len(common) and a["input_tokens"].sum() > 0 and a["output_tokens"].sum() > 0
            self._cache[key] = ((float(b["input_tokens"].sum() / a["input_tokens"].sum()),
                                 float(b["output_tokens"].sum() / a["output_tokens"].sum())) if ok else None)
        return self._cache[key]

    def failure_rate(self, suites: tuple[str, ...], model: str) -> float | None:
        """Share of ``model``'s calls on ``suites`` that failed in a way the client fails over on, or None."""
        rows = self.all[self.all["suite"].isin(suites) & (self.all["model"] == model)]
        if rows.empty or "error" not in rows:
            return None
        failed = rows["error"].notna() & ~rows["error"].isin(["truncated", "scorer_error"])  # answers at run time
        return float(failed.mean())

    def means(self, suites: tuple[str, ...], model: str) -> tuple[float, float, float | None] | None:
        """(input tokens, output tokens, busy ms) per call of ``model`` on ``suites``, or None."""
        key = ("means", suites, model)
        if key not in self._cache:
            rows = self._per_example(suites, model)
            latency = rows["latency_ms"].mean() if len(rows) else math.nan
            self._cache[key] = ((float(rows["input_tokens"].mean()), float(rows["output_tokens"].mean()),
                                 None if math.isnan(latency) else float(latency)) if len(rows) else None)
        return self._cache[key]


def _value(value: Any) -> Any:
    return None if missing(value) else value


def _reprice_logged(attempts: list[dict[str, Any]], models: ModelsFile) -> float:
    """Every attempt of a call re-priced from its own logged counts (NaN when one cannot be priced)."""
    spent = 0.0
    for a in attempts:
        tokens_in, tokens_out, latency = _value(a["input_tokens"]), _value(a["output_tokens"]), _value(a["latency_ms"])
        if not billable(a["outcome"] in ANSWERED, tokens_in):
            continue  # nothing was paid for: the traffic model's rule (a cascade's passed-on answer was paid)
        if a["model"] not in models.ids:
            return math.nan
        cost = call_cost(models.get(a["model"]), tokens_in, tokens_out, latency, _value(a["cache_read_tokens"]),
                         cache_write_tokens=_value(a.get("cache_write_tokens")))
        if cost.usd is None:
            return math.nan
        spent += cost.usd
    return spent


class _Pricer:
    def __init__(self, policy: Policy, models: ModelsFile, evidence: RunEvidence, suites_of: dict[str, list[str]],
                 attempts: pd.DataFrame):
        self.policy, self.models, self.evidence, self.suites_of = policy, models, evidence, suites_of
        sent = attempts[~attempts["outcome"].isin(list(NOT_SENT))] if len(attempts) else attempts
        self.failure = ({m: float((g["outcome"] != "ok").mean()) for m, g in sent.groupby("model")} if len(sent) else {})
        self.assumed: set[str] = set()

    def suites(self, rule: str) -> tuple[str, ...]:
        target = self.policy.target(rule)
        if target is not None and target.evidence is not None and target.evidence.suite:
            return tuple(s.strip() for s in target.evidence.suite.split(",") if s.strip())
        return tuple(self.suites_of.get(rule, ()))

    def failure_rate(self, model: str, suites: tuple[str, ...]) -> float:
        """Share of a model's calls that fail over: as logged, else in the evidence run, else 0 (noted)."""
        if model in self.failure:
            return self.failure[model]
        rate = self.evidence.failure_rate(suites, model)
        if rate is None:
            self.assumed.add(model)
            return 0.0
        return rate

    def price(self, call: Any, decision: Decision) -> tuple[float, str | None]:
        """(projected USD, method) of ``call`` under ``decision``; (NaN, None) when unknown.

        A call that moves is expected to fail over down the new chain at each model's failure rate.
        """
        head = decision.chain[0].model
        same_prompt = missing(call.prompt) or call.prompt == decision.prompt  # a log without prompts cannot say
        if head == call.primary and same_prompt:
            usd = _reprice_logged(call.attempts, self.models)
            return (usd, "logged") if not math.isnan(usd) else (math.nan, None)
        suites = self.suites(decision.rule)
        expected, reach, method = 0.0, 1.0, None
        for position, candidate in enumerate(decision.chain):
            usd, how = self.answer(call, suites, candidate.model, same_prompt)
            fail = self.failure_rate(candidate.model, suites)
            if position == 0:
                method = how
            if reach * (1 - fail) > 0:
                if math.isnan(usd):
                    return math.nan, None
                expected += reach * (1 - fail) * usd
            reach *= fail
            if reach == 0:
                break
        return expected, method

    def answer(self, call: Any, suites: tuple[str, ...], model: str, same_prompt: bool) -> tuple[float, str | None]:
        """What ``model`` answering ``call`` costs: its logged tokens x the run's ratio (when the prompt is the
        one it was logged with), else the model's mean tokens per call in the run."""
        if model not in self.models.ids:
            return math.nan, None
        tokens, method = None, None
        mean = self.evidence.means(suites, model) if suites else None
        if call.answered and same_prompt and suites and not missing(call.input_tokens):
            ratio = self.evidence.ratio(suites, call.model, model)
            if ratio is not None:
                tokens = (call.input_tokens * ratio[0], call.output_tokens * ratio[1], mean[2] if mean else None)
                method = "ratio"
        if tokens is None and mean is not None:
            tokens, method = mean, "eval mean"
        if tokens is None:
            return math.nan, None
        cost = call_cost(self.models.get(model), round(tokens[0]), round(tokens[1]), tokens[2])
        return (cost.usd, method) if cost.usd is not None else (math.nan, None)


def replay(logs: pd.DataFrame | Traffic, policy_path: Path, *, models_path: Path | None = None,
           baseline_path: Path | None = None, evidence: pd.DataFrame | None = None,
           rule_suites: dict[str, list[str]] | None = None) -> ReplayResult:
    """Re-route every logged call under ``policy_path`` and project its spend and quality.

    Args:
        logs: a :func:`evals.spend.read_logs` frame (or its :class:`~evals.traffic.Traffic`).
        policy_path: the policy to replay (a proposal, or the policy in force).
        models_path: ``models.yaml``: prices (every call is re-priced) and context windows.
        baseline_path: the policy the logs were routed under, for the actual quality.
        evidence: the evidence run's results frame, for calls that move to another model.
        rule_suites: rule id -> the run's suites for it, where a rule's evidence does not name them.
    """
    proposal: Policy = load_policy(Path(policy_path))
    baseline = load_policy(Path(baseline_path)) if baseline_path is not None else None
    if models_path is None:
        raise ConfigError(policy_path, "replay re-prices every call: pass models.yaml (models_path)")
    models = load_models(Path(models_path))
    try:
        router = Router.from_file(policy_path, models_path)
    except ValueError as exc:
        raise ConfigError(policy_path, str(exc).removeprefix(f"{policy_path}: ")) from None
    flow = logs if isinstance(logs, Traffic) else traffic(logs)
    pricer = _Pricer(proposal, models, RunEvidence(evidence), rule_suites or {}, flow.attempts)
    rows = []
    for call in flow.calls.itertuples(index=False):
        desc = {k: v for k, v in (call.descriptor or {}).items() if k in DESCRIPTOR_KEYS}
        try:
            decision = router.route(**desc)
        except NoRoute:
            decision = None
        if decision is None:
            new_rule = new_model = NO_ROUTE
            usd, method, quality = math.nan, None, None
        else:
            new_rule, new_model = decision.rule, decision.model
            usd, method = pricer.price(call, decision)
            quality = evidence_for(proposal.target(new_rule), new_model)[0]
        actual_quality = (evidence_for(baseline.target(call.rule), call.model)[0]
                          if baseline is not None and call.model is not None else None)
        rows.append({"call_id": call.call_id, "week": call.week, "rule": call.rule, "model": call.model or "(none)",
                     "new_rule": new_rule, "new_model": new_model, "method": method or "unknown",
                     "actual_usd": call.actual_usd, "projected_usd": usd,
                     "actual_quality": actual_quality, "projected_quality": quality})
    cols = ["call_id", "week", "rule", "model", "new_rule", "new_model", "method", "actual_usd", "projected_usd",
            "actual_quality", "projected_quality"]
    frame = pd.DataFrame(rows, columns=cols)
    for col in ("actual_usd", "projected_usd", "actual_quality", "projected_quality"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    notes = list(flow.notes)
    counts = frame["method"].value_counts()
    notes.append("priced: " + ", ".join(f"{int(counts.get(m, 0))} {m}" for m in (*METHODS, "unknown")))
    if pricer.assumed:
        notes.append(f"no failure rate logged or measured for {', '.join(sorted(pricer.assumed))}: assumed never to fail")
    if counts.get("unknown", 0) and evidence is None and (frame["new_model"] != frame["model"]).any():
        notes.append("calls that move to another model need the evidence run: pass --run RUN")
    return ReplayResult(frame, _weekly(frame), _per_rule(frame, flow), _total(frame, flow), _moves(frame),
                        str(policy_path), notes)


def _change(actual: float, projected: float) -> tuple[float, float]:
    change = projected - actual
    return change, (change / actual if not math.isnan(change) and actual > 0 else math.nan)


def _summary(group: pd.DataFrame) -> dict[str, Any]:
    actual, projected = total(group["actual_usd"]), total(group["projected_usd"])
    change, pct = _change(actual, projected)
    return {"calls": len(group), "actual_usd": actual, "projected_usd": projected, "change_usd": change,
            "change_pct": pct, "unpriced": int(group["projected_usd"].isna().sum()),
            "actual_unpriced": int(group["actual_usd"].isna().sum())}


def _weekly(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["week", "calls", "actual_usd", "projected_usd", "change_usd", "change_pct", "unpriced", "actual_unpriced",
            *METHODS, "actual_quality", "projected_quality"]
    rows = []
    for week, group in frame.groupby("week", sort=True):
        counts = group["method"].value_counts()
        rows.append({"week": week, **_summary(group), **{m: int(counts.get(m, 0)) for m in METHODS},
                     "actual_quality": group["actual_quality"].mean(),
                     "projected_quality": group["projected_quality"].mean()})
    return pd.DataFrame(rows, columns=cols)


def _scaled(summary: dict[str, Any], flow: Traffic) -> dict[str, Any]:
    out = dict(summary)
    for key in ("calls", "actual_usd", "projected_usd", "change_usd"):
        out[key] = flow.per_week(float(summary[key]))
    return out


def _per_rule(frame: pd.DataFrame, flow: Traffic) -> pd.DataFrame:
    cols = ["rule", "calls", "actual_usd", "projected_usd", "change_usd", "change_pct", "unpriced", "actual_unpriced"]
    rows = [{"rule": rule, **_scaled(_summary(group), flow)} for rule, group in frame.groupby("new_rule", sort=True)]
    return pd.DataFrame(rows, columns=cols)


def _total(frame: pd.DataFrame, flow: Traffic) -> dict[str, Any]:
    return {"weeks": flow.weeks, **_scaled(_summary(frame), flow)}


def _moves(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["rule", "model", "new_rule", "new_model", "calls", "actual_usd", "projected_usd"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    rows = [{"rule": k[0], "model": k[1], "new_rule": k[2], "new_model": k[3], "calls": len(g),
             "actual_usd": total(g["actual_usd"]), "projected_usd": total(g["projected_usd"])}
            for k, g in frame.groupby(["rule", "model", "new_rule", "new_model"], sort=True)]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["calls", "rule"], ascending=[False, True]).reset_index(drop=True)


def _money(value: float, unpriced: int = 0) -> str:
    if not missing(value):
        return fmt_usd(value)
    return f"unknown ({unpriced} unpriced)" if unpriced else "unknown"


def _signed_money(value: float) -> str:
    if missing(value):
        return "unknown"
    return ("+" if value > 0 else "") + fmt_usd(value)


def _signed_pct(value: float) -> str:
    return "n/a" if missing(value) else ("+" if value > 0 else "") + fmt_pct(value)


def _money_table(frame: pd.DataFrame, first: str) -> str:
    if frame.empty:
        return markdown_table(frame)
    view = pd.DataFrame({
        first: frame[first].astype(str),
        "calls": frame["calls"].map(lambda v: f"{v:,.0f}"),
        "logged": [_money(v, n) for v, n in zip(frame["actual_usd"], frame["actual_unpriced"])],
        "replayed": [_money(v, n) for v, n in zip(frame["projected_usd"], frame["unpriced"])],
        "change": frame["change_usd"].map(_signed_money),
        "change %": frame["change_pct"].map(_signed_pct),
    })
    return markdown_table(view)


def render_markdown(result: ReplayResult) -> str:
    """The replay as Markdown: the weekly total, per rule, per logged week, then where the calls move."""
    t = result.total
    head = (f"**Per week:** {_money(t['actual_usd'], t['actual_unpriced'])} logged → "
            f"{_money(t['projected_usd'], t['unpriced'])} replayed ({_signed_money(t['change_usd'])}, "
            f"{_signed_pct(t['change_pct'])}) over {t['calls']:,.0f} calls per week.")
    moves = pd.DataFrame({
        "logged rule": result.moves["rule"], "logged model": result.moves["model"],
        "replayed rule": result.moves["new_rule"], "replayed model": result.moves["new_model"],
        "calls": result.moves["calls"], "logged": result.moves["actual_usd"].map(_money),
        "replayed": result.moves["projected_usd"].map(_money)})
    lines = [f"## Replay under {result.policy}", "", head, "",
             "### Per rule of the replayed policy (per week)", "", _money_table(result.per_rule, "rule"), "",
             "### Per logged week (not scaled)", "", _money_table(result.weekly, "week"), "",
             "### Where the calls go", "", markdown_table(moves), ""]
    quality = [(w, a, p) for w, a, p in zip(result.weekly["week"], result.weekly["actual_quality"],
                                             result.weekly["projected_quality"]) if not (missing(a) and missing(p))]
    if quality:
        fmt = lambda v: "n/a" if missing(v) else f"{v:.3f}"  # noqa: E731
        lines += ["Quality from the rules' evidence, logged → replayed: "
                  + ", ".join(f"{w}: {fmt(a)} → {fmt(p)}" for w, a, p in quality), ""]
    lines += [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def replay_project(project: Any, logs: pd.DataFrame, policy_path: Path, *, baseline_path: Path | None = None,
                   run: str | None = None) -> ReplayResult:
    """:func:`replay` inside a project: the evidence run is ``run``, else the one ``policy_path`` was
    compiled from (``source.run_id``) when it is in ``reports/``; its suites are mapped to the policy's
    rules by :func:`evals.policy.evidence.rule_suites`."""
    from evals.policy.evidence import load_run, rule_suites, suite_specs

    policy = load_policy(Path(policy_path))
    source = policy.source.run_id if policy.source is not None else None
    run = run or source
    frame, notes = None, []
    if run is not None:
        if run == source and not (project.reports_dir / run).is_dir():
            notes.append(f"evidence run {run} is not in {project.reports_dir}: calls that move are unpriced")
        else:
            frame = load_run(project, run).frame
            notes.append(f"evidence run {run}")
    linked = {rule: [s.name for s in specs] for rule, specs in rule_suites(policy, suite_specs(project).values()).items()}
    result = replay(logs, policy_path, models_path=project.models_file, baseline_path=baseline_path, evidence=frame,
                    rule_suites=linked)
    result.notes[:0] = notes
    return result
