"""In-process batch generation with ``vllm.LLM`` on a GPU box (extra ``vllm``).

``model`` is a Hugging Face model id or a local folder. ``options`` in models.yaml
(:class:`~evals.config.models.VllmOptions`) go to ``vllm.LLM`` (for example ``tensor_parallel_size``,
``max_model_len``, ``gpu_memory_utilization``, ``dtype``, ``seed``; any other engine argument under
``engine_args``), except ``batch_size`` (most requests per engine call, default 256) and
``batch_wait_s`` (how long to gather requests before a call, default 0.05), the only two left out of
the cache key.

Calls from the runner arrive one by one; they are gathered into one ``LLM.chat`` / ``LLM.generate``
call per batch so the engine's continuous batching does the work. JSON output uses vLLM's structured
outputs (``StructuredOutputsParams``, or ``GuidedDecodingParams`` on older vLLM releases). A request with
tools (a ``tool_call`` suite) is constrained the same way to one call object
(:func:`evals.tool_calls.call_object_schema`) and read back into ``tool_calls``, as in the llama-cpp
provider; a vLLM *server* answers native ``tools`` instead (provider ``openai-compatible``).

Confidence (a classification request, :attr:`~evals.prompts.RenderedPrompt.confidence`): the request asks
``SamplingParams(logprobs=0)``, the sampled token's log-probability at each step (vLLM's default
``logprobs_mode``, ``raw_logprobs``: the model's own distribution, before any constraint), and
:func:`completion_confidence` passes them, with each token's decoded text, to
:func:`evals.providers.confidence.token_confidence`, so the token a stop string cut is left out.

Where vllm is not installed or there is no CUDA GPU the provider is unavailable, with that reason.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from typing import Any, ClassVar

from evals.config.models import ModelSpec
from evals.providers.base import ErrorKind, GenerateRequest, GenerateResponse, Provider
from evals.providers.confidence import token_confidence
from evals.tool_calls import call_object_schema, read_call_object

def cuda_reason() -> str | None:
    """Why no CUDA GPU can be used here, or None when one can."""
    if importlib.util.find_spec("torch") is None:
        return "vllm needs torch with CUDA; torch is not installed"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU visible (torch.cuda.is_available() is False); vllm runs on GPU boxes"
    return None


def sampling_kwargs(request: GenerateRequest) -> dict[str, Any]:
    """SamplingParams keyword arguments for one request (without the JSON constraint).

    >>> from evals.prompts import RenderedPrompt
    >>> p = RenderedPrompt(messages=None, prompt="hi", max_tokens=8, temperature=0.0, stop=("\\n",), seed=1)
    >>> sampling_kwargs(GenerateRequest(p))
    {'max_tokens': 8, 'temperature': 0.0, 'stop': ['\\n'], 'seed': 1}

    A request that asks for the answer's confidence also asks for the sampled tokens' log-probs
    (``logprobs: 0``: no alternatives).
    """
    p = request.prompt
    asked = {"logprobs": 0} if p.confidence else {}
    return {"max_tokens": p.max_tokens, "temperature": p.temperature, **p.optional_sampling(), **asked}


def completion_confidence(completion: Any) -> float | None:
    """The confidence of one ``CompletionOutput``: its ``token_ids`` with the log-prob and decoded text vLLM
    reports for each (``logprobs[i][token_id]``), through :func:`token_confidence`; None without log-probs."""
    logprobs = getattr(completion, "logprobs", None)
    token_ids = list(getattr(completion, "token_ids", None) or [])
    if not logprobs or len(logprobs) != len(token_ids):
        return None
    tokens = []
    for token_id, position in zip(token_ids, logprobs):
        entry = position.get(token_id) if hasattr(position, "get") else None
        if entry is None:
            return None
        tokens.append((getattr(entry, "decoded_token", None), getattr(entry, "logprob", None)))
    return token_confidence(tokens, completion.text)


def sampling_params(request: GenerateRequest) -> Any:
    """A ``vllm.SamplingParams``, with the JSON schema as a structured-output constraint when asked."""
    from vllm import SamplingParams

    kwargs = sampling_kwargs(request)
    p = request.prompt
    if p.json_output or p.tools is not None:
        schema = call_object_schema(p.tools) if p.tools is not None else p.json_schema or {"type": "object"}
        try:
            from vllm.sampling_params import StructuredOutputsParams

            kwargs["structured_outputs"] = StructuredOutputsParams(json=schema)
        except ImportError:  # vLLM before structured outputs were renamed
            from vllm.sampling_params import GuidedDecodingParams

            kwargs["guided_decoding"] = GuidedDecodingParams(json=schema)
    return SamplingParams(**kwargs)


class VllmProvider(Provider):
    """``vllm.LLM`` in this process; requests are gathered into engine batches."""

    name: ClassVar[str] = "vllm"
    supports_completion: ClassVar[bool] = True
    supports_json_schema: ClassVar[bool] = True

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self._llm: Any = None
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self.batch_size = spec.options.batch_size
        self.batch_wait_s = spec.options.batch_wait_s

    @classmethod
    def unavailable_reason(cls, spec: ModelSpec) -> str | None:
        if importlib.util.find_spec("vllm") is None:
            return "extra not installed: pip install 'portfolio-evals[vllm]' (needs vllm)"
        return cuda_reason()

    def _engine(self) -> Any:
        if self._llm is None:
            from vllm import LLM

            self._llm = LLM(model=self.spec.model, **self.spec.options.engine())
        return self._llm

    def generate_batch(self, requests: list[GenerateRequest]) -> list[GenerateResponse]:
        """Run many requests in as few engine calls as possible (chat and completion apart)."""
        llm = self._engine()
        results: list[GenerateResponse | None] = [None] * len(requests)
        chat = [i for i, r in enumerate(requests) if r.prompt.messages is not None]
        plain = [i for i, r in enumerate(requests) if r.prompt.messages is None]
        for indices, is_chat in ((chat, True), (plain, False)):
            if not indices:
                continue
            params = [sampling_params(requests[i]) for i in indices]
            start = time.perf_counter()
            try:
                if is_chat:
                    outputs = llm.chat([[dict(m) for m in requests[i].prompt.messages] for i in indices], params,
                                       use_tqdm=False)
                else:
                    outputs = llm.generate([requests[i].prompt.prompt for i in indices], params, use_tqdm=False)
            except ValueError as exc:  # vLLM raises ValueError for prompts longer than the context
                kind = ErrorKind.CONTEXT_LENGTH if "longer than" in str(exc) or "context" in str(exc) \
                    else ErrorKind.INVALID_REQUEST
                for i in indices:
                    results[i] = GenerateResponse(error=kind, error_message=str(exc)[:500])
                continue
            # The engine runs the batch as a whole: each call waits the batch's wall time (its latency),
            # and the machine was busy that long for all of them, so each call's share is wall / batch.
            latency_ms = (time.perf_counter() - start) * 1000
            busy_ms = latency_ms / len(indices)
            for i, out in zip(indices, outputs):
                completion = out.outputs[0]
                text, calls = completion.text, None
                confidence = completion_confidence(completion) if requests[i].prompt.confidence else None
                if requests[i].prompt.tools is not None:
                    calls, text = read_call_object(text) or ([], text)
                results[i] = GenerateResponse(
                    text=text, tool_calls=calls, input_tokens=len(out.prompt_token_ids or []),
                    output_tokens=len(completion.token_ids or []), latency_ms=latency_ms, busy_ms=busy_ms,
                    finish_reason=completion.finish_reason, raw_model=self.spec.model,
                    extra={"batch_size": len(indices),
                           **({"confidence": confidence} if confidence is not None else {})},
                )
        return [r for r in results if r is not None]

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            pending = [first]
            await asyncio.sleep(self.batch_wait_s)
            while not self._queue.empty() and len(pending) < self.batch_size:
                pending.append(self._queue.get_nowait())
            requests = [request for request, _ in pending]
            try:
                responses = await asyncio.to_thread(self.generate_batch, requests)
            except Exception as exc:  # an engine failure fails this batch, not the run
                responses = [GenerateResponse(error=ErrorKind.UNKNOWN, error_message=f"{type(exc).__name__}: {exc}"
                                              [:500]) for _ in requests]
            for (_, future), response in zip(pending, responses):
                if not future.done():
                    future.set_result(response)

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put((request, future))
        return await future

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self._worker = self._queue = None  # a later run has its own event loop
        self._llm = None
