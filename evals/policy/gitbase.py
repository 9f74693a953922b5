"""The files the gate reads as they were at ``--base``: ``git show REV:path``, never the branch's copy."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.config._yaml import parse_yaml, validate
from evals.config.policy import Policy, PolicySettings
from evals.errors import UsageError
from evals.policy import signing
from evals.project import Project


@dataclass
class Base:
    """The files the gate reads as they were at ``--base``."""

    rev: str
    policy: Policy | None
    log: bytes
    allowed_signers: str | None
    settings: PolicySettings | None


class _Git:
    def __init__(self, project: Project):
        self.project = project
        try:
            top = self("rev-parse", "--show-toplevel")
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UsageError(f"--base needs git: {exc}") from None
        if top.returncode != 0:
            raise UsageError(f"--base: {project.root} is not in a git repository")
        self.top = Path(top.stdout.decode().strip()).resolve()

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=self.project.root, capture_output=True, timeout=30)

    def show(self, rev: str, path: Path) -> bytes | None:
        rel = path.resolve().relative_to(self.top).as_posix()
        shown = self("show", f"{rev}:{rel}")
        return shown.stdout if shown.returncode == 0 else None


def _parse_at(model: type, data: bytes | None, label: str) -> Any:
    if data is None:
        return None
    parsed, lines = parse_yaml(data.decode("utf-8", "replace"), Path(label))
    return validate(model, parsed, Path(label), lines) if parsed is not None else None


def read_base(project: Project, rev: str) -> Base:
    """The policy, approval log, allowed signers and gate settings at git revision ``rev``."""
    git = _Git(project)
    if git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode != 0:
        raise UsageError(f"--base {rev}: no such git revision (fetch it first, e.g. git fetch origin {rev})")
    signers = git.show(rev, project.root / signing.ALLOWED_SIGNERS)
    return Base(rev=rev,
                policy=_parse_at(Policy, git.show(rev, project.policy_file), f"{rev}:policies/current.yaml"),
                log=git.show(rev, project.approvals_file) or b"",
                allowed_signers=signers.decode("utf-8", "replace") if signers is not None else None,
                settings=_parse_at(PolicySettings, git.show(rev, project.root / "policies" / "gate.yaml"),
                                   f"{rev}:policies/gate.yaml"))


def base_policy(project: Project, rev: str) -> Policy | None:
    """The policy file as of git revision ``rev`` (None when it did not exist there)."""
    return read_base(project, rev).policy


def strictest(base: PolicySettings | None, branch: PolicySettings) -> PolicySettings:
    """The gate settings a pull request is judged by: for each check, the stricter of the base's and its own,
    so a change that relaxes ``policies/gate.yaml`` takes effect only once it is merged."""
    if base is None:
        return branch
    ceilings = [c for c in (base.weekly_spend_ceiling_usd, branch.weekly_spend_ceiling_usd) if c is not None]
    return branch.model_copy(update={
        "require_signed_approvals": base.require_signed_approvals or branch.require_signed_approvals,
        "quality_tolerance": min(base.quality_tolerance, branch.quality_tolerance),
        "weekly_spend_ceiling_usd": min(ceilings) if ceilings else None,
        "fail_on_unknown_spend": base.fail_on_unknown_spend or branch.fail_on_unknown_spend,
    })


__all__ = ["Base", "base_policy", "read_base", "strictest"]
