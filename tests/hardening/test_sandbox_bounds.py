"""The template sandbox is bounded: hostile templates are refused quickly, ordinary ones are untouched."""

from __future__ import annotations

import time

import pytest

from evals import prompts
from evals.errors import TemplateError
from evals.prompts import load_template, render

HOSTILE = {  # name: (template body, what the one-line error says: which bound refused it)
    "nested loops": ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
                     "loop iterations"),
    "loop over a generator": ("{% for c in range(99999)|map('string') %}{% for d in range(99)|map('string') %}"
                              "{% endfor %}{% endfor %}", "loop iterations"),
    "recursive macro": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(1) }}", "nested more than 64 deep"),
    "mutual recursion": ("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
                         "nested more than 64 deep"),
    "repetition": ('{{ "ab" * 10**8 }}', "repetition"),
    "list repetition": ("{{ ([1] * 10**8)|length }}", "repetition"),
    "doubling with ~": ('{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}'
                        '{% endfor %}{{ ns.s|length }}', "built with ~"),
    "doubling with +": ('{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}'
                        '{% endfor %}{{ ns.s|length }}', "concatenation"),
    "power": ("{{ 7 ** 9999999 }}", "power"),
    "printf width": ('{{ "%0999999999d" % 1 }}', "format width"),
    "format width": ('{{ "{:>999999999}".format("x") }}', "format width"),
    "format filter width": ('{{ "%999999999s"|format("x") }}', "format width"),
    "center": ('{{ "x"|center(10**9) }}', "|center width"),
    "indent": ('{{ "x\\ny"|indent(10**9) }}', "|indent width"),
    "ljust": ('{{ "x".ljust(10**9) }}', "str.ljust width"),
    "output": ('{% for i in range(99999) %}{{ "z" * 60 }}{% endfor %}', "renders more than"),
    "division": ("{{ 1 // 0 }}", "ZeroDivisionError"),
}


def _template(tmp_path, body: str):
    path = tmp_path / "p" / "default.j2"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\nmax_tokens: 5\n---\n{% block user %}" + body + "{% endblock %}\n")
    return load_template(path)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_template_is_refused_within_the_deadline(tmp_path, name):
    body, says = HOSTILE[name]
    tpl = _template(tmp_path, body)
    started = time.perf_counter()
    with pytest.raises(TemplateError) as info:
        render(tpl, {"text": "hi"})
    assert time.perf_counter() - started < prompts.RENDER_SECONDS + 2  # most are refused before they start
    assert info.value.line == 4 and str(tpl.path) in str(info.value)
    assert says in str(info.value)


def test_the_render_deadline(tmp_path, monkeypatch):
    monkeypatch.setattr(prompts, "RENDER_SECONDS", 0.05)
    tpl = _template(tmp_path, "{% for i in range(99999) %}{% for j in range(9) %}{{ i|string|length }}"
                              "{% endfor %}{% endfor %}")
    with pytest.raises(TemplateError, match="longer than"):
        render(tpl, {})


def test_ordinary_templates_are_untouched(tmp_path):
    """Long documents, many shots, loops, macros, ~ and padding within the limits render as before."""
    body = ("{% macro shot(s) %}{{ s.text }} -> {{ s.gold }}{% endmacro %}"
            "{% for s in shots %}{{ shot(s) }}\n{% endfor %}{{ doc }}|{{ 'a' ~ 'b' ~ 3 }}|{{ 'x'|center(9) }}|"
            "{{ '%05d' % 42 }}|{{ '{:>4}'.format(7) }}|{{ [1, 2] * 2 }}|{{ 2 ** 64 }}|{{ loop_total }}")
    tpl = _template(tmp_path, body)
    shots = [{"text": f"t{i}", "gold": "g"} for i in range(5000)]
    doc = "word " * 600_000  # 3 MB: a long-context document
    out = render(tpl, {"shots": shots, "doc": doc, "loop_total": 1}).messages[-1]["content"]
    assert out.startswith("t0 -> g\nt1 -> g") and "t4999 -> g" in out
    assert out.endswith("|ab3|    x    |00042|   7|[1, 2, 1, 2]|18446744073709551616|1")
    assert len(out) > 3_000_000


def test_the_limits_are_per_block(tmp_path):
    """Each block gets its own budget: two blocks of 600k iterations each render."""
    path = tmp_path / "p" / "default.j2"
    path.parent.mkdir(parents=True)
    loop = "{% for i in range(99999) %}{% for j in range(6) %}{% endfor %}{% endfor %}"
    path.write_text("{% block system %}" + loop + "s{% endblock %}{% block user %}" + loop + "u{% endblock %}\n")
    rendered = render(load_template(path), {})
    assert [m["content"] for m in rendered.messages] == ["s", "u"]
