"""JSON Schemas of the user-edited YAML files, for editors (``# yaml-language-server: $schema=...``).

The files under ``evals/schemas/`` are generated from the typed models; a test keeps them in sync.
Regenerate with ``python -m evals.config.schemas``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evals.config.models import ModelsFile
from evals.config.policy import Policy
from evals.config.suite import SuiteSpec

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
MODELS = {"models.schema.json": ModelsFile, "suite.schema.json": SuiteSpec, "policy.schema.json": Policy}


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, generated from the pydantic models."""
    return {name: model.model_json_schema(by_alias=True) for name, model in MODELS.items()}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(folder: Path = SCHEMA_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = folder / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for written_path in write_schemas():
        print(written_path)
