"""A scripted provider for tests of the harness's own code: answers come from a queue or a function."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable, ClassVar, Iterable

from evals.providers.base import ErrorKind, GenerateRequest, GenerateResponse, Provider
from evals.tool_calls import read_call_object

Responder = Callable[[GenerateRequest], "GenerateResponse | str"]


class FakeProvider(Provider):
    """Answers from ``script`` (a queue of responses or strings) or ``responder`` (a function).

    Set them with :meth:`reset` in tests; ``calls`` records every request. In models.yaml, ``options``
    (:class:`~evals.config.models.FakeOptions`) may set ``answer`` (a fixed reply), ``delay_s`` and
    ``confidence`` (attached, as ``extra["confidence"]``, to a text answer of a request that asks for one,
    :attr:`~evals.prompts.RenderedPrompt.confidence`, as an LLM provider reports it). With nothing set it
    echoes the last line of the prompt, which is enough for pipeline tests.

    For a request with tools, a text answer that is a call object (``{"tool": ..., "arguments": ...}``)
    becomes ``tool_calls`` as a call-object provider (llama-cpp) reads it; any other text is a reply.
    """

    name: ClassVar[str] = "fake"
    supports_completion: ClassVar[bool] = True
    supports_json_schema: ClassVar[bool] = True

    responder: ClassVar[Responder | None] = None
    script: ClassVar[deque] = deque()
    calls: ClassVar[list[GenerateRequest]] = []
    delay_s: ClassVar[float] = 0.0

    @classmethod
    def reset(cls, script: Iterable["GenerateResponse | str"] = (), responder: Responder | None = None,
              delay_s: float = 0.0) -> None:
        cls.script = deque(script)
        cls.responder = responder
        cls.calls = []
        cls.delay_s = delay_s

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        type(self).calls.append(request)
        options = self.spec.options  # FakeOptions, or another provider's options when the fake stands in for it
        set_delay, fixed = getattr(options, "delay_s", None), getattr(options, "answer", None)
        delay = set_delay if set_delay is not None else self.delay_s
        if delay:
            await asyncio.sleep(delay)
        if fixed is not None:  # a fixed answer set in models.yaml, for subprocess tests
            answer = fixed
        elif self.script:
            answer = self.script.popleft()
        elif self.responder is not None:
            answer = type(self).responder(request)
        else:
            answer = request.prompt.text.strip().splitlines()[-1] if request.prompt.text.strip() else ""
        if isinstance(answer, GenerateResponse):
            return answer
        if isinstance(answer, ErrorKind):
            return GenerateResponse(error=answer, error_message=f"scripted {answer.value}")
        text = str(answer)
        confidence = getattr(options, "confidence", None)
        calls = None
        if request.prompt.tools is not None:
            calls, text = read_call_object(text) or ([], text)
        return GenerateResponse(
            text=text,
            tool_calls=calls,
            input_tokens=len(request.prompt.text.split()),
            output_tokens=len(str(answer).split()),
            latency_ms=1.0 + 1000 * delay,
            finish_reason="stop",
            extra={"confidence": confidence} if confidence is not None and request.prompt.confidence else {},
        )
