"""Benchmark 6: start-up of ``evals --help`` and ``evals route`` (target: under 0.3 s each).

Each is a fresh interpreter, as a user types it (``python -m evals.cli.main``; the console script adds
nothing measurable). ``python -c pass`` is printed as the floor. Rounds alternate the commands;
medians are compared with the target. ``evals route`` runs on the shipped project (its policy and
models.yaml). With ``--importtime`` the slowest imports of each command are listed.

    python bench/bench_startup.py [--rounds 15] [--importtime]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import evals_env, installed_env, interleave, machine, verdict  # noqa: E402

TARGET_S = 0.3
REPO = HERE.parent
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "evals --help": [sys.executable, "-m", "evals.cli.main", "--help"],
    "evals route": [sys.executable, "-m", "evals.cli.main", "route", "--project", str(REPO),
                    "--task", "classification", "--context-tokens", "800", "--volume", "high"],
}


def slowest_imports(cmd: list[str], env: dict, top: int = 8) -> list[tuple[int, str]]:
    """The ``top`` imports with the largest cumulative time (microseconds) under ``-X importtime``."""
    done = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=env)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            rows.append((int(cumulative), name.rstrip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--importtime", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        env = evals_env(Path(tmp) / "cache.sqlite")
        sides = {name: {"cmd": cmd, "env": env, "cwd": REPO} for name, cmd in COMMANDS.items()}
        for side in sides.values():  # warm-up: bytecode compiled, files in the page cache
            subprocess.run(side["cmd"], capture_output=True, env=installed_env(env), cwd=REPO, check=True)
        results = interleave(sides, args.rounds, verbose=False)
        print(f"  medians of {args.rounds} fresh processes:")
        for name, runs in results.items():
            median = statistics.median(w for w, _ in runs)
            target = "" if name.startswith("python") else \
                f"  (target < {TARGET_S} s): {median / TARGET_S:.2f}x of budget -> {verdict(median, TARGET_S)}"
            print(f"    {name:16s} {median:6.3f} s  (min {min(w for w, _ in runs):.3f} s){target}")
        if args.importtime:
            for name, cmd in COMMANDS.items():
                print(f"  slowest imports of {name} (cumulative):")
                for micros, module in slowest_imports(cmd, installed_env(env)):
                    print(f"    {micros / 1000:7.1f} ms  {module.strip()}")
    print(f"machine after: {machine()}")


if __name__ == "__main__":
    main()
