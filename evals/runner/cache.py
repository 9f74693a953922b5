"""Content-addressed response cache in SQLite; also the run's resume journal.

The key is a hash of the model's identity, the rendered prompt with its generation parameters, and the
repeat number. Every answer is committed the moment it arrives, so a crash or ``kill -9`` loses nothing
that was paid for, and re-running the same command serves it from here. The ``attempts`` table records
every request sent to a model, so "nothing was sent twice" can be checked, not assumed.

Several processes may share one cache file (WAL mode, busy timeout).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from evals.providers.base import GenerateResponse

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    response TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    model_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS attempts_key ON attempts(key);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    keys TEXT NOT NULL,
    status TEXT NOT NULL,
    submitted_at REAL NOT NULL,
    finished_at REAL
);
"""
CACHE_FORMAT = "1"


def cache_key(identity: dict[str, Any], request: dict[str, Any], repeat: int) -> str:
    """Stable sha256 of what determines an answer. ``identity`` must never hold secrets."""
    payload = json.dumps({"identity": identity, "request": request, "repeat": repeat}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class ResponseCache:
    """SQLite-backed store of responses. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (CACHE_FORMAT,))

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def get_many(self, keys: Iterable[str]) -> dict[str, GenerateResponse]:
        """Look up many keys at once (batched; a cached re-run does no per-row queries)."""
        keys = list(keys)
        found: dict[str, GenerateResponse] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, raw in self._db.execute(f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk):
                found[key] = GenerateResponse.from_dict(json.loads(raw))
        return found

    def get(self, key: str) -> GenerateResponse | None:
        return self.get_many([key]).get(key)

    def begin_attempt(self, key: str, model_id: str) -> int:
        cur = self._db.execute(
            "INSERT INTO attempts (key, model_id, started_at) VALUES (?, ?, ?)", (key, model_id, time.time())
        )
        return int(cur.lastrowid)

    def put(self, key: str, model_id: str, response: GenerateResponse, attempt_id: int | None = None) -> None:
        """Store an answer (committed at once) and close its attempt."""
        raw = json.dumps(response.to_dict(), ensure_ascii=False)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, model_id, created_at, response) VALUES (?, ?, ?, ?)",
                (key, model_id, time.time(), raw),
            )
            if attempt_id is not None:
                self._finish(attempt_id, "ok")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def finish_attempt(self, attempt_id: int, outcome: str) -> None:
        self._finish(attempt_id, outcome)

    def _finish(self, attempt_id: int, outcome: str) -> None:
        self._db.execute("UPDATE attempts SET finished_at = ?, outcome = ? WHERE id = ?", (time.time(), outcome, attempt_id))

    def attempts_per_key(self) -> dict[str, int]:
        """How many answered requests each key had (1 everywhere means nothing was paid for twice)."""
        rows = self._db.execute("SELECT key, COUNT(*) FROM attempts WHERE outcome = 'ok' GROUP BY key")
        return {key: count for key, count in rows}

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    # -- provider batch jobs (``evals run --batch``) -----------------------------------------------
    def record_batch(self, batch_id: str, model_id: str, provider: str, keys: list[str]) -> None:
        """Remember a submitted batch at once, so a restarted run polls it instead of resubmitting."""
        self._db.execute(
            "INSERT OR REPLACE INTO batches (batch_id, model_id, provider, keys, status, submitted_at) "
            "VALUES (?, ?, ?, ?, 'submitted', ?)", (batch_id, model_id, provider, json.dumps(keys), time.time()),
        )

    def open_batches(self, model_id: str) -> list[tuple[str, list[str]]]:
        """Batches of ``model_id`` submitted but not yet collected: (batch id, cache keys)."""
        rows = self._db.execute(
            "SELECT batch_id, keys FROM batches WHERE model_id = ? AND finished_at IS NULL ORDER BY submitted_at",
            (model_id,),
        )
        return [(batch_id, json.loads(keys)) for batch_id, keys in rows]

    def finish_batch(self, batch_id: str, status: str) -> None:
        self._db.execute("UPDATE batches SET status = ?, finished_at = ? WHERE batch_id = ?",
                         (status, time.time(), batch_id))

    def batches(self) -> list[dict[str, Any]]:
        """Every batch this cache knows, oldest first."""
        rows = self._db.execute(
            "SELECT batch_id, model_id, provider, keys, status, submitted_at, finished_at FROM batches "
            "ORDER BY submitted_at")
        return [{"batch_id": b, "model_id": m, "provider": p, "keys": json.loads(k), "status": s,
                 "submitted_at": t0, "finished_at": t1} for b, m, p, k, s, t0, t1 in rows]
