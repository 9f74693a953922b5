"""The optional inputs of a report, each read only when present: aggregates, proposal and diff, spend.

A report must render from a results file alone; every reader here returns None (and a note saying
why) rather than failing when its artifact or the module that writes it is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from markupsafe import Markup

from evals.report.format import fmt_ci, fmt_ms, fmt_pct, fmt_usd


def report_aggregates(folder: Path | None, results: Any, notes: list[str], given: Any = None) -> Any:
    """The aggregates a report shows: ``given``, else the folder's ``aggregates.parquet``, else (or when
    that file is unreadable or from an older harness) computed from ``results`` with the folder's
    ``baselines.parquet`` by :func:`evals.aggregates.aggregate`, the same function ``evals run`` uses."""
    from evals.aggregates import aggregate, read_aggregates
    from evals.metrics import read_baselines
    from evals.report.views import has_required_metrics

    if given is not None:
        return given
    baselines = read_baselines(folder) if folder is not None else None
    if folder is not None and (folder / "aggregates.parquet").is_file():
        try:
            stored = read_aggregates(folder)
        except Exception as exc:  # an unreadable artifact: recompute from the results, and say so
            notes.append(f"aggregates.parquet not used ({type(exc).__name__}: {exc}); recomputed from the results")
        else:
            if results is None or not len(results):
                return stored
            if not has_required_metrics(stored):
                notes.append("aggregates.parquet was written by an older harness; recomputed from the results")
            elif baselines is not None and not (stored["metric"] == "baseline_quality").any():
                notes.append("aggregates.parquet has no baseline rows but the run has baselines.parquet; "
                             "recomputed from the results")
            else:
                return stored
    return aggregate(results, baselines=baselines)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return "" if value is None else str(value)


def _table(items: list[Any]) -> dict[str, Any]:
    columns: list[str] = []
    for item in items:
        for key in item if isinstance(item, dict) else ["value"]:
            if key not in columns:
                columns.append(str(key))
    rows = [[_cell(item.get(c)) if isinstance(item, dict) else _cell(item) for c in columns] for item in items]
    return {"columns": columns, "rows": rows}


def read_proposal(folder: Path, notes: list[str]) -> dict[str, Any] | None:
    """``proposal.yaml`` and ``diff.md`` (the policy compiler's output), or None when neither exists.

    Returns ``data`` (proposal.yaml as plain data, for :func:`evals.report.recommendation.recommendation_view`),
    ``facts`` (key/value pairs of where the proposal came from), ``tables`` (top-level lists of mappings
    other than the rules, as generic tables), ``diff`` (the diff's text) and ``diff_blocks`` (the diff
    parsed into headings, tables, lists and paragraphs).
    """
    from evals.report.mdblocks import parse_blocks

    path, diff_path = folder / "proposal.yaml", folder / "diff.md"
    if not path.is_file() and not diff_path.is_file():
        return None
    out: dict[str, Any] = {"data": None, "facts": [], "tables": [], "diff": None, "diff_blocks": []}
    if path.is_file():
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            notes.append(f"{path.name} could not be read: {type(exc).__name__}: {exc}")
            data = None
        if isinstance(data, dict):
            out["data"] = data
            for key, value in data.items():
                if key in ("rules", "default", "format_version"):
                    continue
                if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                    out["tables"].append({"title": str(key), **_table(value)})
                elif isinstance(value, dict) and key == "source":
                    out["facts"] += [(str(k), _cell(v)) for k, v in value.items() if not str(k).endswith("sha256")]
                else:
                    out["facts"].append((str(key), _cell(value)))
    if diff_path.is_file():
        out["diff"] = diff_path.read_text(encoding="utf-8")
        out["diff_blocks"] = parse_blocks(out["diff"])
    return out


def read_spend(logs: list[Path], notes: list[str]) -> dict[str, Any] | None:
    """Spend by model family from routing logs through ``evals.spend``, or None when no logs are given.

    A log the reader refuses (bad line, newer format) raises its :class:`evals.errors.DataError`; the
    caller asked for this section, so it is a user error, not something to hide.
    """
    if not logs:
        return None
    try:
        import evals.spend as spend
    except ImportError:
        notes.append("routing logs given but evals.spend is not available in this build; no spend breakdown")
        return {"chart": None, "table": None, "logs": [str(p) for p in logs]}
    frame = spend.spend_breakdown(spend.read_logs(logs), "family")
    chart = spend.spend_chart_svg(frame)
    chart = Markup(chart) if isinstance(chart, str) and chart.lstrip().startswith("<svg") else None
    columns = ["week", "family", "attempts", "answered", "tokens", "cost_usd", "unpriced", "spend_share",
               "token_share"]
    rows = []
    for r in frame.to_dict("records"):
        rows.append([_cell(r.get(c)) if c not in ("cost_usd", "spend_share", "token_share") else
                     (fmt_usd(r.get(c)) if c == "cost_usd" else fmt_pct(r.get(c))) for c in columns])
    return {"chart": chart, "table": {"columns": columns, "rows": rows}, "logs": [str(p) for p in logs]}
