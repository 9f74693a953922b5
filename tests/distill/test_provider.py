"""``provider: sklearn``: serves a distilled artifact in process, with its class probability, priced by busy time;
refuses an artifact it cannot trust before loading anything."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pydantic import ValidationError

from evals.config.models import ModelSpec
from evals.costs import response_cost
from evals.errors import ProviderUnavailable
from evals.distill import DistillOptions, distill
from evals.providers import GenerateRequest, availability, create_provider
from evals.providers.sklearn import MANIFEST_FILE, MODEL_FILE, file_sha256, request_text
from evals.requests import build_request, variant_for
from evals.runner.run import RunOptions, run
from evals.suites import open_suite
from tests.distill.conftest import add_model


@pytest.fixture
def artifact(mini) -> Path:
    return distill(mini, DistillOptions(suite="mini-triage", from_gold=True, out=mini.root / "models" / "v1")).folder


def spec(folder: Path, **extra) -> ModelSpec:
    data = {"id": "mini-distilled", "provider": "sklearn", "model": str(folder), "family": "sklearn",
            "context_window": 100000, "pricing": {"self_hosted": {"hourly_usd": 0.096}}, **extra}
    return ModelSpec(**data)


def requests(project, split="test"):
    suite = open_suite(project.suites_dir / "classification" / "mini-triage" / "suite.yaml", split=split)
    template = variant_for(project.prompts_dir, "mini", "mini-distilled", "sklearn")
    return [(ex, build_request(template, suite.variables(ex), suite.schema)) for ex in suite.examples]


async def test_it_answers_with_the_label_and_its_probability(mini, artifact):
    provider = create_provider(spec(artifact))
    ex, rendered = requests(mini)[0]
    response = await provider.generate(GenerateRequest(rendered))
    probs = provider.artifact.predict_proba([request_text(rendered)])[0]
    best = int(probs.argmax())
    assert response.ok and response.text == provider.artifact.classes[best]
    assert response.extra["confidence"] == float(probs[best])
    assert response.extra["probabilities"] == {c: round(float(p), 6) for c, p in zip(provider.artifact.classes, probs)}
    assert sum(response.extra["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert response.latency_ms > 0 and response.busy_ms == response.latency_ms and response.input_tokens is None
    cost = response_cost(provider.spec, response)
    assert cost.usd == pytest.approx(0.096 * response.busy_ms / 1000 / 3600)
    # a request asking for JSON gets the label as a JSON string
    as_json = await provider.generate(GenerateRequest(rendered.__class__(**{**rendered.__dict__, "json_output": True})))
    assert json.loads(as_json.text) == response.text
    assert provider.cache_identity()["artifact_sha256"] == file_sha256(artifact / MODEL_FILE)


def test_it_is_unavailable_with_the_reason_and_loads_nothing(mini, artifact, tmp_path, monkeypatch):
    import joblib

    def never(*args, **kwargs):
        raise AssertionError("a pickle was loaded before the artifact was checked")

    assert availability(spec(artifact)).ready
    monkeypatch.setattr(joblib, "load", never)
    missing = availability(spec(tmp_path / "nowhere"))
    assert not missing.ready and "distilled model not found" in missing.reason and "evals distill" in missing.reason

    tampered = tmp_path / "tampered"
    shutil.copytree(artifact, tampered)
    with open(tampered / MODEL_FILE, "ab") as fh:
        fh.write(b"\x00")
    state = availability(spec(tampered))
    assert not state.ready and "does not match the manifest" in state.reason

    pinned = availability(spec(artifact, options={"sha256": "0" * 64}))
    assert not pinned.ready and "not the one models.yaml pins" in pinned.reason
    assert availability(spec(artifact, options={"sha256": file_sha256(artifact / MODEL_FILE)})).ready

    newer = tmp_path / "newer"
    shutil.copytree(artifact, newer)
    manifest = json.loads((newer / MANIFEST_FILE).read_text())
    (newer / MANIFEST_FILE).write_text(json.dumps({**manifest, "format_version": 99}))
    assert "newer than this harness reads" in availability(spec(newer)).reason
    (newer / MANIFEST_FILE).write_text(json.dumps({**manifest, "kind": "something-else"}))
    assert "not an `evals distill` artifact" in availability(spec(newer)).reason
    (tampered / MODEL_FILE).unlink()
    assert "model file missing" in availability(spec(tampered)).reason

    api_priced = availability(spec(artifact, pricing={"tokens": {"input_per_mtok": 1, "output_per_mtok": 1}}))
    assert not api_priced.ready and "self_hosted" in api_priced.reason
    with pytest.raises(ValidationError, match="threads"):
        spec(artifact, options={"threads": 4})  # typed options: sha256 only
    with pytest.raises(ProviderUnavailable, match="not an `evals distill` artifact"):
        create_provider(spec(newer))


def test_a_run_scores_the_distilled_model_and_a_retrained_artifact_is_not_served_from_cache(mini, artifact):
    add_model(mini, f"""\
  - id: mini-distilled
    provider: sklearn
    model: {artifact}
    family: sklearn
    context_window: 100000
    pricing: {{self_hosted: {{hourly_usd: 0.096}}}}
""")
    first = run(mini, RunOptions(suites=["mini-triage"], models=["mini-distilled"]))
    rows = first.results
    assert len(rows) == 15 and rows["error"].isna().all() and rows["score"].notna().all()
    assert (rows["variant"] == "sklearn").all() and (rows["cost_usd"] > 0).all() and (rows["latency_ms"] > 0).all()
    assert rows["score"].mean() >= 0.6  # 3 labels: chance is 1/3
    again = run(mini, RunOptions(suites=["mini-triage"], models=["mini-distilled"]))
    assert again.results["cached"].all()
    # retrained into the same folder (another estimator): a new sha256, so a new cache identity, nothing replayed
    shutil.rmtree(artifact)
    distill(mini, DistillOptions(suite="mini-triage", from_gold=True, estimator="logreg", out=artifact))
    retrained = run(mini, RunOptions(suites=["mini-triage"], models=["mini-distilled"]))
    assert not retrained.results["cached"].any()
    assert set(retrained.results["cache_key"]).isdisjoint(first.results["cache_key"])
