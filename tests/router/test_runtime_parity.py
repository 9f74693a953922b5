"""What is evaluated is what is shipped: the client sends, for a rule, the request the runner sent its suite.

Every shipped rule with a prompt is rendered at eval time (the runner's ``plan``) and at run time (the
client, each model of the rule's chain) for every example of its suite, and the canonical requests
must be equal. The README's client example runs as written, with the fake provider behind it.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest

import evals.providers as providers_module
from evals.client import Client, load_router
from evals.config.policy import load_policy
from evals.config.suite import load_suite
from evals.policy.evidence import rule_suites
from evals.project import Project
from evals.providers import ProviderRegistry
from evals.providers import default_registry as real_registry
from evals.providers.fake import FakeProvider
from evals.runner.run import load_suites, plan
from evals.suites import discover

REPO = Path(__file__).resolve().parents[2]


def fake_everything() -> ProviderRegistry:
    """Every provider name served by the fake provider (no key, no network, no weights)."""
    entry = real_registry()["fake"]
    return ProviderRegistry({name: entry for name in real_registry()})


def eval_requests(project: Project, model_ids: list[str]) -> dict[tuple[str, str, str], dict]:
    """(suite, example id, model) -> the canonical request the runner renders for it."""
    from evals.config.models import load_models

    models = load_models(project.models_file)
    provs = {m: FakeProvider(models.get(m)) for m in model_ids}
    jobs = plan(project, load_suites(project, None, None, None), provs, 1, None)
    return {(j.suite.name, j.example.id, j.model.id): j.rendered.canonical() for j in jobs}


async def runtime_request(client: Client, shape: dict, inputs: dict, model: str) -> tuple[dict, object]:
    FakeProvider.reset()
    result = await client.complete(shape, inputs, model=model, fallbacks=[])
    assert result.ok, result.notes
    (request,) = FakeProvider.calls
    return request.prompt.canonical(), result


async def test_every_shipped_rule_sends_the_request_its_suite_evaluated():
    project = Project(REPO)
    policy = load_policy(project.policy_file)
    specs = [load_suite(p) for p in discover(project.suites_dir)]
    linked = rule_suites(policy, specs)
    router = load_router(project.policy_file, project.models_file, project.prompts_dir)
    client = Client(router, registry=fake_everything())
    chains = {rule_id: [t.model, *t.fallbacks] for rule_id, t in policy.targets()}
    evaluated = eval_requests(project, sorted({m for chain in chains.values() for m in chain}))
    suites = {s.name: s for s in load_suites(project, None, None, None)}
    compared: dict[str, int] = {}
    unevaluated: list[str] = []
    try:
        for rule_id, target in policy.targets():
            if target.prompt is None:  # nothing to render: the client refuses such a rule (ConfigError)
                assert not [s for s in linked[rule_id] if s.prompt], rule_id
                continue
            if not linked[rule_id]:  # served with the caller's inputs only (the completion says so)
                unevaluated.append(rule_id)
                continue
            suite = suites[linked[rule_id][0].name]
            for example in suite.examples:
                for model in chains[rule_id]:
                    sent, result = await runtime_request(client, suite.spec.shape.model_dump(), example.inputs, model)
                    assert result.decision.rule == rule_id and result.suite == suite.name
                    assert sent == evaluated[(suite.name, example.id, model)], (rule_id, example.id, model)
                    # a classification rule's requests ask for the answer's confidence, as its suite's did
                    assert sent.get("confidence", False) is (suite.spec.task == "classification"), rule_id
                    compared[rule_id] = compared.get(rule_id, 0) + 1
    finally:
        await client.aclose()
    # the shipped rules with a suite, each over all its suite's test examples and its whole chain
    assert compared == {"inbox-triage": 120 * 3, "crm-extraction": 40 * 3, "founder-voice": 24 * 2,
                        "crm-actions": 7 * 3, "long-context": 2 * 2}  # the two default `quick` splits
    # prompts the runtime can serve with no suite: only the default (no new rule joins it)
    assert unevaluated == ["default"]


FIXTURE_MODELS = """\
format_version: 1
models:
  - {id: chat, provider: fake, model: chat, family: chat, context_window: 8000,
     pricing: {tokens: {input_per_mtok: 1.0, output_per_mtok: 2.0}}}
  - {id: base, provider: fake, model: base, family: base, context_window: 8000,
     pricing: {self_hosted: {hourly_usd: 1.0}}}
"""
# reply-intent comes first; the replies suite's shape alone would route to `triage` (no `reply` tag),
# so only its explicit `rule:` links it to reply-intent.
FIXTURE_POLICY = """\
format_version: 1
rules:
  - {id: reply-intent, when: {task: classification, tags: [reply]}, model: chat, prompt: replies, fallbacks: [base]}
  - {id: triage, when: {task: classification}, model: chat, prompt: inbox, fallbacks: [base]}
  - {id: notes, when: {task: writing}, model: chat, prompt: inbox}
default: {model: chat, prompt: inbox}
"""
REPLIES_SUITE = """\
name: replies
task: classification
data: {files: {dev: dev.jsonl, test: test.jsonl}}
fields: {id: id, gold: label, inputs: [text]}
prompt: replies
rule: reply-intent
schema: answer.schema.json
variables: {labels: [interested, not_now, unsubscribe], company: Relay}
few_shot: {split: dev, n: 2}
context_files:
  tone: {file: tone.txt}
scorer: {name: classification, settings: {labels: [interested, not_now, unsubscribe]}}
shape: {task: classification}
"""
INBOX_SUITE = """\
name: inbox
task: classification
data: {files: {dev: dev.jsonl, test: test.jsonl}}
fields: {id: id, gold: label, inputs: [text]}
prompt: inbox
variables: {labels: [lead, support]}
scorer: {name: classification, settings: {labels: [lead, support]}}
shape: {task: classification}
"""
REPLIES_CHAT = """\
---
max_tokens: 8
json_output: true
---
{% block system %}You sort replies to {{ company }}'s outreach into {{ labels | join(", ") }}. {{ tone | join(" ") }}
Answer as JSON matching: {{ schema_json }}{% endblock %}
{% block user %}{% for s in shots %}{{ s.text }} => {{ s.gold }}
{% endfor %}{{ text }}{% endblock %}
"""
REPLIES_BASE = """\
---
max_tokens: 4
stop: ["\\n"]
---
{% block prompt %}{% for s in shots %}Reply: {{ s.text }}
Label: {{ s.gold }}
{% endfor %}Reply: {{ text }}
Label:{% endblock %}
"""
INBOX = "{% block user %}Labels: {{ labels | join(', ') }}\n{{ text }}{% endblock %}\n"


def write_fixture(root: Path, *, test_split: bool = True) -> Project:
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "models.yaml").write_text(FIXTURE_MODELS)
    (root / "policies" / "current.yaml").write_text(FIXTURE_POLICY)
    for name, text, labels in (("replies", REPLIES_SUITE, ["interested", "not_now", "unsubscribe"]),
                               ("inbox", INBOX_SUITE, ["lead", "support"])):
        folder = root / "suites" / "classification" / name
        folder.mkdir(parents=True)
        (folder / "suite.yaml").write_text(text)
        for split, n in (("dev", 3), ("test", 4)):
            if split == "test" and not test_split:
                continue
            rows = [{"id": f"{split}-{i}", "text": f"{name} message {i}", "label": labels[i % len(labels)]}
                    for i in range(n)]
            (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    replies = root / "suites" / "classification" / "replies"
    (replies / "tone.txt").write_text("Be brief.\nNever guess.\n")
    (replies / "answer.schema.json").write_text(json.dumps(
        {"type": "object", "properties": {"label": {"enum": ["interested", "not_now", "unsubscribe"]}},
         "required": ["label"]}))
    for prompt, files in (("replies", {"chat.j2": REPLIES_CHAT, "base.j2": REPLIES_BASE}), ("inbox", {"default.j2": INBOX})):
        (root / "prompts" / prompt).mkdir(parents=True)
        for name, text in files.items():
            (root / "prompts" / prompt / name).write_text(text)
    (root / "reports").mkdir()
    return Project(root)


@pytest.fixture
def fixture_project(tmp_path: Path) -> Project:
    yield write_fixture(tmp_path / "proj")
    FakeProvider.reset()


async def test_a_suite_that_names_its_rule_supplies_schema_shots_labels_and_context(fixture_project):
    project = fixture_project
    evaluated = eval_requests(project, ["chat", "base"])
    router = load_router(project.policy_file, project.models_file, project.prompts_dir)
    client = Client(router)
    shape = {"task": "classification", "tags": ["reply"]}
    for model in ("chat", "base"):
        for i in range(4):
            sent, result = await runtime_request(client, shape, {"text": f"replies message {i}"}, model)
            assert (result.decision.rule, result.suite) == ("reply-intent", "replies")
            assert sent == evaluated[("replies", f"test-{i}", model)]
    chat, _ = await runtime_request(client, shape, {"text": "x"}, "chat")
    assert chat["json_schema"]["required"] == ["label"]  # the suite's schema, sent as response format
    assert chat["confidence"] is True  # a classification suite's request asks for the answer's confidence
    assert "Relay" in chat["messages"][0]["content"] and "Never guess." in chat["messages"][0]["content"]
    assert "replies message 0 => interested" in chat["messages"][1]["content"]  # the suite's shots
    # the shape-matched rule takes the suite that does not name another rule
    sent, result = await runtime_request(client, {"task": "classification"}, {"text": "inbox message 2"}, "chat")
    assert (result.decision.rule, result.suite) == ("triage", "inbox")
    assert sent == evaluated[("inbox", "test-2", "chat")]


async def test_a_rule_without_a_suite_gets_the_callers_inputs_and_says_so(fixture_project, caplog):
    router = load_router(fixture_project.policy_file, fixture_project.models_file, fixture_project.prompts_dir)
    client = Client(router)
    with caplog.at_level(logging.WARNING, logger="evals.client"):
        result = await client.complete({"task": "writing"}, {"labels": ["a"], "text": "hello"})
    assert result.ok and result.suite is None
    assert any("no suite" in n and "caller's inputs only" in n for n in result.notes)
    assert any("'notes' has no suite" in r.message for r in caplog.records)
    assert FakeProvider.calls[0].prompt.messages[0]["content"] == "Labels: a\nhello"


async def test_without_a_suite_the_descriptors_task_decides_whether_confidence_is_asked(fixture_project):
    shutil.rmtree(fixture_project.suites_dir / "classification" / "inbox")  # `triage` is left without a suite
    router = load_router(fixture_project.policy_file, fixture_project.models_file, fixture_project.prompts_dir)
    client = Client(router)
    try:
        classified, result = await runtime_request(client, {"task": "classification"}, {"text": "t", "labels": ["a"]},
                                                   "chat")
        assert (result.decision.rule, result.suite) == ("triage", None)
        written, result = await runtime_request(client, {"task": "writing"}, {"text": "t", "labels": []}, "chat")
        assert (result.decision.rule, result.suite) == ("notes", None)
    finally:
        await client.aclose()
    assert classified["confidence"] is True and "confidence" not in written


async def test_the_client_loads_no_examples(tmp_path):
    """Only the spec, shots, context files and schema are read: the suite's test split may not even exist."""
    project = write_fixture(tmp_path / "proj", test_split=False)
    router = load_router(project.policy_file, project.models_file, project.prompts_dir)
    result = await Client(router).complete({"task": "classification", "tags": ["reply"]}, {"text": "hi"})
    assert result.ok and result.suite == "replies"


def readme_client_example() -> str:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (block,) = [b for b in blocks if "from evals.client import" in b]
    return block


def test_the_readme_client_example_runs_as_written(tmp_path, monkeypatch, capsys):
    root = tmp_path / "shipped"
    for name in ("policies", "suites", "prompts"):
        shutil.copytree(REPO / name, root / name)
    monkeypatch.chdir(root)
    monkeypatch.setattr(providers_module, "default_registry", fake_everything)  # the fake behind every provider
    FakeProvider.reset(responder=lambda req: "We had 35 minutes of errors; about 900 emails moved to the fallback.")
    namespace: dict = {}
    exec(compile(readme_client_example(), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    result = namespace["result"]
    assert result.ok and result.model == "claude-sonnet-4-6" and result.suite == "founder-voice"
    (request,) = FakeProvider.calls
    system = request.prompt.messages[0]["content"]
    assert "Here are two things she wrote" in system and "---" in system  # the suite's style samples
    assert capsys.readouterr().out.startswith("claude-sonnet-4-6 founder-voice We had 35 minutes")
    log = [json.loads(line) for line in (root / "logs" / "routing.jsonl").read_text().splitlines()]
    assert [(r["rule"], r["suite"], r["outcome"]) for r in log] == [("founder-voice", "founder-voice", "ok")]
    FakeProvider.reset()


async def test_of_several_suites_for_a_rule_the_one_with_the_rules_prompt_supplies_the_inputs(fixture_project):
    """An older suite that names the rule but evaluated another prompt does not supply its inputs."""
    folder = fixture_project.suites_dir / "classification" / "archived"  # sorts before `replies`
    folder.mkdir()
    (folder / "suite.yaml").write_text(INBOX_SUITE.replace("name: inbox", "name: archived")
                                       + "rule: reply-intent\n")
    (folder / "dev.jsonl").write_text('{"id": "d", "text": "t", "label": "lead"}\n')
    router = load_router(fixture_project.policy_file, fixture_project.models_file, fixture_project.prompts_dir)
    result = await Client(router).complete({"task": "classification", "tags": ["reply"]}, {"text": "hi"})
    assert (result.decision.rule, result.suite) == ("reply-intent", "replies")
