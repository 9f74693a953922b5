"""Every number the report shows is the aggregates' value (issue 12 item 5).

The report used to recompute quality, cost, sub-scores and the per-class and per-field tables with its
own rules (failed calls dropped, rows bootstrapped, 1.96 hard-coded, its own gold normalisation, null
fields counted as right): on one frame ``aggregates.parquet`` said recall 0.7 and ``report.html`` 1.0.
Here a frame with infrastructure and answer failures, repeats, unpriced calls, null-vs-null fields
and raw gold labels is rendered, and every cell is checked against the aggregates.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from evals.aggregates import aggregate, write_aggregates
from evals.report import write_report
from evals.report.format import fmt_ci, fmt_delta, fmt_ms, fmt_num, fmt_pct, fmt_usd
from evals.runner.store import RESULT_COLUMNS, write_parquet_atomic
from tests.report import report_data as data

MODELS = {"model-a": "fam-a", "model-b": "fam-b", "model-c": "fam-c"}


def _row(**values) -> dict:
    row = {c: None for c in RESULT_COLUMNS}
    row.update(split="test", provider="fake", prompt="p", variant="v", prompt_hash="h", input_tokens=10, output_tokens=2,
               context_tokens=100, cached=False, cache_key="k", finish_reason="stop", prompt_text="prompt", output="x")
    row.update(values)
    return row


def _frame() -> pd.DataFrame:
    rows = []
    for model, family in MODELS.items():
        price = {"model-a": 0.002, "model-b": None, "model-c": 0.0005}[model]
        for i in range(10):
            for repeat in (0, 1):
                base = dict(model=model, family=family, example_id=f"e{i}", repeat=repeat,
                            latency_ms=100.0 + 7 * i + 50 * repeat + (0 if model == "model-a" else 300),
                            cost_usd=price, cached=bool(i % 3 == 0))
                # extraction: "name" holds a value; "phone" is null in gold, and usually in the answer too
                right = (i + repeat + len(model)) % 4 != 0
                fields = {"name": {"gold": True, "pred": True, "correct": right}}
                detail = {"fields": fields}
                if i % 2:
                    fields["phone"] = {"gold": False, "pred": False, "correct": True}  # an older scorer's null-null
                else:
                    detail["both_null"] = ["phone"]
                if model == "model-b" and i == 7:
                    fields["phone"] = {"gold": False, "pred": True, "correct": False}  # invented
                score = float(right)
                extraction = _row(suite="leads", task="extraction", gold=json.dumps({"name": f"N{i}", "phone": None}),
                                  score=score, subscores=json.dumps({"parsed": 1.0, "schema_valid": 1.0,
                                                                      "exact_record": score}),
                                  detail=json.dumps(detail), **base)
                # classification with gold written as people write it
                gold = "Inbound Lead" if i % 3 else "Support"
                wins = model != "model-c" and (i + repeat) % 5 != 0
                predicted = {"Inbound Lead": "inbound_lead", "Support": "support"}[gold] if wins else "support"
                norm_gold = "inbound_lead" if i % 3 else "support"
                triage = _row(suite="triage", task="classification", gold=json.dumps(gold),
                              score=float(predicted == norm_gold), subscores=json.dumps({"valid_label": 1.0}),
                              detail=json.dumps({"predicted": predicted}), **base)
                voice = _row(suite="voice", task="writing", gold=json.dumps({"topic": "t"}),
                             score=round(0.3 + 0.05 * i + 0.02 * repeat, 3),
                             subscores=json.dumps({"style": 0.5 + 0.01 * i, "facts": 0.2 * (i % 5)}),
                             detail=json.dumps({}), **base)
                rows += [extraction, triage, voice]
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)

    def fail(mask, error, error_class, score):
        frame.loc[mask, ["error", "error_class", "error_message"]] = [error, error_class, f"{error} (scripted)"]
        frame.loc[mask, "score"] = score
        frame.loc[mask, ["subscores", "detail"]] = None

    m, e, r = frame["model"], frame["example_id"], frame["repeat"]
    fail((m == "model-a") & (e == "e3") & (r == 1), "timeout", "infra", None)
    fail((m == "model-c") & (e == "e5"), "rate_limited", "infra", None)  # both repeats: the example drops out
    fail((m == "model-b") & (e == "e4") & (r == 0), "truncated", "answer", 0.0)
    fail((m == "model-b") & (e == "e6") & (r == 1), "refused", "answer", 0.0)
    infra = frame["error_class"] == "infra"
    frame.loc[infra & (m != "model-b"), "cost_usd"] = None  # a failed call reports no usage: no price
    frame["score"] = frame["score"].astype(float)
    return frame


def _baselines(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for suite, name, output in (("triage", "majority label", "inbound_lead"), ("leads", "empty object", "{}")):
        gold = frame[(frame.suite == suite)].drop_duplicates("example_id")
        for ex, g in zip(gold["example_id"], gold["gold"]):
            score = float(json.loads(g) == "Inbound Lead") if suite == "triage" else 0.0
            rows.append({"suite": suite, "example_id": ex, "baseline": name, "output": output, "score": score,
                         "subscores": None, "detail": None})
    return pd.DataFrame(rows)


class Tables(HTMLParser):
    """Sections (by id) -> tables -> rows of cell texts; plus the header's text."""

    def __init__(self):
        super().__init__()
        self.sections: dict[str, list[list[list[str]]]] = {}
        self.section = None
        self.table = None
        self.row = None
        self.cell = None
        self.header = ""
        self.in_header = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.section = attrs.get("id")
            self.sections.setdefault(self.section, [])
        elif tag == "header":
            self.in_header = True
        elif tag == "table" and self.section:
            self.table = []
            self.sections[self.section].append(self.table)
        elif tag == "tr" and self.table is not None:
            self.row = []
            self.table.append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "table":
            self.table = None
        elif tag == "header":
            self.in_header = False

    def handle_data(self, text):
        if self.cell is not None:
            self.cell.append(text)
        if self.in_header:
            self.header += text


def _get(agg, suite, model, metric):
    rows = agg[(agg.suite == suite) & (agg.model == model) & (agg.slice == "all") & (agg.metric == metric)]
    assert len(rows) == 1, (suite, model, metric)
    return rows.iloc[0]


def _ci(agg, suite, model, metric) -> str:
    r = _get(agg, suite, model, metric)
    return fmt_ci(r.value, r.ci_low, r.ci_high)


def _value(agg, suite, model, metric, missing_ok=False):
    if missing_ok and not ((agg.suite == suite) & (agg.model == model) & (agg.metric == metric)).any():
        return None
    r = _get(agg, suite, model, metric)
    return None if pd.isna(r.value) else r.value


def _model_name(cell: str) -> str:
    return cell.split()[0]


def _by_header(table: list[list[str]]) -> list[dict[str, str]]:
    header = table[0]
    return [dict(zip(header, row)) for row in table[1:]]


@pytest.fixture(params=["aggregates.parquet", "computed by the report"])
def rendered(request, tmp_path):
    frame = _frame()
    baselines = _baselines(frame)
    folder = data.write_run(tmp_path / "20260101-000000-eq", frame)
    write_parquet_atomic(folder / "baselines.parquet", baselines, {"evals_format_version": "1"})
    agg = aggregate(frame, baselines=baselines)
    if request.param == "aggregates.parquet":
        write_aggregates(folder, agg)
    paths = write_report(folder)
    return agg, paths["html"].read_text(encoding="utf-8"), paths["markdown"].read_text(encoding="utf-8")


def test_every_number_in_the_html_report_is_the_aggregates_value(rendered):
    agg, html, _ = rendered
    parsed = Tables()
    parsed.feed(html)
    suites = {}
    for sid, tables in parsed.sections.items():
        if sid and sid.startswith("suite-"):
            title = re.search(rf'<section id="{sid}" class="suite">\s*<h2>([^<]+)<', html).group(1).strip()
            suites[title] = tables
    assert set(suites) == {"leads", "triage", "voice"}
    checked = 0
    for suite, tables in suites.items():
        models = next(t for t in tables if t[0][:4] == ["model", "family", "n", "quality [95% CI]"])
        for row in _by_header(models):
            model = _model_name(row["model"])
            assert row["quality [95% CI]"] == _ci(agg, suite, model, "quality")
            assert row["n"] == str(int(_get(agg, suite, model, "quality").n))
            assert row["cost / 1k calls"] == fmt_usd(_value(agg, suite, model, "cost_per_1k_calls_usd"))
            assert row["p50"] == fmt_ms(_value(agg, suite, model, "latency_p50_ms"))
            assert row["p95"] == fmt_ms(_value(agg, suite, model, "latency_p95_ms"))
            assert row["availability"] == fmt_pct(_value(agg, suite, model, "availability"))
            for header, metric in (("infra failures", "infra_failures"), ("answer failures", "answer_failures"),
                                   ("of which truncated", "truncated")):
                assert row[header] == str(int(_value(agg, suite, model, metric)))
            for kind in ("timeout", "rate_limited", "truncated", "refused"):
                if kind in row and row[kind] != "-":
                    assert row[kind] == str(int(_value(agg, suite, model, f"failures:{kind}")))
            if "vs baseline [95% CI]" in row:
                d = _get(agg, suite, model, "paired_diff_vs_baseline")
                assert row["vs baseline [95% CI]"] == f"{fmt_delta(d.value)} [{fmt_delta(d.ci_low)}, {fmt_delta(d.ci_high)}]"
            assert ("★" in row["model"]) == (_value(agg, suite, model, "pareto") == 1.0)
            assert ("not better than baseline" in row["model"]) == (
                suite in ("triage", "leads") and _value(agg, suite, model, "beats_baseline") == 0.0)
            checked += 1
        subs = next((t for t in tables if t[0][0] == "model" and "family" not in t[0]), None)
        if subs is not None:
            for row in _by_header(subs):
                for name, cell in row.items():
                    if name != "model":
                        assert cell == fmt_num(_value(agg, suite, row["model"], f"subscore:{name}")), (suite, name)
                        checked += 1
        heat = [t for t in tables if t[0][0] in ("field", "gold class")]
        for table in heat:
            for row in _by_header(table):
                key = row.pop("field", None) or row.pop("gold class")
                for model, cell in row.items():
                    if suite == "leads":
                        f1, p, r = (_value(agg, suite, model, f"field_{m}:{key}", missing_ok=True)
                                    for m in ("f1", "precision", "recall"))
                        assert cell == f"{fmt_pct(f1, 0)} ({fmt_pct(p, 0)} / {fmt_pct(r, 0)})", (key, model)
                    else:
                        rec, prec = (_value(agg, suite, model, f"{m}:{key}") for m in ("recall", "precision"))
                        n = int(_get(agg, suite, model, f"recall:{key}").n)
                        assert cell == f"{fmt_pct(rec, 0)} / {fmt_pct(prec, 0)} n={n}", (key, model)
                    checked += 1
    assert checked >= 9 + 12 + 6
    # the headline: totals of the aggregates' counts
    head = " ".join(parsed.header.split())
    total = int(agg[(agg.slice == "all") & (agg.metric == "calls")]["value"].sum())
    infra = int(agg[(agg.slice == "all") & (agg.metric == "infra_failures")]["value"].sum())
    answer = int(agg[(agg.slice == "all") & (agg.metric == "answer_failures")]["value"].sum())
    cost = agg[(agg.slice == "all") & (agg.metric == "cost_total_usd")]["value"].dropna().sum()
    assert f"{total} calls" in head and f"{infra} infrastructure" in head and f"{answer} answer failures" in head
    assert f"total cost {fmt_usd(cost)}" in head


def test_every_number_in_summary_md_is_the_aggregates_value(rendered):
    agg, _, markdown = rendered
    for suite in ("leads", "triage", "voice"):
        section = markdown.split(f"### {suite} (")[1].split("\n### ")[0]
        lines = [ln for ln in section.splitlines() if ln.startswith("| ")]
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        for line in lines[2:]:
            row = dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
            model = _model_name(row["model"])
            assert row["quality [95% CI]"] == _ci(agg, suite, model, "quality")
            assert row["availability"] == fmt_pct(_value(agg, suite, model, "availability"))
            counts = " / ".join(str(int(_value(agg, suite, model, m)))
                                for m in ("infra_failures", "answer_failures", "truncated"))
            assert row["infra / answer failures / truncated"] == counts
            assert row["cost / 1k calls"] == fmt_usd(_value(agg, suite, model, "cost_per_1k_calls_usd"))
            assert row["p95 latency"] == fmt_ms(_value(agg, suite, model, "latency_p95_ms"))
        if suite != "voice":
            b = _get(agg, suite, "model-a", "baseline_quality")
            assert f"{fmt_ci(b.value, b.ci_low, b.ci_high)} on {int(b.n)} examples" in section


def test_the_frame_exercises_what_the_report_used_to_get_wrong(rendered):
    agg, html, markdown = rendered
    # infra failures left out of quality, answer failures counted 0; unknown price stays unknown
    assert _get(agg, "leads", "model-c", "quality").n == 9 and _get(agg, "leads", "model-b", "quality").n == 10
    assert _value(agg, "leads", "model-b", "cost_per_1k_calls_usd") is None and "unknown" in markdown
    assert "1 of 20 calls had no price" in _get(agg, "leads", "model-a", "cost_per_call_usd").note
    # null-vs-null "phone" never counts as a match: only model-b's invented phone is counted, as a false positive
    assert _value(agg, "leads", "model-b", "field_precision:phone") == 0.0
    assert _value(agg, "leads", "model-a", "both_null:phone") == 19
    # raw gold labels are normalised like the scorer's: accuracy agrees with quality
    assert _value(agg, "triage", "model-a", "accuracy") == pytest.approx(_value(agg, "triage", "model-a", "quality"))
    # model-c answers "support" everywhere: the majority label baseline is as good, so no star and a flag
    assert _value(agg, "triage", "model-c", "beats_baseline") == 0.0
    assert _value(agg, "triage", "model-c", "pareto") == 0.0
    assert "model-c ⚠ not better than baseline" in markdown


def test_stored_aggregates_without_baselines_are_recomputed_when_the_run_has_them(tmp_path):
    frame = _frame()
    folder = data.write_run(tmp_path / "run", frame)
    write_aggregates(folder, aggregate(frame))  # written without baselines=
    write_parquet_atomic(folder / "baselines.parquet", _baselines(frame), {"evals_format_version": "1"})
    markdown = write_report(folder)["markdown"].read_text(encoding="utf-8")
    assert "Baseline (majority label" in markdown and "no baseline rows" in markdown
