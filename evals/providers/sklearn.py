"""A distilled classifier in process (``provider: sklearn``): the artifact ``evals distill`` writes.

In models.yaml, ``model`` is the artifact folder (a relative path is read from the project root when
``evals run``, ``evals models`` and the runtime :class:`evals.client.Client` load it,
:func:`evals.distill.ensure.resolve_artifacts`; a spec made by hand elsewhere reads it from the working
directory); ``options.sha256`` may pin the model file's sha256, so that only the
artifact a reviewer saw is ever loaded; ``options.distill`` (a recipe: suite, split) lets ``evals run``
build the artifact when it is missing and rebuild it when its training data changed
(:mod:`evals.distill.ensure`). The model is a candidate only on the suite it was distilled for
(:meth:`SklearnProvider.serves`). Price it like any local model,
``pricing: {self_hosted: {hourly_usd: ...}}``: a call costs the hourly rate times its measured busy
time (the prediction's wall time).

**What it reads.** The provider gets the same rendered request as any model (built by
:func:`evals.requests.build_request` from the model's prompt variant) and classifies
:func:`request_text` of it: the last user message of a chat request, else the completion prompt.
``evals distill`` trains on :func:`request_text` of the very same variant, so training and serving
see the same text. Give the suite's prompt a variant for the model's family (``sklearn.j2`` for
``family: sklearn``) that renders only the example's input (for inbox triage: from, subject, body);
without one the model falls back to ``default.j2`` and learns the instructions as words too.

**What it answers.** The label (JSON-quoted when the request asks for JSON output), with
``response.extra["confidence"]``: the calibrated probability of that label, and
``response.extra["probabilities"]``: every label's. Latency and busy time are the prediction's.

**Trust.** ``model.joblib`` is a pickle: loading it runs code. Only load artifacts you (or your own
CI) made. Before loading, the provider checks that the file's sha256 equals the manifest's
``model_sha256`` (and ``options.sha256`` when given); a missing artifact, a newer format or a
mismatch makes the model unavailable with the reason, and nothing is loaded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from evals.config.models import ModelSpec
from evals.errors import ProviderUnavailable
from evals.prompts import RenderedPrompt
from evals.providers.base import GenerateRequest, GenerateResponse, Provider

ARTIFACT_FORMAT = 1
ARTIFACT_KIND = "evals-distilled-classifier"
MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.joblib"

# One thread for every prediction: the model is CPU-bound, and the event loop stays free while it works.
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sklearn")


def request_text(prompt: RenderedPrompt) -> str:
    """The text a distilled classifier reads from a request: the last user message, else the prompt.

    >>> request_text(RenderedPrompt(({"role": "system", "content": "sort"}, {"role": "user", "content": "hi"}), None, 5, 0.0))
    'hi'
    >>> request_text(RenderedPrompt(None, "Subject: x", 5, 0.0))
    'Subject: x'
    """
    if prompt.messages is None:
        return prompt.prompt or ""
    users = [m["content"] for m in prompt.messages if m.get("role") == "user"]
    return users[-1] if users else ""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_artifact(folder: Path, pinned_sha256: str | None = None) -> dict[str, Any]:
    """The artifact's manifest after checking it may be loaded; raises :class:`ProviderUnavailable` with the
    reason (no folder, no manifest, a newer format, no model file, a sha256 that does not match)."""
    folder = Path(folder).expanduser()
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ProviderUnavailable(f"distilled model not found: {manifest_path} does not exist "
                                  "(write one with `evals distill`)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ProviderUnavailable(f"{manifest_path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != ARTIFACT_KIND:
        raise ProviderUnavailable(f"{manifest_path}: not an `evals distill` artifact (kind {ARTIFACT_KIND!r} expected)")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > ARTIFACT_FORMAT:
        raise ProviderUnavailable(f"{manifest_path}: artifact format {version} is newer than this harness reads "
                                  f"({ARTIFACT_FORMAT}); upgrade portfolio-evals")
    model_path = folder / MODEL_FILE
    if not model_path.is_file():
        raise ProviderUnavailable(f"distilled model file missing: {model_path}")
    actual = file_sha256(model_path)
    if actual != manifest.get("model_sha256"):
        raise ProviderUnavailable(f"{model_path}: sha256 {actual[:12]}... does not match the manifest's "
                                  f"{str(manifest.get('model_sha256'))[:12]}...; the file changed after training, "
                                  "refusing to load it")
    if pinned_sha256 is not None and actual != pinned_sha256:
        raise ProviderUnavailable(f"{model_path}: sha256 {actual[:12]}... is not the one models.yaml pins "
                                  f"(options.sha256 {pinned_sha256[:12]}...); refusing to load it")
    return manifest


@dataclass(frozen=True)
class Artifact:
    """A loaded distilled classifier: its folder, manifest and fitted scikit-learn pipeline."""

    folder: Path
    manifest: dict[str, Any]
    pipeline: Any

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.pipeline.classes_]

    def predict_proba(self, texts: list[str]) -> Any:
        """Class probabilities, one row per text, columns in :attr:`classes` order."""
        return self.pipeline.predict_proba(texts)


def load_artifact(folder: Path, pinned_sha256: str | None = None) -> Artifact:
    """Check (:func:`check_artifact`) and load an artifact. The pickle is loaded only after the check."""
    manifest = check_artifact(folder, pinned_sha256)
    import joblib

    return Artifact(Path(folder).expanduser(), manifest, joblib.load(Path(folder).expanduser() / MODEL_FILE))


def _pinned(spec: ModelSpec) -> str | None:
    """``options.sha256`` (:class:`evals.config.models.SklearnOptions`), where models.yaml pins one."""
    return getattr(spec.options, "sha256", None)


def artifact_path(spec: ModelSpec) -> Path:
    """The artifact folder of ``spec``: ``model``, a relative path read from the project root once
    :func:`evals.distill.ensure.resolve_artifacts` set it, else from the working directory."""
    path = Path(spec.model).expanduser()
    root = getattr(spec.options, "_root", None)
    return path if path.is_absolute() or root is None else Path(root) / path


def recipe_text(spec: ModelSpec) -> str | None:
    """How ``evals run`` builds a missing artifact, in words (None without an ``options.distill`` recipe)."""
    recipe = getattr(spec.options, "distill", None)
    if recipe is None:
        return None
    return f"the gold labels of {recipe.suite}/{recipe.split}"


class SklearnProvider(Provider):
    """Answers classification requests with a distilled scikit-learn classifier (see the module docstring)."""

    name: ClassVar[str] = "sklearn"
    supports_completion: ClassVar[bool] = True
    max_parallel: ClassVar[int | None] = 1

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.artifact = load_artifact(artifact_path(spec), _pinned(spec))

    @classmethod
    def unavailable_reason(cls, spec: ModelSpec) -> str | None:
        if spec.pricing.self_hosted is None:
            return ("a distilled model runs here: price it by the machine's hour, "
                    "pricing: {self_hosted: {hourly_usd: ...}}")
        failed = getattr(spec.options, "_build_error", None)
        if failed is not None:
            return failed
        folder = artifact_path(spec)
        recipe = recipe_text(spec)
        if recipe is not None and not (folder / MANIFEST_FILE).is_file():
            return (f"not built yet: {folder} does not exist; the next `evals run` of "
                    f"{spec.options.distill.suite} distils it from {recipe}")
        try:
            check_artifact(folder, _pinned(spec))
        except ProviderUnavailable as exc:
            return str(exc)
        return None

    def serves(self, suite: str) -> bool:
        """Only the suite it was distilled for (its labels mean nothing elsewhere)."""
        return suite == (self.artifact.manifest.get("suite") or {}).get("name")

    def cache_identity(self) -> dict[str, Any]:
        """The spec's identity plus the model file's sha256: a retrained artifact never replays old answers."""
        return {**super().cache_identity(), "artifact_sha256": self.artifact.manifest["model_sha256"]}

    def _predict(self, prompt: RenderedPrompt) -> GenerateResponse:
        text = request_text(prompt)
        start = time.perf_counter()
        probs = self.artifact.predict_proba([text])[0]
        elapsed_ms = (time.perf_counter() - start) * 1000
        classes = self.artifact.classes
        best = int(probs.argmax())
        label = classes[best]
        return GenerateResponse(
            text=json.dumps(label) if prompt.json_output else label,
            latency_ms=elapsed_ms,
            busy_ms=elapsed_ms,
            finish_reason="stop",
            raw_model=self.artifact.folder.name,
            extra={"confidence": float(probs[best]),
                   "probabilities": {c: round(float(p), 6) for c, p in zip(classes, probs)}},
        )

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, self._predict, request.prompt)
