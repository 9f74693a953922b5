"""A 100,000-row run yields a report under 15 MB that a browser opens in seconds."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from tests.report import report_data as data
from evals.report import write_report

CHROMIUM = Path("/usr/bin/chromium")


def big_results(rows: int = 100_000) -> pd.DataFrame:
    """The hand-written frame tiled to ``rows`` rows, each copy with its own example ids."""
    base = data.results(100, prompt_chars=1500)
    copies = -(-rows // len(base))
    frames = []
    for n in range(copies):
        part = base.copy()
        part["example_id"] = part["example_id"] + f"-{n:04d}"
        part["cost_usd"] = part["cost_usd"] * (1 + n / copies)
        frames.append(part)
    return pd.concat(frames, ignore_index=True).iloc[:rows]


@pytest.fixture(scope="module")
def big_report(tmp_path_factory):
    folder = data.write_run(tmp_path_factory.mktemp("scale") / "20260101-000000-big", big_results())
    started = time.perf_counter()
    paths = write_report(folder)
    return paths, time.perf_counter() - started


def test_report_of_100k_rows_is_small_and_says_it_samples(big_report):
    (paths, seconds) = big_report
    size = paths["html"].stat().st_size
    print(f"100,000 rows: report.html {size / 1e6:.1f} MB written in {seconds:.1f} s")
    assert size < 15_000_000
    html = paths["html"].read_text(encoding="utf-8")
    assert "Sampled: this page embeds" in html and "of 100000 rows" in html
    assert "The HTML report embeds" in paths["markdown"].read_text(encoding="utf-8")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_report_of_100k_rows_opens_in_seconds(big_report):
    from playwright.sync_api import sync_playwright

    paths, _ = big_report
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            started = time.perf_counter()
            page.goto(paths["html"].resolve().as_uri(), wait_until="load")
            page.wait_for_selector("#rows tbody tr")
            seconds = time.perf_counter() - started
            print(f"100,000-row report opened and drew its first rows in {seconds:.2f} s")
            assert errors == []
            assert len(page.query_selector_all("#rows tbody tr")) == 50
            started = time.perf_counter()
            page.select_option("#f-errors", "only")
            filtered = time.perf_counter() - started
            assert page.eval_on_selector_all("#rows tbody tr", "t => t.every(r => r.cells[4].textContent)")
            print(f"filter over the embedded rows took {filtered:.2f} s")
            assert seconds < 10
        finally:
            browser.close()
