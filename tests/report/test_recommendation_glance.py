"""The default job ends in a decision, and the recommendation reads at a glance (issue 18 items 1 and 6).

`evals recommend` used to leave report.html saying "No proposal in this run folder"; the changed rule
read `n/a | n/a | n/a` while its numbers sat further down, unrounded; a latency column mixed `8131 ms`
with `25.3 s`.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from evals.config.policy import Evidence, Policy, Requirements, Rule, Target
from evals.project import Project
from evals.report import write_report
from evals.report.format import fmt_ms, ms_unit
from evals.report.recommendation import rule_changes, with_headline
from tests.conftest import REPO, run_cli
from tests.policy.runs import model_rows, ones, pproject, write_run  # noqa: F401 (pproject: fixture)
from tests.report import report_data as data

N = 40


def _switch_run(project: Project, run_id: str = "r1") -> Path:
    """cheap is right on every example, premium on 30 of 40, and cheap costs a hundredth: triage must move."""
    rows = model_rows("triage", "premium", ones(N, 30), cost=0.01, latency=900, variant="default")
    rows += model_rows("triage", "cheap", ones(N, N), cost=0.0001, latency=100, variant="default")
    return write_run(project, run_id, rows)


def _keep_run(project: Project, run_id: str = "r1") -> Path:
    """Only 10 examples (gate.yaml asks for 20 to change a rule): every rule keeps its model, each says why."""
    rows = model_rows("triage", "premium", ones(10, 8), cost=0.01, latency=900, variant="default")
    rows += model_rows("triage", "cheap", ones(10, 10), cost=0.0001, latency=100, variant="default")
    return write_run(project, run_id, rows)


class _Sections(HTMLParser):
    """Text per element id, and the rows of #rule-table with their classes."""

    def __init__(self):
        super().__init__()
        self.stack: list[str | None] = []
        self.text: dict[str, str] = {}
        self.rows: list[tuple[str, list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_rules = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("meta", "br", "input", "link", "img"):
            return
        self.stack.append(attrs.get("id"))
        if attrs.get("id") == "rule-table":
            self._in_rules = len(self.stack)
        if self._in_rules and tag == "tr":
            self._row, self._class = [], attrs.get("class") or ""
        if self._in_rules and tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("meta", "br", "input", "link", "img"):
            return
        if self._in_rules and tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        if self._in_rules and tag == "tr" and self._row is not None:
            self.rows.append((self._class, self._row))
            self._row = None
        if self._in_rules == len(self.stack):
            self._in_rules = 0
        if self.stack:
            self.stack.pop()

    def handle_data(self, text):
        for ident in self.stack:
            if ident:
                self.text[ident] = self.text.get(ident, "") + text
        if self._cell is not None:
            self._cell.append(text)


def _parse(html: str) -> _Sections:
    p = _Sections()
    p.feed(html)
    return p


def test_evals_recommend_rewrites_the_report_it_read(pproject):
    folder = _switch_run(pproject)
    done = run_cli("report", "r1", cwd=pproject.root)
    assert done.returncode == 0, done.stderr
    assert "No proposal yet" in (folder / "report.html").read_text(encoding="utf-8")
    done = run_cli("recommend", "r1", cwd=pproject.root)
    assert done.returncode == 0, done.stderr
    html = (folder / "report.html").read_text(encoding="utf-8")
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    page = _parse(html)
    assert "No proposal yet" not in html
    assert re.findall(r'<section id="([^"]+)"', html)[0] == "recommendation"
    assert html.count('<section id="recommendation">') == 1 and html.count("<nav>") == 1
    assert "triage: premium → cheap" in page.text["headline"]
    assert "1 of 3 rules change" in page.text["headline"]
    assert "not approved yet: evals approve reports/r1/proposal.yaml" in page.text["approval-status"]
    assert summary.index("## Recommendation") < summary.index("## Suites")
    assert "- triage: premium → cheap" in summary and "Approval: not approved yet" in summary
    assert (pproject.reports_dir / "index.html").is_file()  # the run history is rewritten too


def test_the_report_says_the_headline_and_the_rule_table_once(pproject):
    """diff.md opens with the headline and the rule table, and the report used to show both again below
    its own: the headline line twice, every rule's reason twice. What follows the rule table (warnings,
    spend, candidates) is still shown."""
    from evals.policy.recommend import recommend
    from evals.report import refresh_reports

    folder = _switch_run(pproject)
    recommend(pproject, "r1")
    refresh_reports(pproject, folder)
    html = (folder / "report.html").read_text(encoding="utf-8")
    html = re.sub(r"<details><summary>diff.md as written</summary>.*?</details>", "", html, flags=re.S)  # the raw file
    assert html.count("triage: premium → cheap") == 1
    assert html.count("<th>reason</th>") == 1
    assert "Projected weekly spend" in html and "Candidates measured" in html


def test_the_changed_row_carries_its_evidence_rounded(pproject):
    from evals.policy.recommend import recommend
    from evals.report import refresh_reports

    folder = _switch_run(pproject)
    result = recommend(pproject, "r1")
    refresh_reports(pproject, folder)
    rows = _parse((folder / "report.html").read_text(encoding="utf-8")).rows
    header = rows[0][1]
    by_rule = {cells[0]: (cls, dict(zip(header, cells))) for cls, cells in rows[1:]}
    cls, triage = by_rule["triage"]
    assert cls == "changed" and triage["change"] == "changed"
    assert triage["model"] == "premium → cheap"
    ev = result.proposal.target("triage").evidence
    assert triage["quality [95% CI]"] == f"{ev.quality:.3f} [{ev.quality_ci[0]:.3f}, {ev.quality_ci[1]:.3f}]"
    assert triage["cost / 1k calls"].startswith("$") and triage["p95 latency"] == "100 ms"
    assert triage["n"] == "40" and "n/a" not in " ".join(triage.values())
    assert triage["reason"] != "-" and "switched" in triage["reason"]
    assert by_rule["writing"][0] == "kept" and by_rule["writing"][1]["reason"] != "-"  # why it was kept


def test_keep_everything_and_why(pproject):
    from evals.policy.recommend import recommend
    from evals.report import refresh_reports

    folder = _keep_run(pproject)
    recommend(pproject, "r1")
    refresh_reports(pproject, folder)
    page = _parse((folder / "report.html").read_text(encoding="utf-8"))
    assert "Keep every rule" in page.text["headline"]
    assert "No rule changes: all 3 rules keep their model" in page.text["headline"]
    reasons = [dict(zip(page.rows[0][1], cells))["reason"] for _, cells in page.rows[1:]]
    assert len(reasons) == 3 and all(r not in ("", "-") for r in reasons), reasons
    assert "**No rule changes:** all 3 rules keep their model" in (folder / "diff.md").read_text(encoding="utf-8")


def test_diff_md_opens_with_the_headline(pproject):
    from evals.policy.recommend import recommend

    _switch_run(pproject)
    text = recommend(pproject, "r1").diff_path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# Policy diff"
    assert lines[2] == "**Changes:**" and lines[4].startswith("- triage: premium → cheap")


def test_headline_names_model_fallbacks_prompt_and_floor():
    def policy(model, floor, fallbacks, prompt="founder-voice"):
        ev = Evidence(run_id="r", suite="founder-voice", model=model, quality=0.7, quality_ci=(0.6, 0.8),
                      cost_per_1k_usd=1.0, p95_latency_ms=100.0, n=24, floor=floor)
        rule = Rule(id="founder-voice", model=model, prompt=prompt, fallbacks=fallbacks, evidence=ev)
        return Policy(rules=[rule], default=Target(model="gpt-4o-mini"))

    before = policy("claude-sonnet-4-6", 0.60, ["gpt-4o"])
    after = policy("smollm2-135m", 0.45, ["gpt-4o"])
    assert [c.text() for c in rule_changes(before, after)] == [
        "founder-voice: claude-sonnet-4-6 → smollm2-135m, floor 0.60 → 0.45"]
    after = policy("claude-sonnet-4-6", 0.60, [], prompt="voice-2")
    assert [c.text() for c in rule_changes(before, after)] == [
        "founder-voice: claude-sonnet-4-6 (kept), fallbacks gpt-4o → none, prompt founder-voice → voice-2"]
    lowered = after.model_copy(update={"rules": [after.rules[0].model_copy(update={
        "require": Requirements(quality_floor=0.5)})]})
    assert "floor 0.60 → 0.50" in rule_changes(after, lowered)[0].text()
    assert rule_changes(before, before) == []
    assert "**No rule changes:** all 2 rules keep their model" in with_headline("# Policy diff\n", before, before)


def test_one_latency_unit_per_column(tmp_path):
    frame = data.results(6)
    frame.loc[frame.model == "model-mid", "latency_ms"] = 8131.0
    frame.loc[frame.model == "model-small", "latency_ms"] = 25300.0
    folder = data.write_run(tmp_path / "run", frame)
    paths = write_report(folder)
    html, md = paths["html"].read_text(encoding="utf-8"), paths["markdown"].read_text(encoding="utf-8")
    assert "8131 ms" not in html and "8131 ms" not in md
    assert "8.1 s" in html and "25.3 s" in html and "8.1 s" in md
    for cell in re.findall(r'<td class="n[^"]*">([^<]*?(?:ms|s))(?: ⚠)?</td>', html):
        assert cell.endswith(" s") or cell == "-", cell  # every latency cell of these tables is in seconds
    assert ms_unit([100.0, 900.0]) == "ms" and fmt_ms(812.0, "s") == "0.8 s"


def test_make_run_ends_with_recommend_and_the_readme_says_so():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    steps = [line.strip() for line in recipe.splitlines() if line.startswith("\t")]
    # the dev run a cascade's threshold is chosen on, the evidence run (every suite), then the recommendation
    assert steps[0].endswith("evals run $(CASCADE_DEV)") and "--split dev" in makefile, steps
    assert steps[1].endswith("evals run") and "evals recommend latest --dev-run latest" in steps[2], steps
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first = readme.split("## Two commands", 1)[1].split("## What is where", 1)[0]
    assert "evals recommend latest" in first and "recommendation" in first


def test_approval_status_follows_the_log(pproject):
    from evals.policy.approve import approve
    from evals.policy.recommend import recommend
    from evals.report import refresh_reports

    gate = pproject.root / "policies" / "gate.yaml"
    gate.write_text(gate.read_text() + "require_signed_approvals: false\n")
    folder = _switch_run(pproject)
    proposal = recommend(pproject, "r1").proposal_path
    approve(pproject, proposal, "ada@example.com")
    refresh_reports(pproject, folder)
    page = _parse((folder / "report.html").read_text(encoding="utf-8"))
    status = page.text["approval-status"]
    assert "approved by ada@example.com" in status and "this is the policy in force" in status
    assert "triage: premium → cheap" in page.text["headline"]  # still the change it approved
    # a later proposal compiled against the new policy is pending; the approved one stays approved
    rows = model_rows("triage", "premium", ones(N, 40), cost=0.01, latency=900, variant="default")
    rows += model_rows("triage", "cheap", ones(N, 20), cost=0.0001, latency=100, variant="default")
    later = write_run(pproject, "r2", rows)
    recommend(pproject, "r2")
    refresh_reports(pproject, later)
    assert "not approved yet" in _parse((later / "report.html").read_text(encoding="utf-8")).text["approval-status"]
    # the policy in force changes under r2's proposal: it is stale
    from evals.config.policy import load_policy
    from evals.policy.recommend import dump_policy

    edited = load_policy(pproject.policy_file)
    edited = edited.model_copy(update={"default": edited.default.model_copy(update={"fallbacks": []})})
    pproject.policy_file.write_text(dump_policy(edited, "edited by hand"))
    refresh_reports(pproject, later)
    assert "compiled against another policy" in _parse(
        (later / "report.html").read_text(encoding="utf-8")).text["approval-status"]
