"""The ``evals`` command: registers one thin command per verb; each calls one library function.

Commands load lazily: ``evals --help`` lists every verb with its one-line help read from the verb's
source (its docstring, parsed with :mod:`ast`, never imported), and ``evals route`` imports the route
module only, so start-up pays for neither pandas, pyarrow, numpy, scipy, datasets nor rich.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from functools import lru_cache

import click

from evals import __version__
from evals.cli._common import handle_errors

# One module per verb, "module:command"; the verb is the module's last name. Listed in this order in
# --help (the order of the workflow: run and check inputs, decide, approve, gate in CI, look, operate).
COMMANDS = [
    "evals.cli.run:run_cmd",
    "evals.cli.runs:runs_cmd",
    "evals.cli.report:report_cmd",
    "evals.cli.render:render_cmd",
    "evals.cli.validate:validate_cmd",
    "evals.cli.models:models_cmd",
    "evals.cli.distill:distill_cmd",
    "evals.cli.recommend:recommend_cmd",
    "evals.cli.approve:approve_cmd",
    "evals.cli.gate:gate_cmd",
    "evals.cli.route:route_cmd",
    "evals.cli.spend:spend_cmd",
    "evals.cli.replay:replay_cmd",
]


def verb_of(target: str) -> str:
    """``"evals.cli.run:run_cmd"`` -> ``"run"``."""
    return target.partition(":")[0].rpartition(".")[2]


@lru_cache(maxsize=None)
def docstring_of(target: str) -> str | None:
    """The docstring of a command's function, read from its module's source without importing it."""
    module, _, name = target.partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read(), spec.origin)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return ast.get_docstring(node, clean=False)
    return None


class LazyGroup(click.Group):
    """A group whose commands are ``"module:attr"`` strings, imported when a command is invoked."""

    def __init__(self, *args, targets: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.targets = {verb_of(t): t for t in targets}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.targets, *(name for name in super().list_commands(ctx) if name not in self.targets)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.targets.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but each verb's short help comes from its source, so nothing is imported."""
        rows = []
        width = formatter.width - 6 - max(len(n) for n in self.list_commands(ctx))
        for verb in self.list_commands(ctx):
            target = self.targets.get(verb)
            doc = docstring_of(target) if target else None
            command = click.Command(verb, help=doc) if doc is not None else self.get_command(ctx, verb)
            if command is not None and not command.hidden:
                rows.append((verb, command.get_short_help_str(width)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, targets=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evals")
def cli() -> None:
    """Evaluate a portfolio of LLMs per task and compile a routing policy from the evidence."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    with handle_errors():
        return cli.main(args=argv, prog_name="evals", standalone_mode=False) or 0
    return 2  # pragma: no cover - handle_errors exits


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
