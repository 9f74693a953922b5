"""reports/index.html and the comparison page in a real browser (issue 18 items 2, 7 and 11): Debian's
chromium through Playwright, pages opened from file://, no network."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from evals.aggregates import aggregate, write_aggregates
from evals.report import write_comparison
from evals.report.index import write_index
from evals.runner.run import RunOptions, run
from tests.report import report_data as data
from tests.report.test_report_browser import CHROMIUM, PAYLOADS, SCREENSHOTS, Page, browser  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


def _three_runs(project):
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds an event loop in this thread
        return [pool.submit(run, project, RunOptions(run_id=f"2026010{i}-000000-run{i}")).result() for i in (1, 2, 3)]


def _links_resolve(page: Page, base: Path) -> list[str]:
    hrefs = page.page.eval_on_selector_all("a[href]", "as => as.map(a => a.getAttribute('href'))")
    for href in hrefs:
        if href.startswith("#"):
            continue
        assert not urlparse(href).scheme, href
        assert (base / unquote(href)).is_file(), href
    return hrefs


def test_index_of_three_runs_renders_links_and_clicks_into_a_comparison(browser, project):
    runs = _three_runs(project)
    page = Page(browser, project.reports_dir / "index.html")
    try:
        p = page.page
        assert page.errors == []
        assert all(u.startswith("file://") for u in page.requests), page.requests
        rows = p.query_selector_all("#run-table tbody tr")
        assert len(rows) == 3
        assert [r.query_selector("td:nth-child(2) a").inner_text() for r in rows] == [r.run_id for r in reversed(runs)]
        trends = p.query_selector_all("svg.chart.trend")
        assert len(trends) == 2  # tiny-triage x fake-a, fake-b
        for svg in trends:
            assert len(svg.query_selector_all("circle.point")) == 3
            assert svg.query_selector("polyline.trend-line") is not None
            assert svg.bounding_box()["width"] > 150
        hrefs = _links_resolve(page, project.reports_dir)
        assert sum(h.endswith("/report.html") for h in hrefs) == 3
        assert sum("/compare-" in h for h in hrefs) == 2  # run2 vs run1, run3 vs run2
        # a pair without a page yet: the command that writes it
        boxes = p.query_selector_all("#run-table input[type=checkbox]")
        boxes[0].check()
        boxes[2].check()
        assert p.is_visible("#compare-command") and not p.is_visible("#compare-link")
        assert p.inner_text("#compare-command") == f"evals report {runs[2].run_id} --baseline {runs[0].run_id}"
        # consecutive runs: their comparison opens from the index
        boxes[2].uncheck()
        boxes[1].check()
        assert p.is_visible("#compare-link")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)
        p.click("#compare-link")
        p.wait_for_load_state("load")
        assert p.url.endswith(f"/{runs[2].run_id}/compare-{runs[1].run_id}.html")
        assert f"Against baseline {runs[1].run_id}" in p.inner_text("#baseline h2")
        assert page.errors == []
    finally:
        page.close()


def _hostile_run(reports: Path, folder: str, run_id: str, seed: int) -> Path:
    frame = data.results(3, suites=("triage",), seed=seed)
    frame["suite"] = PAYLOADS[0]
    frame["model"] = frame["model"].map({"model-big": PAYLOADS[1], "model-mid": PAYLOADS[3], "model-small": "m<b>x</b>"})
    manifest = data.manifest(run_id)
    manifest["suites"] = {PAYLOADS[0]: {"task": "classification", "split": PAYLOADS[5]}}
    manifest["git"]["commit"] = PAYLOADS[2]
    manifest["models"] = {m: {} for m in frame["model"].unique()}
    out = data.write_run(reports / folder, frame, manifest)
    write_aggregates(out, aggregate(frame))
    return out


def test_untrusted_names_in_the_index_stay_text(browser, tmp_path):
    reports = tmp_path / "reports"
    first = _hostile_run(reports, "20260101-a", PAYLOADS[4], 1)
    second = _hostile_run(reports, "x\"><img src=x onerror=alert(1)>", "</script><script>window.__xss=1</script>", 2)
    write_comparison(second, first)
    write_index(None, reports)
    page = Page(browser, reports / "index.html", init_script="window.__xss = undefined;")
    try:
        p = page.page
        for box in p.query_selector_all("#run-table input[type=checkbox]"):
            box.check()
        assert p.evaluate("window.__xss") is None and page.dialogs == [] and page.errors == []
        assert p.query_selector_all("img") == [] and p.query_selector_all("main b") == []
        assert len(p.query_selector_all("script")) == 2
        text = p.inner_text("body")
        for payload in (PAYLOADS[0], PAYLOADS[1], PAYLOADS[4], "m<b>x</b>", "</script><script>window.__xss=1</script>"):
            assert payload in text, payload
        _links_resolve(page, reports)
        assert all(u.startswith("file://") for u in page.requests)
    finally:
        page.close()


def _comparison_page(tmp_path) -> Path:
    base_frame = data.results(8, suites=("voice", "triage"), seed=1, skill_shift=-0.2)
    frame = data.results(8, suites=("voice", "triage"))
    frame.loc[0, "output"] = ""  # an empty answer
    base_frame.loc[0, "output"] = "Dear team, the launch moves to Tuesday."
    frame.loc[3, "output"] = "Dear team, the launch moves to Thursday at noon."
    base_frame.loc[3, "output"] = "Dear team, the launch moves to Tuesday."
    base = data.write_run(tmp_path / "reports" / "20251231-000000-base", base_frame)
    folder = data.write_run(tmp_path / "reports" / "20260101-000000-test", frame)
    return write_comparison(folder, base)["html"], frame


def test_comparison_shows_outputs_side_by_side_with_a_diff_and_sorts(browser, tmp_path):
    html, frame = _comparison_page(tmp_path)
    page = Page(browser, html)
    try:
        p = page.page
        assert page.errors == []
        header = p.eval_on_selector_all("#rows thead th", "ths => ths.map(t => t.textContent)")
        assert header[:6] == ["suite", "example", "model", "score", "baseline", "change"]
        # sort by score, descending then ascending; missing scores last both ways
        p.click("#rows th[data-sort=sc]")
        scores = [r[3] for r in page.visible_rows()]
        known = [float(s) for s in scores if s != "-"]
        assert known == sorted(known) and scores[-1] == "-" if "-" in scores else known == sorted(known)
        p.click("#rows th[data-sort=sc]")
        known = [float(r[3]) for r in page.visible_rows() if r[3] != "-"]
        assert known == sorted(known, reverse=True)
        # the row whose output changed: before and after side by side, with a word diff
        p.fill("#f-text", "Thursday")
        p.click("#rows tbody tr >> nth=0")
        assert p.inner_text("#before") == "Dear team, the launch moves to Tuesday."
        assert p.inner_text("#after") == "Dear team, the launch moves to Thursday at noon."
        assert [d.inner_text() for d in p.query_selector_all("#textdiff del")] == ["Tuesday."]
        assert "Thursday" in " ".join(i.inner_text() for i in p.query_selector_all("#textdiff ins"))
        assert "same request as the baseline" in p.inner_text("#versus-note")
        assert "evals render --suite voice --model" in p.inner_text("#sides")
        # the empty answer reads as empty, in the table and in the detail
        p.fill("#f-text", "")
        p.fill("#f-text", str(frame.loc[0, "example_id"]))
        row = next(r for r in page.visible_rows() if r[2] == frame.loc[0, "model"])
        assert row[-1] == "(empty output)"
        assert page.errors == []
    finally:
        page.close()


def test_comparison_is_usable_at_420_px(browser, tmp_path):
    html, _ = _comparison_page(tmp_path)
    context = browser.new_context(viewport={"width": 420, "height": 800})
    p = context.new_page()
    errors = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    try:
        p.goto(html.resolve().as_uri(), wait_until="load")
        assert errors == []
        # the page itself never scrolls sideways; wide tables scroll inside their own box
        assert p.evaluate("document.documentElement.scrollWidth") <= 420
        p.click("#rows tbody tr >> nth=0")
        for selector in ("#sides .side", "#versus pre#after", "#recommendation"):
            box = p.query_selector(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 421, (selector, box)
        assert p.evaluate("document.documentElement.scrollWidth") <= 420
        p.screenshot(path=str(SCREENSHOTS / "compare-420.png"), full_page=True)
    finally:
        context.close()


def test_index_script_never_links_a_scheme(browser, tmp_path):
    """Defence in depth: even a history whose links were not percent-encoded cannot make a javascript: link."""
    from evals.report.index import render_index

    run = {"folder": "r", "run_id": "r", "started_at": None, "finished_at": None, "commit": None, "dirty": None,
           "splits": {"s": "test"}, "suites": ["s"], "models": ["m"], "rows": 1, "infra_failures": 0,
           "answer_failures": 0, "quality": [], "report": "javascript:window.__xss=1", "proposal": False,
           "comparisons": {"b": "//evil.example/x.html"}, "approved": None, "approval": None, "notes": []}
    path = tmp_path / "index.html"
    path.write_text(render_index({"format_version": 1, "runs": [run], "in_force_run": None, "notes": [],
                                  "n_runs": 1, "trends": []}), encoding="utf-8")
    page = Page(browser, path, init_script="window.__xss = undefined;")
    try:
        assert page.page.query_selector_all("#run-table a") == []
        assert "javascript:window.__xss=1" not in page.page.inner_html("#run-table")
        assert page.errors == []
    finally:
        page.close()
