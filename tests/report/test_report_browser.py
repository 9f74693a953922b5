"""The HTML report in a real browser: Debian's chromium driven by Playwright, pages opened from file://."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.report import report_data as data
from evals.report import write_report
from evals.runner.run import RunOptions, run

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "reports" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:  # never downloads a browser: the system chromium only
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


class Page:
    """A page with its console errors, dialogs and network requests recorded."""

    def __init__(self, browser, path: Path, init_script: str | None = None):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        if init_script:
            self.context.add_init_script(init_script)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        started = time.perf_counter()
        self.page.goto(path.resolve().as_uri(), wait_until="load")
        self.load_s = time.perf_counter() - started

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def visible_rows(self) -> list[list[str]]:
        return self.page.eval_on_selector_all(
            "#rows tbody tr", "trs => trs.map(tr => Array.from(tr.cells, td => td.textContent))")

    def close(self) -> None:
        self.context.close()


def _rich_run(tmp_path: Path) -> Path:
    base = data.write_run(tmp_path / "reports" / "20251231-000000-base",
                          data.results(12, seed=1, skill_shift=-0.2))
    folder = data.write_run(tmp_path / "reports" / "20260101-000000-test", data.results(12))
    (folder / "proposal.yaml").write_text(data.PROPOSAL_YAML)
    (folder / "diff.md").write_text(data.DIFF_MD)
    write_report(folder, baseline_folder=base)
    return folder / "report.html"


def test_report_renders_charts_filters_and_compares(browser, tmp_path):
    page = Page(browser, _rich_run(tmp_path))
    try:
        p = page.page
        assert page.errors == []
        assert all(u.startswith("file://") for u in page.requests), page.requests  # nothing from a network
        # recommendation first, with the proposal's rules and the diff
        sections = p.eval_on_selector_all("main > section", "s => s.map(x => x.id)")
        assert sections[0] == "recommendation"
        diff_tables = p.query_selector_all("#recommendation div.diff table")
        assert len(diff_tables) == 2  # the rule diff and the projected spend, as tables
        assert "model-big → model-mid" in diff_tables[0].inner_text()
        assert "Total: $33.33 → $9.13 per week (-$24.20)." in p.inner_text("#recommendation div.diff")
        rules = p.inner_text("#recommendation table.rules")
        assert "0.950 [0.875, 1.000]" in rules and "default" in rules  # evidence on the row, rounded
        # one scatter per suite with every model plotted, the frontier drawn, bars non-empty
        scatters = p.query_selector_all("svg.chart.scatter")
        assert len(scatters) == 3
        for svg in scatters:
            assert len(svg.query_selector_all("circle.point")) == 3
            assert svg.query_selector("polyline.frontier") is not None
            box = svg.bounding_box()
            assert box["width"] > 200 and box["height"] > 100
        bars = p.query_selector_all("svg.chart.bars rect.bar")
        assert len(bars) >= 18 and all(float(b.get_attribute("width")) > 0 for b in bars)
        assert "email" in p.inner_text("#suite-1")  # per-field view of the extraction suite
        assert "spam" in p.inner_text("#suite-2")  # per-class view of the classification suite
        assert "timeout" in p.inner_text("#suite-2")  # error rates by kind
        assert "better" in p.inner_text("#baseline") and "Got worse" in p.inner_text("#baseline")
        # the drill-down: 108 rows, 50 a page; filters change what is shown
        assert "108 of 108" in p.inner_text("#count")
        assert len(page.visible_rows()) == 50
        p.select_option("#f-model", "model-small")
        rows = page.visible_rows()
        assert 0 < len(rows) < 50 and {r[2] for r in rows} == {"model-small"}
        p.select_option("#f-model", "")
        p.select_option("#f-errors", "only")
        rows = page.visible_rows()
        assert len(rows) == 12 and all(r[5] for r in rows)  # error column set on every row
        p.select_option("#f-errors", "")
        p.fill("#f-min", "0.9")
        rows = page.visible_rows()
        assert rows and all(float(r[3]) >= 0.9 for r in rows)
        p.fill("#f-min", "0")
        p.select_option("#f-suite", "triage")
        assert {r[0] for r in page.visible_rows()} == {"triage"}
        # two models side by side on the same example
        p.click("#rows tbody tr >> nth=0")
        sides = p.query_selector_all("#sides .side")
        assert len(sides) == 2
        left, right = (s.inner_text() for s in sides)
        assert "rendered prompt" in left and "gold" in left
        assert left.splitlines()[0] != right.splitlines()[0]
        p.select_option("#pick-b", "2")
        assert "model-small" in p.query_selector_all("#sides .side")[1].inner_text()
        assert page.errors == []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        p.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
    finally:
        page.close()


def test_report_written_by_run_opens_cleanly(browser, project):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds an event loop in this thread
        result = pool.submit(run, project, RunOptions()).result()
    assert result.warnings == []
    page = Page(browser, result.folder / "report.html")
    try:
        assert page.errors == []
        assert page.page.query_selector_all("svg.chart.scatter circle.point")
        assert "tiny-triage" in page.page.inner_text("#suite-1 h2")
        assert len(page.visible_rows()) == len(result.results)
    finally:
        page.close()


PAYLOADS = [
    "<script>window.__xss = 'script'</script>",
    "<img src=x onerror=\"window.__xss = 'img'; alert('img')\">",
    "javascript:window.__xss='js';alert('js')",
    "</script><script>window.__xss = 'close-script'</script>",
    "<svg onload=\"window.__xss = 'svg'\"></svg>",
    "\"><img src=x onerror=alert('attr')>",
]


def _hostile_frame():
    frame = data.results(4, suites=("triage", "leads"))
    n = len(frame)
    for i in range(n):
        payload = PAYLOADS[i % len(PAYLOADS)]
        frame.loc[i, "output"] = f"answer {payload}"
        frame.loc[i, "prompt_text"] = f"prompt {PAYLOADS[(i + 1) % len(PAYLOADS)]}"
        frame.loc[i, "gold"] = json.dumps(f"gold {PAYLOADS[(i + 2) % len(PAYLOADS)]}")
        frame.loc[i, "example_id"] = f"ex-{i // 3}-{PAYLOADS[(i // 3) % len(PAYLOADS)]}"
        if frame.loc[i, "error"] is not None:
            frame.loc[i, "error_message"] = PAYLOADS[i % len(PAYLOADS)]
    frame["suite"] = frame["suite"].map({"triage": PAYLOADS[0], "leads": PAYLOADS[1]})
    frame["model"] = frame["model"].map(
        {"model-big": PAYLOADS[2], "model-mid": PAYLOADS[3], "model-small": "small<b>bold</b>"})
    return frame


def test_payloads_in_outputs_and_suite_data_never_execute(browser, tmp_path):
    base = data.write_run(tmp_path / "reports" / "base", _hostile_frame())
    folder = data.write_run(tmp_path / "reports" / "run", _hostile_frame(), data.manifest(PAYLOADS[4]))
    (folder / "proposal.yaml").write_text(
        "rules:\n" + "".join(f"  - id: {json.dumps(p)}\n    model: {json.dumps(p)}\n"
                              f"    evidence: {{reason: {json.dumps(p)}}}\n" for p in PAYLOADS))
    cells = " | ".join(p.replace("|", "\\|") for p in PAYLOADS)
    (folder / "diff.md").write_text(f"# {PAYLOADS[0]}\n\n{PAYLOADS[1]}\n\n| {cells} |\n"
                                    f"|{' --- |' * len(PAYLOADS)}\n| {cells} |\n\n- {PAYLOADS[2]}\n")
    write_report(folder, baseline_folder=base)
    page = Page(browser, folder / "report.html", init_script="window.__xss = undefined;")
    try:
        p = page.page
        # visit every row's detail view, which writes prompts, outputs, gold and errors into the page
        for index in range(len(page.visible_rows())):
            p.click(f"#rows tbody tr >> nth={index}")
        p.select_option("#f-suite", PAYLOADS[0])
        p.select_option("#f-model", PAYLOADS[2])
        assert page.visible_rows()
        assert p.evaluate("window.__xss") is None
        assert page.dialogs == []
        assert page.errors == []
        assert all(u.startswith("file://") for u in page.requests), page.requests
        assert p.query_selector_all("img") == []
        assert len(p.query_selector_all("script")) == 2  # the data island and the page's own script
        assert p.query_selector_all("[onerror], [onload], a[href^='javascript']") == []
        assert p.query_selector_all("main b") == []
        recommendation = p.inner_text("#recommendation div.diff")
        assert all(payload in recommendation for payload in PAYLOADS)
        text = p.inner_text("body")
        for payload in PAYLOADS:  # every payload is shown, as text
            assert payload in text, payload
        assert "small<b>bold</b>" in text
    finally:
        page.close()
