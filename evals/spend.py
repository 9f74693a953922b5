"""Spend breakdown from routing logs: shares of spend and tokens per model family or model, per ISO week.

:func:`read_logs` loads the JSON lines :mod:`evals.client` appends (one per attempt);
:func:`spend_breakdown` and :func:`failover_counts` are pure functions over that frame;
:func:`render_markdown` and :func:`spend_chart_svg` render them (the SVG is self-contained, for the
HTML report).
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Iterable

import pandas as pd

from evals.client import ANSWERED, ESCALATED, NOT_SENT  # attempts that sent nothing to a model
from evals.errors import DataError, FormatVersionError, UsageError

LOG_FORMAT = 1
LOG_COLUMNS = ["time", "week", "call_id", "rule", "suite", "model", "family", "provider", "prompt", "variant",
               "attempt", "outcome", "final", "input_tokens", "output_tokens", "cache_read_tokens",
               "cache_write_tokens", "tokens", "cost_usd", "latency_ms", "confidence", "accept_if", "descriptor"]


def iso_week(when: datetime) -> str:
    """``YYYY-Www`` of a timestamp.

    >>> iso_week(datetime(2026, 1, 1))
    '2026-W01'
    >>> iso_week(datetime(2027, 1, 1))
    '2026-W53'
    """
    year, week, _ = when.isocalendar()
    return f"{year}-W{week:02d}"


REQUIRED = ("call_id", "model", "outcome")


def _row(rec: object, path: Path, number: int, lenient: bool) -> dict:
    try:
        version = rec.get("format_version", 1)
        if not isinstance(version, int) or version > LOG_FORMAT:
            raise FormatVersionError(f"{path}:{number}: routing log format {version} is newer than this "
                                     f"harness reads ({LOG_FORMAT}); upgrade portfolio-evals")
        when = datetime.fromisoformat(rec["time"].replace("Z", "+00:00"))
        row = {k: rec.get(k) for k in LOG_COLUMNS if k not in ("week", "tokens")}
        row.update(time=when, week=iso_week(when))
        for key in REQUIRED:
            if not lenient:
                row[key] = rec[key]
        if row["call_id"] is None:  # lenient: a line without a call id is a call of its own
            row.update(call_id=f"{path.name}:{number}", attempt=1, final=True)
    except AttributeError as exc:
        raise DataError(path, f"not a JSON object: {exc}", line=number) from None
    except KeyError as exc:
        raise DataError(path, f"routing log line lacks {exc.args[0]!r}", line=number) from None
    except (TypeError, ValueError) as exc:
        raise DataError(path, f"bad time: {exc}", line=number) from None
    row["tokens"] = (row["input_tokens"] or 0) + (row["output_tokens"] or 0)
    return row


def read_logs(paths: Iterable[Path], *, lenient: bool = False) -> pd.DataFrame:
    """Read routing logs (JSON lines) into one frame with a ``week`` and a ``tokens`` column.

    A line that is not JSON or lacks ``time``, ``call_id``, ``model`` or ``outcome`` is a
    :class:`DataError` naming file and line. ``lenient`` (the traffic model's reading of logs written
    by other tools) needs only ``time``, takes a line without ``call_id`` as a call of its own, and
    skips unreadable lines, counted in ``frame.attrs["skipped"]``. A newer ``format_version`` is
    always refused. Lines end at ``\n`` only (JSON lines): a U+2028, U+0085 or form feed inside a
    string of a log written by another tool is text, not a line break.
    """
    rows, skipped = [], 0
    for path in map(Path, paths):
        try:
            text = path.read_text(encoding="utf-8", errors="replace" if lenient else "strict")
        except FileNotFoundError:
            raise DataError(path, "routing log not found") from None
        for number, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(path, f"not a JSON object: {exc}", line=number) from None
                rows.append(_row(rec, path, number, lenient))
            except DataError:
                if not lenient:
                    raise
                skipped += 1
    frame = pd.DataFrame(rows, columns=LOG_COLUMNS)
    frame["cost_usd"] = pd.to_numeric(frame["cost_usd"], errors="coerce").astype(float)
    frame["tokens"] = frame["tokens"].astype("int64")
    frame["family"] = frame["family"].fillna("unknown")
    frame.attrs["skipped"] = skipped
    return frame


def _select_week(logs: pd.DataFrame, week: str | None) -> pd.DataFrame:
    if week is None:
        return logs
    if not (len(week) == 8 and week[4:6] == "-W" and week[:4].isdigit() and week[6:].isdigit()):
        raise UsageError(f"--week {week!r}: use the ISO form YYYY-Www, e.g. 2026-W48")
    return logs[logs["week"] == week]


def spend_breakdown(logs: pd.DataFrame, by: str = "family", week: str | None = None) -> pd.DataFrame:
    """Per week and per ``by`` ("family" or "model"): attempts, calls answered, tokens, spend, and shares.

    ``spend_share`` and ``token_share`` are fractions of the week's total (each sums to 1 per week
    when the week has any spend or tokens). Attempts whose cost is unknown count as ``unpriced``.
    """
    if by not in ("family", "model"):
        raise UsageError(f"by={by!r}: use 'family' or 'model'")
    logs = _select_week(logs, week)
    cols = ["week", by, "attempts", "answered", "tokens", "cost_usd", "unpriced", "spend_share", "token_share"]
    if logs.empty:
        return pd.DataFrame(columns=cols)
    tried = logs[~logs["outcome"].isin(list(NOT_SENT))]
    g = tried.groupby(["week", by], sort=True)
    out = pd.DataFrame({
        "attempts": g.size(),
        "answered": g["outcome"].apply(lambda s: int((s == "ok").sum())),
        "tokens": g["tokens"].sum(),
        "cost_usd": g["cost_usd"].sum(min_count=0),
        "unpriced": g["cost_usd"].apply(lambda s: int(s.isna().sum())),
    }).reset_index()
    week_cost = out.groupby("week")["cost_usd"].transform("sum")
    week_tokens = out.groupby("week")["tokens"].transform("sum")
    out["spend_share"] = (out["cost_usd"] / week_cost.where(week_cost > 0)).fillna(0.0)
    out["token_share"] = (out["tokens"] / week_tokens.where(week_tokens > 0)).fillna(0.0)
    return out.sort_values(["week", "cost_usd", by], ascending=[True, False, True]).reset_index(drop=True)[cols]


def _failed_before_answer(outcomes: pd.Series) -> bool:
    """Answered after an earlier attempt failed or was skipped (a cascade's escalation is no failure)."""
    values = list(outcomes)
    if "ok" not in values:
        return False
    return any(o not in ANSWERED for o in values[: values.index("ok")])


def failover_counts(logs: pd.DataFrame, week: str | None = None) -> pd.DataFrame:
    """Per rule: calls, calls that failed over (answered after an earlier model failed or was skipped),
    calls a cascade escalated (a leg's answer passed on for its confidence), calls left unanswered."""
    logs = _select_week(logs, week)
    cols = ["rule", "calls", "failovers", "unanswered", "failover_rate", "escalations", "escalation_rate"]
    if logs.empty:
        return pd.DataFrame(columns=cols)
    ordered = logs.sort_values(["call_id", "attempt"], kind="stable")
    calls = ordered.groupby("call_id").agg(rule=("rule", "first"),
                                           answered=("outcome", lambda s: bool((s == "ok").any())),
                                           failover=("outcome", _failed_before_answer),
                                           escalated=("outcome", lambda s: bool((s == ESCALATED).any())))
    g = calls.groupby("rule")
    out = pd.DataFrame({
        "calls": g.size(),
        "failovers": g["failover"].sum().astype(int),
        "escalations": g["escalated"].sum().astype(int),
        "unanswered": g["answered"].apply(lambda s: int((~s).sum())),
    }).reset_index()
    out["failover_rate"] = out["failovers"] / out["calls"]
    out["escalation_rate"] = out["escalations"] / out["calls"]
    return out.sort_values(["calls", "rule"], ascending=[False, True]).reset_index(drop=True)[cols]


def usd(value) -> str:
    """Dollars with 4 decimals, ``n/a`` when unknown.

    >>> usd(-0.2), usd(float("nan"))
    ('-$0.2000', 'n/a')
    """
    return "n/a" if pd.isna(value) else f"{'-' if value < 0 else ''}${abs(value):,.4f}"


def format_cell(value, column: str) -> str:
    """How a cell of a spend table reads: shares and rates as percentages, dollars with 4 decimals."""
    if column.endswith("share") or column.endswith("rate"):
        return f"{100 * value:.1f}%"
    if column == "cost_usd":
        return usd(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table; shares as percentages, dollars with 4 decimals.

    >>> print(markdown_table(pd.DataFrame({"model": ["a|b"], "spend_share": [0.5]})))
    | model | spend_share |
    | --- | ---: |
    | a\\|b | 50.0% |
    """
    if frame.empty:
        return "_no calls logged_"
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    lines = ["| " + " | ".join(frame.columns) + " |", "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    for row in frame.itertuples(index=False):
        cells = [format_cell(v, c).replace("|", "\\|") for v, c in zip(row, frame.columns)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(logs: pd.DataFrame, week: str | None = None) -> str:
    """The weekly spend report: per family, per model, and failovers and escalations per rule."""
    title = f"week {week}" if week else "all weeks"
    parts = [f"## Model spend, {title}", "", "### Per model family", "", markdown_table(spend_breakdown(logs, "family", week)),
             "", "### Per model", "", markdown_table(spend_breakdown(logs, "model", week)),
             "", "### Failovers and escalations per rule", "", markdown_table(failover_counts(logs, week)), ""]
    return "\n".join(parts)


def spend_chart_svg(df: pd.DataFrame, *, week: str | None = None, width: int = 560) -> str:
    """A self-contained inline SVG bar chart of ``spend_share`` and ``token_share`` (no script, no CDN).

    ``df`` is a :func:`spend_breakdown` frame (by family or by model); the chart shows ``week``, or
    the latest week in ``df``. Labels are escaped; an empty frame gives a chart saying so.
    """
    label_col = "family" if "family" in df.columns else "model"
    if not df.empty:
        week = week or max(df["week"])
        df = df[df["week"] == week]
    bar_h, gap, label_w, top = 12, 10, 150, 28
    chart_w = width - label_w - 60
    height = top + max(len(df), 1) * (2 * bar_h + gap) + 24
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<title>Share of spend and tokens per {label_col}{", " + html.escape(week) if week else ""}</title>',
           f'<text x="0" y="14" font-weight="bold">Share of spend and tokens per {label_col}'
           f'{" (" + html.escape(week) + ")" if week else ""}</text>',
           f'<rect x="{label_w}" y="18" width="10" height="8" fill="#3b6ea5"/><text x="{label_w + 14}" y="26">spend</text>',
           f'<rect x="{label_w + 60}" y="18" width="10" height="8" fill="#e08a3c"/><text x="{label_w + 74}" y="26">tokens</text>']
    if df.empty:
        out.append(f'<text x="0" y="{top + 14}">no calls logged</text>')
    for i, row in enumerate(df.itertuples(index=False)):
        y = top + i * (2 * bar_h + gap)
        name = html.escape(str(getattr(row, label_col)))
        out.append(f'<text x="{label_w - 6}" y="{y + bar_h + 4}" text-anchor="end">{name}</text>')
        for j, (share, color) in enumerate(((row.spend_share, "#3b6ea5"), (row.token_share, "#e08a3c"))):
            w = max(0.0, min(1.0, float(share))) * chart_w
            out.append(f'<rect x="{label_w}" y="{y + j * bar_h}" width="{w:.1f}" height="{bar_h - 1}" fill="{color}">'
                       f'<title>{name}: {100 * share:.1f}%</title></rect>')
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{y + j * bar_h + bar_h - 2}">{100 * share:.1f}%</text>')
    out.append("</svg>")
    return "".join(out)
