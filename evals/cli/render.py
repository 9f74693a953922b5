"""``evals render``: print the exact request a model would get for one example of a suite."""

from __future__ import annotations

import json

import click

from evals.cli._common import open_project, project_option
from evals.preview import format_preview, preview_request


@click.command("render")
@click.option("--suite", "suite_name", required=True, help="Suite name (the `name:` in its suite.yaml).")
@click.option("--model", "model_id", required=True, help="Model id from policies/models.yaml.")
@click.option("--example", "example_id", required=True, help="Example id (the suite's id column).")
@click.option("--split", default=None, help="Split the example is in (default: the suite's default_split).")
@click.option("--json", "as_json", is_flag=True, help="Print the canonical request (as cached) as JSON.")
@project_option
def render_cmd(suite_name, model_id, example_id, split, as_json, project_dir) -> None:
    """Print the request MODEL gets for EXAMPLE of SUITE: the variant it resolves to, the messages or
    completion prompt, generation parameters and JSON schema, built exactly as `evals run` builds it.

    \b
    Example:
      evals render --suite inbox-triage --model smollm2-135m --example triage-041
      evals render --suite lead-details --model gemma3-270m --example lead-003 --split dev --json
    """
    project = open_project(project_dir)
    preview = preview_request(project, suite_name, model_id, example_id, split)
    if as_json:
        click.echo(json.dumps(preview.as_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_preview(preview, project.root))
