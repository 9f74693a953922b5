"""Suite discovery and example loading through Hugging Face ``datasets``.

Local files (JSONL, JSON, CSV, Parquet) are read with ``datasets`` after a line-by-line check of JSONL,
so a bad line is reported as ``file:line``; a hub dataset name is accepted when the machine is online.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.config._yaml import read_text
from evals.config.suite import SuiteSpec, load_suite
from evals.errors import ConfigError, DataError

_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class Example:
    """One example: the template inputs and the gold answer."""

    id: str
    inputs: dict[str, Any]
    gold: Any
    split: str


@dataclass
class Suite:
    """A suite with its examples loaded."""

    spec: SuiteSpec
    path: Path
    split: str
    examples: list[Example]
    shots: list[dict[str, Any]] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    schema: dict[str, Any] | None = None
    sha256: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def folder(self) -> Path:
        return self.path.parent

    def variables(self, example: Example) -> dict[str, Any]:
        """Everything a template sees for one example. Suite data enters only as values."""
        out: dict[str, Any] = dict(self.spec.variables)
        out.update(self.context)
        out["shots"] = self.shots
        out["schema"] = self.schema
        out["schema_json"] = json.dumps(self.schema, ensure_ascii=False) if self.schema else ""
        out.update(example.inputs)
        out["example"] = example.inputs
        return out


def discover(suites_dir: Path) -> list[Path]:
    """Every ``suite.yaml`` under ``suites_dir`` (``<task>/<suite>/suite.yaml``), sorted."""
    return sorted(suites_dir.glob("*/*/suite.yaml"))


def _parse_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=number) from None
        if not isinstance(value, dict):
            raise DataError(path, "each line must be a JSON object", line=number)
        rows.append(value)
    return rows


def _read_rows(path: Path) -> list[dict[str, Any]]:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(path, f"unsupported data format {path.suffix!r}; use .jsonl, .json, .csv or .parquet")
    if not path.is_file():
        raise DataError(path, "data file not found")
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        if path.suffix.lower() == ".jsonl":
            # Parsed here, not by Arrow's JSON reader, which would turn date-like strings into timestamps
            # (gold "2026-03-14" must stay a string) and cannot name a bad line.
            parsed = _parse_jsonl(path)
            # from_list fills a key a line lacks with None; drop those again so a missing column is reported.
            return [{k: v for k, v in row.items() if k in raw}
                    for row, raw in zip(datasets.Dataset.from_list(parsed).to_list(), parsed)]
        ds = datasets.load_dataset(fmt, data_files=str(path), split="train")
    except DataError:
        raise
    except Exception as exc:  # datasets wraps pyarrow and I/O errors in many types
        raise DataError(path, f"cannot load data: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
    return ds.to_list()


def _read_hub(name: str, config: str | None, split: str, where: Path) -> list[dict[str, Any]]:
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(name, config, split=split).to_list()
    except Exception as exc:
        raise DataError(where, f"cannot load hub dataset {name!r} split {split!r}: {str(exc).splitlines()[0][:300]}",
                        field="data.hub") from None


def _rows_to_examples(rows: list[dict[str, Any]], spec: SuiteSpec, split: str, where: Path) -> list[Example]:
    f = spec.fields
    examples: list[Example] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        for column in (f.id, f.gold):
            if column not in row:
                raise DataError(where, f"row {number} has no column {column!r} (fields in suite.yaml)", line=number)
        example_id = str(row[f.id])
        if example_id in seen:
            raise DataError(where, f"duplicate example id {example_id!r}", line=number)
        seen.add(example_id)
        names = f.inputs if f.inputs is not None else [k for k in row if k not in (f.gold,)]
        missing = [n for n in names if n not in row]
        if missing:
            raise DataError(where, f"row {number} lacks input column(s) {missing}", line=number)
        examples.append(Example(id=example_id, inputs={n: row[n] for n in names}, gold=row[f.gold], split=split))
    return examples


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    return digest.hexdigest()


def content_files(suite_path: Path) -> list[Path]:
    """The files a suite's sha256 covers: its ``suite.yaml``, then every other file of its folder, sorted."""
    folder = suite_path.parent
    return [suite_path] + sorted(p for p in folder.rglob("*") if p.is_file() and p != suite_path)


def content_sha256(suite_path: Path) -> str:
    """The suite's sha256 as a run's manifest records it (``Suite.sha256``)."""
    return _hash_files(content_files(suite_path))


def _load_context(folder: Path, spec: SuiteSpec, suite_path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, ref in spec.context_files.items():
        path = folder / ref.file
        if not path.is_file():
            raise ConfigError(suite_path, f"context file not found: {path}", field=f"context_files.{name}.file")
        if path.suffix == ".txt":
            values: list[Any] = [line.strip() for line in read_text(path).splitlines() if line.strip()]
        else:
            values = _read_rows(path)
        out[name] = values[: ref.limit] if ref.limit else values
    return out


def load_examples(spec: SuiteSpec, suite_path: Path, split: str) -> list[Example]:
    """Load one split of a suite."""
    if spec.data.hub:
        return _rows_to_examples(_read_hub(spec.data.hub, spec.data.hub_config, split, suite_path), spec, split, suite_path)
    files = spec.data.files or {}
    if split not in files:
        raise ConfigError(suite_path, f"no data file for split {split!r}; splits: {', '.join(files)}", field="data.files")
    path = suite_path.parent / files[split]
    return _rows_to_examples(_read_rows(path), spec, split, path)


def open_suite(suite_path: Path, *, split: str | None = None, limit: int | None = None) -> Suite:
    """Load a suite's spec, its examples for ``split`` (default the suite's), few-shot examples and files."""
    spec = load_suite(suite_path)
    folder = suite_path.parent
    split = split or spec.default_split
    examples = load_examples(spec, suite_path, split)
    shots: list[dict[str, Any]] = []
    if spec.few_shot:
        pool = load_examples(spec, suite_path, spec.few_shot.split)
        if spec.few_shot.ids:
            by_id = {e.id: e for e in pool}
            unknown = [i for i in spec.few_shot.ids if i not in by_id]
            if unknown:
                raise ConfigError(suite_path, f"few-shot ids not in split {spec.few_shot.split!r}: {unknown}",
                                  field="few_shot.ids")
            chosen = [by_id[i] for i in spec.few_shot.ids]
        else:
            chosen = pool[: spec.few_shot.n]
        shots = [{**e.inputs, "id": e.id, "gold": e.gold} for e in chosen]
        if spec.few_shot.split == split:  # never score a model on an example it was shown
            shown = {e.id for e in chosen}
            examples = [e for e in examples if e.id not in shown]
    if spec.max_examples:
        examples = examples[: spec.max_examples]
    if limit is not None:
        examples = examples[:limit]
    schema = None
    if spec.schema_file:
        schema_path = folder / spec.schema_file
        try:
            schema = json.loads(read_text(schema_path))
        except json.JSONDecodeError as exc:
            raise ConfigError(schema_path, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
    hashed = content_files(suite_path)
    return Suite(
        spec=spec,
        path=suite_path,
        split=split,
        examples=examples,
        shots=shots,
        context=_load_context(folder, spec, suite_path),
        schema=schema,
        sha256=_hash_files(hashed),
    )
