"""A run against a baseline run: what got better and worse, per suite x model and per example.

Per suite x model the two runs are compared on the examples both answered, by the per-example quality
of :mod:`evals.metrics` (repeats averaged, answer failures 0, infrastructure failures left out) and the
paired interval of :func:`evals.stats.paired_difference`; the example lists show single rows that moved.
"""

from __future__ import annotations

import math
from typing import Any

KEY = ["suite", "model", "example_id", "repeat"]


def verdict(low: float, high: float) -> str:
    """``better`` or ``worse`` when the interval excludes zero, else ``unchanged``.

    >>> verdict(0.01, 0.2), verdict(-0.3, -0.1), verdict(-0.1, 0.1)
    ('better', 'worse', 'unchanged')
    """
    if math.isnan(low) or math.isnan(high):
        return "unchanged"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "unchanged"


def _rows(frame: Any) -> Any:
    """Per row: its key, its quality score (NaN for an infrastructure failure) and whether it failed."""
    from evals.metrics import Calls

    calls = Calls.of(frame)
    keep = frame[KEY].copy()
    keep["value"] = calls.score
    keep["errored"] = calls.failure != None  # noqa: E711
    for column in ("output", "error", "prompt_hash"):
        keep[column] = frame[column].to_numpy() if column in frame else None
    return keep


def _splits(frame: Any) -> dict[str, str]:
    if not len(frame) or "split" not in frame:
        return {}
    return {str(s): ", ".join(sorted(set(map(str, g["split"].dropna().tolist())))) or "?"
            for s, g in frame.groupby("suite", sort=True)}


def what_changed(current: Any, baseline: Any, manifest: dict[str, Any] | None = None,
                 baseline_manifest: dict[str, Any] | None = None) -> list[str]:
    """What differs between two runs besides the answers, per suite: the split, the suite's files, the
    prompt variant each model rendered, the scorer, the harness version. Each line names the suite or
    variant, so "0 rows matched" is never left unexplained."""
    manifest, baseline_manifest = manifest or {}, baseline_manifest or {}
    out = []
    now_splits, then_splits = _splits(current), _splits(baseline)
    for suite in sorted(set(now_splits) & set(then_splits)):
        if now_splits[suite] != then_splits[suite]:
            out.append(f"{suite}: this run scored split {now_splits[suite]}, the baseline split {then_splits[suite]}: "
                       "different examples, no pair in common; compare runs of the same split")
    suites_now = manifest.get("suites") if isinstance(manifest.get("suites"), dict) else {}
    suites_then = baseline_manifest.get("suites") if isinstance(baseline_manifest.get("suites"), dict) else {}
    for suite in sorted(set(suites_now) & set(suites_then)):
        a, b = suites_then[suite] or {}, suites_now[suite] or {}
        if a.get("sha256") and b.get("sha256") and a["sha256"] != b["sha256"]:
            out.append(f"{suite}: the suite's files changed (suite.yaml, data or scorer settings)")
        if a.get("scorer") != b.get("scorer") and a.get("scorer") is not None and b.get("scorer") is not None:
            out.append(f"{suite}: the scorer reports different settings ({a.get('scorer')} -> {b.get('scorer')})")
    prompts_now = manifest.get("prompts") if isinstance(manifest.get("prompts"), dict) else {}
    prompts_then = baseline_manifest.get("prompts") if isinstance(baseline_manifest.get("prompts"), dict) else {}
    for variant in sorted(set(prompts_now) & set(prompts_then)):
        if prompts_now[variant] != prompts_then[variant]:
            out.append(f"prompt variant {variant} changed (sha256 {str(prompts_then[variant])[:12]} -> "
                       f"{str(prompts_now[variant])[:12]})")
    versions = (baseline_manifest.get("harness_version"), manifest.get("harness_version"))
    if all(versions) and versions[0] != versions[1]:
        out.append(f"harness version {versions[0]} -> {versions[1]}: scorers and metrics may differ")
    return out


def compare_runs(current: Any, baseline: Any, *, baseline_id: str, per_example_limit: int = 50,
                 manifest: dict[str, Any] | None = None, baseline_manifest: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """Paired comparison of two runs on the suite x model pairs both have.

    Returns per suite x model rows (mean per-example quality before and after on the examples both runs
    answered, the paired difference with its interval and a verdict, and how many requests differ), the
    rows whose score moved most in each direction, what changed besides the answers
    (:func:`what_changed`), and per matched row the baseline's score, output and error for the drill-down.
    """
    from evals.metrics import align, example_scores, paired_diff

    rows = []
    cur_groups = dict(iter(current.groupby(["suite", "model"], sort=True))) if len(current) else {}
    base_groups = dict(iter(baseline.groupby(["suite", "model"], sort=True))) if len(baseline) else {}
    for key in sorted(set(cur_groups) & set(base_groups)):
        after_scores, before_scores = example_scores(cur_groups[key]), example_scores(base_groups[key])
        before, after = align(before_scores, after_scores)
        d = paired_diff(before_scores, after_scores)
        rows.append({
            "suite": str(key[0]), "model": str(key[1]), "n": int(d.n),
            "before": float(before.mean()) if before.size else None, "after": float(after.mean()) if after.size else None,
            "delta": d.diff, "ci_low": d.ci_low, "ci_high": d.ci_high, "verdict": verdict(d.ci_low, d.ci_high),
            "improved": int((after > before).sum()), "regressed": int((after < before).sum()),
        })
    merged = _rows(current).merge(_rows(baseline), on=KEY, suffixes=("", "_base"))
    requests = {}
    if len(merged):
        differs = merged["prompt_hash"].astype(str) != merged["prompt_hash_base"].astype(str)
        requests = {(str(s), str(m)): int(v) for (s, m), v in differs.groupby([merged["suite"], merged["model"]]).sum().items()}
    for row in rows:
        row["requests_changed"] = requests.get((row["suite"], row["model"]), 0)
    merged["delta"] = merged["value"] - merged["value_base"]
    moved = merged[merged["delta"].notna() & (merged["delta"] != 0)]

    def examples(part: Any) -> list[dict[str, Any]]:
        return [{"suite": str(r.suite), "model": str(r.model), "example_id": str(r.example_id),
                 "repeat": int(r.repeat), "before": float(r.value_base), "after": float(r.value),
                 "delta": float(r.delta), "errored": bool(r.errored), "errored_before": bool(r.errored_base)}
                for r in part.itertuples(index=False)]

    worse = moved[moved["delta"] < 0].sort_values(["delta"] + KEY).head(per_example_limit)
    better = moved[moved["delta"] > 0].sort_values(["delta"] + KEY, ascending=[False] + [True] * 4)
    better = better.head(per_example_limit)
    cur_keys = {(str(s), str(m)) for s, m in cur_groups}
    base_keys = {(str(s), str(m)) for s, m in base_groups}
    return {
        "baseline_id": baseline_id,
        "matched_rows": int(len(merged)),
        "rows": rows,
        "better": examples(better), "worse": examples(worse),
        "n_better": int((moved["delta"] > 0).sum()), "n_worse": int((moved["delta"] < 0).sum()),
        "only_current": sorted(f"{s} / {m}" for s, m in cur_keys - base_keys),
        "only_baseline": sorted(f"{s} / {m}" for s, m in base_keys - cur_keys),
        "per_example_limit": per_example_limit,
        "changes": what_changed(current, baseline, manifest, baseline_manifest),
        "splits": {"current": _splits(current), "baseline": _splits(baseline)},
        "baseline_rows": _baseline_rows(merged),
    }


def _baseline_rows(merged: Any) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    """Per matched row, (suite, model, example_id, repeat) -> the baseline's score, output and error and
    whether the request changed, for the drill-down (read column by column: a row at a time through
    pandas costs more than the rest of the comparison)."""
    columns = ("suite", "model", "example_id", "repeat", "value_base", "output_base", "error_base", "prompt_hash",
               "prompt_hash_base")
    out = {}
    for suite, model, example_id, repeat, value, output, error, now, then in zip(
            *(merged[c].tolist() for c in columns)):
        out[(str(suite), str(model), str(example_id), int(repeat))] = {
            "score": None if math.isnan(value) else float(value),
            "output": None if _missing(output) else str(output),
            "error": None if _missing(error) else str(error),
            "prompt_changed": str(now) != str(then)}
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_changes(comparison: dict[str, Any]) -> str:
    """The paired change per suite and model as plain text for a terminal (``evals run --baseline``).

    >>> print(format_changes({"baseline_id": "r1", "rows": [{"suite": "s", "model": "m", "n": 40, "before": 0.5,
    ...     "after": 0.6, "delta": 0.1, "ci_low": 0.02, "ci_high": 0.18, "verdict": "better", "improved": 6,
    ...     "regressed": 2, "requests_changed": 40}], "changes": [], "only_current": [], "matched_rows": 40}))
    against r1 (paired, on the examples both runs answered):
      s / m: 0.500 -> 0.600, +0.100 [+0.020, +0.180] n=40, better (6 up, 2 down; 40 requests changed)
    """
    from evals.report.format import fmt_delta, fmt_num

    lines = [f"against {comparison['baseline_id']} (paired, on the examples both runs answered):"]
    for r in comparison["rows"]:
        changed = f"; {r['requests_changed']} requests changed" if r.get("requests_changed") else ""
        lines.append(f"  {r['suite']} / {r['model']}: {fmt_num(r['before'])} -> {fmt_num(r['after'])}, "
                     f"{fmt_delta(r['delta'])} [{fmt_delta(r['ci_low'])}, {fmt_delta(r['ci_high'])}] n={r['n']}, "
                     f"{r['verdict']} ({r['improved']} up, {r['regressed']} down{changed})")
    if not comparison["rows"] or not comparison.get("matched_rows"):
        lines.append("  no suite and model in common with examples both runs answered")
    lines += [f"  note: {c}" for c in comparison.get("changes", [])]
    if comparison.get("only_current"):
        lines.append("  only in this run: " + ", ".join(comparison["only_current"]))
    return "\n".join(lines)
