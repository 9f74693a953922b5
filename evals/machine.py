"""How busy the machine was while a run measured latency, and whether a local model's latency can be trusted.

A local model (llama.cpp or vLLM in process, a server on loopback) shares the machine's cores with
everything else running there. On a machine busier than its cores, identical calls measured a p50 of
15.2 s in one run and 2.25 s in the next: such a latency describes the machine, not the model. The
runner records the load average while it runs (:class:`LoadMonitor`, written to the manifest as
``machine``); :func:`latency_trust` says whether a model's latency from that run is comparable. The
report and the recommender both ask it; the recommender excludes on latency only when it is trusted
(or ``--trust-latency``).

Standard library only: the runner, the recommender and the report import it.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any
from urllib.parse import urlparse

MACHINE_FORMAT = 1
#: Providers that compute on this machine: their latency depends on what else runs here.
LOCAL_PROVIDERS = frozenset({"llama-cpp", "vllm", "sklearn"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})
#: Latency is not comparable when the mean 1-minute load average exceeds this many times the usable cores.
BUSY_FACTOR = 1.0


def usable_cpus() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def load_1m() -> float | None:
    """The 1-minute load average, or None where the OS has none."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


class LoadMonitor:
    """Samples the load average every ``interval`` seconds on a daemon thread while a run measures.

    >>> m = LoadMonitor(interval=60.0, sample=lambda: 3.0, cpus=2).start()
    >>> record = m.stop()
    >>> record["cpu_count"], record["load_1m"]["mean"], record["load_1m"]["samples"]
    (2, 3.0, 2)
    """

    def __init__(self, interval: float = 5.0, *, sample=load_1m, cpus: int | None = None):
        self.interval = interval
        self._sample = sample
        self.cpus = cpus if cpus is not None else usable_cpus()
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def _take(self) -> None:
        value = self._sample()
        if value is not None:
            self.samples.append(value)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._take()

    def start(self) -> "LoadMonitor":
        self._started = time.monotonic()
        self._take()
        self._thread = threading.Thread(target=self._loop, name="evals-load-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        """Stop sampling; the manifest's ``machine`` record."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._take()
        s = self.samples
        load = ({"start": round(s[0], 3), "end": round(s[-1], 3), "mean": round(sum(s) / len(s), 3),
                 "max": round(max(s), 3), "samples": len(s)} if s else None)
        return {"format_version": MACHINE_FORMAT, "cpu_count": self.cpus, "load_1m": load,
                "interval_s": self.interval, "seconds": round(time.monotonic() - self._started, 1)}


def _field(spec: Any, name: str) -> Any:
    return spec.get(name) if isinstance(spec, dict) else getattr(spec, name, None)


def is_local(spec: Any) -> bool:
    """Whether a model (a :class:`~evals.config.models.ModelSpec` or a manifest's model entry) computes on
    this machine: an in-process provider, or an OpenAI-compatible server on loopback.

    >>> is_local({"provider": "llama-cpp"}), is_local({"provider": "openai"})
    (True, False)
    >>> is_local({"provider": "openai-compatible", "base_url": "http://127.0.0.1:8080/v1"})
    True
    """
    provider = _field(spec, "provider")
    if provider in LOCAL_PROVIDERS:
        return True
    if provider == "openai-compatible":
        host = urlparse(str(_field(spec, "base_url") or "")).hostname
        return host in LOOPBACK_HOSTS
    return False


def latency_trust(manifest: dict[str, Any], spec: Any) -> tuple[bool, str]:
    """Whether ``spec``'s latency measured in the run of ``manifest`` is comparable, and why not.

    Remote models are trusted (their latency is the provider's). A local model is not trusted when the
    run recorded a mean 1-minute load average above its usable cores; a run that recorded no load
    (written before the harness recorded it) is trusted, and the reason says the load is unknown.

    >>> busy = {"machine": {"cpu_count": 2, "load_1m": {"mean": 7.9, "max": 9.1}}}
    >>> latency_trust(busy, {"provider": "llama-cpp"})
    (False, 'measured while the machine was busier than its cores (load average 7.9 on 2 cores, up to 9.1): latency not comparable')
    >>> latency_trust(busy, {"provider": "anthropic"})
    (True, '')
    >>> latency_trust({}, {"provider": "llama-cpp"})
    (True, 'machine load not recorded for this run')
    """
    if not is_local(spec):
        return True, ""
    machine = manifest.get("machine") if isinstance(manifest, dict) else None
    load = machine.get("load_1m") if isinstance(machine, dict) else None
    cpus = machine.get("cpu_count") if isinstance(machine, dict) else None
    if not isinstance(load, dict) or not isinstance(load.get("mean"), (int, float)) or not isinstance(cpus, int):
        return True, "machine load not recorded for this run"
    mean = float(load["mean"])
    if mean > BUSY_FACTOR * cpus:
        peak = load.get("max")
        upto = f", up to {float(peak):.1f}" if isinstance(peak, (int, float)) and peak > mean else ""
        return False, (f"measured while the machine was busier than its cores (load average {mean:.1f} on {cpus} "
                       f"cores{upto}): latency not comparable")
    return True, ""


__all__ = ["BUSY_FACTOR", "LOCAL_PROVIDERS", "LoadMonitor", "is_local", "latency_trust", "load_1m", "usable_cpus"]
