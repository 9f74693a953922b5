"""Run artifacts under ``reports/<run-id>/``: atomic writes and versioned readers.

A run is complete when its ``manifest.json`` exists: ``evals run`` writes it last, after the results,
baselines, aggregates and report. While the other artifacts are written the folder holds an
``.incomplete`` marker naming the run's plan, so an interrupted run is recognised: ``latest`` skips it
(and says so), and running the same command again completes that folder from the response cache.

Readers refuse what they cannot read with an :class:`~evals.errors.ArtifactError` naming the file (a
corrupt manifest, a truncated Parquet file) and a newer or unreadable format version with a
:class:`~evals.errors.FormatVersionError`.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from evals.errors import ArtifactError, FormatVersionError, UsageError

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
  probability where the provider gives one (classification suites: a distilled model's calibrated class
  probability; an LLM's probability of the answer it wrote, :mod:`evals.providers.confidence`), else null.
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
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    A path that cannot be written (its folder is a file, a folder stands where the file goes, no
    permission, a full disk) is an ArtifactError naming it; nothing is left behind.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ArtifactError(path, f"cannot write here: {_why(path, exc)}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ArtifactError(path, f"cannot write here: {_why(path, exc)}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _why(path: Path, exc: OSError) -> str:
    for folder in path.parents:
        if folder.is_symlink() and not folder.exists():
            return f"{folder} is a symbolic link to {os.readlink(folder)}, which does not exist"
        if folder.exists() and not folder.is_dir():
            return f"{folder} is a file, not a folder"
    if path.is_dir():
        return "a folder stands there"
    return str(exc.strerror or exc)


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
    """Refuse an artifact whose format version is newer than ``supported`` or not a version at all."""
    if isinstance(found, bytes):
        found = found.decode("utf-8", "replace")
    if isinstance(found, str) and found.strip().isdigit():
        found = int(found)
    if isinstance(found, bool) or not isinstance(found, int) or found < 0:
        raise FormatVersionError(f"{path}: {kind} format version {found!r} is not a version this harness knows "
                                 f"(it reads up to {supported}); the file was not written by portfolio-evals")
    if found > supported:
        raise FormatVersionError(
            f"{path}: {kind} format version {found} is newer than this harness reads ({supported}); "
            "upgrade portfolio-evals"
        )


INCOMPLETE = ".incomplete"
"""Marker of a run whose artifacts are being written (JSON: the run's plan signature)."""


def is_complete(folder: Path) -> bool:
    """Whether a run folder holds a finished run (its manifest, which is written last)."""
    return (folder / "manifest.json").is_file()


def incomplete_runs(reports_dir: Path) -> list[Path]:
    """Run folders that hold artifacts but no manifest (interrupted while writing), oldest first."""
    if not reports_dir.is_dir():
        return []
    return sorted(p for p in reports_dir.iterdir()
                  if p.is_dir() and not is_complete(p) and ((p / INCOMPLETE).is_file() or (p / "results.parquet").exists()))


def mark_incomplete(folder: Path, plan: str) -> None:
    """Write the marker that says ``folder`` is being written, for the run whose plan hashes to ``plan``."""
    write_json_atomic(folder / INCOMPLETE, {"plan": plan})


def resumable_run(reports_dir: Path, plan: str) -> Path | None:
    """The newest interrupted run folder of the same plan (the same command on the same inputs), if any."""
    for folder in reversed(incomplete_runs(reports_dir)):
        try:
            marker = json.loads((folder / INCOMPLETE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(marker, dict) and marker.get("plan") == plan:
            return folder
    return None


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def run_dir(reports_dir: Path, run_id: str, *, notice: Callable[[str], None] | None = None) -> Path:
    """The folder of a complete run, accepting a run id or a path; ``latest`` is the newest complete run.

    Interrupted runs (no manifest) are skipped by ``latest``, with a ``notice`` (default: a line on stderr)
    naming them; named explicitly they are an error saying how to complete them.
    """
    notice = notice or _note
    if run_id == "latest":
        runs = sorted(p.parent for p in reports_dir.glob("*/manifest.json"))
        newest = runs[-1].name if runs else ""
        skipped = [p.name for p in incomplete_runs(reports_dir) if p.name > newest]
        if skipped:
            notice(f"skipped incomplete run{'s' if len(skipped) > 1 else ''} {', '.join(skipped)} in {reports_dir} "
                   "(interrupted while writing its artifacts; run the same `evals run` command again to complete "
                   "it from the cache)")
        if not runs:
            raise UsageError(f"no complete runs in {reports_dir}; run `evals run` first")
        return runs[-1]
    candidate = Path(run_id)
    for folder in (candidate, reports_dir / run_id):
        if (folder / "manifest.json").is_file():
            return folder
        if folder.is_dir() and folder in incomplete_runs(folder.parent):
            raise UsageError(f"run {run_id!r} ({folder}) is incomplete: it was interrupted while writing its "
                             "artifacts; run the same `evals run` command again to complete it from the cache")
    raise UsageError(f"run {run_id!r} not found in {reports_dir} (no manifest.json)")


def check_reports_dir(reports_dir: Path) -> None:
    """Make sure run folders can be written under ``reports_dir``, before anything is paid for.

    A file, a dangling symbolic link or an unwritable folder in its place is an ArtifactError.
    """
    if reports_dir.is_symlink() and not reports_dir.exists():
        raise ArtifactError(reports_dir, f"is a symbolic link to {os.readlink(reports_dir)}, which does not exist; "
                                         "create the target folder or remove the link")
    if reports_dir.exists() and not reports_dir.is_dir():
        raise ArtifactError(reports_dir, "is a file, not a folder; move it aside so runs can be written there")
    try:
        reports_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=reports_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ArtifactError(reports_dir, f"cannot write run folders here: {exc.strerror or exc}") from None


def read_manifest(folder: Path) -> dict[str, Any]:
    """A run's ``manifest.json``; a corrupt or newer one is refused naming the file (and line)."""
    path = folder / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(path, "not found; the run is incomplete or was not written by `evals run`") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(path, f"corrupt manifest (invalid JSON: {exc.msg}); re-run the `evals run` command "
                                  "that made it (the cache serves every answer)", line=exc.lineno) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(path, f"cannot read the manifest: {getattr(exc, 'strerror', None) or exc}") from None
    if not isinstance(data, dict):
        raise ArtifactError(path, f"corrupt manifest: a JSON object was expected, not {type(data).__name__}", line=1)
    check_version("manifest", data.get("format_version"), MANIFEST_FORMAT, path)
    return data


def read_parquet_artifact(path: Path, kind: str, supported: int) -> tuple[Any, int]:
    """A Parquet artifact's table and format version; a truncated or corrupt file, or a bad version, is an
    error naming the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise ArtifactError(path, f"not found; {kind} are written by `evals run`") from None
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ArtifactError(path, f"not a readable Parquet file (truncated or corrupt: {first[:200]}); re-run the "
                                  "`evals run` command that made it (the cache serves every answer)") from None
    found = (table.schema.metadata or {}).get(b"evals_format_version", b"0")
    check_version(kind, found, supported, path)
    return table, int(found)


def read_results(folder: Path):
    """Per-example results of a run as a DataFrame (refuses a newer format).

    Results of format 1 lack the columns format 2 added; they are filled: ``error_class`` derived from
    ``error``, an answer failure's missing score as 0.0 (the row contract), no judge cost (0 calls), no
    tool calls or confidence.
    """
    table, version = read_parquet_artifact(folder / "results.parquet", "results", RESULTS_FORMAT)
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

    path = folder / "baselines.parquet"
    if not path.is_file():
        return pd.DataFrame(columns=BASELINE_COLUMNS)
    table, _ = read_parquet_artifact(path, "baselines", BASELINES_FORMAT)
    return table.to_pandas()
