"""``summary.md``: the report's headline numbers as GitHub-flavoured Markdown for pull-request comments."""

from __future__ import annotations

from typing import Any

from evals.report.format import fmt_ci, fmt_delta, fmt_ms, fmt_num, fmt_pct, fmt_usd, ms_unit


def md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: pipes and newlines escaped, HTML brackets neutralised.

    >>> md_cell("a|b\\n<script>")
    'a\\\\|b &lt;script&gt;'
    """
    text = "" if value is None else str(value)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            .replace("\r", " ").replace("\n", " "))


def _table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> list[str]:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _demote(markdown: str, levels: int = 2) -> str:
    """Headings pushed down ``levels`` levels, so an embedded document nests under this summary's.

    >>> _demote("# Policy diff\\n\\ntext\\n## Spend")
    '### Policy diff\\n\\ntext\\n#### Spend'
    """
    return "\n".join("#" * levels + line if line.startswith("#") else line for line in markdown.splitlines())


def _recommendation(proposal: dict[str, Any], rec: dict[str, Any] | None) -> list[str]:
    lines = ["## Recommendation", ""]
    if rec is not None:
        from evals.report.recommendation import headline_title

        lines += [f"**{headline_title(rec)}:**", ""]
        lines += [f"- {md_cell(line)}" for line in rec["headline"]]
        lines += ["", f"Approval: {md_cell(rec['status_text'])}.", ""]
        if rec["latency_notes"]:
            lines += ["**Latency not comparable** (not used to exclude a model without `--trust-latency`): "
                      + "; ".join(md_cell(n) for n in rec["latency_notes"]), ""]
    if proposal["facts"]:
        lines += ["Proposal " + "; ".join(f"{md_cell(k)}: {md_cell(v)}" for k, v in proposal["facts"]) + ".", ""]
    if proposal.get("diff"):  # the policy compiler's own Markdown: rule diff, evidence, projected spend
        lines += [_demote(proposal["diff"].rstrip()), ""]
    else:
        for table in proposal["tables"][:1]:
            lines += [f"**{md_cell(table['title'])}**", ""]
            lines += _table([md_cell(c) for c in table["columns"]],
                            [[md_cell(c) for c in row] for row in table["rows"]])
            lines.append("")
    return lines


def _suite(view: dict[str, Any]) -> list[str]:
    lines = [f"### {md_cell(view['suite'])} ({md_cell(view['task'])})", ""]
    baseline = view.get("baseline")
    if baseline:
        lines += [f"Baseline ({md_cell(baseline['name'])}, what a trivial answer scores): "
                  f"{fmt_ci(baseline['quality'], baseline['ci_low'], baseline['ci_high'])} on {baseline['n']} examples.", ""]
    rows = []
    unit = ms_unit(m["p95_ms"] for m in view["models"])
    for m in view["models"]:
        mark = (" ★" if m["pareto"] else "") + (" ⚠ not better than baseline" if m["beats_baseline"] is False else "")
        row = [md_cell(m["model"]) + mark, str(m["n"]), fmt_ci(m["quality"], m["ci_low"], m["ci_high"])]
        if baseline:
            diff = fmt_delta(m["baseline_diff"])
            if m["baseline_diff"] is not None:
                diff += f" [{fmt_delta(m['baseline_diff_low'])}, {fmt_delta(m['baseline_diff_high'])}]"
            row.append(diff)
        row += [fmt_pct(m["availability"]), f"{m['infra_failures']} / {m['answer_failures']} / {m['truncated']}",
                fmt_usd(m["cost_per_1k_usd"]), fmt_ms(m["p95_ms"], unit) + (" ⚠" if m.get("latency_note") else "")]
        rows.append(row)
    header = ["model", "n", "quality [95% CI]"] + (["vs baseline [95% CI]"] if baseline else [])
    header += ["availability", "infra / answer failures / truncated", "cost / 1k calls", "p95 latency"]
    lines += _table(header, rows, ["---", "---:"] + ["---:"] * (len(header) - 2))
    warnings = [f"- {md_cell(m['model'])}: {md_cell(w)}" for m in view["models"]
                for w in [*m.get("notes", []), *m.get("warnings", [])]]
    if warnings:
        lines += [""] + warnings
    if view["frontier"]:
        lines += ["", "★ on the quality-vs-cost Pareto frontier: " + ", ".join(md_cell(m) for m in view["frontier"])]
    for x in view.get("excluded") or []:
        lines += ["", f"Excluded (not run, left out of quality): {md_cell(x['model'])} {x['count']} "
                      f"example{'s' if x['count'] != 1 else ''}, context window {x['window']:,} < up to "
                      f"{x['needed']:,} tokens"]
    lines.append("")
    return lines


def _comparison(comparison: dict[str, Any]) -> list[str]:
    lines = [f"## Against baseline {md_cell(comparison['baseline_id'])}", "",
             f"{comparison['matched_rows']} rows matched; {comparison['n_better']} rows scored higher, "
             f"{comparison['n_worse']} lower.", ""]
    lines += [f"- {md_cell(c)}" for c in comparison.get("changes", [])] + ([""] if comparison.get("changes") else [])
    rows = [[md_cell(r["suite"]), md_cell(r["model"]), str(r["n"]), fmt_num(r["before"]), fmt_num(r["after"]),
             f"{fmt_delta(r['delta'])} [{fmt_delta(r['ci_low'])}, {fmt_delta(r['ci_high'])}]", r["verdict"]]
            for r in comparison["rows"]]
    lines += _table(["suite", "model", "n", "before", "after", "change [95% CI]", "verdict"], rows,
                    ["---", "---", "---:", "---:", "---:", "---:", "---"])
    for label, names in (("only in this run", comparison["only_current"]),
                         ("only in the baseline", comparison["only_baseline"])):
        if names:
            lines += ["", f"{label}: " + ", ".join(md_cell(n) for n in names)]
    lines.append("")
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The summary of a report built by :func:`evals.report.html.build_report`."""
    h = report["headline"]
    git = report["meta"]["commit"]
    judge = f" (judge {fmt_usd(h['judge_cost_usd'])} more)" if h.get("judge_cost_usd") is not None else ""
    lines = [f"# Evals run {md_cell(report['run_id'])}", "",
             f"{h['rows']} calls over {h['suites']} suites and {h['models']} models; {h['errors']} failed: "
             f"{h['infra_failures']} infrastructure failures (left out of quality), {h['answer_failures']} answer "
             f"failures ({h['truncated']} truncated; scored 0); {h['cached']} from the cache; "
             f"total cost {fmt_usd(h['cost_usd'])}{judge}." + (f" Commit `{md_cell(git[:12])}`." if git else ""), ""]
    if report.get("proposal"):
        lines += _recommendation(report["proposal"], report.get("recommendation"))
    else:
        lines += ["## Recommendation", "", f"No proposal yet: `evals recommend {md_cell(report.get('folder') or report['run_id'])}` "
                  "compiles one and rewrites this summary.", ""]
    if report["suites"]:
        lines += ["## Suites", ""]
        for view in report["suites"]:
            lines += _suite(view)
    if report.get("comparison"):
        lines += _comparison(report["comparison"])
    sampling = report["drill"]["sampling"]
    if not sampling["complete"]:
        lines += [f"The HTML report embeds {sampling['examples']} of {sampling['total_examples']} examples for "
                  "drill-down (errors, disagreements and low scores first).", ""]
    for note in report.get("notes", []):
        lines.append(f"> {md_cell(note)}")
    return "\n".join(lines).rstrip() + "\n"
