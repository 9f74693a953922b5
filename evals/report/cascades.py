"""The report's cascade section: the cost-quality curve of each cascade the recommender proposed or considered.

Two sources, both written by ``evals recommend`` and holding the same point records
(:class:`evals.config.policy.CascadePoint`): the proposal's ``evidence.cascade`` of a rule routed to a
cascade, and ``cascades.json`` (:mod:`evals.policy.cascade_record`) with every sweep, proposed or not.
:func:`cascade_views` turns them into one view per sweep; :func:`curve_svg` draws it as inline SVG
(every name from a file escaped, nothing fetched). Numbers are only formatted here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from evals.report.charts import _Scale, _usd_tick
from evals.report.format import fmt_ci, fmt_delta, fmt_num, fmt_pct, fmt_usd

DEV, TEST, HOLLOW, REFERENCE = "#2563eb", "#d97706", "#ffffff", "#6b7280"


def read_sweeps(folder: Path | None, notes: list[str]) -> dict[str, Any] | None:
    """``cascades.json`` of a run folder, or None when absent; a file this harness cannot read is a note."""
    from evals.policy.cascade_record import SWEEPS_FILE, SWEEPS_FORMAT

    if folder is None or not (folder / SWEEPS_FILE).is_file():
        return None
    try:
        data = json.loads((folder / SWEEPS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        notes.append(f"{SWEEPS_FILE} could not be read ({type(exc).__name__}); cascade curves not drawn")
        return None
    version = data.get("format_version") if isinstance(data, dict) else None
    if not isinstance(version, int) or version > SWEEPS_FORMAT:
        notes.append(f"{SWEEPS_FILE} has format {version!r}, newer than this harness reads ({SWEEPS_FORMAT}); "
                     "cascade curves not drawn: upgrade portfolio-evals")
        return None
    return data


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _pair(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return _num(value[0]), _num(value[1])
    return None, None


def _point(raw: Any, split: str) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    low, high = _pair(raw.get("quality_ci"))
    d_low, d_high = _pair(raw.get("diff_ci"))
    threshold = _num(raw.get("threshold"))
    return {"split": split, "threshold": threshold,
            "label": "always escalate" if threshold is None else f"confidence ≥ {threshold:g}",
            "quality": _num(raw.get("quality")), "ci_low": low, "ci_high": high,
            "cost_per_1k": _num(raw.get("cost_per_1k_usd")), "escalation_share": _num(raw.get("escalation_share")),
            "n": raw.get("n") if isinstance(raw.get("n"), int) else None, "diff": _num(raw.get("diff")),
            "diff_low": d_low, "diff_high": d_high, "outcome": str(raw.get("outcome") or "")}


def _view(rule: str, raw: dict[str, Any], *, status: str, reason: str, dev_run: str | None) -> dict[str, Any]:
    threshold = _num(raw.get("threshold"))
    curve = [p for p in (_point(r, "dev") for r in raw.get("curve") or []) if p is not None]
    for p in curve:
        p["chosen"] = threshold is not None and p["threshold"] == threshold
    chosen = next((p for p in curve if p["chosen"]), None) or _point(raw.get("dev"), "dev")
    test = _point(raw.get("test"), "test")
    view = {"rule": str(rule), "cheap": str(raw.get("cheap")), "strong": str(raw.get("strong")),
            "reference": str(raw.get("reference")), "status": status, "reason": reason, "threshold": threshold,
            "dev_run": dev_run, "curve": curve, "chosen": chosen, "test": test,
            "reference_cost_per_1k": _num(raw.get("reference_cost_per_1k_usd")),
            "margin": _num(raw.get("margin"))}
    view["summary"] = summary_lines(view)
    view["svg"] = curve_svg(view)
    view["rows"] = curve_rows(view)
    return view


def cascade_views(proposal: dict[str, Any] | None, sweeps: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One view per cascade: the one each rule of the proposal routes to (``evidence.cascade``), then every
    other sweep of ``cascades.json`` (considered, not proposed), in the file's order."""
    views, seen = [], set()
    targets = [r for r in (proposal or {}).get("rules") or [] if isinstance(r, dict)]
    if isinstance((proposal or {}).get("default"), dict):
        targets.append({**proposal["default"], "id": "default"})
    for t in targets:
        ev = t.get("evidence") if isinstance(t.get("evidence"), dict) else {}
        c = ev.get("cascade")
        if isinstance(c, dict):
            seen.add((str(t.get("id")), str(c.get("cheap")), str(c.get("strong"))))
            views.append(_view(str(t.get("id")), c, status="proposed", reason=str(ev.get("reason") or ""),
                               dev_run=c.get("dev_run_id")))
    for s in (sweeps or {}).get("sweeps") or []:
        if not isinstance(s, dict) or (str(s.get("rule")), str(s.get("cheap")), str(s.get("strong"))) in seen:
            continue
        status = "proposed" if s.get("proposed") else "considered"
        views.append(_view(str(s.get("rule")), s, status=status, reason=str(s.get("reason") or ""),
                           dev_run=(sweeps or {}).get("dev_run_id")))
    return views


def summary_lines(view: dict[str, Any]) -> list[str]:
    """The words under a curve: the chosen point on dev with the share escalated, and its test confirmation.

    >>> v = {"cheap": "a", "strong": "b", "reference": "b", "curve": [{}, {}], "dev_run": "d1", "margin": 0.02,
    ...      "chosen": {"label": "confidence ≥ 0.8", "escalation_share": 0.25, "quality": 0.9, "ci_low": 0.8,
    ...                 "ci_high": 0.95, "cost_per_1k": 0.5, "diff": -0.01, "diff_low": -0.015, "diff_high": 0.02,
    ...                 "outcome": "non-inferior"},
    ...      "test": None, "reference_cost_per_1k": None}
    >>> summary_lines(v)[1]
    'Chosen on dev: confidence ≥ 0.8, 25.0% escalated, quality 0.900 [0.800, 0.950], $0.5000 per 1k calls, -0.010 [-0.015, +0.020] vs b (non-inferior).'
    """
    lines = [f"{view['cheap']} answers when confident, else {view['strong']}; held to {view['reference']}"
             + (f" within {view['margin']:.3f}" if view.get("margin") is not None else "")
             + f"; {len(view['curve'])} thresholds swept on dev" + (f" run {view['dev_run']}" if view.get("dev_run") else "")
             + "."]
    for name, p in (("Chosen on dev", view["chosen"]), ("On test (the confirmation)", view["test"])):
        if p is None:
            continue
        lines.append(f"{name}: {p['label']}, {fmt_pct(p['escalation_share'])} escalated, quality "
                     f"{fmt_ci(p['quality'], p['ci_low'], p['ci_high'])}, {fmt_usd(p['cost_per_1k'])} per 1k calls, "
                     f"{fmt_delta(p['diff'])} [{fmt_delta(p['diff_low'])}, {fmt_delta(p['diff_high'])}] vs "
                     f"{view['reference']} ({p['outcome'] or 'not tested'}).")
    if view["chosen"] is None:
        lines.append("No threshold was chosen on dev.")
    if view.get("reference_cost_per_1k") is not None:
        lines.append(f"{view['reference']} alone on test: {fmt_usd(view['reference_cost_per_1k'])} per 1k calls.")
    return lines


def _tip(p: dict[str, Any]) -> str:
    return (f"{p['split']}: {p['label']}: quality {fmt_ci(p['quality'], p['ci_low'], p['ci_high'])}, "
            f"{fmt_pct(p['escalation_share'])} escalated, {fmt_usd(p['cost_per_1k'])}/1k, {p['outcome'] or '-'}")


def curve_svg(view: dict[str, Any], *, width: int = 600, height: int = 320) -> Markup:
    """Quality (with its interval) against cost per 1k calls of one cascade at every threshold swept on dev,
    joined in threshold order; a filled point is non-inferior to the reference, a hollow one is not; the
    chosen point is ringed and labelled with its share escalated; the test confirmation is a diamond; a
    dashed line marks the reference's own cost on test. Points without a known cost or quality are left out
    (the table in diff.md lists every threshold)."""
    drawn = [p for p in view["curve"] if p["cost_per_1k"] is not None and p["quality"] is not None]
    test = view["test"] if view["test"] and view["test"]["cost_per_1k"] is not None and view["test"]["quality"] is not None else None
    left, right, top, bottom = 64, width - 16, 16, height - 64
    costs = [p["cost_per_1k"] for p in drawn] + ([test["cost_per_1k"]] if test else [])
    ref_cost = view.get("reference_cost_per_1k")
    if ref_cost is not None:
        costs.append(ref_cost)
    hi = max(costs) if costs else 1.0
    x = _Scale(0.0, hi * 1.08 if hi > 0 else 1.0, left, right)
    y = _Scale(0.0, 1.0, bottom, top)
    chosen = view["chosen"]
    title = f"cascade {view['cheap']} → {view['strong']} (rule {view['rule']}): quality against cost per threshold"
    out = [f'<svg class="chart cascade-curve" role="img" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" data-points="{len(drawn)}" data-status="{escape(view["status"])}" '
           f'data-chosen="{escape("" if chosen is None else chosen["label"])}" '
           f'data-escalated="{escape("" if chosen is None else fmt_pct(chosen["escalation_share"]))}" '
           f'xmlns="http://www.w3.org/2000/svg">', f"<title>{escape(title)}</title>",
           f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="#fafafa" stroke="#ccc"/>']
    for t in y.ticks():
        out.append(f'<line x1="{left}" x2="{right}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e5e5e5"/>'
                   f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end" class="tick">{t:.2f}</text>')
    for t in x.ticks():
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{bottom}" stroke="#e5e5e5"/>'
                   f'<text x="{x(t):.1f}" y="{bottom + 16}" text-anchor="middle" class="tick">{_usd_tick(t)}</text>')
    out.append(f'<text x="{(left + right) / 2:.0f}" y="{bottom + 34}" text-anchor="middle" class="axis">cost per 1k '
               f'calls (the cheap leg, plus the strong leg on escalated calls)</text>'
               f'<text x="14" y="{(top + bottom) / 2:.0f}" transform="rotate(-90 14 {(top + bottom) / 2:.0f})" '
               f'text-anchor="middle" class="axis">quality</text>')
    if ref_cost is not None:
        out.append(f'<line class="reference" x1="{x(ref_cost):.1f}" x2="{x(ref_cost):.1f}" y1="{top}" y2="{bottom}" '
                   f'stroke="{REFERENCE}" stroke-dasharray="4 3"/><text x="{x(ref_cost) - 4:.1f}" y="{top + 12}" '
                   f'text-anchor="end" class="tick" fill="{REFERENCE}">{escape(view["reference"])} alone (test)</text>')
    if not drawn:
        out.append(f'<text x="{(left + right) / 2:.0f}" y="{(top + bottom) / 2:.0f}" text-anchor="middle" '
                   f'class="axis">no threshold with both a quality and a known cost</text>')
    if len(drawn) > 1:
        path = " ".join(f"{x(p['cost_per_1k']):.1f},{y(p['quality']):.1f}" for p in drawn)
        out.append(f'<polyline class="curve" points="{path}" fill="none" stroke="{DEV}" stroke-width="1.5"/>')
    for p in drawn:
        px, py = x(p["cost_per_1k"]), y(p["quality"])
        if p["ci_low"] is not None and p["ci_high"] is not None:
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y(p["ci_low"]):.1f}" y2="{y(p["ci_high"]):.1f}" '
                       f'stroke="{DEV}" stroke-opacity="0.35"/>')
        fill = DEV if p["outcome"] == "non-inferior" else HOLLOW
        ring = ' stroke="#111" stroke-width="2.5"' if p["chosen"] else f' stroke="{DEV}" stroke-width="1.5"'
        cls = "point chosen" if p["chosen"] else "point"
        out.append(f'<circle class="{cls}" cx="{px:.1f}" cy="{py:.1f}" r="{6.5 if p["chosen"] else 4}" '
                   f'fill="{fill}"{ring}><title>{escape(_tip(p))}</title></circle>')
    if chosen is not None and chosen.get("cost_per_1k") is not None and chosen.get("quality") is not None:
        px, py = x(chosen["cost_per_1k"]), y(chosen["quality"])
        anchor = "end" if px > (left + right) / 2 else "start"
        dx = -10 if anchor == "end" else 10
        out.append(f'<text class="chosen-label" font-size="12" font-weight="600" x="{px + dx:.1f}" y="{py + 18:.1f}" text-anchor="{anchor}">chosen: '
                   f'{escape(chosen["label"])}, {escape(fmt_pct(chosen["escalation_share"]))} escalated</text>')
    if test is not None:
        px, py = x(test["cost_per_1k"]), y(test["quality"])
        if test["ci_low"] is not None and test["ci_high"] is not None:
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y(test["ci_low"]):.1f}" y2="{y(test["ci_high"]):.1f}" '
                       f'stroke="{TEST}" stroke-width="1.5"/>')
        out.append(f'<polygon class="point test" points="{px:.1f},{py - 7:.1f} {px + 7:.1f},{py:.1f} {px:.1f},'
                   f'{py + 7:.1f} {px - 7:.1f},{py:.1f}" fill="{TEST}" stroke="#111"><title>{escape(_tip(test))}'
                   f'</title></polygon>')
    ly = height - 10
    out.append(f'<circle cx="{left + 6}" cy="{ly - 4}" r="4" fill="{DEV}"/><text x="{left + 14}" y="{ly}" class="legend">'
               f'dev, non-inferior</text><circle cx="{left + 136}" cy="{ly - 4}" r="4" fill="{HOLLOW}" stroke="{DEV}" '
               f'stroke-width="1.5"/><text x="{left + 144}" y="{ly}" class="legend">dev, not</text>'
               f'<circle cx="{left + 216}" cy="{ly - 4}" r="6" fill="none" stroke="#111" stroke-width="2.5"/>'
               f'<text x="{left + 226}" y="{ly}" class="legend">chosen</text><polygon points="{left + 290},{ly - 10} '
               f'{left + 296},{ly - 4} {left + 290},{ly + 2} {left + 284},{ly - 4}" fill="{TEST}" stroke="#111"/>'
               f'<text x="{left + 302}" y="{ly}" class="legend">test (confirmation)</text>')
    out.append("</svg>")
    return Markup("".join(out))


def curve_rows(view: dict[str, Any]) -> list[dict[str, str]]:
    """The curve as table rows (every threshold, dev, highest first; then test), formatted for the report."""
    rows = []
    for p in view["curve"] + ([view["test"]] if view["test"] else []):
        rows.append({"split": p["split"], "threshold": p["label"], "chosen": bool(p.get("chosen")),
                     "escalated": fmt_pct(p["escalation_share"]), "quality": fmt_ci(p["quality"], p["ci_low"], p["ci_high"]),
                     "diff": f"{fmt_delta(p['diff'])} [{fmt_delta(p['diff_low'])}, {fmt_delta(p['diff_high'])}]",
                     "outcome": p["outcome"] or "-", "cost": fmt_usd(p["cost_per_1k"]),
                     "n": fmt_num(p["n"], 0) if p["n"] is not None else "-"})
    return rows


__all__ = ["cascade_views", "curve_rows", "curve_svg", "read_sweeps", "summary_lines"]
