"""The one definition of an LLM answer's confidence: the probability the model gave the answer it wrote.

For a classification request (:attr:`evals.prompts.RenderedPrompt.confidence`) a provider that can read
the log-probabilities of the tokens it generated (llama-cpp in process, OpenAI and OpenAI-compatible
servers, vLLM) passes them here, and the result goes to ``response.extra["confidence"]``, which
:func:`evals.providers.base.answer_confidence` reads for the results column and the client's cascade.

**Which tokens.** The answer's tokens are the generated tokens, in order, that *begin* before the end of
the answer text (counted in UTF-8 bytes): the tokens that wrote it. A token that begins at or after its
end is not part of it: the end-of-sequence token, the token a stop string cut off (Gemma's ``"\\n"``),
anything generated after the stop. A token that straddles the end (a stop string cut inside it) is part
of it: choosing it was choosing the answer's last characters. The confidence is
``exp(sum of those tokens' log-probabilities)``.

**Which distribution.** The model's own next-token distribution (raw logits, before a grammar or JSON
schema constrains the choice): what vLLM and OpenAI report, and what llama-cpp records before sampling.
Under a constraint a forced token (``"`` of a JSON string) still counts with the probability the model
gave it, so a model that would not have written the format on its own is less confident.

Unknown stays unknown (None), never 1.0: no tokens, a token whose log-probability is missing or not a
number, or token texts that do not spell the answer.
"""

from __future__ import annotations

import math
from typing import Iterable

#: One generated token: its text (bytes as decoded, or str) and its log-probability (None: not reported).
Token = tuple["bytes | str | None", "float | None"]


def _bytes(text: "bytes | str | None") -> bytes:
    if text is None:
        return b""
    return text if isinstance(text, bytes) else text.encode("utf-8")


def token_confidence(tokens: Iterable[Token], answer: str) -> float | None:
    """The probability the model gave ``answer``: exp(sum of its tokens' log-probs) (module docstring).

    ``tokens`` are every generated token in order, as the provider reports them; the answer's tokens are
    those that begin before the end of ``answer``. A token with an unknown text (None) and a log-prob
    counts as zero bytes long. Returns a probability in [0, 1], or None when it cannot be known.

    >>> round(token_confidence([("in", -0.1), ("bound", -0.2), ("\\n", -3.0)], "inbound"), 4)  # stop cut "\\n"
    0.7408
    >>> round(token_confidence([("lead", -0.5), ("", -2.0)], "lead"), 4)  # the end-of-sequence token is not in it
    0.6065
    >>> token_confidence([("in", -0.1), (None, None)], "inbound") is None  # the last token is not known
    True
    >>> token_confidence([], "x"), token_confidence([("x", float("nan"))], "x")
    (None, None)
    """
    want = _bytes(answer)
    if not want:
        return None
    position, total, counted = 0, 0.0, 0
    for text, logprob in tokens:
        if position >= len(want):
            break  # this token begins at or after the answer's end: not part of it
        if logprob is None or isinstance(logprob, bool) or not isinstance(logprob, (int, float)) \
                or math.isnan(logprob) or logprob > 1e-6:
            return None
        piece = _bytes(text)
        if want[position:position + len(piece)] != piece[:len(want) - position]:
            return None  # the tokens do not spell the answer: something else was measured
        position += len(piece)
        total += logprob
        counted += 1
    if counted == 0 or position < len(want):
        return None  # the tokens end before the answer does
    return min(1.0, math.exp(total))


__all__ = ["Token", "token_confidence"]
