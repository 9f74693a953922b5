"""The report draws the cost-quality curve of each cascade the recommender proposed or considered (issue 15):
the thresholds swept on dev, the chosen point with its share escalated, and the test confirmation, as
inline SVG in the recommendation section; names from files stay text."""

from __future__ import annotations

import json
import re

import pytest

from evals.policy.recommend import RecommendOptions, recommend
from evals.report import write_report
from evals.report.cascades import cascade_views, curve_svg, read_sweeps
from tests.policy.runs import pproject  # noqa: F401 (fixture)
from tests.policy.test_recommend_cascade import TOLERANCE, write_pair

DEV, TEST = "20260101-000000-dev0", "20260101-000001-test"


def _point(threshold, quality, cost, share, outcome="non-inferior"):
    return {"threshold": threshold, "quality": quality, "quality_ci": [quality - 0.05, min(1.0, quality + 0.04)],
            "cost_per_1k_usd": cost, "escalation_share": share, "calls": 60, "n": 60, "diff": quality - 0.95,
            "diff_ci": [quality - 1.0, quality - 0.9], "outcome": outcome}


def constructed_proposal(cheap: str = "distilled") -> dict:
    """A proposal whose triage rule routes to a cascade: four thresholds swept on dev, 0.85 chosen (22% escalated),
    confirmed on test at 25% escalated."""
    curve = [_point(None, 0.95, 10.0, 1.0), _point(0.97, 0.95, 6.0, 0.58), _point(0.85, 0.94, 2.3, 0.22),
             _point(0.6, 0.80, 0.5, 0.04, "inferior")]
    cascade = {"cheap": cheap, "strong": "premium", "threshold": 0.85, "reference": "premium", "margin": 0.02,
               "confidence": 0.95, "dev_run_id": DEV, "dev": curve[2], "test": _point(0.85, 0.93, 2.6, 0.25),
               "reference_cost_per_1k_usd": 10.0, "single_cost_per_1k_usd": 10.0, "curve": curve}
    evidence = {"run_id": TEST, "suite": "triage", "model": cheap, "quality": 0.93, "quality_ci": [0.88, 0.97],
                "cost_per_1k_usd": 2.6, "n": 60, "floor": 0.7, "reason": "switched to the cascade", "cascade": cascade}
    return {"format_version": 1, "rules": [{"id": "triage", "model": cheap, "cascade": [
        {"model": cheap, "accept_if": {"confidence": 0.85}}, {"model": "premium"}], "evidence": evidence}],
        "default": {"model": "mid"}}


def test_the_curve_of_a_constructed_proposal_shows_the_chosen_point_and_its_escalation_share():
    (view,) = cascade_views(constructed_proposal(), None)
    assert view["status"] == "proposed" and view["chosen"]["threshold"] == 0.85
    svg = str(view["svg"])
    assert svg.startswith("<svg") and 'data-points="4"' in svg
    assert 'data-chosen="confidence ≥ 0.85"' in svg and 'data-escalated="22.0%"' in svg
    assert "chosen: confidence ≥ 0.85, 22.0% escalated" in svg  # the label beside the ringed point
    assert svg.count('class="point chosen"') == 1 and svg.count('class="point test"') == 1
    assert svg.count('fill="#ffffff"') >= 1  # the inferior point is hollow
    assert "premium alone (test)" in svg  # the reference's own cost
    text = " ".join(view["summary"])
    assert "Chosen on dev: confidence ≥ 0.85, 22.0% escalated" in text
    assert "On test (the confirmation): confidence ≥ 0.85, 25.0% escalated, quality 0.930" in text
    assert [r["chosen"] for r in view["rows"]] == [False, False, True, False, False]  # 4 dev points, then test
    assert view["rows"][-1]["split"] == "test"


def test_names_from_files_are_escaped_in_the_svg():
    svg = str(curve_svg(cascade_views(constructed_proposal(cheap="<script>x</script>"), None)[0]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_the_report_draws_the_proposed_cascade_from_a_real_recommendation(pproject):
    write_pair(pproject)
    recommend(pproject, TEST, RecommendOptions(tolerance=TOLERANCE, dev_run=DEV))
    folder = pproject.reports_dir / TEST
    sweeps = json.loads((folder / "cascades.json").read_text())
    assert sweeps["dev_run_id"] == DEV and {(s["cheap"], s["strong"], s["proposed"]) for s in sweeps["sweeps"]} == {
        ("cheap", "premium", True), ("cheap", "mid", False)}
    html = write_report(folder, project=pproject)["html"].read_text()
    section = html[html.index('id="recommendation"'):html.index("</section>", html.index('id="recommendation"'))]
    figures = re.findall(r'<figure class="cascade cascade-(\w+)" id="cascade-\d+">', section)
    assert figures == ["proposed", "considered"]  # the proposed one once (proposal and cascades.json), then the other
    assert 'data-chosen="confidence ≥ 0.8"' in section and 'data-escalated="16.7%"' in section  # 10 of 60 on dev
    assert "On test (the confirmation): confidence ≥ 0.8, 16.7% escalated" in section
    assert "https://" not in section.split("<svg", 1)[1].split("</svg>", 1)[0].replace("http://www.w3.org/2000/svg", "")


def test_a_considered_cascade_is_drawn_even_when_none_is_proposed(pproject):
    write_pair(pproject, test_wrong_at_80=6)  # chosen on dev, not confirmed on test
    recommend(pproject, TEST, RecommendOptions(tolerance=TOLERANCE, dev_run=DEV))
    folder = pproject.reports_dir / TEST
    html = write_report(folder, project=pproject)["html"].read_text()
    assert 'class="cascade cascade-proposed"' not in html
    assert html.count('class="cascade cascade-considered"') == 2
    assert "not confirmed on test" in html and 'data-chosen="confidence ≥ 0.8"' in html


def test_a_recommendation_without_a_dev_run_clears_the_curves_of_an_earlier_one(pproject):
    write_pair(pproject)
    recommend(pproject, TEST, RecommendOptions(tolerance=TOLERANCE, dev_run=DEV))
    recommend(pproject, TEST, RecommendOptions(tolerance=TOLERANCE))  # no sweep now: no stale curve either
    folder = pproject.reports_dir / TEST
    assert json.loads((folder / "cascades.json").read_text())["sweeps"] == []
    assert 'id="cascades"' not in write_report(folder, project=pproject)["html"].read_text()


def test_a_newer_cascades_file_is_refused_with_a_note(tmp_path):
    (tmp_path / "cascades.json").write_text(json.dumps({"format_version": 99, "sweeps": []}))
    notes: list[str] = []
    assert read_sweeps(tmp_path, notes) is None
    assert notes and "newer than this harness reads" in notes[0]


@pytest.mark.browser
def test_the_cascade_curve_renders_in_chromium(pproject, tmp_path):
    from pathlib import Path

    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium missing")
    playwright = pytest.importorskip("playwright.sync_api")
    write_pair(pproject)
    recommend(pproject, TEST, RecommendOptions(tolerance=TOLERANCE, dev_run=DEV))
    page_path = write_report(pproject.reports_dir / TEST, project=pproject)["html"]
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.as_uri())
        chart = page.locator("#cascade-1 svg.cascade-curve")
        assert chart.is_visible()
        box = page.locator("#cascade-1 circle.point.chosen").bounding_box()
        assert box is not None and box["width"] > 0
        assert "16.7% escalated" in page.locator("#cascade-1").inner_text()
        browser.close()
    assert errors == []
