"""What the benchmarks share: the machine's description and a small project on disk."""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

FAKE_MODELS = """\
format_version: 1
models:
  - id: fake-a
    provider: fake
    model: fake-a
    family: chatty
    context_window: 4096
    pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 2.0}}
  - id: fake-b
    provider: fake
    model: fake-b
    family: terse
    context_window: 4096
    pricing: {self_hosted: {hourly_usd: 3.6}}
"""

SUITE = """\
name: bench-triage
task: classification
data:
  files: {test: test.jsonl}
fields: {id: id, gold: label, inputs: [text]}
prompt: bench
variables: {labels: [lead, support]}
scorer:
  name: classification
  settings: {labels: [lead, support]}
shape: {task: classification, context_tokens: 100}
quality_floor: 0.5
"""

CHAT_TEMPLATE = """\
---
max_tokens: {max_tokens}
---
{{% block system %}}Answer with one word: {{{{ labels | join(' or ') }}}}.{{% endblock %}}
{{% block user %}}{{{{ text }}}}
lead{{% endblock %}}
"""


def machine() -> str:
    """nproc, CPU model, memory and load, for the README."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown memory"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({cpu}), {mem}, load average {load}"


def write_project(root: Path, n_examples: int, models_yaml: str = FAKE_MODELS, max_tokens: int = 5,
                  texts: list[str] | None = None) -> Path:
    """A project with one classification suite of ``n_examples`` rows and one chat prompt."""
    (root / "policies").mkdir(parents=True, exist_ok=True)
    (root / "policies" / "models.yaml").write_text(models_yaml)
    suite = root / "suites" / "classification" / "bench-triage"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "suite.yaml").write_text(SUITE)
    with (suite / "test.jsonl").open("w") as out:
        for i in range(n_examples):
            text = texts[i % len(texts)] + f" #{i}" if texts else f"message {i}"
            out.write(json.dumps({"id": f"ex-{i}", "text": text, "label": "lead" if i % 2 else "support"}) + "\n")
    prompts = root / "prompts" / "bench"
    prompts.mkdir(parents=True, exist_ok=True)
    (prompts / "default.j2").write_text(CHAT_TEMPLATE.format(max_tokens=max_tokens))
    (root / "reports").mkdir(exist_ok=True)
    return root


@contextmanager
def timed(label: str, into: dict[str, float]) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        into[label] = time.perf_counter() - start


PHASES = {  # module attribute -> phase name, timed by wrapping the attribute during the cached run
    ("evals.runner.run", "load_suites"): "load suites (YAML, JSONL via datasets)",
    ("evals.runner.run", "plan"): "plan (render prompts, cache keys)",
    ("evals.runner.run", "execute"): "execute (cache lookups, scoring rows)",
    ("evals.runner.run", "write_parquet_atomic"): "write results.parquet",
    ("evals.aggregates", "aggregate"): "aggregate (bootstrap intervals)",
    ("evals.aggregates", "write_aggregates"): "write aggregates.parquet",
    ("evals.report", "write_run_report"): "HTML + Markdown report",
    # the comparison page against the previous run (a second whole report) and reports/index.html: the
    # "other 1.2 s" of the first measurements
    ("evals.report", "write_run_views"): "comparison page + run index",
}


@contextlib.contextmanager
def phase_timer(totals: dict[str, float]):
    """Time the phases of ``run()`` by wrapping the functions it calls."""
    import importlib

    saved = []
    for (module_name, attr), label in PHASES.items():
        module = importlib.import_module(module_name)
        original = getattr(module, attr, None)
        if original is None:
            continue
        saved.append((module, attr, original))
        if inspect.iscoroutinefunction(original):
            async def wrapper(*a, _o=original, _l=label, **k):
                start = time.perf_counter()
                try:
                    return await _o(*a, **k)
                finally:
                    totals[_l] = totals.get(_l, 0.0) + time.perf_counter() - start
        else:
            def wrapper(*a, _o=original, _l=label, **k):
                start = time.perf_counter()
                try:
                    return _o(*a, **k)
                finally:
                    totals[_l] = totals.get(_l, 0.0) + time.perf_counter() - start
        setattr(module, attr, wrapper)
    try:
        yield totals
    finally:
        for module, attr, original in saved:
            setattr(module, attr, original)


def cached_run_phases(root: Path, cache_file: Path) -> tuple[dict[str, float], float]:
    """One library ``run()`` of the project ``root`` in this process, every row served from ``cache_file``:
    (seconds per phase of :data:`PHASES`, total seconds). The caller's imports are already paid."""
    os.environ["EVALS_CACHE"] = str(cache_file)
    from evals.project import Project
    from evals.runner.run import RunOptions, run

    phases: dict[str, float] = {}
    start = time.perf_counter()
    with phase_timer(phases):
        result = run(Project(root), RunOptions())
    total = time.perf_counter() - start
    assert result.results["cached"].all(), "the re-run was not all cached"
    return phases, total


# -- the stub benchmarks: the same items and the same request for every side ---------------------------
LABELS = ["inbound_lead", "customer_support", "outbound_reply", "spam_or_vendor"]
SYSTEM = ("Sort this email from a sales team's shared inbox into exactly one of these labels: "
          + ", ".join(LABELS) + ". Answer with the label only.")
USER = "From: {sender}\nSubject: {subject}\n\n{body}"  # the bare loop and the peers format the same text
MAX_TOKENS = 8

STUB_MODELS = """\
format_version: 1
models:
  - id: stub
    provider: openai-compatible
    model: stub-model
    family: stub
    context_window: 32768
    base_url: {base_url}
    concurrency: {concurrency}
    timeout_s: 60
    pricing: {{tokens: {{input_per_mtok: 0.15, output_per_mtok: 0.6}}}}
"""

STUB_SUITE = """\
name: bench-triage
task: classification
data:
  files: {test: test.jsonl}
fields: {id: id, gold: label, inputs: [sender, subject, body]}
prompt: bench-triage
labels: [inbound_lead, customer_support, outbound_reply, spam_or_vendor]
variables: {labels: [inbound_lead, customer_support, outbound_reply, spam_or_vendor]}
scorer:
  name: classification
  settings: {labels: [inbound_lead, customer_support, outbound_reply, spam_or_vendor]}
shape: {task: classification, context_tokens: 300}
quality_floor: 0.5
"""

STUB_TEMPLATE = """\
---
max_tokens: %d
temperature: 0
---
{%% block system %%}Sort this email from a sales team's shared inbox into exactly one of these labels: \
{{ labels | join(', ') }}. Answer with the label only.{%% endblock %%}
{%% block user %%}From: {{ sender }}
Subject: {{ subject }}

{{ body }}{%% endblock %%}
""" % MAX_TOKENS


def triage_items(n: int) -> list[dict]:
    """``n`` classification items made from the shipped inbox-triage emails, each prompt distinct."""
    repo = Path(__file__).resolve().parents[1]
    source = []
    for split in ("test", "dev", "train"):
        path = repo / "suites" / "classification" / "inbox-triage" / f"{split}.jsonl"
        source += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{"id": f"item-{i:05d}", "sender": e["from"], "subject": e["subject"],
             "body": f"{e['body']}\n\n[ticket {i}]", "label": e["label"]}
            for i, e in ((i, source[i % len(source)]) for i in range(n))]


def write_stub_project(root: Path, items: list[dict], base_url: str, concurrency: int) -> Path:
    """A project with one classification suite over ``items`` and one OpenAI-compatible model: the stub."""
    (root / "policies").mkdir(parents=True, exist_ok=True)
    (root / "policies" / "models.yaml").write_text(STUB_MODELS.format(base_url=base_url, concurrency=concurrency))
    suite = root / "suites" / "classification" / "bench-triage"
    suite.mkdir(parents=True, exist_ok=True)
    (suite / "suite.yaml").write_text(STUB_SUITE)
    (suite / "test.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))
    prompts = root / "prompts" / "bench-triage"
    prompts.mkdir(parents=True, exist_ok=True)
    (prompts / "default.j2").write_text(STUB_TEMPLATE)
    (root / "reports").mkdir(exist_ok=True)
    return root


def installed_env(env: dict | None = None) -> dict:
    """``env`` (default: this process's) for a measured child, with Python's compiled-bytecode cache on.

    An installed package has its ``.pyc`` files (pip compiles them at install time), so a user's ``evals
    run`` does not compile the harness's modules from source; a shell with ``PYTHONDONTWRITEBYTECODE=1``
    (this machine's sessions set it) would make every measured process compile them again (about 0.15-0.3
    s of CPU per ``evals run``, none for the bare loop, whose ``openai`` has its ``.pyc`` in site-packages).
    So every side of every benchmark, bare loop included, writes and reads its bytecode under one private
    ``PYTHONPYCACHEPREFIX`` (mirrored by absolute path: trees of different versions never share a file),
    filled by the untimed warm-up run.
    """
    import tempfile

    out = dict(os.environ if env is None else env)
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    out.setdefault("PYTHONPYCACHEPREFIX", os.path.join(tempfile.gettempdir(), f"evals-bench-pycache-{os.getuid()}"))
    return out


def timed_process(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, float, str]:
    """Run ``cmd`` to completion: (wall seconds, CPU seconds of the process tree, stdout); raise on failure.

    The child runs as an installed package would, with its bytecode cache (:func:`installed_env`)."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=installed_env(env), cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd[:4]))} ... failed ({done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def verdict(ratio: float, target: float, lower_is_better: bool = True) -> str:
    met = ratio <= target if lower_is_better else ratio >= target
    return "met" if met else "MISSED"


def interleave(sides: dict[str, dict], rounds: int, verbose: bool = True) -> dict[str, list[tuple[float, float]]]:
    """Run each side (``{"cmd": [...], "env": {...}}``) once per round, rotating the order every round.

    Every run is a fresh process; returns (wall s, CPU s) per side and round. Rotating the order spreads
    a shared machine's drift over all sides instead of charging it to whichever runs last.
    """
    names = list(sides)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            side = sides[name]
            if side.get("before"):
                side["before"]()
            wall, cpu, _ = timed_process(side["cmd"], env=side.get("env"), cwd=side.get("cwd"))
            results[name].append((wall, cpu))
            if verbose:
                print(f"    round {r + 1}: {name:14s} {wall:7.2f} s wall  {cpu:7.2f} s CPU", flush=True)
    return results


def evals_env(cache_file: Path, code: Path | None = None) -> dict:
    """The environment of an ``evals`` child: this checkout's code first (or the tree ``code``, another
    version to compare with), its own response cache."""
    repo = code or Path(__file__).resolve().parents[1]
    return {**os.environ, "EVALS_CACHE": str(cache_file),
            "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def parse_versions(values: list[str]) -> list[tuple[str, Path, list[str]]]:
    """``--version NAME=DIR[,ARG...]`` options: other trees of the code to run beside this checkout, each
    with extra ``evals run`` arguments (e.g. ``main=/tmp/main,--concurrency,16``)."""
    out = []
    for value in values:
        name, _, rest = value.partition("=")
        folder, *args = rest.split(",")
        out.append((name, Path(folder).resolve(), args))
    return out
