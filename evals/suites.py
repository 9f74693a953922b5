"""Suite discovery and example loading through Hugging Face ``datasets``.

Local files (JSONL, JSON, CSV, Parquet) are read with ``datasets``; JSONL and JSON are parsed here
first, so a bad line is reported as ``file:line`` and a value of another type than the rest of its
column names its line and field. A CSV file ``datasets`` cannot read is read again line by line to name
the bad line. A hub dataset name is accepted when the machine is online.

An example id is a string or an integer (never null); a split without examples is an error.
A JSONL or JSON file of flat, single-typed columns (the common case) skips ``datasets`` and its
second of import: its round trip is the identity there (:func:`_plain_rows`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.config._yaml import read_text
from evals.config.suite import SuiteSpec, load_suite, load_tools, written_labels
from evals.errors import ConfigError, DataError
from evals.project import inside_project

_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class Example:
    """One example: the template inputs and the gold answer (``line``: its line in a JSONL file)."""

    id: str
    inputs: dict[str, Any]
    gold: Any
    split: str
    line: int | None = field(default=None, compare=False)


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
    data_file: Path | None = None
    unscored_shots: list[str] = field(default_factory=list)
    tools: list[dict[str, Any]] | None = None  # task tool_call: the tools of every request (suite.yaml `tools`)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def labels(self) -> list[str] | None:
        """The suite's label set, wherever it is written (``labels:``; older suites: ``variables.labels`` or
        ``scorer.settings.labels``). :func:`~evals.config.suite.load_suite` refuses places that disagree."""
        written = written_labels(self.spec)
        return next((list(v) for v in written.values() if isinstance(v, list)), None)

    def variables(self, example: Example) -> dict[str, Any]:
        """Everything a template sees for one example. Suite data enters only as values."""
        out: dict[str, Any] = dict(self.spec.variables)
        labels = self.labels
        if labels is not None:
            out["labels"] = labels
        out.update(self.context)
        out["shots"] = self.shots
        out["schema"] = self.schema
        out["schema_json"] = json.dumps(self.schema, ensure_ascii=False) if self.schema else ""
        if self.tools is not None:
            out["tools"] = self.tools
        out.update(example.inputs)
        out["example"] = example.inputs
        return out


def discover(suites_dir: Path) -> list[Path]:
    """Every ``suite.yaml`` under ``suites_dir`` (``<task>/<suite>/suite.yaml``), sorted."""
    return sorted(suites_dir.glob("*/*/suite.yaml"))


def _parse_jsonl(path: Path, text: str | None = None) -> tuple[list[dict[str, Any]], list[int]]:
    rows, lines = [], []
    for number, line in enumerate((read_text(path) if text is None else text).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=number) from None
        if not isinstance(value, dict):
            raise DataError(path, "each line must be a JSON object", line=number)
        rows.append(value)
        lines.append(number)
    return rows, lines


_INT64 = (-(2**63), 2**63 - 1)


def _plain_rows(parsed: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The rows ``datasets.Dataset.from_list(parsed).to_list()`` gives (filtered to each line's own keys),
    when that round trip is known to change nothing; None when it might (then ``datasets`` decides).

    It changes nothing when every column (the keys of the first row: ``from_list`` takes those) holds one
    JSON scalar type or null: strings (valid UTF-8), integers within int64, floats, or booleans. Anything
    else (ints mixed with floats, which Arrow widens; nested objects, whose keys Arrow unifies; types
    Arrow refuses) goes through ``datasets``, so both paths give the same examples
    (``tests/suites/test_plain_rows.py``).
    """
    if not parsed:
        return None
    keys = list(parsed[0])
    for key in keys:
        kinds = {type(row.get(key)) for row in parsed}
        kinds.discard(type(None))
        if not kinds:
            continue
        if len(kinds) > 1:
            return None
        (kind,) = kinds
        values = [row.get(key) for row in parsed]
        if kind is str:
            try:
                "".join(v for v in values if v is not None).encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: Arrow refuses it
                return None
        elif kind is int:
            numbers = [v for v in values if v is not None]
            if min(numbers) < _INT64[0] or max(numbers) > _INT64[1]:
                return None
        elif kind not in (float, bool):
            return None
    return [{k: row[k] for k in keys if k in row} for row in parsed]


def _parse_json(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """A ``.json`` file: a list of objects (or JSON Lines under a .json name), each with its line."""
    text = read_text(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one object per line
            return _parse_jsonl(path, text)
        raise DataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    if isinstance(value, dict):
        return _parse_jsonl(path, text)
    if not isinstance(value, list):
        raise DataError(path, "a .json data file holds a list of objects", line=1)
    lines = _object_lines(text, len(value))
    for index, row in enumerate(value):
        if not isinstance(row, dict):
            raise DataError(path, f"item {index + 1} is not a JSON object", line=lines[index])
    return value, lines


def _object_lines(text: str, count: int) -> list[int | None]:
    """The line on which each top-level item of a JSON list starts."""
    decoder = json.JSONDecoder()
    lines: list[int | None] = []
    at = text.index("[") + 1
    while len(lines) < count:
        while text[at] in " \t\r\n,":
            at += 1
        lines.append(text.count("\n", 0, at) + 1)
        _, at = decoder.raw_decode(text, at)
    return lines


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _mixed_types(rows: list[dict[str, Any]], lines: list[int | None], path: Path) -> DataError | None:
    """The first value whose type differs from the rest of its column (Arrow holds one type per column)."""
    first: dict[str, tuple[str, int | None]] = {}
    stack: list[tuple[str, Any, int | None]] = []
    for row, line in zip(rows, lines):
        stack = [(key, value, line) for key, value in row.items()]
        while stack:
            where, value, at = stack.pop(0)
            kind = _kind(value)
            if kind is None:
                continue
            seen = first.setdefault(where, (kind, at))
            if seen[0] != kind:
                said = f"line {seen[1]}" if seen[1] else "an earlier row"
                return DataError(path, f"{kind} here, but {seen[0]} on {said}; each field holds one type in every "
                                       "row (quote numbers meant as text)", line=at, field=where)
            if isinstance(value, dict):
                stack += [(f"{where}.{k}", v, at) for k, v in value.items()]
            elif isinstance(value, list):
                stack += [(f"{where}[]", v, at) for v in value]
    return None


@contextmanager
def _quiet_datasets() -> Any:
    """``datasets`` logs a failed read on its own (a second stderr line); the error raised says it all."""
    import datasets

    datasets.disable_progress_bars()
    logger = logging.getLogger("datasets")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield datasets
    finally:
        logger.setLevel(level)


def _csv_problem(path: Path) -> DataError | None:
    """Read a CSV file again with the standard library to name the line ``datasets`` could not read."""
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    width, start = None, 1
    try:
        for row in reader:
            if width is None:
                width = len(row)
            elif row and len(row) != width:
                return DataError(path, f"{len(row)} fields, the header has {width}", line=start)
            start = reader.line_num + 1
    except csv.Error as exc:
        return DataError(path, f"cannot parse CSV: {exc} (a quote opened here is never closed?)", line=start)
    return None


def _read_rows(path: Path) -> list[dict[str, Any]]:
    return _read_rows_lines(path)[0]


def _from_rows(parsed: list[dict[str, Any]], lines: list[int], path: Path) -> list[dict[str, Any]]:
    """Rows through ``datasets`` (one type per column, as a hub dataset's); a mixed column names its line."""
    plain = _plain_rows(parsed)
    if plain is not None:  # what the datasets round trip below would give, without importing datasets
        return plain
    import pyarrow as pa

    with _quiet_datasets() as datasets:
        try:
            loaded = datasets.Dataset.from_list(parsed).to_list()
        except (pa.ArrowException, TypeError, ValueError) as exc:
            problem = _mixed_types(parsed, list(lines), path)
            if problem is not None:
                raise problem from None
            raise DataError(path, f"cannot load data: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
    # from_list fills a key a line lacks with None; drop those again so a missing column is reported.
    return [{k: v for k, v in row.items() if k in raw} for row, raw in zip(loaded, parsed)]


def _read_rows_lines(path: Path) -> tuple[list[dict[str, Any]], list[int | None]]:
    """A data file's rows, with each row's line in the file where it is known (JSONL, JSON)."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(path, f"unsupported data format {path.suffix!r}; use .jsonl, .json, .csv or .parquet")
    if not path.is_file():
        raise DataError(path, "data file not found")
    if fmt == "json":
        # Parsed here, not by Arrow's JSON reader, which would turn date-like strings into timestamps
        # (gold "2026-03-14" must stay a string) and cannot name a bad line.
        parsed, lines = _parse_jsonl(path) if path.suffix.lower() == ".jsonl" else _parse_json(path)
        return _from_rows(parsed, lines, path), list(lines)
    with _quiet_datasets() as datasets:
        try:
            ds = datasets.load_dataset(fmt, data_files=str(path), split="train")
        except Exception as exc:  # datasets wraps pyarrow, pandas and I/O errors in many types
            problem = _csv_problem(path) if fmt == "csv" else None
            if problem is not None:
                raise problem from None
            raise DataError(path, f"cannot load data: {_innermost(exc)}") from None
    rows = ds.to_list()
    return rows, [None] * len(rows)


def _innermost(exc: BaseException) -> str:
    """The message of the deepest cause (``datasets`` wraps the reader's error in its own)."""
    while (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}".rstrip(": ")


def _read_hub(name: str, config: str | None, split: str, where: Path) -> list[dict[str, Any]]:
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(name, config, split=split).to_list()
    except Exception as exc:
        raise DataError(where, f"cannot load hub dataset {name!r} split {split!r}: {str(exc).splitlines()[0][:300]}",
                        field="data.hub") from None


def _rows_to_examples(rows: list[dict[str, Any]], spec: SuiteSpec, split: str, where: Path,
                      lines: list[int | None] | None = None) -> list[Example]:
    f = spec.fields
    examples: list[Example] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        line = lines[number - 1] if lines else None
        for column in (f.id, f.gold):
            if column not in row:
                raise DataError(where, f"row {number} has no column {column!r} (fields in suite.yaml)", line=line)
        raw_id = row[f.id]
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or raw_id == "":
            raise DataError(where, f"row {number}: example id {json.dumps(raw_id, default=str)} is not a string or an "
                                   f"integer; give every row an id", line=line, field=f.id)
        example_id = str(raw_id)
        if example_id in seen:
            raise DataError(where, f"duplicate example id {example_id!r}", line=line)
        seen.add(example_id)
        names = f.inputs if f.inputs is not None else [k for k in row if k not in (f.gold,)]
        missing = [n for n in names if n not in row]
        if missing:
            raise DataError(where, f"row {number} lacks input column(s) {missing}", line=line)
        examples.append(Example(id=example_id, inputs={n: row[n] for n in names}, gold=row[f.gold], split=split,
                                line=line))
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
        path = inside_project(folder / ref.file, suite_path, line=spec.line("context_files", name, "file"),
                              field=f"context_files.{name}.file")
        if not path.is_file():
            raise ConfigError(suite_path, f"context file not found: {path}", field=f"context_files.{name}.file")
        if path.suffix == ".txt":
            values: list[Any] = [line.strip() for line in read_text(path).splitlines() if line.strip()]
        else:
            values = _read_rows(path)
        out[name] = values[: ref.limit] if ref.limit else values
    return out


def data_file(spec: SuiteSpec, suite_path: Path, split: str) -> Path | None:
    """The file holding ``split`` (None for a hub dataset); a split data.files lacks is an error."""
    if spec.data.hub:
        return None
    files = spec.data.files or {}
    if split not in files:
        raise ConfigError(suite_path, f"no data file for split {split!r}; splits: {', '.join(files)}",
                          line=spec.line("data", "files"), field="data.files")
    return inside_project(suite_path.parent / files[split], suite_path, line=spec.line("data", "files", split),
                          field=f"data.files.{split}")


def load_examples(spec: SuiteSpec, suite_path: Path, split: str) -> list[Example]:
    """Load one split of a suite."""
    path = data_file(spec, suite_path, split)
    if path is None:
        return _rows_to_examples(_read_hub(spec.data.hub, spec.data.hub_config, split, suite_path), spec, split, suite_path)
    rows, lines = _read_rows_lines(path)
    if not rows:
        raise DataError(path, f"split {split!r} has no examples; add rows, or remove the split from data.files "
                              f"of {suite_path.name}")
    return _rows_to_examples(rows, spec, split, path, lines)


def _shot_split(spec: SuiteSpec, suite_path: Path) -> str:
    """The split shots come from, checked against data.files so that the error names ``few_shot.split``."""
    assert spec.few_shot is not None
    split = spec.few_shot.split
    files = spec.data.files
    if files is not None and split not in files:
        written = "split" in spec.few_shot.model_fields_set
        how = f"few_shot.split is {split!r}" if written else f"few_shot.split is left out, so it is {split!r}"
        raise ConfigError(suite_path, f"{how}, a split data.files does not have; set few_shot.split to one of: "
                                      f"{', '.join(files)}", line=spec.line("few_shot", "split"), field="few_shot.split")
    return split


def open_suite(suite_path: Path, *, split: str | None = None, limit: int | None = None,
               with_examples: bool = True) -> Suite:
    """Load a suite's spec, its examples for ``split`` (default the suite's), few-shot examples and files.

    ``with_examples=False`` loads only what a request needs besides the example (spec, shots, context files,
    schema): the runtime client builds a rule's requests from it; ``examples`` and ``sha256`` stay empty.
    """
    spec = load_suite(suite_path)
    folder = suite_path.parent
    split = split or spec.default_split
    examples = load_examples(spec, suite_path, split) if with_examples else []
    shots: list[dict[str, Any]] = []
    unscored: list[str] = []
    if spec.few_shot:
        shot_split = _shot_split(spec, suite_path)
        if shot_split == split and not spec.few_shot.exclude_from_scoring:
            raise ConfigError(
                suite_path, f"the shots come from split {split!r}, the split being scored, so a model would be "
                            f"scored on examples its prompt shows; take them from another split, or set "
                            f"few_shot.exclude_from_scoring: true to score {split!r} without them",
                line=spec.line("few_shot", "split"), field="few_shot.split")
        pool = load_examples(spec, suite_path, shot_split)
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
        if shot_split == split:  # exclude_from_scoring: never score a model on an example it was shown
            shown = {e.id for e in chosen}
            unscored = [e.id for e in examples if e.id in shown]
            examples = [e for e in examples if e.id not in shown]
    if spec.max_examples:
        examples = examples[: spec.max_examples]
    if limit is not None:
        examples = examples[:limit]
    schema = None
    if spec.schema_file:
        schema_path = inside_project(folder / spec.schema_file, suite_path, line=spec.line("schema"), field="schema")
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
        sha256=_hash_files(hashed) if with_examples else "",
        data_file=data_file(spec, suite_path, split),
        unscored_shots=unscored,
        tools=load_tools(folder / spec.tools, suite_path) if spec.tools else None,
    )
