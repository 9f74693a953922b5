"""Peers: promptfoo and inspect-ai beside ``evals run`` and the bare loop, same stub, same items.

Not part of CI. On first use it installs each peer where it can be deleted at will, never into the
project or its virtualenv: promptfoo with npm into ``$EVALS_PEERS_DIR/promptfoo-<version>`` and
inspect-ai with pip into its own virtualenv ``$EVALS_PEERS_DIR/inspect-ai-<version>`` (default
``/tmp/evals-peers``). Then four sides run, each a fresh process, in rounds that rotate the order:

- ``bare``: ``bench/bare_loop.py`` (asyncio + openai, a semaphore of 16);
- ``evals``: ``python -m evals.cli.main run --no-cache --concurrency 16``;
- ``promptfoo``: ``promptfoo eval -c promptfooconfig.yaml --no-cache -j 16`` (provider
  ``openai:chat:stub-model`` at the stub, an ``equals`` assertion per item);
- ``inspect-ai``: ``inspect eval task.py --model openai-api/stub/stub-model --max-connections 16``
  (``system_message`` + ``generate()``, scorer ``exact()``).

Every side sends the same system and user text (``bench/_common.py``), temperature 0, max 8 tokens, to
the same stub (``bench/stub_server.py``), and each prints its ratio to the bare loop.

    python bench/peers/bench_peers.py [--items 1000] [--rounds 3] [--promptfoo 0.123.1] [--inspect-ai 0.3.285]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))
from _common import MAX_TOKENS, SYSTEM, USER, interleave, machine, timed_process, triage_items  # noqa: E402
from bench_overhead import report, sides_for, warm_up  # noqa: E402
from stub_server import StubServer  # noqa: E402

PEERS_DIR = Path(os.environ.get("EVALS_PEERS_DIR", "/tmp/evals-peers"))
PROMPTFOO = "0.121.20"  # the newest promptfoo that runs on Node 20 (0.122+ needs Node >= 22.22); the issue measured 0.121
INSPECT_AI = "0.3.285"  # newest inspect-ai there; the issue measured 0.3


def ensure_promptfoo(version: str) -> Path:
    """The ``promptfoo`` executable of ``version``, installed with npm on first use."""
    prefix = PEERS_DIR / f"promptfoo-{version}"
    exe = prefix / "node_modules" / ".bin" / "promptfoo"
    if not exe.exists():
        print(f"installing promptfoo {version} into {prefix} (npm) ...", flush=True)
        subprocess.run(["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
                        f"promptfoo@{version}"], check=True)
    return exe


def ensure_inspect(version: str) -> Path:
    """The ``inspect`` executable of inspect-ai ``version``, in its own virtualenv made on first use."""
    venv = PEERS_DIR / f"inspect-ai-{version}"
    exe = venv / "bin" / "inspect"
    if not exe.exists():
        print(f"installing inspect-ai {version} into {venv} (pip, own virtualenv) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"inspect-ai=={version}", "openai"], check=True)
    return exe


def installed_version(exe: Path, package: str) -> str:
    if package == "promptfoo":
        manifest = exe.parents[1] / "promptfoo" / "package.json"
        return json.loads(manifest.read_text())["version"]
    done = subprocess.run([str(exe.parent / "python"), "-c",
                           f"import importlib.metadata as m; print(m.version({package!r}), m.version('openai'))"],
                          capture_output=True, text=True, check=True)
    inspect_version, openai_version = done.stdout.split()
    return f"{inspect_version} (openai {openai_version})"


def promptfoo_side(tmp: Path, items: list[dict], base_url: str, concurrency: int, exe: Path) -> dict:
    folder = tmp / f"promptfoo-{len(items)}"
    folder.mkdir(exist_ok=True)
    (folder / "prompt.json").write_text(json.dumps(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "{{ user | dump }}"}]
    ).replace('"{{ user | dump }}"', "{{ user | dump }}"))
    (folder / "tests.jsonl").write_text("".join(
        json.dumps({"description": i["id"], "vars": {"user": USER.format(**i)},
                    "assert": [{"type": "equals", "value": i["label"]}]}) + "\n" for i in items))
    (folder / "promptfooconfig.yaml").write_text(
        "description: bench-triage\n"
        "prompts: [file://prompt.json]\n"
        "providers:\n"
        "  - id: openai:chat:stub-model\n"
        f"    config: {{apiBaseUrl: '{base_url}', apiKey: not-needed, temperature: 0, max_tokens: {MAX_TOKENS}}}\n"
        "tests: file://tests.jsonl\n"
    )
    # The two log switches: 0.121.20 writes its debug log file after closing it at exit ("write after
    # end") and exits 1 although the eval completed; without the log files it exits 0.
    env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
           "PROMPTFOO_DISABLE_DEBUG_LOG": "1", "PROMPTFOO_DISABLE_ERROR_LOG": "1",
           "PROMPTFOO_FAILED_TEST_EXIT_CODE": "0",  # failed assertions (a fixed label) are not a failed run
           "PROMPTFOO_CONFIG_DIR": str(tmp / "promptfoo-home"), "OPENAI_API_KEY": "not-needed"}
    return {"cmd": [str(exe), "eval", "-c", str(folder / "promptfooconfig.yaml"), "--no-cache",
                    "-j", str(concurrency)], "env": env, "cwd": folder}


INSPECT_TASK = '''\
from inspect_ai import Task, task
from inspect_ai.dataset import FieldSpec, json_dataset
from inspect_ai.scorer import exact
from inspect_ai.solver import generate, system_message


@task
def bench_triage():
    return Task(dataset=json_dataset({items!r}, FieldSpec(input="user", target="label", id="id")),
                solver=[system_message({system!r}), generate()], scorer=exact())
'''


def inspect_side(tmp: Path, items: list[dict], base_url: str, concurrency: int, exe: Path) -> dict:
    folder = tmp / f"inspect-{len(items)}"
    folder.mkdir(exist_ok=True)
    data = folder / "items.jsonl"
    data.write_text("".join(json.dumps({"id": i["id"], "user": USER.format(**i), "label": i["label"]}) + "\n"
                            for i in items))
    (folder / "task.py").write_text(INSPECT_TASK.format(items=str(data), system=SYSTEM))
    env = {**os.environ, "STUB_API_KEY": "not-needed", "STUB_BASE_URL": base_url,
           "INSPECT_LOG_DIR": str(folder / "logs"), "INSPECT_DISPLAY": "plain"}
    env.pop("PYTHONPATH", None)
    return {"cmd": [str(exe), "eval", "task.py", "--model", "openai-api/stub/stub-model",
                    "--max-connections", str(concurrency), "--temperature", "0", "--max-tokens", str(MAX_TOKENS)],
            "env": env, "cwd": folder}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", default="1000", help="comma-separated item counts")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--promptfoo", default=PROMPTFOO, help="promptfoo version (npm)")
    parser.add_argument("--inspect-ai", default=INSPECT_AI, help="inspect-ai version (PyPI)")
    args = parser.parse_args()
    promptfoo, inspect = ensure_promptfoo(args.promptfoo), ensure_inspect(args.inspect_ai)
    print(f"machine: {machine()}")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"python {sys.version.split()[0]}, node {node}; promptfoo {installed_version(promptfoo, 'promptfoo')}, "
          f"inspect-ai {installed_version(inspect, 'inspect_ai')}; concurrency {args.concurrency}")
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp, StubServer() as base_url:
        for n in (int(x) for x in args.items.split(",")):
            items = triage_items(n)
            sides = sides_for(Path(tmp), n, base_url, args.concurrency)
            sides["promptfoo"] = promptfoo_side(Path(tmp), items, base_url, args.concurrency, promptfoo)
            sides["inspect-ai"] = inspect_side(Path(tmp), items, base_url, args.concurrency, inspect)
            warm_up(sides)
            check_answers(sides)
            results = interleave(sides, args.rounds)
            report(n, results, None)
    print(f"machine after: {machine()}")


def check_answers(sides: dict[str, dict]) -> None:
    """Each peer really ran every item (a silent misconfiguration must not pass for a fast run)."""
    _, _, out = timed_process(sides["promptfoo"]["cmd"], env=sides["promptfoo"]["env"], cwd=sides["promptfoo"]["cwd"])
    tail = " ".join(out.split()[-60:])
    print(f"  promptfoo says: ...{tail[-300:]}")
    logs = sorted((Path(sides["inspect-ai"]["cwd"]) / "logs").glob("*.eval"))
    print(f"  inspect-ai wrote {len(logs)} log(s); last: {logs[-1].name if logs else '-'}")


if __name__ == "__main__":
    main()
