"""One piece of work beside the main thread, in a forked child process: the run's comparison page is
written there while the parent writes the run's own report (two cores, half the wall time of two pages).

A child is a copy of the parent at the fork (the results in memory, the modules imported), so it does
exactly what the parent would have done, with the same code on the same data; only the wall clock
changes. It hands back a JSON value, or the one-line error it raised, through a pipe, and ends with
``os._exit`` (no atexit handlers, no second flush of the parent's buffered output). Where ``fork`` is
missing (Windows), unsafe (macOS), or turned off (``EVALS_NO_FORK=1``), :func:`fork_call` returns None
and the caller does the work itself.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable


class ChildFailed(Exception):
    """The forked work raised: ``str(exc)`` is ``"<ExceptionType>: <message>"``, as the parent would have said it."""


class Child:
    """A forked child doing one call; :meth:`result` waits for it."""

    def __init__(self, pid: int, reader: int):
        self.pid, self._reader = pid, reader
        self._done: tuple[str, Any] | None = None

    def result(self) -> Any:
        """The call's return value. Raises :class:`ChildFailed` when it raised, and ``RuntimeError`` when
        the child died without an answer (killed, crashed): the caller may then do the work itself."""
        if self._done is None:
            chunks = []
            try:
                while chunk := os.read(self._reader, 1 << 16):
                    chunks.append(chunk)
            finally:
                os.close(self._reader)
                _, status = os.waitpid(self.pid, 0)
            try:
                message = json.loads(b"".join(chunks).decode("utf-8"))
            except ValueError:
                message = {"lost": f"the child process ended with status {status} and no answer"}
            kind = next(iter(message))
            self._done = (kind, message[kind])
        kind, value = self._done
        if kind == "ok":
            return value
        if kind == "error":
            raise ChildFailed(value)
        raise RuntimeError(value)


def can_fork() -> bool:
    """Whether :func:`fork_call` forks here (Linux, not turned off with ``EVALS_NO_FORK``)."""
    return hasattr(os, "fork") and sys.platform.startswith("linux") and not os.environ.get("EVALS_NO_FORK")


def fork_call(work: Callable[[], Any]) -> Child | None:
    """Start ``work()`` (returning a JSON value) in a forked child; None where this platform does not fork."""
    if not can_fork():
        return None
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    reader, writer = os.pipe()
    pid = os.fork()
    if pid:
        os.close(writer)
        return Child(pid, reader)
    status = 1
    try:  # the child: never returns into the parent's code
        os.close(reader)
        try:
            payload = {"ok": work()}
            status = 0
        except BaseException as exc:  # noqa: BLE001 (Ctrl-C included: it is reported, not raised here)
            payload = {"error": f"{type(exc).__name__}: {exc}"}
        data = json.dumps(payload, default=str).encode("utf-8")
        while data:
            data = data[os.write(writer, data):]
    finally:
        os._exit(status)
