"""Start-up: ``evals --help`` and ``evals route`` import only what they use (no timings here).

Each check runs in a fresh interpreter, since the test session itself has imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from evals.cli.main import COMMANDS, cli

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "pyarrow", "numpy", "scipy", "datasets")
VERB_MODULES = tuple(target.partition(":")[0] for target in COMMANDS)


def verb_of(target: str) -> str:
    return target.partition(":")[0].rpartition(".")[2]


def imported_after(code: str, *watch: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; which of ``watch`` ended up in ``sys.modules``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps([m for m in {list(watch)!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_cli_imports_no_data_stack_and_no_verb():
    assert imported_after("import evals.cli.main", *HEAVY, "rich", *VERB_MODULES) == []


def test_help_lists_every_verb_in_workflow_order_without_importing_them():
    code = (
        "import contextlib, io\n"
        "from evals.cli.main import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    main(['--help'])\n"
        "open('/dev/stderr', 'w').write(buf.getvalue())\n"
    )
    probe = f"{code}\nimport sys, json\nprint(json.dumps([m for m in {list(HEAVY + VERB_MODULES)!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    listed = [line.split()[0] for line in out.stderr.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == [verb_of(t) for t in COMMANDS]
    assert listed[:3] == ["run", "runs", "report"]  # the work's order: run, look, then check inputs, decide


def test_route_imports_no_data_stack():
    code = (
        "import sys\n"
        "from evals.cli.main import main\n"
        f"sys.argv = ['evals']\n"
        f"main(['route', '--project', {str(REPO)!r}, '--task', 'classification', '--json'])\n"
    )
    # nor the runtime client's world (asyncio, jinja2, the providers, the SDKs): only the typed config
    assert imported_after(code, *HEAVY, "evals.cli.run", "evals.aggregates", "evals.client", "evals.providers",
                          "asyncio", "jinja2", "httpx", "openai", "rich") == []


@pytest.mark.parametrize("target", COMMANDS)
def test_lazy_help_line_is_the_commands_own(target):
    """The line --help shows without importing equals what click derives from the imported command."""
    from evals.cli.main import docstring_of

    module, _, name = target.partition(":")
    command = getattr(__import__(module, fromlist=[name]), name)
    assert isinstance(command, click.Command) and command.name == verb_of(target)
    assert docstring_of(target) is not None
    placeholder = click.Command(verb_of(target), help=docstring_of(target))
    for width in (30, 45, 70):
        assert placeholder.get_short_help_str(width) == command.get_short_help_str(width)


def test_every_verb_resolves_and_runs_its_own_help():
    from click.testing import CliRunner

    for target in COMMANDS:
        out = CliRunner().invoke(cli, [verb_of(target), "--help"], prog_name="evals")
        assert out.exit_code == 0, out.output
        assert f"Usage: evals {verb_of(target)}" in out.output


def test_unknown_verb_is_a_usage_error():
    from click.testing import CliRunner

    out = CliRunner().invoke(cli, ["nonsense"])
    assert out.exit_code == 2 and "No such command" in out.output
