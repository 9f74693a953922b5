"""Config errors name file, line and field; the CLI prints one line and exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.config import load_models, load_policy, load_suite
from evals.errors import ConfigError
from tests.conftest import MODELS_YAML, run_cli


def _write(tmp_path: Path, text: str, name: str = "models.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unknown_key_names_line_and_field(tmp_path):
    path = _write(tmp_path, MODELS_YAML.replace("    family: terse\n", "    family: terse\n    temprature: 0.2\n"))
    with pytest.raises(ConfigError) as info:
        load_models(path)
    err = info.value
    assert err.line == 13
    assert err.field == "models[1].temprature"
    assert "unknown key" in str(err)
    assert str(err).startswith(f"{path}:13:")


def test_wrong_type_names_field(tmp_path):
    path = _write(tmp_path, MODELS_YAML.replace("context_window: 4096", "context_window: lots", 1))
    with pytest.raises(ConfigError) as info:
        load_models(path)
    assert info.value.field == "models[0].context_window"
    assert info.value.line == 7


def test_yaml_syntax_error_has_line(tmp_path):
    path = _write(tmp_path, "format_version: 1\nmodels:\n  - id: [unclosed\n    provider: fake\n")
    with pytest.raises(ConfigError) as info:
        load_models(path)
    assert "YAML syntax error" in str(info.value)
    assert info.value.line is not None and info.value.line >= 3


def test_duplicate_key_is_an_error(tmp_path):
    path = _write(tmp_path, MODELS_YAML.replace("    family: chatty\n", "    family: chatty\n    family: again\n"))
    with pytest.raises(ConfigError) as info:
        load_models(path)
    assert "duplicate key" in str(info.value)
    assert info.value.line == 7


def test_duplicate_model_id(tmp_path):
    path = _write(tmp_path, MODELS_YAML.replace("id: fake-b", "id: fake-a"))
    with pytest.raises(ConfigError, match="appears twice"):
        load_models(path)


def test_pricing_needs_exactly_one_kind(tmp_path):
    path = _write(tmp_path, MODELS_YAML.replace("pricing: {self_hosted: {hourly_usd: 3.6}}",
                                                "pricing: {auto: true, self_hosted: {hourly_usd: 3.6}}"))
    with pytest.raises(ConfigError, match="exactly one"):
        load_models(path)


def test_suite_missing_required_field(tmp_path):
    path = _write(tmp_path, "name: x\ntask: classification\n", "suite.yaml")
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert "required field is missing" in str(info.value)


def test_suite_unknown_task(tmp_path):
    text = (Path(__file__).parents[1] / "conftest.py").read_text().split('SUITE_YAML = """\\\n')[1].split('"""')[0]
    path = _write(tmp_path, text.replace("task: classification", "task: poetry", 1), "suite.yaml")
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    assert info.value.field == "task" and info.value.line == 2


def test_policy_missing_default(tmp_path):
    path = _write(tmp_path, "rules: []\n", "current.yaml")
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert info.value.field == "default"


def test_non_utf8_file(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_bytes(b"format_version: 1\nmodels:\n  - id: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_models(path)
    assert "UTF-8" in str(info.value) and info.value.line == 3


def test_validate_cli_one_line_exit_2(project):
    models = project.models_file
    models.write_text(models.read_text().replace("family: terse", "family: terse\n    colour: red"))
    result = run_cli("validate", "--project", str(project.root), cwd=project.root)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"{models}:13: models[1].colour: unknown key" in lines[0]
    assert "Traceback" not in result.stderr


def test_validate_cli_ok(project):
    result = run_cli("validate", "--project", str(project.root), cwd=project.root)
    assert result.returncode == 0, result.stderr
    assert "1 suites" in result.stdout


def test_validate_bad_data_line(project):
    data = project.suites_dir / "classification" / "tiny-triage" / "test.jsonl"
    lines = data.read_text().splitlines()
    lines[2] = '{"id": "broken", "text": "oops"'
    data.write_text("\n".join(lines) + "\n")
    result = run_cli("validate", "--project", str(project.root), cwd=project.root)
    assert result.returncode == 2
    assert f"{data}:3:" in result.stderr


def test_validate_undefined_template_variable(project):
    template = project.prompts_dir / "tiny" / "default.j2"
    template.write_text(template.read_text().replace("{{ text }}", "{{ txet }}"))
    result = run_cli("validate", "--project", str(project.root), cwd=project.root)
    assert result.returncode == 2
    assert f"{template}:5:" in result.stderr and "txet" in result.stderr
