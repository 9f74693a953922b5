"""A run's report encodes each drill-down row once (issue 16): the page's data island is built from the
JSON the drill-down wrote while it counted its byte budget, and it is the same text as encoding the
rows again would give (NaN as null, ``<``, ``>`` and ``&`` escaped)."""

from __future__ import annotations

import json
import math

from evals.report import html
from evals.report.drill import drilldown
from evals.report.html import ReportInputs, build_report, json_island, render_html
from tests.report import report_data as data


def _island(page: str) -> str:
    start = page.index('id="report-data">') + len('id="report-data">')
    return page[start:page.index("</script>", start)]


def test_rows_json_is_the_rows_encoded_strictly_even_with_nan_subscores():
    frame = data.results(20)
    frame.loc[frame.index[:5], "subscores"] = '{"f1": NaN, "note": "</script> & <b>"}'
    out = drilldown(frame)
    assert json.loads(out["rows_json"]) == json.loads(json.dumps(html._clean(out["rows"])))
    assert out["rows_json"] == json.dumps(html._clean(out["rows"]), ensure_ascii=False, allow_nan=False)
    assert any(isinstance((r["ss"] or {}).get("f1"), float) and math.isnan(r["ss"]["f1"]) for r in out["rows"])  # the rows themselves are unchanged


def test_the_data_island_equals_json_island_of_the_page_data():
    frame = data.results(30)
    frame.loc[frame.index[:3], "output"] = "</script><script>alert(1)</script> & more"
    report = build_report(ReportInputs(data.manifest(), frame))
    drill = report["drill"]
    expected = json_island({"rows": drill["rows"], "sampling": drill["sampling"],
                            "suites": [s["suite"] for s in report["suites"]],
                            "models": sorted({m["model"] for s in report["suites"] for m in s["models"]}),
                            "baseline": None,
                            "latency_unit": html.fmt.ms_unit(r["l"] for r in drill["rows"])})
    page = render_html(report)
    assert _island(page) == expected
    without = render_html({**report, "drill": {k: v for k, v in drill.items() if k != "rows_json"}})
    assert without == page  # a report built elsewhere (no rows_json) renders the same page


def test_each_taken_row_is_encoded_once(monkeypatch):
    frame = data.results(40)
    calls = []
    real = json.dumps

    def counting(obj, *args, **kwargs):
        if isinstance(obj, list) and obj and isinstance(obj[0], dict) and "cmd" in obj[0]:
            calls.append(len(obj))  # a block of rows
        elif isinstance(obj, dict) and isinstance(obj.get("rows"), list):
            calls.append(len(obj["rows"]))  # the page's data, rows included
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(json, "dumps", counting)
    report = build_report(ReportInputs(data.manifest(), frame))
    render_html(report)
    assert sum(calls) == len(report["drill"]["rows"])  # each row once: in its block, never again for the page


def test_the_report_templates_compile_once_per_process():
    env = html._environment()
    page = env.get_template("report.html.j2")
    assert html._environment() is env and env.get_template("report.html.j2") is page


def test_compiled_templates_are_kept_between_processes_and_a_bad_entry_is_compiled_again(tmp_path, monkeypatch):
    from jinja2 import Environment, FileSystemLoader

    assert html._environment().bytecode_cache is not None  # the next `evals run` loads, not compiles
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.j2").write_text("{{ x }} one")
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()

    def env():
        return Environment(loader=FileSystemLoader(str(templates)), bytecode_cache=html._bytecode_cache(str(cache_dir)))

    assert env().get_template("t.j2").render(x=1) == "1 one"
    (entry,) = cache_dir.iterdir()
    (templates / "t.j2").write_text("{{ x }} two")  # an edited template is compiled again
    assert env().get_template("t.j2").render(x=1) == "1 two"
    for path in cache_dir.iterdir():
        path.write_bytes(b"not bytecode")  # a damaged entry: compiled again, not an error
    assert env().get_template("t.j2").render(x=2) == "2 two"
    monkeypatch.setenv("EVALS_NO_TEMPLATE_CACHE", "1")
    assert html._bytecode_cache() is None
