"""The code that scored a suite, bound to the evidence by hash.

A rule's numbers are scores the suite's scorer gave. The approval records, per rule, the sha256 of the
scorer's implementation: the source file of the scorer class's module and of every ``evals.scorers``
module it reaches (its base classes, what its module imports: ``base.py``, ``values.py``, the judge for
the voice scorer). The gate compares them with the code the branch holds and shows each changed file in
the pull-request comment as a warning, not a failure: the bundle's scores are still exactly what the
approved run gave, and a scorer fix (or a harness upgrade) would otherwise fail every approval at once;
re-running (the response cache answers, the new code re-scores) and approving again clears it.
A suite's scorer *settings* are inputs (:func:`evals.policy.bundle.scorer_sha256`): changing them fails.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "evals.scorers"


def _reached(module: ModuleType) -> set[str]:
    """Names of the ``evals.scorers`` modules ``module``'s globals come from."""
    out = set()
    for value in vars(module).values():
        name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(name, str) and (name == PACKAGE or name.startswith(PACKAGE + ".")):
            out.add(name)
    return out


def scorer_modules(cls: type) -> list[ModuleType]:
    """The scorer class's module and every ``evals.scorers`` module reached from it (bases, imports), by name."""
    todo = {c.__module__ for c in cls.__mro__ if c.__module__ == cls.__module__ or c.__module__.startswith(PACKAGE)}
    seen: dict[str, ModuleType] = {}
    while todo:
        name = todo.pop()
        module = sys.modules.get(name)
        if name in seen or module is None or getattr(module, "__file__", None) is None:
            continue
        seen[name] = module
        todo |= _reached(module) - set(seen)
    return [seen[n] for n in sorted(seen) if not seen[n].__file__.endswith("__init__.py")]


def _key(path: Path) -> str:
    """A source file as ``evals/scorers/<file>.py`` (relative to the folder holding the ``evals`` package)."""
    import evals

    root = Path(evals.__file__).resolve().parent.parent
    path = path.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()


def scorer_code(name: str, registry: dict[str, type] | None = None) -> dict[str, str] | None:
    """``{source file: sha256}`` of the scorer registered as ``name`` (None when it is not registered)."""
    from evals.scorers import default_scorers

    cls = (registry if registry is not None else default_scorers()).get(name)
    if cls is None:
        return None
    out = {}
    for module in scorer_modules(cls):
        source = Path(inspect.getsourcefile(module) or module.__file__)
        out[_key(source)] = hashlib.sha256(source.read_bytes()).hexdigest()
    return dict(sorted(out.items()))


def rule_scorer_code(suites: list[Any]) -> dict[str, str]:
    """The scorer code of a rule's suites (``SuiteSpec``), merged; a scorer not in the built-in registry
    is listed as ``scorer <name>`` with no hash (its code cannot be bound here)."""
    out: dict[str, str] = {}
    for spec in suites:
        code = scorer_code(spec.scorer.name)
        if code is None:
            out[f"scorer {spec.scorer.name}"] = ""
        else:
            out.update(code)
    return dict(sorted(out.items()))


__all__ = ["rule_scorer_code", "scorer_code", "scorer_modules"]
