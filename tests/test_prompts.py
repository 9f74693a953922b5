"""Variant resolution and sandboxed rendering."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evals.errors import ConfigError, TemplateError
from evals.prompts import load_template, render, resolve_variant


def _prompt(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "prompts" / "p"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return tmp_path / "prompts"


CHAT = "{% block user %}{{ x }}{% endblock %}"


def test_resolution_order_model_then_family_then_default(tmp_path):
    prompts = _prompt(tmp_path, {"default.j2": CHAT, "fam.j2": CHAT, "m1.j2": CHAT})
    assert resolve_variant(prompts, "p", "m1", "fam").name == "m1.j2"
    assert resolve_variant(prompts, "p", "m2", "fam").name == "fam.j2"
    assert resolve_variant(prompts, "p", "m2", "other").name == "default.j2"


def test_missing_variant_and_prompt(tmp_path):
    prompts = _prompt(tmp_path, {"fam.j2": CHAT})
    with pytest.raises(ConfigError, match="no variant for model 'm2'"):
        resolve_variant(prompts, "p", "m2", "other")
    with pytest.raises(ConfigError, match="prompt 'nope' not found"):
        resolve_variant(prompts, "nope", "m2", "other")


@pytest.mark.parametrize("payload", ["{{ 7*7 }}", "{% for i in range(3) %}x{% endfor %}", "{{ ''.__class__ }}",
                                     "{# comment #}", "{% raw %}"])
def test_untrusted_variables_render_literally(tmp_path, payload):
    prompts = _prompt(tmp_path, {"default.j2": CHAT})
    tpl = load_template(prompts / "p" / "default.j2")
    out = render(tpl, {"x": payload})
    assert out.messages[0]["content"] == payload


def test_sandbox_refuses_unsafe_attribute_in_template(tmp_path):
    prompts = _prompt(tmp_path, {"default.j2": "{% block user %}{{ x.__class__.__mro__ }}{% endblock %}"})
    tpl = load_template(prompts / "p" / "default.j2")
    with pytest.raises(TemplateError):
        render(tpl, {"x": "a"})


def test_strict_undefined_names_file_and_line(tmp_path):
    prompts = _prompt(tmp_path, {"default.j2": "---\nmax_tokens: 3\n---\n{% block user %}\nhi\n{{ missing }}\n{% endblock %}"})
    path = prompts / "p" / "default.j2"
    with pytest.raises(TemplateError) as info:
        render(load_template(path), {})
    assert info.value.line == 6 and "missing" in str(info.value)


def test_syntax_error_names_line(tmp_path):
    prompts = _prompt(tmp_path, {"default.j2": "---\nmax_tokens: 3\n---\n{% block user %}\n{% if %}\n{% endblock %}"})
    with pytest.raises(TemplateError) as info:
        load_template(prompts / "p" / "default.j2")
    assert info.value.line == 5


def test_header_sets_parameters_and_unknown_header_key_fails(tmp_path):
    prompts = _prompt(tmp_path, {
        "default.j2": "---\nmax_tokens: 7\ntemperature: 0.5\nstop: [END]\n---\n{% block system %}S{% endblock %}" + CHAT,
        "bad.j2": "---\nmax_tokns: 7\n---\n" + CHAT,
    })
    out = render(load_template(prompts / "p" / "default.j2"), {"x": "hello"})
    assert out.max_tokens == 7 and out.temperature == 0.5 and out.stop == ("END",)
    assert out.messages == ({"role": "system", "content": "S"}, {"role": "user", "content": "hello"})
    with pytest.raises(ConfigError) as info:
        load_template(prompts / "p" / "bad.j2")
    assert info.value.line == 2 and info.value.field == "max_tokns"


def test_completion_template_and_json_schema(tmp_path):
    prompts = _prompt(tmp_path, {
        "default.j2": "---\njson_output: true\njson_schema: s.json\n---\n{% block prompt %}Q: {{ x }}\nA:{% endblock %}",
        "s.json": '{"type": "string", "enum": ["a", "b"]}',
    })
    out = render(load_template(prompts / "p" / "default.j2"), {"x": "?"})
    assert out.prompt == "Q: ?\nA:" and out.messages is None
    assert out.json_schema == {"type": "string", "enum": ["a", "b"]}


def test_rendered_hash_changes_with_content(tmp_path):
    prompts = _prompt(tmp_path, {"default.j2": CHAT})
    tpl = load_template(prompts / "p" / "default.j2")
    assert render(tpl, {"x": "a"}).sha256 != render(tpl, {"x": "b"}).sha256
    assert render(tpl, {"x": "a"}).sha256 == render(tpl, {"x": "a"}).sha256


def test_one_context_per_example_keeps_each_blocks_set_inside_it(tmp_path):
    """The blocks of one example share one Jinja context (as a whole-template render does); what a block
    sets stays in that block, and nothing carries over to the next example."""
    prompts = _prompt(tmp_path, {"default.j2": "{% block system %}{% set x = 'sys' %}S {{ x }}{% endblock %}"
                                               "{% block user %}U {{ x }}{% endblock %}"})
    tpl = load_template(prompts / "p" / "default.j2")
    first = render(tpl, {"x": "one"})
    assert [m["content"] for m in first.messages] == ["S sys", "U one"]
    assert [m["content"] for m in render(tpl, {"x": "two"}).messages] == ["S sys", "U two"]


def test_a_schema_file_is_read_again_when_it_changes(tmp_path):
    prompts = _prompt(tmp_path, {
        "default.j2": "---\njson_output: true\njson_schema: s.json\n---\n{% block user %}{{ x }}{% endblock %}",
        "s.json": '{"type": "string", "enum": ["a", "b"]}',
    })
    tpl = load_template(prompts / "p" / "default.j2")
    first = render(tpl, {"x": "?"})
    first.json_schema["enum"].append("changed by a caller")
    assert render(tpl, {"x": "?"}).json_schema == {"type": "string", "enum": ["a", "b"]}, "each request its own copy"
    schema = prompts / "p" / "s.json"
    schema.write_text('{"type": "string", "enum": ["c"]}')
    stat = schema.stat()
    os.utime(schema, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert render(tpl, {"x": "?"}).json_schema == {"type": "string", "enum": ["c"]}
    schema.write_text("{not json")
    os.utime(schema, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    with pytest.raises(ConfigError, match="invalid JSON"):
        render(tpl, {"x": "?"})
