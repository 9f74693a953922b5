"""Helpers of the approval and gate tests: real SSH keys (ssh-keygen), real git repositories, and a policy
project whose approvals are signed, committed and gated like CI's clean clone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from evals.policy.approvals import canonical, line_sha256
from evals.policy.recommend import RecommendOptions, recommend
from evals.project import Project
from tests.policy.runs import model_rows, ones, write_run

ADA = "ada@example.com"
EVE = "eve@example.com"
N = 40
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}



def keygen(folder: Path, name: str) -> Path:
    """A new ed25519 key without passphrase; returns the private key's path."""
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True,
                   capture_output=True)
    return key


def signer_line(principal: str, key: Path) -> str:
    kind, blob = key.with_suffix(".pub").read_text().split()[:2]
    return f'{principal} namespaces="portfolio-evals-approval" {kind} {blob}\n'


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV})
    assert done.returncode == 0, done.stderr
    return done.stdout


def commit_all(root: Path, message: str) -> None:
    if not (root / ".git").exists():
        git(root, "init", "-q")
        (root / ".gitignore").write_text("reports/\n.approvals.lock\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)


@dataclass
class Keys:
    ada: Path
    eve: Path


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    """Ada's key is in the project's allowed signers; Eve's is not."""
    return Keys(keygen(tmp_path / "keys", "ada"), keygen(tmp_path / "keys", "eve"))


@pytest.fixture
def signed(pproject: Project, keys: Keys) -> Project:
    """The policy project with Ada in policies/allowed_signers, committed as the base (HEAD)."""
    (pproject.root / "policies" / "allowed_signers").write_text("# approvers\n" + signer_line(ADA, keys.ada))
    commit_all(pproject.root, "base")
    return pproject


def cheap_run(project: Project, run_id: str = "r1", *, cheap_hits: int = 38) -> Path:
    """A run where ``cheap`` is non-inferior to ``premium`` and cheaper, ``mid`` scores 0; its proposal."""
    rows = model_rows("triage", "premium", ones(N, 38), cost=0.01, latency=900, variant="default")
    rows += model_rows("triage", "cheap", ones(N, cheap_hits), cost=0.0001, latency=100, variant="default")
    rows += model_rows("triage", "mid", ones(N, 0), cost=0.001, latency=100, variant="default")
    write_run(project, run_id, rows)
    # the same answers on 40 examples: [-0.088, +0.088], non-inferior within 0.1 (not within gate.yaml's 0.02)
    return recommend(project, run_id, RecommendOptions(tolerance=0.1)).proposal_path


def set_unsigned(project: Project) -> None:
    """Turn signing off (solo use)."""
    path = project.root / "policies" / "gate.yaml"
    path.write_text(path.read_text() + "require_signed_approvals: false\n")


def log_lines(project: Project) -> list[dict]:
    return [json.loads(line) for line in project.approvals_file.read_bytes().split(b"\n") if line]


def rewrite_log(project: Project, records: list[dict], *, rechain: bool = False) -> None:
    """Write records back canonically (``rechain`` recomputes every ``prev``, as a forger would)."""
    out, prev = [], None
    for record in records:
        if rechain:
            record = {**record, "prev": prev}
        raw = canonical(record)
        out.append(raw)
        prev = line_sha256(raw)
    project.approvals_file.write_bytes(b"".join(r + b"\n" for r in out))


def failures(result) -> list[str]:
    return [c.message for c in result.checks if not c.ok]
