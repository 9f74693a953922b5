"""``policies/approvals.jsonl``: an append-only, hash-chained log of signed approval records.

Each line is one record in its canonical form (JSON, keys sorted, no spaces, ASCII only, so no line
separator of any kind can appear inside it). A record carries ``prev``, the sha256 of the previous
line's bytes (``None`` for the first), and ``signature``, an SSH signature of the record's canonical
bytes without the signature (see :mod:`evals.policy.signing`). Editing, removing or reordering a
record breaks the chain at the next line; the gate also checks that the log at the base revision is a
byte prefix of the log now. Appends take an exclusive ``fcntl`` lock on ``.approvals.lock`` beside the
log and replace the file atomically, so concurrent approvals never lose a record.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, TypeVar

from evals.config._yaml import validate
from evals.config.policy import unsafe_character
from evals.errors import ConfigError, FormatVersionError, UsageError

M = TypeVar("M")

APPROVALS_FORMAT = 2
"""Version 2: chained (``prev``), signable, with the evidence bundle and input hashes."""

def check_name(value: str, what: str) -> str:
    """``value`` stripped, or a UsageError when it is empty or holds a control, format or line-separator
    character (U+2028, U+2029, U+0085, BEL, ...), which would break a file or a comment it is written to.

    >>> check_name(" Ada Lovelace ", "--by")
    'Ada Lovelace'
    """
    bad = unsafe_character(value)  # before stripping: str.strip() removes U+0085 and U+2028 too
    if bad is not None:
        shown = value.encode("unicode_escape").decode("ascii")
        raise UsageError(f"{what} '{shown}' holds {bad}; use printable characters only")
    text = value.strip()
    if not text:
        raise UsageError(f"{what} is empty; give a name")
    return text


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes a record is stored as, and (without ``signature``) what its signature covers."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def signed_bytes(record: dict[str, Any]) -> bytes:
    """What the record's signature covers: every field but ``signature``."""
    return canonical({k: v for k, v in record.items() if k != "signature"})


def line_sha256(raw: bytes) -> str:
    """The chain link: sha256 of one stored line (without its newline)."""
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One line of the log: its 1-based number, its bytes and the record."""

    number: int
    raw: bytes
    record: dict[str, Any]


def parse_log(data: bytes, path: Path) -> list[Entry]:
    """The records of a log's bytes, oldest first. Lines split on ``\\n`` only; a line that is not a JSON
    object, or a record of another format version, is a UsageError naming the line."""
    entries = []
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            raise UsageError(f"{path}:{number}: blank line in the approval log; it is append-only, restore it "
                             "from version control")
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise UsageError(f"{path}:{number}: not valid JSON; the approval log is append-only, "
                             "restore it from version control") from None
        if not isinstance(record, dict):
            raise UsageError(f"{path}:{number}: an approval record is a JSON object; restore the log from version control")
        version = record.get("format_version")
        if not isinstance(version, int) or version > APPROVALS_FORMAT:
            raise FormatVersionError(f"{path}:{number}: approvals format version {version!r} is newer than this "
                                     f"harness reads ({APPROVALS_FORMAT}); upgrade portfolio-evals")
        if version < APPROVALS_FORMAT:
            raise UsageError(f"{path}:{number}: approvals format version {version} has no hash chain or signature; "
                             "move the log aside and approve the policy in force again")
        for key, kind, what in (("evidence", dict, "an object"), ("inputs", dict, "an object"),
                                ("approver", str, "a string")):
            if key in record and not isinstance(record[key], kind):
                raise UsageError(f"{path}:{number}: {key}: is {json.dumps(record[key])[:40]}, not {what}; the "
                                 "approval log is append-only, restore it from version control")
        entries.append(Entry(number, raw, record))
    return entries


def recorded(entry: Entry, key: str, model: type[M], shown: str | Path) -> M:
    """The record's ``key`` (``policy``, ``settings``) as ``model``; an unreadable one is a ConfigError naming
    the log (``shown``), the record's line and the field, never a silent fallback."""
    try:
        return validate(model, entry.record.get(key), Path(shown), {})
    except ConfigError as exc:
        field = key + (f".{exc.field}" if exc.field else "")
        raise ConfigError(shown, f"{exc.message}: the approval record is unreadable; restore the log from version "
                                 "control", line=entry.number, field=field) from None


def read_log(path: Path) -> list[Entry]:
    """The log's records (none when the file does not exist)."""
    try:
        return parse_log(path.read_bytes(), path)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the approval log: {exc.strerror}") from None


def chain_problems(entries: list[Entry], path: Path) -> list[str]:
    """Every broken link of the chain, each naming its line."""
    problems = []
    previous: bytes | None = None
    for entry in entries:
        expected = None if previous is None else line_sha256(previous)
        if entry.record.get("prev") != expected:
            what = "the first record must have prev null" if expected is None else (
                f"prev does not match line {entry.number - 1} (sha256 {expected[:12]}…)")
            problems.append(f"{path.name}:{entry.number}: hash chain broken: {what}; an earlier record was edited, "
                            "removed or reordered (the log is append-only)")
        elif entry.raw != canonical(entry.record):
            problems.append(f"{path.name}:{entry.number}: record is not in canonical form; it was edited by hand")
        previous = entry.raw
    return problems


def prefix_problem(base: bytes, now: bytes, name: str, rev: str) -> str | None:
    """None when the log at ``rev`` (``base``) is a byte prefix of the log now; else the first line that differs."""
    if now.startswith(base) and (not base or base.endswith(b"\n")):
        return None
    old, new = base.split(b"\n"), now.split(b"\n")
    for number, (a, b) in enumerate(zip(old, new), 1):
        if a != b:
            verb = "was removed" if number > len(new) or (not b and a) else "was rewritten"
            return (f"{name}:{number}: differs from the log at {rev}: line {number} {verb}; records may only be "
                    "appended, restore it from version control")
    return (f"{name}:{min(len(old), len(new))}: the log at {rev} has records this one lacks; records may only be "
            "appended, restore it from version control")


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically, keeping its file mode (a new file gets 0666 less the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def locked(log: Path) -> Iterator[None]:
    """Hold the exclusive approval lock (``.approvals.lock`` beside the log) for the block."""
    log.parent.mkdir(parents=True, exist_ok=True)
    lock = log.parent / ".approvals.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UsageError(f"{lock}: cannot create the approval lock: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def append(log: Path, entries: list[Entry], record: dict[str, Any]) -> Entry:
    """Append ``record`` (its ``prev`` already set from ``entries``) atomically; call under :func:`locked`."""
    raw = canonical(record)
    data = b"".join(e.raw + b"\n" for e in entries) + raw + b"\n"
    try:
        write_bytes_atomic(log, data)
    except OSError as exc:
        raise UsageError(f"{log}: cannot write the approval log: {exc.strerror}; nothing was approved") from None
    return Entry(len(entries) + 1, raw, record)


def next_prev(entries: list[Entry]) -> str | None:
    """The ``prev`` of a record appended after ``entries``."""
    return line_sha256(entries[-1].raw) if entries else None


__all__ = ["APPROVALS_FORMAT", "Entry", "append", "canonical", "chain_problems", "check_name", "line_sha256", "locked",
           "next_prev", "parse_log", "prefix_problem", "read_log", "recorded", "signed_bytes", "write_bytes_atomic"]
