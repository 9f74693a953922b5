"""Charts as inline SVG strings built in Python: no JavaScript library, nothing fetched.

Every piece of text that comes from a run (model and suite names) goes through ``markupsafe.escape``;
the functions return :class:`markupsafe.Markup` so templates embed them without escaping them twice.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from markupsafe import Markup, escape

from evals.report.format import fmt_num, fmt_usd

PALETTE = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f"]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round ticks (steps of 1, 2 or 5 x 10^k) between low and high.

    >>> _ticks(0.0, 1.0)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> _ticks(0.0, 0.0121)
    [0.0, 0.005, 0.01]
    """
    if high <= low:
        return [low]
    if (low, high) == (0.0, 1.0):
        return [0.0, 0.25, 0.5, 0.75, 1.0]
    raw = (high - low) / (count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    return [round(i * step, 12) for i in range(first, math.floor(high / step + 1e-9) + 1)]


class _Scale:
    """Maps data to pixels, linearly or on a log10 scale."""

    def __init__(self, low: float, high: float, start: float, end: float, log: bool = False):
        self.log = log
        self.low, self.high = (math.log10(low), math.log10(high)) if log else (low, high)
        if self.high <= self.low:
            self.low, self.high = self.low - 1, self.high + 1
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.start + (v - self.low) / (self.high - self.low) * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            return [10 ** e for e in range(math.floor(self.low), math.ceil(self.high) + 1)
                    if self.low - 1e-9 <= e <= self.high + 1e-9] or [10 ** self.low]
        return _ticks(self.low, self.high)


def quality_cost_svg(models: list[dict[str, Any]], *, title: str, floor: float | None = None,
                     baseline: dict[str, Any] | None = None, width: int = 560, height: int = 320) -> Markup:
    """Quality (with its interval) against cost per 1k calls, one point per model, Pareto frontier joined.

    Models without a known cost are left out of the chart (the caller lists them); ``baseline`` (``name``
    and ``quality``) draws what a trivial answer scores as a grey line.
    """
    points = [m for m in models if m.get("cost_per_1k_usd") is not None and m.get("quality") is not None]
    left, right, top, bottom = 64, width - 140, 16, height - 44
    costs = [m["cost_per_1k_usd"] for m in points]
    log = bool(costs) and min(costs) > 0 and max(costs) / min(costs) > 50
    if log:
        x = _Scale(min(costs) / 1.5, max(costs) * 1.5, left, right, log=True)
    else:
        hi = max(costs) if costs else 1.0
        x = _Scale(0.0, hi * 1.1 if hi > 0 else 1.0, left, right)
    y = _Scale(0.0, 1.0, bottom, top)
    out = [f'<svg class="chart scatter" role="img" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" data-points="{len(points)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>",
           f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="#fafafa" stroke="#ccc"/>']
    for t in y.ticks():
        py = y(t)
        out.append(f'<line x1="{left}" x2="{right}" y1="{py:.1f}" y2="{py:.1f}" stroke="#e5e5e5"/>'
                   f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end" class="tick">{t:.2f}</text>')
    for t in x.ticks():
        px = x(t)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{bottom}" stroke="#e5e5e5"/>'
                   f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle" class="tick">{_usd_tick(t)}</text>')
    out.append(f'<text x="{(left + right) / 2:.0f}" y="{height - 6}" text-anchor="middle" class="axis">'
               f'cost per 1k calls{" (log scale)" if log else ""}</text>'
               f'<text x="14" y="{(top + bottom) / 2:.0f}" transform="rotate(-90 14 {(top + bottom) / 2:.0f})" '
               f'text-anchor="middle" class="axis">quality</text>')
    if floor is not None:
        out.append(f'<line x1="{left}" x2="{right}" y1="{y(floor):.1f}" y2="{y(floor):.1f}" stroke="#dc2626" '
                   f'stroke-dasharray="4 3"/><text x="{right - 4}" y="{y(floor) - 4:.1f}" text-anchor="end" '
                   f'class="tick" fill="#dc2626">floor {floor:.2f}</text>')
    if baseline is not None and baseline.get("quality") is not None:
        by = y(baseline["quality"])
        out.append(f'<line class="baseline" x1="{left}" x2="{right}" y1="{by:.1f}" y2="{by:.1f}" stroke="#6b7280" '
                   f'stroke-dasharray="2 3"/><text x="{left + 4}" y="{by - 4:.1f}" class="tick" fill="#6b7280">'
                   f'baseline ({escape(baseline.get("name") or "trivial answer")}) {baseline["quality"]:.2f}</text>')
    if not points:
        out.append(f'<text x="{(left + right) / 2:.0f}" y="{(top + bottom) / 2:.0f}" text-anchor="middle" '
                   f'class="axis">no model with both a score and a known price</text>')
    frontier = sorted((m for m in points if m.get("pareto")), key=lambda m: m["cost_per_1k_usd"])
    if len(frontier) > 1:
        path = " ".join(f"{x(m['cost_per_1k_usd']):.1f},{y(m['quality']):.1f}" for m in frontier)
        out.append(f'<polyline class="frontier" points="{path}" fill="none" stroke="#059669" stroke-width="2"/>')
    for i, m in enumerate(points):
        px, py = x(m["cost_per_1k_usd"]), y(m["quality"])
        color = PALETTE[i % len(PALETTE)]
        if m.get("ci_low") is not None and m.get("ci_high") is not None:
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{y(m["ci_low"]):.1f}" y2="{y(m["ci_high"]):.1f}" '
                       f'stroke="{color}" stroke-width="1.5"/>')
        label = escape(m["model"])
        out.append(f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="{6 if m.get("pareto") else 4.5}" '
                   f'fill="{color}" stroke="{"#065f46" if m.get("pareto") else "#fff"}" stroke-width="1.5">'
                   f'<title>{label}: quality {fmt_num(m["quality"])}, {escape(fmt_usd(m["cost_per_1k_usd"]))}/1k'
                   f'</title></circle>')
    for i, m in enumerate(points):  # legend on the right, so labels never overlap points
        ly = top + 14 + 18 * i
        mark = " ★" if m.get("pareto") else ""
        out.append(f'<circle cx="{right + 14}" cy="{ly - 4}" r="4.5" fill="{PALETTE[i % len(PALETTE)]}"/>'
                   f'<text x="{right + 24}" y="{ly}" class="legend">{escape(_short(m["model"]))}{mark}</text>')
    if len(frontier) > 0:
        ly = top + 14 + 18 * len(points) + 6
        out.append(f'<text x="{right + 8}" y="{ly}" class="tick">★ Pareto frontier</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _usd_tick(value: float) -> str:
    """A short dollar label for an axis tick.

    >>> _usd_tick(0.1), _usd_tick(2.5), _usd_tick(0.0), _usd_tick(0.00012)
    ('$0.1', '$2.5', '$0', '$0.00012')
    """
    return f"${value:.3g}" if value >= 1e-4 or value == 0 else f"${value:.1e}"


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bars_svg(items: list[dict[str, Any]], *, title: str, maximum: float | None = None,
             fmt: Callable[[float], str] = fmt_num, width: int = 560) -> Markup:
    """Horizontal bars, one per item (``label``, ``value``, optional ``low``/``high`` whiskers)."""
    shown = [i for i in items if i.get("value") is not None]
    row, left, right, top = 22, 150, width - 80, 8
    height = top + row * max(1, len(items)) + 8
    top_value = maximum if maximum is not None else max([i.get("high") or i["value"] for i in shown] or [1.0])
    scale = _Scale(0.0, top_value if top_value > 0 else 1.0, left, right)
    out = [f'<svg class="chart bars" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'data-bars="{len(shown)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for n, item in enumerate(items):
        cy = top + row * n
        color = PALETTE[n % len(PALETTE)]
        out.append(f'<text x="{left - 6}" y="{cy + 14}" text-anchor="end" class="legend">'
                   f'{escape(_short(item["label"], 22))}</text>')
        if item.get("value") is None:
            out.append(f'<text x="{left + 4}" y="{cy + 14}" class="tick">no data</text>')
            continue
        w = max(1.0, scale(min(item["value"], scale.high)) - left)
        out.append(f'<rect class="bar" x="{left}" y="{cy + 3}" width="{w:.1f}" height="{row - 8}" fill="{color}" '
                   f'opacity="0.85"><title>{escape(item["label"])}: {escape(fmt(item["value"]))}</title></rect>')
        if item.get("low") is not None and item.get("high") is not None:
            x1, x2 = scale(item["low"]), scale(min(item["high"], scale.high))
            mid = cy + row / 2 - 1
            out.append(f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{mid:.1f}" y2="{mid:.1f}" stroke="#111"/>'
                       f'<line x1="{x1:.1f}" x2="{x1:.1f}" y1="{mid - 4:.1f}" y2="{mid + 4:.1f}" stroke="#111"/>'
                       f'<line x1="{x2:.1f}" x2="{x2:.1f}" y1="{mid - 4:.1f}" y2="{mid + 4:.1f}" stroke="#111"/>')
        end = scale(max(item["value"], item.get("high") or item["value"]))
        out.append(f'<text x="{min(end, right) + 6:.1f}" y="{cy + 14}" class="tick">{escape(fmt(item["value"]))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


SPLIT_COLORS = {"test": "#2563eb", "dev": "#d97706"}


def trend_svg(points: list[dict[str, Any]], *, title: str, n_runs: int, width: int = 280, height: int = 120) -> Markup:
    """Quality with its interval over runs for one suite and model: a point per run (x: the run's place
    in the history, so every chart of the index lines up), a whisker per interval, points of one split
    joined (test blue, dev orange, others grey); the run the policy in force was approved on is ringed.

    Each point is ``{"value", "ci_low", "ci_high", "n", "split", "run", "order", "approved"}``.
    """
    left, right, top, bottom = 30, width - 8, 8, height - 20
    x = _Scale(0.0, float(max(1, n_runs - 1)), left + 6, right - 6)
    y = _Scale(0.0, 1.0, bottom, top)
    out = [f'<svg class="chart trend" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'data-points="{sum(p.get("value") is not None for p in points)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>",
           f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="#fafafa" stroke="#ddd"/>']
    for t in (0.0, 0.5, 1.0):
        out.append(f'<line x1="{left}" x2="{right}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 4}" y="{y(t) + 3:.1f}" text-anchor="end" class="tick">{t:.1f}</text>')
    shown = [p for p in points if p.get("value") is not None]
    by_split: dict[str, list[dict[str, Any]]] = {}
    for p in shown:
        by_split.setdefault(str(p.get("split")), []).append(p)
    for split, pts in sorted(by_split.items()):
        color = SPLIT_COLORS.get(split, "#6b7280")
        if len(pts) > 1:
            path = " ".join(f"{x(p['order']):.1f},{y(p['value']):.1f}" for p in pts)
            dash = "" if split == "test" else ' stroke-dasharray="4 2"'
            out.append(f'<polyline class="trend-line" points="{path}" fill="none" stroke="{color}" '
                       f'stroke-width="1.5"{dash}/>')
        for p in pts:
            px, py = x(p["order"]), y(p["value"])
            if p.get("ci_low") is not None and p.get("ci_high") is not None:
                out.append(f'<line class="ci" x1="{px:.1f}" x2="{px:.1f}" y1="{y(p["ci_low"]):.1f}" '
                           f'y2="{y(p["ci_high"]):.1f}" stroke="{color}" stroke-width="1"/>')
            tip = (f"{p.get('run')} ({split}): quality {fmt_num(p['value'])} "
                   f"[{fmt_num(p.get('ci_low'))}, {fmt_num(p.get('ci_high'))}], n={p.get('n')}"
                   + (" · the policy in force was approved on this run" if p.get("approved") else ""))
            ring = ' stroke="#111" stroke-width="2"' if p.get("approved") else ' stroke="#fff" stroke-width="1"'
            cls = "point approved" if p.get("approved") else "point"
            out.append(f'<circle class="{cls}" cx="{px:.1f}" cy="{py:.1f}" r="{4.5 if p.get("approved") else 3.5}" '
                       f'fill="{color}"{ring}><title>{escape(tip)}</title></circle>')
    if not shown:
        out.append(f'<text x="{(left + right) / 2:.0f}" y="{(top + bottom) / 2:.0f}" text-anchor="middle" '
                   f'class="tick">no quality recorded</text>')
    legend = " · ".join(sorted(by_split))
    out.append(f'<text x="{left}" y="{height - 6}" class="tick">runs, oldest to newest{" · " + escape(legend) if legend else ""}</text>')
    out.append("</svg>")
    return Markup("".join(out))
