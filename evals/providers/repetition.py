"""Stop a local decode that has fallen into a loop, instead of paying for it up to ``max_tokens``.

Small models at temperature 0 fall into loops: ``"self_hosting", "self_hosting", ...`` in a JSON list,
one sentence written again and again in an email, ``mjen_mjen_mjen...`` inside a string. Greedy decoding
is deterministic, so once the last tokens repeat one span several times the model almost always keeps
repeating it until ``max_tokens``, and every one of those tokens costs busy time (on the default job,
loops were over a third of all decoded tokens: about 5 of its 13 minutes).

The rule (:data:`RULE`, part of a llama-cpp model's cache identity): the answer's last tokens are one
span of ``p`` tokens (``1 <= p <= MAX_PERIOD``) written :data:`REPEATS` times in a row, and together they
are at least :data:`MIN_SPAN` tokens long. The decode stops there with ``finish_reason`` ``repetition``
and the text written, like an answer that stopped at ``max_tokens`` (``length``); the runner records
both as cut off (``truncated``, an answer failure scored 0: :func:`evals.runner.rows.answer_failure`),
with the message in ``extra["repetition"]`` saying where the loop was found.

An answer that never repeats a span that many times is untouched: the check only reads the tokens
(``tests/speed/test_repetition_stop.py`` compares answers with and without it on real prompts).
"""

from __future__ import annotations

from typing import Any, Sequence

#: A span written this many times in a row is a loop ...
REPEATS = 4
#: ... when the repeats cover at least this many tokens (so ``"a", "a", "a", "a"`` is not one) ...
MIN_SPAN = 48
#: ... for spans of up to this many tokens (a repeated sentence is 10-30).
MAX_PERIOD = 64
#: The ``finish_reason`` of a decode stopped in a loop (``extra[REPETITION]`` says where).
REPETITION = "repetition"
#: The rule as it enters the cache key: another rule is another answer.
RULE = f"period<={MAX_PERIOD}, repeats>={REPEATS}, span>={MIN_SPAN}"


def loop_period(tokens: Sequence[int]) -> int | None:
    """The period ``p`` of the loop ``tokens`` end in, or None when they end in none.

    >>> loop_period([7, 8] + [1, 2, 3] * 16)
    3
    >>> loop_period([1, 2, 3] * 15) is None   # 45 tokens: under MIN_SPAN
    True
    >>> loop_period(list(range(100))) is None
    True
    >>> loop_period([5] * 48)
    1
    """
    n_all = len(tokens)
    last = tokens[-1] if n_all else None
    for period in range(1, MAX_PERIOD + 1):
        span = max(REPEATS * period, MIN_SPAN)
        if span > n_all:
            break
        if tokens[-1 - period] != last:  # cheap first: the last token must recur one period back
            continue
        tail = tokens[n_all - span:]
        if tail[period:] == tail[:-period]:  # span tokens with period p: p-shifted copies agree
            return period
    return None


class RepetitionStop:
    """A llama-cpp-python ``stopping_criteria`` callable for one decode.

    llama-cpp-python calls it after each sampled token with every token of the context so far (prompt
    and answer); the first call's length is the prompt's. After the decode, :attr:`period` and
    :attr:`at_token` say whether, and where in the answer, the loop was found.
    """

    def __init__(self) -> None:
        self._prompt_len: int | None = None
        self.period: int | None = None
        self.at_token: int | None = None

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        if self.period is not None:
            return True  # called again after the decode stopped (llama-cpp-python asks twice)
        if self._prompt_len is None:
            self._prompt_len = len(input_ids)
        answer_len = len(input_ids) - self._prompt_len
        window = REPEATS * MAX_PERIOD
        if answer_len < MIN_SPAN:  # a fast path: no loop fits yet (the tail below is the answer's alone)
            return False
        tail = [int(t) for t in input_ids[len(input_ids) - min(answer_len, window):]]
        period = loop_period(tail)
        if period is None:
            return False
        self.period, self.at_token = period, answer_len - max(REPEATS * period, MIN_SPAN)
        return True

    def message(self, max_tokens: int) -> str:
        """The row's ``error_message`` for a stopped decode."""
        return (f"stopped in a repetition loop: from answer token {self.at_token} one span of {self.period} "
                f"token(s) was written {REPEATS}+ times in a row (the answer would have run on toward "
                f"max_tokens {max_tokens}); counted as truncated")
