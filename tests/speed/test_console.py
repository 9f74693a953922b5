"""Console messages show brackets as written: pip extras, paths, JSON are never read as rich markup."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from evals.cli._common import literal, print_line, print_warning
from tests.conftest import MODELS_YAML, write_project

TRICKY = [
    "skipping claude: extra not installed: pip install 'portfolio-evals[anthropic]' (needs anthropic)",
    "/tmp/proj[local]/reports/[x]/report.html",
    '{"labels": ["lead", "support"], "detail": {"a": [1, 2]}}',
    "[bold]not bold[/bold] and [/] and [link=file:///etc/passwd]x[/link]",
]


def console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=400, color_system=None, force_terminal=False), buf


@pytest.mark.parametrize("message", TRICKY)
def test_print_warning_and_print_line_keep_brackets(message):
    con, buf = console()
    print_warning(con, message)
    print_line(con, message)
    assert buf.getvalue().splitlines() == [f"warning: {message}", message]


@pytest.mark.parametrize("message", TRICKY)
def test_literal_keeps_brackets_in_tables(message):
    con, buf = console()
    table = Table(title=literal(message))
    table.add_column("value")
    table.add_row(literal(message))
    con.print(table)
    assert buf.getvalue().count(message) == 2


def squeeze(text: str) -> str:
    """Without whitespace: rich wraps long lines and titles wherever it likes."""
    return "".join(text.split())


def _run(args: list[str], cwd: Path, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"{prelude}\nimport sys\nfrom evals.cli.main import main\nsys.exit(main({args!r}))"
    env = {**os.environ, "EVALS_CACHE": str(cwd / "cache.sqlite")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


CLAUDE = """\
  - id: claude
    provider: anthropic
    model: claude-sonnet-4-6
    family: claude
    context_window: 200000
    pricing: {tokens: {input_per_mtok: 3.0, output_per_mtok: 15.0}}
"""


def test_run_prints_the_missing_extra_with_its_brackets(tmp_path):
    """The real skip path: anthropic made unimportable in a fresh interpreter, as on a machine without it."""
    root = tmp_path / "proj[local]"
    write_project(root, n_examples=2, models_yaml=MODELS_YAML + CLAUDE)
    done = _run(["run", "--project", str(root), "--models", "fake-a,claude"], tmp_path,
                prelude="import sys; sys.modules['anthropic'] = None  # find_spec -> None: not installed")
    assert done.returncode == 0, done.stderr
    output = squeeze(done.stdout + done.stderr)
    assert squeeze("pip install 'portfolio-evals[anthropic]' (needs anthropic)") in output
    assert squeeze(str(root / "reports")) in output  # the run's folder, brackets and all


def test_models_table_shows_a_bracketed_path(tmp_path):
    root = tmp_path / "proj[local]"
    write_project(root, n_examples=2)
    done = _run(["models", "--project", str(root)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert squeeze(str(root / "policies" / "models.yaml")) in squeeze(done.stdout)
