"""SSH signatures on approval records, the way git signs commits with ``gpg.format=ssh``.

An approver signs the canonical bytes of a record with ``ssh-keygen -Y sign -n NAMESPACE``; the gate
checks it with ``ssh-keygen -Y verify`` against an *allowed signers* file (git's
``gpg.ssh.allowedSignersFile`` format: ``principals [options] keytype base64-key`` per line, ``#``
comments). The principals of the key that signed are the approver's identity, so ``--by`` cannot name
someone else. ``ssh-keygen`` (OpenSSH 8.2 or later) does the cryptography; nothing here parses keys.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evals.errors import UsageError

NAMESPACE = "portfolio-evals-approval"
"""The signature namespace (``-n``): a signature made for git commits or anything else never verifies here."""

ALLOWED_SIGNERS = "policies/allowed_signers"


@dataclass(frozen=True)
class Signer:
    """One line of an allowed-signers file."""

    principals: tuple[str, ...]
    line: int


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise UsageError("signed approvals need ssh-keygen (OpenSSH 8.2+): install openssh-client")
    return found


def _run(args: list[str], *, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([_ssh_keygen(), *args], input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise UsageError(f"ssh-keygen {args[0]} {args[1]} timed out after {timeout:.0f} s") from None


def _first_line(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else ""


def sign(data: bytes, key: Path, *, namespace: str = NAMESPACE) -> str:
    """The armored SSH signature of ``data`` made with ``key`` (a private key, or a public key held by ssh-agent)."""
    if not key.is_file():
        raise UsageError(f"--key {key}: no such file (generate one with `ssh-keygen -t ed25519`)")
    with tempfile.TemporaryDirectory(prefix="evals-sign-") as tmp:
        message = Path(tmp) / "record"
        message.write_bytes(data)
        done = subprocess.run([_ssh_keygen(), "-Y", "sign", "-f", str(key), "-n", namespace, str(message)],
                              capture_output=True, timeout=300, stdin=None)
        signature = message.with_name("record.sig")
        if done.returncode != 0 or not signature.is_file():
            raise UsageError(f"--key {key}: ssh-keygen could not sign: {_first_line(done.stderr) or 'no signature'}")
        return signature.read_text(encoding="ascii")


def _with_signature(signature: str, fn):
    with tempfile.TemporaryDirectory(prefix="evals-verify-") as tmp:
        sig = Path(tmp) / "record.sig"
        sig.write_text(signature, encoding="ascii")
        return fn(Path(tmp), sig)


def find_principals(signature: str, allowed_signers: Path, *, namespace: str = NAMESPACE) -> list[str]:
    """The principals ``allowed_signers`` lists for the key that made ``signature`` (empty when none)."""
    def run(_: Path, sig: Path) -> list[str]:
        done = _run(["-Y", "find-principals", "-f", str(allowed_signers), "-n", namespace, "-s", str(sig)])
        if done.returncode != 0:
            return []
        return [p for p in done.stdout.decode("utf-8", "replace").splitlines() if p.strip()]

    try:
        return _with_signature(signature, run)
    except (UnicodeEncodeError, ValueError):
        return []


def verify(data: bytes, signature: str, principal: str, allowed_signers: Path, *,
           namespace: str = NAMESPACE) -> str | None:
    """None when ``signature`` is a good signature of ``data`` by a key ``allowed_signers`` lists for
    ``principal``; otherwise why not (ssh-keygen's first line)."""
    def run(_: Path, sig: Path) -> str | None:
        done = _run(["-Y", "verify", "-f", str(allowed_signers), "-I", principal, "-n", namespace, "-s", str(sig)],
                    stdin=data)
        if done.returncode == 0:
            return None
        return _first_line(done.stderr) or _first_line(done.stdout) or "signature does not verify"

    try:
        return _with_signature(signature, run)
    except (UnicodeEncodeError, ValueError):
        return "the signature is not an armored SSH signature"


def read_signers(text: str) -> list[Signer]:
    """The entries of an allowed-signers file's text (comments and blank lines skipped)."""
    out = []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            first = shlex.split(line)[0]
        except ValueError:
            first = line.split()[0]
        out.append(Signer(tuple(p for p in first.split(",") if p), number))
    return out


def who_may_approve(text: str | None, where: str) -> str:
    """One line naming who may approve, from an allowed-signers file's text (None: the file is missing)."""
    if text is None:
        return (f"nobody may approve: there is no {ALLOWED_SIGNERS} at {where}; add approvers' SSH keys to it "
                "in a pull request of its own (see README, Routing policy)")
    names = sorted({p for s in read_signers(text) for p in s.principals})
    if not names:
        return (f"nobody may approve: {ALLOWED_SIGNERS} at {where} lists no key; add approvers' SSH keys in a "
                "pull request of its own")
    return f"who may approve ({ALLOWED_SIGNERS} at {where}): {', '.join(names)}"


__all__ = ["ALLOWED_SIGNERS", "NAMESPACE", "Signer", "find_principals", "read_signers", "sign", "verify",
           "who_may_approve"]
