"""A run killed while writing its artifacts is not complete: ``latest`` skips it and says so, and the
same command run again completes that folder from the cache (issue 17 item 7)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from evals.runner.cache import ResponseCache
from evals.runner.store import INCOMPLETE, read_manifest, run_dir
from tests.conftest import run_cli, write_project

# Runs the real CLI, but the report writer kills the process: the moment between the results and the manifest.
KILLED_WHILE_WRITING = textwrap.dedent("""
    import os, signal, sys
    import evals.report

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    evals.report.write_run_report = die
    from evals.cli.main import main
    sys.exit(main(sys.argv[1:]))
""")


def _attempts(cache_path: Path) -> int:
    with ResponseCache(cache_path) as cache:
        return sum(cache.attempts_per_key().values())


def test_a_run_killed_while_writing_is_skipped_then_completed_from_the_cache(tmp_path):
    root = write_project(tmp_path / "proj").root
    cache_path = tmp_path / "cache.sqlite"
    env = {"EVALS_CACHE": str(cache_path)}
    first = run_cli("run", "--project", str(root), "--limit", "2", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    (complete,) = [p for p in (root / "reports").iterdir() if p.is_dir()]

    killed = subprocess.run([sys.executable, "-c", KILLED_WHILE_WRITING, "run", "--project", str(root)],
                            cwd=tmp_path, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    (interrupted,) = [p for p in (root / "reports").iterdir() if p.is_dir() and p != complete]
    assert (interrupted / "results.parquet").is_file() and (interrupted / INCOMPLETE).is_file()
    assert not (interrupted / "manifest.json").exists()

    # latest skips the interrupted run, and says so
    notes: list[str] = []
    assert run_dir(root / "reports", "latest", notice=notes.append) == complete
    assert len(notes) == 1 and interrupted.name in notes[0] and "same `evals run` command" in notes[0]
    report = run_cli("report", "--project", str(root), cwd=tmp_path, env=env)
    assert report.returncode == 0 and f"skipped incomplete run {interrupted.name}" in report.stderr
    assert str(complete / "report.html") in report.stdout
    named = run_cli("report", interrupted.name, "--project", str(root), cwd=tmp_path, env=env)
    assert named.returncode == 2 and "is incomplete" in named.stderr

    # the same command again completes that folder, every call served from the cache
    sent = _attempts(cache_path)
    again = run_cli("run", "--project", str(root), cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert f"completing run {interrupted.name}" in again.stderr
    assert "12 rows, 12 from the cache" in again.stdout
    assert _attempts(cache_path) == sent, "completing the run sent a request again"
    assert sorted(p for p in (root / "reports").iterdir() if p.is_dir()) == sorted([complete, interrupted])
    assert not (interrupted / INCOMPLETE).exists() and (interrupted / "report.html").is_file()
    assert read_manifest(interrupted)["run_id"] == interrupted.name
    assert run_dir(root / "reports", "latest") == interrupted


def test_the_manifest_is_written_last(project, monkeypatch):
    """Whatever fails while the artifacts are written, no manifest means no complete run."""
    from evals.runner import run as run_module
    from evals.runner.run import RunOptions, run

    order: list[str] = []
    real_parquet, real_json = run_module.write_parquet_atomic, run_module.write_json_atomic
    monkeypatch.setattr(run_module, "write_parquet_atomic",
                        lambda path, *a, **k: (order.append(path.name), real_parquet(path, *a, **k)))
    monkeypatch.setattr(run_module, "write_json_atomic",
                        lambda path, *a, **k: (order.append(path.name), real_json(path, *a, **k)))
    result = run(project, RunOptions())
    assert order[-1] == "manifest.json" and order.index("results.parquet") < order.index("manifest.json")
    assert not (result.folder / INCOMPLETE).exists()
