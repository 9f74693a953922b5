"""``evals validate``: load every user-edited file the way a run would, and stop at the first problem."""

from __future__ import annotations

from dataclasses import dataclass, field

from evals.config.models import ModelsFile, load_models
from evals.config.policy import Policy, load_policy, load_settings
from evals.errors import ConfigError
from evals.project import Project
from evals.prompts import load_template, render, resolve_variant
from evals.scorers import build_scorer
from evals.suites import discover, open_suite


@dataclass
class Checked:
    models: int = 0
    suites: int = 0
    examples: int = 0
    templates: set[str] = field(default_factory=set)
    policy: bool = False

    def summary(self) -> str:
        policy = "policy ok" if self.policy else "no policy file"
        return (f"{self.models} models, {self.suites} suites, {self.examples} examples, "
                f"{len(self.templates)} prompt variants, {policy}")


def check_policy_models(policy: Policy, models: ModelsFile, path) -> None:
    """Every model a policy names exists in models.yaml."""
    known = set(models.ids)
    targets = [(f"rules[{i}]", r) for i, r in enumerate(policy.rules)] + [("default", policy.default)]
    for where, target in targets:
        for name, model in [("model", target.model)] + [(f"fallbacks[{j}]", m) for j, m in enumerate(target.fallbacks)]:
            if model not in known:
                raise ConfigError(path, f"unknown model {model!r}; known: {', '.join(sorted(known))}",
                                  field=f"{where}.{name}")


def validate_project(project: Project) -> Checked:
    checked = Checked()
    models = load_models(project.models_file)
    checked.models = len(models.models)
    names: dict[str, str] = {}
    for suite_path in discover(project.suites_dir):
        first = open_suite(suite_path)
        if first.name in names:
            raise ConfigError(suite_path, f"suite name {first.name!r} is also used by {names[first.name]}", field="name")
        names[first.name] = str(suite_path)
        build_scorer(first)
        for split in first.spec.data.files or {first.split: ""}:
            suite = first if split == first.split else open_suite(suite_path, split=split)
            checked.examples += len(suite.examples)
            for spec in models.models:
                template = load_template(resolve_variant(project.prompts_dir, suite.spec.prompt, spec.id, spec.family))
                checked.templates.add(str(template.path))
                for example in suite.examples:
                    render(template, suite.variables(example), suite_schema=suite.schema)
        checked.suites += 1
    if project.policy_file.is_file():
        from evals.policy.checks import load_checked_policy  # shadowing, default, fallbacks, context windows

        policy = load_checked_policy(project.policy_file, models)
        check_policy_models(policy, models, project.policy_file)
        load_settings(project.root / "policies" / "gate.yaml")
        checked.policy = True
    return checked
