"""Contributor habits (issue 18): a bare ``pytest`` in the repository root collects like ``python -m pytest``.

``python -m pytest`` puts the working directory on ``sys.path``; the ``pytest`` console script does not,
so ``from tests.report import report_data`` failed with ``No module named 'tests'`` until the pytest
configuration set ``pythonpath``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("pytest")


@pytest.mark.skipif(not SCRIPT.is_file(), reason="no pytest console script beside this interpreter")
@pytest.mark.parametrize("command", [[str(SCRIPT)], [sys.executable, "-m", "pytest"]], ids=["pytest", "python -m pytest"])
def test_both_ways_of_running_pytest_collect_the_tests_package(command):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([*command, "--collect-only", "-q", "-p", "no:cacheprovider", "tests/report/test_report_cli.py"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "No module named 'tests'" not in done.stdout
    assert "test_run_writes_report_and_summary" in done.stdout


def test_two_test_folders_with_their_own_conftest_collect_together():
    """``pytest tests/policy tests/router`` failed with "import file mismatch" on two ``conftest.py`` of the
    same basename: every test folder is a package, so each conftest has its own module name."""
    folders = sorted(p.parent for p in (REPO / "tests").glob("*/conftest.py"))
    assert len(folders) >= 2
    missing = [str(d.relative_to(REPO)) for d in (REPO / "tests").rglob("*")
               if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")) and not (d / "__init__.py").is_file()]
    assert missing == [], f"test folders without __init__.py: {missing}"
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *(str(f.relative_to(REPO)) for f in folders)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
