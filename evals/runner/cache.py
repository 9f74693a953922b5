"""Content-addressed response cache in SQLite; also the run's resume journal.

The key is a hash of the model's identity (the whole model spec minus the fields that cannot change an
answer, :meth:`~evals.config.models.ModelSpec.cache_identity`), the rendered prompt with its generation
parameters, and the repeat number. Every answer is committed before its row counts as done, so a crash or
``kill -9`` loses nothing that was paid for, and re-running the same command serves it from here.

Only answers are served again: a reply, a refusal, a reply cut off at ``max_tokens``
(:attr:`~evals.providers.base.GenerateResponse.is_answer`). An infrastructure failure (rate limit,
timeout, server error, a rejected request, a malformed reply, ...) is written to the ``attempts`` journal
with its response and asked again on the next run, unless that run asks to reuse errors
(``evals run --reuse-errors``). The ``attempts`` table records every request sent to a model, so
"nothing was sent twice" can be checked, not assumed.

Several processes may share one cache file (WAL mode, busy timeout). Everything stored passes
:func:`evals.secrets.scrub` first (``key_vars``: the key variables of the models of the run). A path that
is a folder, or a file that is not an SQLite cache, is an :class:`~evals.errors.ArtifactError` before any
call is made.

During a run the writes leave the event loop: :meth:`ResponseCache.queue_attempt` and
:meth:`ResponseCache.commit_record` hand them to one writer thread with its own connection, which commits
whatever has queued up in one transaction (group commit). ``await commit_record(...)`` returns only once
that transaction is committed, so an answer is durable before its row counts as done; closing the cache
commits everything still queued (Ctrl-C keeps what arrived).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from evals.errors import ArtifactError, FormatVersionError
from evals.providers.base import GenerateResponse
from evals.secrets import key_vars as default_key_vars
from evals.secrets import scrub_data, scrubber

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
    outcome TEXT,
    response TEXT
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
    """Stable sha256 of what determines an answer: ``json.dumps({"identity": identity, "request": request,
    "repeat": repeat}, sort_keys=True)``. ``identity`` must never hold secrets."""
    return _key(json.dumps(identity, sort_keys=True), json.dumps(request, sort_keys=True), repeat)


def prompt_key(identity: dict[str, Any], prompt: Any, repeat: int) -> str:
    """:func:`cache_key` of a :class:`~evals.prompts.RenderedPrompt`'s canonical form, from the JSON the prompt
    encoded once for its hash (``prompt.canonical_json``): the same key, one encoding fewer a row."""
    return _key(json.dumps(identity, sort_keys=True), prompt.canonical_json, repeat)


def _key(identity_json: str, request_json: str, repeat: int) -> str:
    # the text json.dumps(..., sort_keys=True) writes for the whole: keys in order, its separators
    payload = f'{{"identity": {identity_json}, "repeat": {json.dumps(repeat)}, "request": {request_json}}}'
    return hashlib.sha256(payload.encode()).hexdigest()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


_STOP = object()
_BATCH = 2000  # at most this many writes in one transaction
#: How long the writer waits for more writes after the first of a batch (seconds). At 16 calls in flight
#: answers arrive about a millisecond apart; committing each alone cost the writer thread 0.2 ms of CPU a row.
_LINGER = 0.002


class _Writer:
    """One thread, one connection: every queued write in FIFO order, a transaction per batch.

    Ops are ``("begin", token, key, model_id, started_at)`` and ``("record", token, key, model_id, response,
    future, loop)``; a record's future is resolved on its loop after the commit that holds it (or fails
    with the commit's exception). A begin and its record may land in the same transaction.
    """

    def __init__(self, path: Path, dump: Any):
        self.path = path
        self.dump = dump  # the cache's own serialiser (keys scrubbed)
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self._attempt_ids: dict[int, int] = {}  # token -> attempts.id (only the writer thread touches it)
        self.thread = threading.Thread(target=self._main, name="evals-cache-writer", daemon=True)
        self.thread.start()

    def _main(self) -> None:
        db = _connect(self.path)
        try:
            stop = False
            while not stop:
                batch = self._gather()
                if batch[-1] is _STOP:
                    stop = True
                    batch.pop()
                if batch:
                    self._write(db, batch)
        finally:
            db.close()

    def _gather(self) -> list:
        """The next batch: the first op, then whatever arrives within :data:`_LINGER` seconds of it (at
        most :data:`_BATCH`; :data:`_STOP` ends it). One transaction and one wake-up of the event loop per
        batch instead of per answer; nobody waits on the linger but the rows of the batch (each model's
        slot was freed before its answer was queued)."""
        batch = [self.queue.get()]
        deadline = time.monotonic() + _LINGER
        while len(batch) < _BATCH and batch[-1] is not _STOP:
            try:
                batch.append(self.queue.get_nowait())
                continue
            except queue.Empty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(self.queue.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _write(self, db: sqlite3.Connection, batch: list[tuple]) -> None:
        error: BaseException | None = None
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                for op in batch:
                    if op[0] == "begin":
                        _, token, key, model_id, started = op
                        cur = db.execute("INSERT INTO attempts (key, model_id, started_at) VALUES (?, ?, ?)",
                                         (key, model_id, started))
                        self._attempt_ids[token] = int(cur.lastrowid)
                    else:
                        self._record(db, op)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except BaseException as exc:  # noqa: BLE001 (handed to every waiter of this batch)
            error = exc
        by_loop: dict[Any, list[tuple[asyncio.Future, BaseException | None]]] = {}
        for op in batch:
            if op[0] == "record":
                by_loop.setdefault(op[6], []).append((op[5], error))
        for loop, waiters in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, waiters)
            except RuntimeError:  # the loop is closed (an interrupted run): the write itself is done
                pass

    def _record(self, db: sqlite3.Connection, op: tuple) -> None:
        _, token, key, model_id, response, _, _ = op
        now = time.time()
        attempt_id = self._attempt_ids.pop(token, None)
        if attempt_id is None:  # its begin failed with an earlier batch: journal the attempt whole
            cur = db.execute("INSERT INTO attempts (key, model_id, started_at) VALUES (?, ?, ?)",
                             (key, model_id, now))
            attempt_id = int(cur.lastrowid)
        raw = self.dump(response)
        if response.is_answer:
            db.execute("INSERT OR REPLACE INTO responses (key, model_id, created_at, response) VALUES (?, ?, ?, ?)",
                       (key, model_id, now, raw))
            db.execute("UPDATE attempts SET finished_at = ?, outcome = 'ok', response = NULL WHERE id = ?",
                       (now, attempt_id))
        else:
            outcome = response.error.value if response.error else "unknown"
            db.execute("UPDATE attempts SET finished_at = ?, outcome = ?, response = ? WHERE id = ?",
                       (now, outcome, raw, attempt_id))

    def close(self) -> None:
        self.queue.put(_STOP)
        self.thread.join()


def _settle(waiters: list[tuple[asyncio.Future, BaseException | None]]) -> None:
    for future, error in waiters:
        if future.done():  # cancelled (Ctrl-C): the answer is committed all the same
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


class ResponseCache:
    """SQLite-backed store of responses. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: Path, *, key_vars: Iterable[str] | None = None):
        self.path = Path(path)
        self.key_vars = tuple(key_vars) if key_vars is not None else default_key_vars()
        self._writer: _Writer | None = None
        self._tokens = 0
        self._db = self._open()
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (CACHE_FORMAT,))
            self._check_format()
            self._add_attempt_responses()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise self._error(f"not a response cache ({exc}); move the file aside or use another cache file") from None
        except BaseException:
            self._db.close()
            raise

    def _error(self, message: str) -> ArtifactError:
        named = os.environ.get("EVALS_CACHE") == str(self.path)
        return ArtifactError(self.path, message + ("" if not named else " (set by EVALS_CACHE)"))

    def _open(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise self._error(f"is a folder, not a cache file; give a file path such as {self.path / 'responses.sqlite'}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(f"cannot open the response cache: {getattr(exc, 'strerror', None) or exc}") from None

    def _check_format(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
        found = row[0] if row else CACHE_FORMAT
        if not str(found).isdigit() or int(found) > int(CACHE_FORMAT):
            raise FormatVersionError(f"{self.path}: response cache format {found!r} is newer than this harness "
                                     f"reads ({CACHE_FORMAT}); upgrade portfolio-evals or use another cache file")

    def _dump(self, response: GenerateResponse) -> str:
        """A response as stored: JSON, every string scrubbed of keys (the top level's keys are the response's
        field names, so its values are what is scrubbed; nested keys are scrubbed too)."""
        clean = scrubber(self.key_vars)
        return json.dumps({k: scrub_data(v, using=clean) for k, v in response.to_dict().items()},
                          ensure_ascii=False)

    def _add_attempt_responses(self) -> None:
        """Caches written before failures were journalled lack ``attempts.response``; add it."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(attempts)")}
        if "response" in columns:
            return
        try:
            self._db.execute("ALTER TABLE attempts ADD COLUMN response TEXT")
        except sqlite3.OperationalError as exc:  # another process added it first
            if "duplicate column" not in str(exc):
                raise

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Commit every queued write (see :meth:`commit_record`), then close."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._db.close()

    # -- writes of a run, off the event loop ------------------------------------------------------------
    def queue_attempt(self, key: str, model_id: str) -> int:
        """Journal that a request is being sent, without waiting (the writer thread commits it, in order,
        before the attempt's record). Returns a token for :meth:`commit_record`."""
        if self._writer is None:
            self._writer = _Writer(self.path, self._dump)
        self._tokens += 1
        self._writer.queue.put(("begin", self._tokens, key, model_id, time.time()))
        return self._tokens

    async def commit_record(self, token: int, key: str, model_id: str, response: GenerateResponse) -> None:
        """What :meth:`record` does, on the writer thread; returns once the transaction holding it is
        committed (an answer is durable before its caller goes on)."""
        if self._writer is None:
            self._writer = _Writer(self.path, self._dump)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._writer.queue.put(("record", token, key, model_id, response, future, loop))
        await future

    def get_many(self, keys: Iterable[str], *, reuse_errors: bool = False) -> dict[str, GenerateResponse]:
        """The answers held for many keys at once (batched; a cached re-run does no per-row queries).

        With ``reuse_errors``, a key without an answer is served its last journalled failure instead.
        """
        keys = list(dict.fromkeys(keys))
        found: dict[str, GenerateResponse] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, raw in self._db.execute(f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk):
                response = GenerateResponse.from_dict(json.loads(raw))
                # older harness versions stored permanent failures here too: never serve those as answers
                if response.is_answer or reuse_errors:
                    found[key] = response
        if reuse_errors:
            missing = [k for k in keys if k not in found]
            for start in range(0, len(missing), 500):
                chunk = missing[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, response FROM attempts WHERE key IN ({marks}) AND response "
                                        f"IS NOT NULL ORDER BY id", chunk)
                for key, raw in rows:  # the last failure of each key wins
                    found[key] = GenerateResponse.from_dict(json.loads(raw))
        return found

    def get(self, key: str, *, reuse_errors: bool = False) -> GenerateResponse | None:
        return self.get_many([key], reuse_errors=reuse_errors).get(key)

    def begin_attempt(self, key: str, model_id: str) -> int:
        cur = self._db.execute(
            "INSERT INTO attempts (key, model_id, started_at) VALUES (?, ?, ?)", (key, model_id, time.time())
        )
        return int(cur.lastrowid)

    def record(self, key: str, model_id: str, response: GenerateResponse, attempt_id: int) -> None:
        """Close an attempt with what came back: an answer is stored (:meth:`put`), a failure journalled
        with its response (:meth:`finish_attempt`) and never served as an answer."""
        if response.is_answer:
            self.put(key, model_id, response, attempt_id)
        else:
            self.finish_attempt(attempt_id, response.error.value if response.error else "unknown", response)

    def put(self, key: str, model_id: str, response: GenerateResponse, attempt_id: int | None = None) -> None:
        """Store an answer (committed at once) and close its attempt. A failure is refused: see :meth:`record`."""
        if not response.is_answer:
            raise ValueError(f"not an answer ({response.error}); journal failures with record()")
        raw = self._dump(response)
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

    def finish_attempt(self, attempt_id: int, outcome: str, response: GenerateResponse | None = None) -> None:
        """Close an attempt that got no answer; ``response`` (the failure) is kept in the journal."""
        raw = self._dump(response) if response is not None else None
        self._finish(attempt_id, outcome, raw)

    def _finish(self, attempt_id: int, outcome: str, raw: str | None = None) -> None:
        self._db.execute("UPDATE attempts SET finished_at = ?, outcome = ?, response = ? WHERE id = ?",
                         (time.time(), outcome, raw, attempt_id))

    def failures(self, key: str) -> list[GenerateResponse]:
        """The journalled failures of one key, oldest first."""
        rows = self._db.execute("SELECT response FROM attempts WHERE key = ? AND response IS NOT NULL ORDER BY id",
                                (key,))
        return [GenerateResponse.from_dict(json.loads(raw)) for (raw,) in rows]

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
