"""Replay: re-route the calls of routing logs under another policy and project weekly spend and quality.

Each logged call (all attempts sharing a ``call_id``) keeps its descriptor and week. Under the new
policy it goes to the decision's first model (failover is not simulated). A call's projected cost is
the rule evidence's ``cost_per_1k_usd / 1000`` for that model where the evidence has it, else the
average cost of that model's answered calls in the logs, else unknown (counted as ``unpriced``).
Projected quality comes from the same evidence; actual quality from the baseline policy's evidence
for the logged rule and the model that answered, when a baseline is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evals.config.policy import Policy, Target, load_policy
from evals.errors import ConfigError
from evals.router import NoRoute, Router
from evals.spend import markdown_table, usd

DESCRIPTOR_KEYS = ("task", "context_tokens", "latency_ms", "cost_ceiling_usd", "volume", "tags")


@dataclass
class ReplayResult:
    """``weekly``: actual vs projected spend and quality per ISO week; ``moves``: calls per (old -> new) route."""

    weekly: pd.DataFrame
    moves: pd.DataFrame
    policy: str


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


def _calls(logs: pd.DataFrame) -> pd.DataFrame:
    """One row per call: week, descriptor, logged rule, the model that answered, and what all attempts cost."""
    ordered = logs.sort_values(["call_id", "attempt"])
    answered = ordered[ordered["outcome"] == "ok"].drop_duplicates("call_id").set_index("call_id")["model"]
    g = ordered.groupby("call_id", sort=False)
    calls = g.agg(week=("week", "first"), descriptor=("descriptor", "first"), rule=("rule", "first"),
                  primary=("model", "first"), actual_usd=("cost_usd", lambda s: s.sum(min_count=1)))
    calls["model"] = answered.reindex(calls.index).fillna(calls["primary"])
    return calls.reset_index()


def replay(logs: pd.DataFrame, policy_path: Path, *, models_path: Path | None = None,
           baseline_path: Path | None = None) -> ReplayResult:
    """Re-route every logged call under ``policy_path`` and project weekly spend and quality.

    Args:
        logs: a :func:`evals.spend.read_logs` frame.
        policy_path: the policy to replay (e.g. a proposal).
        models_path: ``models.yaml``, so context windows are respected as at run time.
        baseline_path: the policy the logs were routed under, for the actual quality.
    """
    proposal: Policy = load_policy(Path(policy_path))
    baseline = load_policy(Path(baseline_path)) if baseline_path is not None else None
    try:
        router = Router.from_file(policy_path, models_path)
    except ValueError as exc:
        raise ConfigError(policy_path, str(exc).removeprefix(f"{policy_path}: ")) from None
    calls = _calls(logs) if not logs.empty else pd.DataFrame(
        columns=["call_id", "week", "descriptor", "rule", "primary", "actual_usd", "model"])
    observed = (logs[logs["outcome"] == "ok"].groupby("model")["cost_usd"].mean() if not logs.empty else pd.Series(dtype=float))
    rows = []
    for call in calls.itertuples(index=False):
        desc = {k: v for k, v in (call.descriptor or {}).items() if k in DESCRIPTOR_KEYS}
        try:
            decision = router.route(**desc)
            new_rule, new_model = decision.rule, decision.model
        except NoRoute:
            new_rule = new_model = None
        quality, cost = evidence_for(proposal.target(new_rule), new_model) if new_rule else (None, None)
        source = "evidence" if cost is not None else None
        if cost is None and new_model is not None and pd.notna(observed.get(new_model)):
            cost, source = float(observed[new_model]), "logs"
        actual_quality = evidence_for(baseline.target(call.rule), call.model)[0] if baseline is not None else None
        rows.append({"week": call.week, "rule": call.rule, "model": call.model, "new_rule": new_rule or "(no route)",
                     "new_model": new_model or "(no route)", "actual_usd": call.actual_usd, "projected_usd": cost,
                     "source": source, "actual_quality": actual_quality, "projected_quality": quality})
    frame = pd.DataFrame(rows, columns=["week", "rule", "model", "new_rule", "new_model", "actual_usd", "projected_usd",
                                        "source", "actual_quality", "projected_quality"])
    for col in ("actual_usd", "projected_usd", "actual_quality", "projected_quality"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return ReplayResult(_weekly(frame), _moves(frame), str(policy_path))


def _weekly(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["week", "calls", "actual_usd", "projected_usd", "change_usd", "change_pct", "from_evidence", "from_logs",
            "unpriced", "actual_quality", "projected_quality"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    g = frame.groupby("week", sort=True)
    out = pd.DataFrame({
        "calls": g.size(),
        "actual_usd": g["actual_usd"].sum(),
        "projected_usd": g["projected_usd"].sum(),
        "from_evidence": g["source"].apply(lambda s: int((s == "evidence").sum())),
        "from_logs": g["source"].apply(lambda s: int((s == "logs").sum())),
        "unpriced": g["projected_usd"].apply(lambda s: int(s.isna().sum())),
        "actual_quality": g["actual_quality"].mean(),
        "projected_quality": g["projected_quality"].mean(),
    }).reset_index()
    out["change_usd"] = out["projected_usd"] - out["actual_usd"]
    out["change_pct"] = out["change_usd"] / out["actual_usd"].where(out["actual_usd"] > 0)
    return out[cols]


def _moves(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["rule", "model", "new_rule", "new_model", "calls", "actual_usd", "projected_usd"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    g = frame.groupby(["rule", "model", "new_rule", "new_model"], sort=True)
    out = pd.DataFrame({"calls": g.size(), "actual_usd": g["actual_usd"].sum(),
                        "projected_usd": g["projected_usd"].sum(min_count=1)}).reset_index()
    return out.sort_values(["calls", "rule"], ascending=[False, True]).reset_index(drop=True)[cols]


def render_markdown(result: ReplayResult) -> str:
    """The replay as Markdown: weekly projection, then where the calls move."""
    weekly = result.weekly.copy()
    for col in ("actual_usd", "projected_usd", "change_usd"):
        weekly[col] = weekly[col].map(usd)
    weekly["change_pct"] = weekly["change_pct"].map(lambda v: "n/a" if pd.isna(v) else f"{100 * v:+.1f}%")
    for col in ("actual_quality", "projected_quality"):
        weekly[col] = weekly[col].map(lambda v: "n/a" if pd.isna(v) else f"{v:.3f}")
    moves = result.moves.copy()
    for col in ("actual_usd", "projected_usd"):
        moves[col] = moves[col].map(usd)
    return "\n".join([f"## Replay under {result.policy}", "", "### Weekly spend, actual vs projected", "",
                      markdown_table(weekly), "", "### Where the calls go", "", markdown_table(moves), ""])
