"""A corpus of malformed inputs: each one exits 2 with exactly one stderr line naming the file (and line).

Every case starts from the valid project of :func:`tests.conftest.write_project`, breaks one thing, and
runs the real CLI entry point (``evals.cli.main.main``) in process, so that the 50-odd cases stay fast
enough for CI; a handful of them also run as real subprocesses to check that nothing differs there.
The 50 MB line is generated into the test's temporary folder, never committed.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from evals.cli.main import main
from evals.providers.fake import FakeProvider
from tests.conftest import run_cli, write_project

SUITE = Path("suites/classification/tiny-triage")
MODELS = Path("policies/models.yaml")
POLICY = Path("policies/current.yaml")
TEMPLATE = Path("prompts/tiny/default.j2")

GOOD_POLICY = """\
format_version: 1
rules:
  - id: triage
    when: {task: classification}
    model: fake-a
    prompt: tiny
    fallbacks: [fake-b]
default:
  model: fake-b
  prompt: tiny
"""

Mutation = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One malformed input: how to break the project, which file the error must name, and where."""

    id: str
    mutate: Mutation
    file: Path | None  # relative to the project root; None: no file to name (a bad flag)
    line: int | None = None  # the line the message must name, where the input has one
    contains: str = ""  # a word the message must contain (case-insensitive)
    args: tuple[str, ...] = ("validate",)  # "{root}" stands for the project folder
    cache: str | None = None  # EVALS_CACHE relative to the project (default: a fresh file outside it)


def replace(rel: Path | str, old: str, new: str, count: int = 1) -> Mutation:
    def mutate(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        assert old in text, f"corpus case out of date: {old!r} not in {rel}"
        path.write_text(text.replace(old, new, count))
    return mutate


def write(rel: Path | str, content: str | bytes) -> Mutation:
    def mutate(root: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return mutate


def remove(rel: Path | str) -> Mutation:
    return lambda root: (root / rel).unlink()


def both(*mutations: Mutation) -> Mutation:
    def mutate(root: Path) -> None:
        for m in mutations:
            m(root)
    return mutate


def set_data_line(number: int, text: str) -> Mutation:
    def mutate(root: Path) -> None:
        path = root / SUITE / "test.jsonl"
        lines = path.read_text().splitlines()
        lines[number - 1] = text
        path.write_text("\n".join(lines) + "\n")
    return mutate


def huge_line(root: Path) -> None:
    """A 50 MB JSONL line that is never closed, on line 2."""
    path = root / SUITE / "test.jsonl"
    lines = path.read_text().splitlines()
    with path.open("w") as out:
        out.write(lines[0] + "\n")
        out.write('{"id": "huge", "label": "lead", "text": "')
        chunk = "x" * (1 << 20)
        for _ in range(50):
            out.write(chunk)
        out.write("\n")
        out.write("\n".join(lines[1:]) + "\n")


def copy_suite(root: Path) -> None:
    shutil.copytree(root / SUITE, root / "suites" / "classification" / "tiny-copy")


D = SUITE / "test.jsonl"
S = SUITE / "suite.yaml"
T = TEMPLATE
RUN = Path("reports/20990101-000000-test")  # the run a case makes first, renamed so that it is `latest`


def with_run(then: Callable[[Path, Path], None]) -> Mutation:
    """Make a real run (fake models) under the fixed name RUN, then break it with ``then(root, folder)``."""
    def mutate(root: Path) -> None:
        FakeProvider.reset()
        assert main(["run", "--project", str(root)]) == 0
        (made,) = [p for p in (root / "reports").iterdir() if p.is_dir()]
        made.rename(root / RUN)
        then(root, root / RUN)
    return mutate


def truncate(name: str, size: int) -> Callable[[Path, Path], None]:
    def cut(root: Path, folder: Path) -> None:
        path = folder / name
        path.write_bytes(path.read_bytes()[:size])
    return cut


def parquet_version(name: str, version: bytes) -> Callable[[Path, Path], None]:
    def stamp(root: Path, folder: Path) -> None:
        import pyarrow.parquet as pq

        table = pq.read_table(folder / name)
        pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"evals_format_version": version}),
                       folder / name)
    return stamp


def run_file(name: str, content: str) -> Callable[[Path, Path], None]:
    return lambda root, folder: (folder / name).write_text(content)


def reports_replaced(kind: str) -> Mutation:
    def mutate(root: Path) -> None:
        shutil.rmtree(root / "reports")
        if kind == "file":
            (root / "reports").write_text("not a folder\n")
        else:
            (root / "reports").symlink_to(root / "gone")
    return mutate


def outside(rel: str, content: str) -> Mutation:
    """A file beside the project (outside it), for paths that try to reach it."""
    def mutate(root: Path) -> None:
        path = root.parent / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return mutate


def csv_data(content: str) -> Mutation:
    return both(write(SUITE / "test.csv", content), replace(S, "test: test.jsonl", "test: test.csv"))


def json_data(content: str) -> Mutation:
    return both(write(SUITE / "test.json", content), replace(S, "test: test.jsonl", "test: test.json"))


def copy_run_elsewhere(root: Path, folder: Path) -> None:
    shutil.copytree(folder, root / "elsewhere" / folder.name)


def block(body: str) -> Mutation:
    """The template's user block (line 5) replaced by ``body``."""
    return replace(T, "{{ text }}", body)


OUTSIDE_TEMPLATE = "{% block user %}{{ text }}{% endblock %}\n"

CASES: list[Case] = [
    # --- policies/models.yaml -------------------------------------------------------------------------
    Case("models-yaml-syntax", replace(MODELS, "  - id: fake-b", "  - id: [fake-b"), MODELS, 10, "YAML syntax"),
    Case("models-bad-indent", replace(MODELS, "    provider: fake\n", "      provider: fake\n"), MODELS, 4, "YAML"),
    Case("models-tab-indent", replace(MODELS, "    family: terse", "\tfamily: terse"), MODELS, 12, "YAML"),
    Case("models-unknown-key", replace(MODELS, "    family: terse\n", "    family: terse\n    temprature: 0\n"),
         MODELS, 13, "unknown key"),
    Case("models-unknown-top-key", replace(MODELS, "format_version: 1\n", "format_version: 1\nmodles: []\n"),
         MODELS, 2, "unknown key"),
    Case("models-wrong-type", replace(MODELS, "context_window: 4096", "context_window: lots"), MODELS, 7,
         "context_window"),
    Case("models-negative-window", replace(MODELS, "context_window: 4096", "context_window: -5"), MODELS, 7,
         "context_window"),
    Case("models-negative-price", replace(MODELS, "input_per_mtok: 1.0", "input_per_mtok: -1.0"), MODELS, 8,
         "input_per_mtok"),
    Case("models-negative-retries", replace(MODELS, "    family: chatty\n", "    family: chatty\n    max_retries: -1\n"),
         MODELS, 7, "max_retries"),
    Case("models-zero-timeout", replace(MODELS, "    family: chatty\n", "    family: chatty\n    timeout_s: 0\n"),
         MODELS, 7, "timeout_s"),
    Case("models-bad-provider", replace(MODELS, "provider: fake", "provider: skynet"), MODELS, 4, "provider"),
    Case("models-duplicate-key", replace(MODELS, "    family: chatty\n", "    family: chatty\n    family: again\n"),
         MODELS, 7, "duplicate key"),
    Case("models-duplicate-id", replace(MODELS, "id: fake-b", "id: fake-a"), MODELS, 2, "appears twice"),
    Case("models-empty-file", write(MODELS, ""), MODELS, None, "empty"),
    Case("models-comments-only", write(MODELS, "# nothing here\n"), MODELS, None, "empty"),
    Case("models-top-level-list", write(MODELS, "- id: fake-a\n  provider: fake\n"), MODELS, 1, ""),
    Case("models-top-level-scalar", write(MODELS, "just a string\n"), MODELS, 1, ""),
    Case("models-models-is-mapping", write(MODELS, "format_version: 1\nmodels:\n  fake-a: {provider: fake}\n"),
         MODELS, 2, "models"),
    Case("models-non-utf8", write(MODELS, b"format_version: 1\nmodels:\n  - id: caf\xe9\n"), MODELS, 3, "UTF-8"),
    Case("models-bad-id", replace(MODELS, "id: fake-b", "id: Fake B"), MODELS, 9, "id"),
    Case("models-two-pricings", replace(MODELS, "pricing: {self_hosted: {hourly_usd: 3.6}}",
                                        "pricing: {auto: true, self_hosted: {hourly_usd: 3.6}}"),
         MODELS, 14, "exactly one"),
    Case("models-missing-family", replace(MODELS, "    family: terse\n", ""), MODELS, 9, "family"),
    # --- suite.yaml -----------------------------------------------------------------------------------
    Case("suite-yaml-syntax", replace(S, "fields: {id: id,", "fields: {id: id"), S, 5, "YAML"),
    Case("suite-bad-task", replace(S, "task: classification", "task: poetry"), S, 2, "task"),
    Case("suite-unknown-key", replace(S, "prompt: tiny\n", "prompt: tiny\npromt: tiny\n"), S, 7, "unknown key"),
    Case("suite-duplicate-key", replace(S, "prompt: tiny\n", "prompt: tiny\nprompt: other\n"), S, 7, "duplicate"),
    Case("suite-empty-file", write(S, ""), S, None, "empty"),
    Case("suite-top-level-list", write(S, "- name: x\n"), S, 1, ""),
    Case("suite-missing-prompt-field", replace(S, "prompt: tiny\n", ""), S, None, "prompt"),
    Case("suite-floor-out-of-range", replace(S, "quality_floor: 0.5", "quality_floor: 1.5"), S, 12, "quality_floor"),
    Case("suite-negative-weekly-calls", replace(S, "quality_floor: 0.5", "quality_floor: 0.5\nweekly_calls: -10"),
         S, 13, "weekly_calls"),
    Case("suite-negative-context-tokens", replace(S, "context_tokens: 100", "context_tokens: -1"), S, 11,
         "context_tokens"),
    Case("suite-files-and-hub", replace(S, "  files: {dev: dev.jsonl, test: test.jsonl}\n",
                                        "  files: {dev: dev.jsonl, test: test.jsonl}\n  hub: someone/data\n"),
         S, 3, "exactly one"),
    Case("suite-files-wrong-type", replace(S, "  files: {dev: dev.jsonl, test: test.jsonl}", "  files: [dev.jsonl]"),
         S, 4, "files"),
    Case("suite-missing-data-file", replace(S, "test: test.jsonl", "test: missing.jsonl"), SUITE / "missing.jsonl",
         None, "not found"),
    Case("suite-unsupported-data-format", both(replace(S, "test: test.jsonl", "test: test.txt"),
                                                write(SUITE / "test.txt", "hello\n")),
         SUITE / "test.txt", None, "unsupported"),
    Case("suite-unknown-scorer", replace(S, "  name: classification", "  name: vibes"), S, None, "scorer"),
    Case("suite-bad-scorer-settings", replace(S, "settings: {labels: [lead, support]}",
                                              "settings: {labels: [lead, support], colour: red}"), S, None,
         "scorer.settings"),
    Case("suite-schema-invalid-json", both(replace(S, "quality_floor: 0.5", "quality_floor: 0.5\nschema: s.json"),
                                            write(SUITE / "s.json", '{"type": "object",\n  "properties": {,}}\n')),
         SUITE / "s.json", 2, "invalid JSON"),
    Case("suite-schema-missing", replace(S, "quality_floor: 0.5", "quality_floor: 0.5\nschema: nope.json"),
         SUITE / "nope.json", None, "not found"),
    Case("suite-context-file-missing", replace(S, "quality_floor: 0.5",
                                               "quality_floor: 0.5\ncontext_files: {notes: {file: notes.txt}}"),
         S, None, "context file"),
    Case("suite-few-shot-unknown-id", replace(S, "quality_floor: 0.5",
                                              "quality_floor: 0.5\nfew_shot: {split: dev, ids: [nope]}"),
         S, None, "few-shot"),
    Case("suite-few-shot-zero", replace(S, "quality_floor: 0.5", "quality_floor: 0.5\nfew_shot: {n: 0}"), S, 13, "n"),
    Case("suite-duplicate-name", copy_suite, S, None, "also used"),
    Case("suite-non-utf8", write(S, b"name: tiny\xff\n"), S, 1, "UTF-8"),
    # --- suite data -----------------------------------------------------------------------------------
    Case("data-bad-jsonl-line", set_data_line(3, '{"id": "broken", "text": "oops"'), D, 3, "invalid JSON"),
    Case("data-line-not-object", set_data_line(4, '["a", "list"]'), D, 4, "JSON object"),
    Case("data-missing-gold", set_data_line(2, '{"id": "no-gold", "text": "hi"}'), D, 2, "label"),
    Case("data-missing-input", set_data_line(5, '{"id": "no-text", "label": "lead"}'), D, 5, "text"),
    Case("data-duplicate-id", set_data_line(2, '{"id": "test-0", "text": "again", "label": "lead"}'), D, 2,
         "duplicate"),
    Case("data-non-utf8", write(D, b'{"id": "a", "text": "ok", "label": "lead"}\n{"id": "b", "text": "\xc3\x28"}\n'),
         D, 2, "UTF-8"),
    Case("data-50mb-line", huge_line, D, 2, "invalid JSON"),
    # --- prompt templates -----------------------------------------------------------------------------
    Case("template-syntax-error", replace(T, "{{ text }}", "{{ text }"), T, 5, "syntax"),
    Case("template-unclosed-block", replace(T, "{% endblock %}\n{% block user %}", "\n{% block user %}"), T, 6,
         "syntax"),
    Case("template-undefined-variable", replace(T, "{{ text }}", "{{ txet }}"), T, 5, "txet"),
    Case("template-header-unclosed", write(T, "---\nmax_tokens: 5\n{% block user %}{{ text }}{% endblock %}\n"),
         T, 1, "never closed"),
    Case("template-header-unknown-key", replace(T, "max_tokens: 5", "max_tokns: 5"), T, 2, "unknown key"),
    Case("template-header-negative", replace(T, "max_tokens: 5", "max_tokens: -5"), T, 2, "max_tokens"),
    Case("template-header-yaml-syntax", replace(T, "max_tokens: 5", "max_tokens: [5"), T, None, "YAML"),
    Case("template-no-blocks", write(T, "Just text, {{ text }}\n"), T, None, "block"),
    Case("template-both-kinds", write(T, "{% block prompt %}a{% endblock %}{% block user %}b{% endblock %}\n"),
         T, None, "either"),
    Case("template-non-utf8", write(T, b"{% block user %}caf\xe9{% endblock %}\n"), T, 1, "UTF-8"),
    Case("template-sandbox-escape", replace(T, "{{ text }}", "{{ text.__class__.__mro__[1].__subclasses__() }}"),
         T, 5, ""),
    Case("template-missing-variant", both(remove(T), remove(Path("prompts/tiny/terse.j2")),
                                          write(Path("prompts/tiny/other.j2"), "{% block user %}x{% endblock %}")),
         Path("prompts/tiny"), None, "no variant"),
    Case("template-prompt-folder-missing", replace(S, "prompt: tiny", "prompt: nosuch"), Path("prompts/nosuch"),
         None, "not found"),
    Case("template-json-schema-invalid", both(
        replace(T, "max_tokens: 5", "max_tokens: 5\njson_output: true\njson_schema: bad.json"),
        write(Path("prompts/tiny/bad.json"), "{\n  \"type\": oops\n}\n")),
         Path("prompts/tiny/bad.json"), 2, "invalid JSON"),
    # --- policies/current.yaml ------------------------------------------------------------------------
    Case("policy-unknown-model", write(POLICY, GOOD_POLICY.replace("model: fake-a", "model: gpt-9")), POLICY, 5,
         "unknown model"),
    Case("policy-unknown-fallback", write(POLICY, GOOD_POLICY.replace("fallbacks: [fake-b]", "fallbacks: [nope]")),
         POLICY, 7, "unknown model"),
    Case("policy-missing-default", write(POLICY, GOOD_POLICY.split("default:")[0]), POLICY, 7, "default"),
    Case("policy-duplicate-rule-id", write(POLICY, GOOD_POLICY.replace(
        "default:", "  - id: triage\n    model: fake-b\ndefault:")), POLICY, 2, "appears twice"),
    Case("policy-range-reversed", write(POLICY, GOOD_POLICY.replace(
        "when: {task: classification}", "when: {task: classification, context_tokens: {min: 10, max: 1}}")),
         POLICY, 4, "greater than"),
    Case("policy-bad-volume", write(POLICY, GOOD_POLICY.replace(
        "when: {task: classification}", "when: {volume: huge}")), POLICY, 4, "volume"),
    Case("policy-fallback-cycle", write(POLICY, GOOD_POLICY.replace("fallbacks: [fake-b]", "fallbacks: [fake-b, fake-a]")),
         POLICY, 7, "cycle"),
    Case("policy-duplicate-fallback", write(POLICY, GOOD_POLICY.replace("fallbacks: [fake-b]",
                                                                        "fallbacks: [fake-b, fake-b]")),
         POLICY, 7, "repeats"),
    Case("policy-shadowed-rule", write(POLICY, GOOD_POLICY.replace("default:", (
        "  - id: tagged\n    when: {task: classification, tags: [vip]}\n    model: fake-b\ndefault:"))),
         POLICY, 9, "never matches"),
    Case("policy-context-window-too-small", write(POLICY, GOOD_POLICY.replace(
        "when: {task: classification}", "when: {task: classification, context_tokens: {max: 100000}}")),
         POLICY, 5, "context window"),
    Case("policy-rules-not-list", write(POLICY, "rules: {a: 1}\ndefault: {model: fake-a}\n"), POLICY, 1, "rules"),
    # --- command-line usage (no file to name) ---------------------------------------------------------
    Case("run-unknown-model", lambda root: None, None, None, "unknown model", ("run", "--models", "gpt-9")),
    Case("run-unknown-suite", lambda root: None, None, None, "unknown suite", ("run", "--suites", "nope")),
    Case("run-bad-split", lambda root: None, S, None, "split", ("run", "--split", "validation")),
    Case("run-zero-concurrency", lambda root: None, None, None, "at least 1", ("run", "--concurrency", "0")),
    Case("run-negative-limit", lambda root: None, None, None, "at least 1", ("run", "--limit", "-3")),
    Case("run-bad-template-stops-before-calls", replace(T, "{{ text }}", "{{ txet }}"), T, 5, "txet", ("run",)),
    # --- issue 17 item 4: what used to be a traceback -------------------------------------------------
    Case("template-divide-by-zero", block("{{ 1/0 }}"), T, 5, "ZeroDivisionError"),
    Case("template-divide-by-zero-run", block("{{ 1/0 }}"), T, 5, "ZeroDivisionError", ("run",)),
    Case("template-huge-range", block("{% for i in range(10**9) %}x{% endfor %}"), T, 5, "range"),
    Case("template-nested-loops", block("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}"
                                        "{% endfor %}"), T, 5, "loop iterations"),
    Case("template-recursive-macro", block("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"), T, 5, "nested"),
    Case("template-huge-repetition", block('{{ "x" * 10**9 }}'), T, 5, "repetition"),
    Case("template-doubling-string", block('{% set ns = namespace(s="x") %}{% for i in range(60) %}'
                                           '{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}'), T, 5, "longer than"),
    Case("template-wide-format", block('{{ "%9999999999d" % 1 }}'), T, 5, "format width"),
    Case("template-wide-padding", block('{{ "x"|center(999999999) }}'), T, 5, "center"),
    Case("template-huge-power", block("{{ 2 ** 10000000 }}"), T, 5, "power"),
    Case("template-huge-output", block('{% for i in range(99999) %}{{ "y" * 99 }}{% endfor %}'), T, 5,
         "renders more than"),
    Case("artifact-corrupt-manifest", with_run(run_file("manifest.json", '{"format_version": 1,\n')),
         RUN / "manifest.json", 2, "corrupt manifest", ("report",)),
    Case("artifact-manifest-not-object", with_run(run_file("manifest.json", "[1, 2]\n")),
         RUN / "manifest.json", 1, "JSON object", ("report",)),
    Case("artifact-truncated-results", with_run(truncate("results.parquet", 300)), RUN / "results.parquet", None,
         "Parquet", ("report",)),
    Case("artifact-results-version-v2", with_run(parquet_version("results.parquet", b"v2")),
         RUN / "results.parquet", None, "'v2'", ("report",)),
    Case("artifact-results-newer", with_run(parquet_version("results.parquet", b"99")),
         RUN / "results.parquet", None, "newer", ("report",)),
    Case("artifact-truncated-results-recommend", with_run(truncate("results.parquet", 300)),
         RUN / "results.parquet", None, "Parquet", ("recommend",)),
    Case("cache-is-a-folder", lambda root: (root / "cachedir").mkdir(), Path("cachedir"), None, "folder", ("run",),
         cache="cachedir"),
    Case("cache-not-sqlite", write("notdb", "just some text, not a database\n" * 200), Path("notdb"), None,
         "not a response cache", ("run",), cache="notdb"),
    Case("reports-is-a-file", reports_replaced("file"), Path("reports"), None, "is a file", ("run",)),
    Case("reports-dangling-symlink", reports_replaced("symlink"), Path("reports"), None, "symbolic link", ("run",)),
    Case("gate-junit-unwritable", lambda root: None, Path("policies/models.yaml/gate.xml"), None, "is a file",
         ("gate", "--junit", "{root}/policies/models.yaml/gate.xml")),
    # --- issue 17 item 5: what used to be accepted silently (or said vaguely) --------------------------
    Case("models-newer-format", replace(MODELS, "format_version: 1", "format_version: 99"), MODELS, 1, "99"),
    Case("policy-newer-format", write(POLICY, GOOD_POLICY.replace("format_version: 1", "format_version: 7")),
         POLICY, 1, "7 is newer"),
    Case("gate-settings-newer-format", write("policies/gate.yaml", "format_version: 3\n"),
         Path("policies/gate.yaml"), 1, "3 is newer"),
    Case("models-bool-as-int", replace(MODELS, "context_window: 4096", "context_window: true"), MODELS, 7,
         "booleans are not numbers"),
    Case("models-bool-retries", replace(MODELS, "    family: chatty\n", "    family: chatty\n    max_retries: false\n"),
         MODELS, 7, "max_retries"),
    Case("models-string-as-int", replace(MODELS, "context_window: 4096", 'context_window: "4096"'), MODELS, 7,
         "integer"),
    Case("models-bool-price", replace(MODELS, "input_per_mtok: 1.0", "input_per_mtok: true"), MODELS, 8,
         "input_per_mtok"),
    Case("models-options-bool-delay", replace(MODELS, "    family: chatty\n", "    family: chatty\n"
                                                    "    options: {delay_s: true}\n"), MODELS, 7, "delay_s"),
    Case("template-header-bool-max-tokens", replace(T, "max_tokens: 5", "max_tokens: true"), T, 2, "max_tokens"),
    Case("template-header-string-bool", replace(T, "max_tokens: 5", 'max_tokens: 5\njson_output: "true"'), T, 3,
         "json_output"),
    Case("suite-bool-floor", replace(S, "quality_floor: 0.5", "quality_floor: true"), S, 12, "quality_floor"),
    Case("policy-bool-latency", write(POLICY, GOOD_POLICY.replace("    model: fake-a\n",
                                                                  "    model: fake-a\n    require: {p95_latency_ms: true}\n")),
         POLICY, 6, "p95_latency_ms"),
    Case("data-null-id", set_data_line(1, '{"id": null, "text": "hi", "label": "lead"}'), D, 1, "null"),
    Case("data-float-id", write(D, '{"id": 1.5, "text": "hi", "label": "lead"}\n{"id": 2.5, "text": "x", "label": "lead"}\n'),
         D, 1, "string or an integer"),
    Case("data-bool-id", write(D, '{"id": true, "text": "hi", "label": "lead"}\n'), D, 1, "string or an integer"),
    Case("data-mixed-id", set_data_line(2, '{"id": 7, "text": "hi", "label": "lead"}'), D, 2, "id: a number here"),
    Case("data-empty-split", write(D, ""), D, None, "no examples"),
    Case("data-empty-split-run", write(D, "\n\n"), D, None, "no examples", ("run",)),
    Case("run-models-comma", lambda root: None, None, None, "names nothing", ("run", "--models", ",")),
    Case("run-suites-blank", lambda root: None, None, None, "names nothing", ("run", "--suites", " , ")),
    Case("recommend-negative-tolerance", lambda root: None, None, None, "--tolerance", ("recommend", "--tolerance", "-1")),
    Case("recommend-tolerance-above-one", lambda root: None, None, None, "--tolerance", ("recommend", "--tolerance", "2")),
    Case("recommend-negative-min-examples", lambda root: None, None, None, "--min-examples",
         ("recommend", "--min-examples", "-5")),
    Case("template-extends", write(T, '{% extends "base.j2" %}\n{% block user %}{{ text }}{% endblock %}\n'), T, 1,
         "extends"),
    Case("template-include", write(T, '{% block user %}\n{% include "terse.j2" %}{% endblock %}\n'), T, 2, "include"),
    Case("template-import", write(T, '{% import "terse.j2" as t %}\n{% block user %}x{% endblock %}\n'), T, 1,
         "import"),
    Case("suite-prompt-outside", both(outside("outside/default.j2", OUTSIDE_TEMPLATE),
                                      replace(S, "prompt: tiny", "prompt: ../../outside")), S, 6, "not by a path"),
    Case("suite-data-outside", both(outside("elsewhere.jsonl", '{"id": "a", "text": "t", "label": "lead"}\n'),
                                    replace(S, "test: test.jsonl", "test: ../../../../elsewhere.jsonl")), S, 4,
         "outside the project"),
    Case("suite-data-absolute", both(outside("elsewhere.jsonl", '{"id": "a", "text": "t", "label": "lead"}\n'),
                                     lambda root: replace(S, "test: test.jsonl", f"test: {root.parent}/elsewhere.jsonl")(root)),
         S, 4, "outside the project"),
    Case("suite-schema-outside", both(outside("s.json", "{}"),
                                      replace(S, "quality_floor: 0.5", "quality_floor: 0.5\nschema: ../../../../s.json")),
         S, 13, "outside the project"),
    Case("suite-context-outside", both(outside("notes.txt", "a note\n"), replace(
        S, "quality_floor: 0.5", "quality_floor: 0.5\ncontext_files: {notes: {file: ../../../../notes.txt}}")), S, 13,
         "outside the project"),
    Case("template-schema-outside", both(outside("s.json", "{}"), replace(
        T, "max_tokens: 5", "max_tokens: 5\njson_output: true\njson_schema: ../../../s.json")), T, None,
         "outside the project"),
    Case("template-folder-links-outside", both(outside("outside/default.j2", OUTSIDE_TEMPLATE),
                                               lambda root: (root / "prompts" / "tiny-out").symlink_to(root.parent / "outside"),
                                               replace(S, "prompt: tiny", "prompt: tiny-out")),
         Path("prompts/tiny-out"), None, "outside"),
    Case("policy-prompt-path", write(POLICY, GOOD_POLICY.replace("    prompt: tiny\n", "    prompt: ../tiny\n")),
         POLICY, 6, "not by a path"),
    Case("report-outside-reports", with_run(copy_run_elsewhere), RUN.relative_to("reports").parent / "elsewhere" / RUN.name,
         None, "--out", ("report", "{root}/elsewhere/" + RUN.name)),
    Case("data-mixed-type-jsonl", set_data_line(3, '{"id": "x", "text": 5, "label": "lead"}'), D, 3, "text"),
    Case("data-mixed-nested-jsonl", set_data_line(4, '{"id": "y", "text": ["a", 1], "label": "lead"}'), D, 4, "a list"),
    Case("data-csv-extra-field", csv_data("id,text,label\na,hi,lead\nc,x,lead,z\n"), SUITE / "test.csv", 3, "fields"),
    Case("data-csv-unclosed-quote", csv_data('id,text,label\na,hi,lead\nb,"never closed,lead\nc,x,lead\n'),
         SUITE / "test.csv", 3, "quote"),
    Case("data-json-invalid", json_data('[{"id": "a", "text": "t", "label": "lead"},\n {"id": "b"},]\n'),
         SUITE / "test.json", 2, "invalid JSON"),
    Case("data-json-mixed-type", json_data('[{"id": "a", "text": "t", "label": "lead"},\n'
                                           ' {"id": "b", "text": 5, "label": "lead"}]\n'), SUITE / "test.json", 2, "text"),
    Case("data-json-not-objects", json_data('[{"id": "a", "text": "t", "label": "lead"},\n 7]\n'),
         SUITE / "test.json", 2, "not a JSON object"),
    # --- issue 17 item 9: a policy the runtime cannot serve ---------------------------------------------
    Case("policy-default-without-prompt", write(POLICY, GOOD_POLICY.replace("fake-b\n  prompt: tiny\n", "fake-b\n")), POLICY, 8,
         "names no prompt"),
    Case("policy-rule-without-prompt", write(POLICY, GOOD_POLICY.replace("    prompt: tiny\n", "")), POLICY, 3,
         "names no prompt"),
    Case("policy-prompt-without-variant", write(POLICY, GOOD_POLICY.replace("fake-b\n  prompt: tiny\n",
                                                                             "fake-b\n  prompt: nosuch\n")),
         POLICY, 10, "cannot serve"),
]


def test_corpus_is_large_enough():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


def _check(case: Case, root: Path, code: int, stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert code == 2, f"exit {code}, stderr: {stderr[-2000:]}"
    assert len(lines) == 1, f"expected one line, got {len(lines)}: {stderr[-2000:]}"
    line = lines[0]
    assert line.startswith("error: ")
    assert len(line) < 1000, "the message must not echo the input"
    if case.file is not None:
        where = str(root / case.file)
        expected = f"{where}:{case.line}:" if case.line is not None else f"{where}:"
        assert expected in line, f"expected {expected!r} in {line!r}"
    if case.contains:
        assert case.contains.lower() in line.lower(), line


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_one_line_exit_2(case: Case, tmp_path, monkeypatch, capsys):
    root = tmp_path / "proj"
    write_project(root)
    (root / POLICY).write_text(GOOD_POLICY)
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    case.mutate(root)
    if case.cache is not None:
        monkeypatch.setenv("EVALS_CACHE", str(root / case.cache))
    FakeProvider.reset()
    capsys.readouterr()
    before = _snapshot(root)
    with pytest.raises(SystemExit) as info:
        main([*(a.format(root=root) for a in case.args), "--project", str(root)])
    captured = capsys.readouterr()
    _check(case, root, info.value.code, captured.err)
    if case.args[0] == "run":
        assert not FakeProvider.calls, "a bad input must stop the run before any model is called"
        assert not list(root.glob("reports/*/results.parquet")) or case.id.startswith("artifact")
    assert _snapshot(root) == before, "nothing may be written (or half-written) by a command that fails"


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the project, except the response cache (opening it may add its journal)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".evals-cache" not in p.parts and not p.name.startswith("cache.sqlite")}


def test_corpus_baseline_is_valid(tmp_path, monkeypatch, capsys):
    """The unbroken project passes, so every failure above comes from its one mutation."""
    root = tmp_path / "proj"
    write_project(root)
    (root / POLICY).write_text(GOOD_POLICY)
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    assert main(["validate", "--project", str(root)]) == 0
    assert "policy ok" in capsys.readouterr().out


SUBPROCESS_CASES = ["models-unknown-key", "data-50mb-line", "data-non-utf8", "template-syntax-error"]


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_input_real_subprocess(case_id, tmp_path):
    """The console entry point in a fresh interpreter behaves the same as in process."""
    case = next(c for c in CASES if c.id == case_id)
    root = tmp_path / "proj"
    write_project(root)
    case.mutate(root)
    result = run_cli(*case.args, "--project", str(root), cwd=tmp_path,
                     env={"EVALS_CACHE": str(tmp_path / "cache.sqlite")}, timeout=120)
    _check(case, root, result.returncode, result.stderr)


def test_data_json_is_reported_once(tmp_path, capsys):
    """A bad JSONL line is named by its line number even when earlier lines are blank."""
    root = tmp_path / "proj"
    write_project(root)
    path = root / D
    rows = path.read_text().splitlines()
    path.write_text("\n\n" + rows[0] + "\n" + "{oops\n" + "\n".join(rows[1:]) + "\n")
    with pytest.raises(SystemExit):
        main(["validate", "--project", str(root)])
    err = capsys.readouterr().err
    assert f"{path}:4:" in err


def test_a_byte_order_mark_keeps_the_template_header(tmp_path, monkeypatch, capsys):
    """A template saved with a UTF-8 BOM keeps its header: max_tokens 5 is sent, not the default 256."""
    root = tmp_path / "proj"
    write_project(root)
    path = root / TEMPLATE
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    capsys.readouterr()
    assert main(["render", "--project", str(root), "--suite", "tiny-triage", "--model", "fake-a",
                 "--example", "test-0", "--json"]) == 0
    request = json.loads(capsys.readouterr().out)["request"]
    assert request["max_tokens"] == 5


def test_a_byte_order_mark_in_yaml_and_jsonl_is_not_content(tmp_path, monkeypatch, capsys):
    root = tmp_path / "proj"
    write_project(root)
    (root / POLICY).write_text(GOOD_POLICY)
    for rel in (MODELS, S, D):
        (root / rel).write_bytes(b"\xef\xbb\xbf" + (root / rel).read_bytes())
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    assert main(["validate", "--project", str(root)]) == 0
    assert "tiny-triage dev 2, test 6" in capsys.readouterr().out


def test_a_default_no_call_reaches_needs_no_prompt(tmp_path, monkeypatch, capsys):
    """A last rule that catches everything makes the default unreachable: its missing prompt is fine."""
    root = tmp_path / "proj"
    write_project(root)
    (root / POLICY).write_text(GOOD_POLICY.replace("default:\n  model: fake-b\n  prompt: tiny\n",
                                                   "  - id: rest\n    model: fake-b\n    prompt: tiny\n"
                                                   "default:\n  model: fake-b\n"))
    monkeypatch.setenv("EVALS_CACHE", str(tmp_path / "cache.sqlite"))
    assert main(["validate", "--project", str(root)]) == 0
    assert "policy ok" in capsys.readouterr().out


def test_scorer_settings_are_as_strict_as_the_rest_of_suite_yaml(tmp_path):
    """``fuzzy_threshold: true`` is not 1.0 (a lax model read it so)."""
    from types import SimpleNamespace

    from evals.errors import ConfigError
    from evals.scorers.extraction import ExtractionScorer

    suite = SimpleNamespace(spec=SimpleNamespace(scorer=SimpleNamespace(settings={"fuzzy_threshold": True})),
                            path=tmp_path / "suite.yaml")
    with pytest.raises(ConfigError, match="scorer.settings.fuzzy_threshold"):
        ExtractionScorer.from_suite(suite)
