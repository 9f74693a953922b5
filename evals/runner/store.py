"""Run artifacts under ``reports/<run-id>/``: atomic writes and versioned readers."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from evals.errors import FormatVersionError, UsageError

RESULTS_FORMAT = 2  # 2: error_class (score null exactly for infra failures), judge cost, tool_calls, confidence
MANIFEST_FORMAT = 1
BASELINES_FORMAT = 1

RESULT_COLUMNS = [
    "suite", "task", "split", "example_id", "model", "provider", "family", "prompt", "variant", "prompt_hash",
    "repeat", "output", "error", "error_message", "input_tokens", "output_tokens", "context_tokens", "cost_usd",
    "latency_ms", "ttft_ms", "finish_reason", "score", "subscores", "detail", "cached", "cache_key", "gold",
    "prompt_text", "batch", "error_class", "judge_cost_usd", "judge_calls", "tool_calls", "confidence",
]
"""Columns of ``results.parquet``. The row contract every reader relies on:

- ``error`` is null for an answer the scorer scored, else an :class:`~evals.providers.base.ErrorKind`
  value; ``error_class`` is ``answer`` (refused, truncated: quality, ``score`` 0.0) or ``infra``
  (everything else: availability, ``score`` null, left out of quality); a reply that stopped at
  ``max_tokens`` (``finish_reason`` ``length``) is the answer failure ``truncated`` (see
  :mod:`evals.runner.rows`);
- ``cost_usd`` is what the model call itself cost (what production pays), null when unknown;
  ``judge_cost_usd`` what scoring it with an LLM judge cost (``judge_calls`` calls), null without a judge;
- ``tool_calls`` is a JSON list of ``{"name", "arguments"}`` or null; ``confidence`` the answer's
  probability where the provider or model gives one, else null.
"""


BASELINE_COLUMNS = ["suite", "example_id", "baseline", "output", "score", "subscores", "detail"]
"""Columns of ``baselines.parquet``: each suite's trivial answer per example (``baseline`` names it, e.g.
``majority label``), scored by the suite's scorer (``score`` null where the scorer failed; ``detail`` then
says why)."""


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id such as ``20261125-184501-3fa2``."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def write_parquet_atomic(path: Path, frame: Any, metadata: dict[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def git_commit(root: Path) -> dict[str, Any]:
    """The project's git commit and whether the work tree has changes, or nulls outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def check_version(kind: str, found: Any, supported: int, path: Path) -> None:
    if not isinstance(found, int) or found > supported:
        raise FormatVersionError(
            f"{path}: {kind} format version {found} is newer than this harness reads ({supported}); "
            "upgrade portfolio-evals"
        )


def run_dir(reports_dir: Path, run_id: str) -> Path:
    """The folder of a run, accepting a run id or a path; ``latest`` is the newest run."""
    if run_id == "latest":
        runs = sorted(p for p in reports_dir.glob("*/manifest.json"))
        if not runs:
            raise UsageError(f"no runs in {reports_dir}; run `evals run` first")
        return runs[-1].parent
    candidate = Path(run_id)
    if (candidate / "manifest.json").is_file():
        return candidate
    if (reports_dir / run_id / "manifest.json").is_file():
        return reports_dir / run_id
    raise UsageError(f"run {run_id!r} not found in {reports_dir} (no manifest.json)")


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    check_version("manifest", data.get("format_version"), MANIFEST_FORMAT, path)
    return data


def read_results(folder: Path):
    """Per-example results of a run as a DataFrame (refuses a newer format).

    Results of format 1 lack the columns format 2 added; they are filled: ``error_class`` derived from
    ``error``, an answer failure's missing score as 0.0 (the row contract), no judge cost (0 calls), no
    tool calls or confidence.
    """
    import pyarrow.parquet as pq

    path = folder / "results.parquet"
    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    version = int(meta.get(b"evals_format_version", b"0"))
    check_version("results", version, RESULTS_FORMAT, path)
    frame = table.to_pandas()
    return upgrade_results(frame) if version < 2 else frame


def upgrade_results(frame: Any) -> Any:
    """Fill the columns of :data:`RESULT_COLUMNS` that results written before format 2 lack."""
    from evals.providers.base import error_class

    frame = frame.copy()
    if "error_class" not in frame:
        frame["error_class"] = [error_class(e) if isinstance(e, str) else None for e in frame["error"]]
        answer = (frame["error_class"] == "answer") & frame["score"].isna()
        frame.loc[answer, "score"] = 0.0
    defaults = {"batch": False, "judge_cost_usd": None, "judge_calls": 0, "tool_calls": None, "confidence": None}
    for column, value in defaults.items():
        if column not in frame:
            frame[column] = value
    return frame[[c for c in RESULT_COLUMNS if c in frame] + [c for c in frame.columns if c not in RESULT_COLUMNS]]


def read_baselines(folder: Path):
    """A run's ``baselines.parquet`` (:data:`BASELINE_COLUMNS`); empty for runs written without one."""
    import pandas as pd
    import pyarrow.parquet as pq

    path = folder / "baselines.parquet"
    if not path.is_file():
        return pd.DataFrame(columns=BASELINE_COLUMNS)
    table = pq.read_table(path)
    version = int((table.schema.metadata or {}).get(b"evals_format_version", b"0"))
    check_version("baselines", version, BASELINES_FORMAT, path)
    return table.to_pandas()
