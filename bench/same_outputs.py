"""Check that two trees of the code write the same run: every artifact of ``evals run``, byte for byte
but for run ids and times.

For each tree: a copy of the shipped suites and prompts with two fake models (answers echo the
prompt's last line, latency fixed, so every number is deterministic), ``evals run --no-cache --limit
N`` and then the same command cached (which also writes the comparison page against the first run).
Then results.parquet, baselines.parquet and aggregates.parquet (frames compared with ``equals``),
manifest.json (without its times, machine and git fields), report.html, summary.md, the comparison
pages, reports/index.html and the printed table are compared. Exit 1 on any difference.

    python bench/same_outputs.py /tmp/main-tree [OTHER_TREE (default: this checkout)] [--limit 40]
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _common import installed_env  # noqa: E402

FAKES = """\
format_version: 1
models:
  - id: fake-a
    provider: fake
    model: fake-a
    family: gpt
    context_window: 8192
    pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 2.0}}
  - id: fake-b
    provider: fake
    model: fake-b
    family: claude
    context_window: 8192
    pricing: {self_hosted: {hourly_usd: 3.6}}
"""
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?")


def run_tree(tree: Path, out: Path, limit: int) -> None:
    for name in ("suites", "prompts"):
        shutil.copytree(REPO / name, out / name)
    (out / "policies").mkdir()
    (out / "reports").mkdir()
    for name in ("current.yaml", "gate.yaml"):
        shutil.copy(REPO / "policies" / name, out / "policies" / name)
    (out / "policies" / "models.yaml").write_text(FAKES)
    env = installed_env({**os.environ, "EVALS_CACHE": str(out / "cache.sqlite"), "PYTHONPATH": str(tree)})
    for i, extra in enumerate((["--no-cache"], [])):
        done = subprocess.run([sys.executable, "-m", "evals.cli.main", "run", "--project", str(out),
                               "--limit", str(limit), *extra], cwd=out, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{tree}: evals run failed ({done.returncode}):\n{done.stderr[-2000:]}")
        (out / f"out{i}.txt").write_text(done.stdout)
        time.sleep(1.1)  # run ids are per second


def compare(a: Path, b: Path) -> list[str]:
    import pandas as pd

    runs_a = sorted(p for p in (a / "reports").iterdir() if p.is_dir())
    runs_b = sorted(p for p in (b / "reports").iterdir() if p.is_dir())
    ids = {}
    for i, (x, y) in enumerate(zip(runs_a, runs_b)):
        ids[x.name] = ids[y.name] = f"RUN{i}"

    def norm(text: str, root: Path) -> str:
        for run_id, label in ids.items():
            text = text.replace(run_id, label)
        return TIME.sub("TIME", text.replace(str(root), "ROOT"))

    problems = [] if len(runs_a) == len(runs_b) else [f"{len(runs_a)} runs vs {len(runs_b)}"]
    for x, y in zip(runs_a, runs_b):
        names_x = {norm(p.name, a): p for p in x.iterdir()}
        names_y = {norm(p.name, b): p for p in y.iterdir()}
        if names_x.keys() != names_y.keys():
            problems.append(f"{x.name}: files differ: {sorted(names_x.keys() ^ names_y.keys())}")
        for name in sorted(names_x.keys() & names_y.keys()):
            px, py = names_x[name], names_y[name]
            if name.endswith(".parquet"):
                same = pd.read_parquet(px).equals(pd.read_parquet(py))
            else:
                tx, ty = norm(px.read_text(), a), norm(py.read_text(), b)
                if name == "manifest.json":
                    jx, jy = json.loads(tx), json.loads(ty)
                    for j in (jx, jy):
                        for key in ("machine", "git"):
                            j.pop(key, None)
                    tx, ty = json.dumps(jx, sort_keys=True), json.dumps(jy, sort_keys=True)
                same = tx == ty
                if not same:
                    diff = difflib.unified_diff(tx.splitlines(), ty.splitlines(), lineterm="", n=0)
                    problems += [f"    {line[:160]}" for line in list(diff)[2:8]]
            if not same:
                problems.append(f"{ids[x.name]}/{name} differs")
    for name in ("out0.txt", "out1.txt", "reports/index.html"):
        if norm((a / name).read_text(), a) != norm((b / name).read_text(), b):
            problems.append(f"{name} differs")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path)
    parser.add_argument("other", type=Path, nargs="?", default=REPO)
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="same-outputs-") as tmp:
        a, b = Path(tmp) / "a", Path(tmp) / "b"
        run_tree(args.tree.resolve(), a, args.limit)
        run_tree(args.other.resolve(), b, args.limit)
        problems = compare(a, b)
    print("\n".join(problems) if problems else f"identical: {args.tree} and {args.other} (runs, pages, index, table)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
