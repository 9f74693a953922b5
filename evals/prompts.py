"""Prompt variants: resolution (model id -> family -> default) and sandboxed rendering.

A template is ``prompts/<prompt>/<variant>.j2``: an optional YAML header between ``---`` lines with
generation parameters (see :class:`evals.config.prompt.PromptHeader`), then a Jinja body that defines
either ``{% block system %}`` and ``{% block user %}`` (chat models) or ``{% block prompt %}``
(completion models such as a base model prompted few-shot).

Suite data is untrusted: it reaches a template only as variables, rendered by an immutable sandboxed
environment with ``StrictUndefined``; a variable holding ``{{ 7*7 }}`` renders as that literal text.

The sandbox is also bounded, so that no template can hang or exhaust a run: at most
:data:`MAX_LOOP_ITERATIONS` loop iterations and :data:`MAX_CALL_DEPTH` nested calls (a recursive macro)
per block, :data:`MAX_OUTPUT_CHARS` characters of output (and of any string a ``*``, ``+``, ``~``, ``%``
or padding builds), and :data:`RENDER_SECONDS` of rendering. Any failure while rendering, a division by
zero included, is a :class:`~evals.errors.TemplateError` naming the template line.

Each variant is one self-contained file: ``{% extends %}``, ``{% include %}`` and ``{% import %}`` are
refused, because the prompt hash a run records is the hash of that one file (a shared parent could
change every request without changing any recorded hash).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from functools import cached_property, lru_cache, wraps
from pathlib import Path
from typing import Any, Iterator

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from evals.config._yaml import parse_yaml, read_text, validate
from evals.config.base import prompt_name_problem
from evals.config.prompt import PromptHeader
from evals.errors import ConfigError, TemplateError
from evals.project import inside_project

CHAT_BLOCKS = ("system", "user")
COMPLETION_BLOCK = "prompt"


MAX_LOOP_ITERATIONS = 1_000_000
MAX_CALL_DEPTH = 64
MAX_OUTPUT_CHARS = 4_000_000
RENDER_SECONDS = 20.0

_BUDGET: contextvars.ContextVar["_Budget | None"] = contextvars.ContextVar("evals_template_budget", default=None)
_WIDE_SPEC = re.compile(r"%[-+ #0]*(\d{7,}|\*)|%[-+ #0]*\d*\.\d{7,}|\{[^{}]*:[^{}]*\d{7,}[^{}]*\}")
_PADDING_FILTERS = ("center", "indent", "wordwrap", "truncate")
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_REFUSED_TAGS = {nodes.Extends: "extends", nodes.Include: "include", nodes.Import: "import",
                 nodes.FromImport: "from ... import"}


class _Budget:
    """What one block render may still spend (loop iterations, call depth, time)."""

    def __init__(self) -> None:
        self.iterations = 0
        self.depth = 0
        self.deadline = time.monotonic() + RENDER_SECONDS

    def spend(self, iterations: int) -> None:
        self.iterations += iterations
        if self.iterations > MAX_LOOP_ITERATIONS:
            raise SecurityError(f"more than {MAX_LOOP_ITERATIONS:,} loop iterations; loop over less")
        if time.monotonic() > self.deadline:
            raise SecurityError(f"rendering took longer than {RENDER_SECONDS:.0f} s")


def _spend(iterations: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(iterations)


def _sized(value: Any, what: str) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_OUTPUT_CHARS:
        raise SecurityError(f"{what} would be longer than {MAX_OUTPUT_CHARS:,}")
    return value


def _no_wide_spec(fmt: Any) -> None:
    if isinstance(fmt, str) and _WIDE_SPEC.search(fmt):
        raise SecurityError(f"a format width or precision of a million or more (limit {MAX_OUTPUT_CHARS:,} characters)")


def _bounded_iter(value: Any) -> Any:
    """Every loop's iterable passes here: sized ones are charged up front, others per item."""
    if hasattr(value, "__len__"):
        _spend(len(value))
        return value
    return _counted(value)


def _counted(value: Any) -> Iterator[Any]:
    for item in value:
        _spend()
        yield item


def _bounded_concat(parts: list[Any]) -> str:
    """``a ~ b``: the same as Jinja's, refusing a result longer than the output limit."""
    total = 0
    out = []
    for part in parts:
        text = str(part)
        total += len(text)
        if total > MAX_OUTPUT_CHARS:
            raise SecurityError(f"a string built with ~ would be longer than {MAX_OUTPUT_CHARS:,} characters")
        out.append(text)
    return "".join(out)


def _bounded_filter(function: Any, name: str) -> Any:
    @wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if name in _PADDING_FILTERS and any(isinstance(a, int) and a > MAX_OUTPUT_CHARS
                                            for a in (*args[1:], *kwargs.values())):
            raise SecurityError(f"|{name} width larger than {MAX_OUTPUT_CHARS:,}")
        if name == "format" and args:
            _no_wide_spec(args[0])
        return _sized(function(*args, **kwargs), f"the result of |{name}")
    return bounded


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, bounded (see the module docstring) and without template inheritance."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1 \
                and right * max(left.bit_length(), 1) > 100_000:
            raise SecurityError("a power with more than 100,000 bits")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(count, int) and len(seq) * count > MAX_OUTPUT_CHARS:
                    raise SecurityError(f"a repetition longer than {MAX_OUTPUT_CHARS:,}")
        if operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)) \
                and len(left) + len(right) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"a concatenation longer than {MAX_OUTPUT_CHARS:,}")
        if operator == "%":
            _no_wide_spec(left)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            _no_wide_spec(obj)
        return super().getattr(obj, attribute)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        budget = _BUDGET.get()
        if getattr(__obj, "__name__", None) in _PADDING_METHODS and isinstance(getattr(__obj, "__self__", None), str) \
                and any(isinstance(a, int) and a > MAX_OUTPUT_CHARS for a in (*args, *kwargs.values())):
            raise SecurityError(f"str.{__obj.__name__} width larger than {MAX_OUTPUT_CHARS:,}")
        if budget is None:
            return super().call(__context, __obj, *args, **kwargs)
        budget.spend(0)
        budget.depth += 1
        try:
            if budget.depth > MAX_CALL_DEPTH:
                raise SecurityError(f"calls nested more than {MAX_CALL_DEPTH} deep (a recursive macro?)")
            return _sized(super().call(__context, __obj, *args, **kwargs), "a call's result")
        finally:
            budget.depth -= 1

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for kind, tag in _REFUSED_TAGS.items():
            found = tree.find(kind)
            if found is not None:
                raise jinja2.TemplateSyntaxError(
                    f"{{% {tag} %}} is not supported: each variant is one self-contained file (its hash is the "
                    f"prompt hash a run records); copy the shared text into it", found.lineno, name, filename)
        return _Bound().visit(tree)


class _Bound(NodeTransformer):
    """Routes every loop's iterable and every ``~`` chain through the bounded helpers."""

    def visit_For(self, node: nodes.For) -> nodes.For:  # noqa: N802 - Jinja's naming
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_evals_bounded_iter", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:  # noqa: N802
        self.generic_visit(node)
        return nodes.Filter(nodes.List(node.nodes, lineno=node.lineno), "_evals_bounded_concat", [], [], None, None,
                            lineno=node.lineno)


def _environment() -> ImmutableSandboxedEnvironment:
    env = _BoundedSandbox(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are plain text, not HTML
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson"] = _tojson  # the default one HTML-escapes
    for name in (*_PADDING_FILTERS, "format", "join", "replace", "string"):
        env.filters[name] = _bounded_filter(env.filters[name], name)
    env.filters["_evals_bounded_iter"] = _bounded_iter
    env.filters["_evals_bounded_concat"] = _bounded_concat
    return env


_ENV = _environment()


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed template file."""

    name: str
    variant: str
    path: Path
    header: PromptHeader
    template: jinja2.Template = field(repr=False)
    sha256: str

    @property
    def mode(self) -> str:
        return "completion" if COMPLETION_BLOCK in self.template.blocks else "chat"


@dataclass(frozen=True)
class RenderedPrompt:
    """What goes to a provider: chat messages or a completion prompt, plus generation parameters."""

    messages: tuple[dict[str, str], ...] | None
    prompt: str | None
    max_tokens: int
    temperature: float
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_schema: dict[str, Any] | None = None
    json_output: bool = False
    #: The tools offered with the request (a ``tool_call`` suite's ``tools.json``); the model may call one
    #: or answer in text (``tool_choice`` auto). Part of the request, so part of the cache key.
    tools: tuple[dict[str, Any], ...] | None = None
    #: Ask the provider for the answer's confidence (the log-probabilities of its tokens,
    #: :mod:`evals.providers.confidence`): set for classification requests only
    #: (:func:`evals.requests.build_request`), because asking changes an OpenAI or vLLM request.
    confidence: bool = False

    def canonical(self) -> dict[str, Any]:
        # `tools` and `confidence` only where set: requests without them keep the keys they always had
        tools = {"tools": list(self.tools)} if self.tools is not None else {}
        confidence = {"confidence": True} if self.confidence else {}
        return {**tools, **confidence,
            "messages": list(self.messages) if self.messages is not None else None,
            "prompt": self.prompt,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "seed": self.seed,
            "json_output": self.json_output,
            "json_schema": self.json_schema,
        }

    def optional_sampling(self) -> dict[str, Any]:
        """``top_p``, ``stop`` and ``seed`` where the template set them (providers omit the rest).

        >>> RenderedPrompt(None, "hi", 8, 0.0, stop=("\\n",)).optional_sampling()
        {'stop': ['\\n']}
        """
        out: dict[str, Any] = {}
        if self.top_p is not None:
            out["top_p"] = self.top_p
        if self.stop:
            out["stop"] = list(self.stop)
        if self.seed is not None:
            out["seed"] = self.seed
        return out

    @cached_property
    def canonical_json(self) -> str:
        """:meth:`canonical` as sorted JSON, encoded once: the prompt hash and the cache key
        (:func:`evals.runner.cache.prompt_key`) are both made from this text."""
        return json.dumps(self.canonical(), sort_keys=True)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json.encode()).hexdigest()

    @property
    def text(self) -> str:
        """A readable rendering for reports and token estimates."""
        if self.prompt is not None:
            return self.prompt
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self.messages or ())


def resolve_variant(prompts_dir: Path, prompt: str, model_id: str, family: str) -> Path:
    """Find the template for a model: ``<model id>.j2``, then ``<family>.j2``, then ``default.j2``."""
    folder = prompts_dir / prompt
    if prompt_name_problem(prompt) or not folder.resolve().is_relative_to(prompts_dir.resolve()):
        raise ConfigError(folder, f"prompt {prompt!r} is not a folder of {prompts_dir}: "
                                  f"{prompt_name_problem(prompt) or 'it resolves outside it'}")
    if not folder.is_dir():
        raise ConfigError(folder, f"prompt {prompt!r} not found; create {folder}/default.j2")
    for variant in (model_id, family, "default"):
        candidate = folder / f"{variant}.j2"
        if candidate.is_file():
            return candidate
    raise ConfigError(folder, f"no variant for model {model_id!r}: add {model_id}.j2, {family}.j2 or default.j2")


def _split_header(text: str, path: Path) -> tuple[PromptHeader, str]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return PromptHeader(), text
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            data, where = parse_yaml("\n".join(lines[1:end]), path, line_offset=1)
            header = validate(PromptHeader, data or {}, path, where)
            # Keep line numbers of the body equal to the file's for error messages.
            return header, "\n" * (end + 1) + "\n".join(lines[end + 1 :])
    raise TemplateError(path, "header opened with '---' is never closed", line=1)


@lru_cache(maxsize=256)
def _load_cached(path: Path, mtime_ns: int) -> PromptTemplate:
    text = read_text(path)
    header, body = _split_header(text, path)
    try:
        template = _ENV.from_string(body)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(path, f"template syntax error: {exc.message}", line=exc.lineno) from None
    blocks = set(template.blocks)
    if COMPLETION_BLOCK in blocks and blocks & set(CHAT_BLOCKS):
        raise TemplateError(path, "define either a 'prompt' block or 'system'/'user' blocks, not both")
    if COMPLETION_BLOCK not in blocks and "user" not in blocks:
        raise TemplateError(path, "no {% block user %} (chat) or {% block prompt %} (completion) found")
    return PromptTemplate(
        name=path.parent.name,
        variant=path.stem,
        path=path,
        header=header,
        template=template,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


def load_template(path: Path) -> PromptTemplate:
    """Parse a template file (cached while the file is unchanged)."""
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise ConfigError(path, "template file not found") from None
    return _load_cached(path, mtime)


def _error_line(tpl: PromptTemplate, exc: BaseException) -> int | None:
    """The template line where rendering failed (mapped back from Jinja's generated code)."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tpl.template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


def _block_line(tpl: PromptTemplate, name: str) -> int | None:
    """The template line where block ``name`` starts (mapped from Jinja's generated code)."""
    function = tpl.template.blocks.get(name)
    code = getattr(function, "__code__", None)
    return tpl.template.get_corresponding_lineno(code.co_firstlineno + 1) if code is not None else None


def _render_chunks(tpl: PromptTemplate, name: str, context: Any) -> str:
    parts: list[str] = []
    size = 0
    for chunk in tpl.template.blocks[name](context):
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise SecurityError(f"block {name!r} renders more than {MAX_OUTPUT_CHARS:,} characters")
        parts.append(chunk)
    return "".join(parts)


def _render_block(tpl: PromptTemplate, name: str, context: Any) -> str:
    """Block ``name`` rendered in ``context`` (one per example, shared by its blocks as a whole-template render
    shares it: a block's own ``set`` stays inside the block), within the sandbox's budget."""
    token = _BUDGET.set(_Budget())
    try:
        text = _render_chunks(tpl, name, context)
        # A completion prompt keeps its end as written ("Label:" vs "Label:\n" changes the answer).
        return text.lstrip() if name == COMPLETION_BLOCK else text.strip()
    except jinja2.UndefinedError as exc:
        raise TemplateError(tpl.path, f"undefined variable: {exc.message}", line=_error_line(tpl, exc)) from None
    except jinja2.exceptions.SecurityError as exc:
        line = _error_line(tpl, exc) or _block_line(tpl, name)
        raise TemplateError(tpl.path, f"refused by the sandbox: {exc}", line=line) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(tpl.path, f"render error: {exc}", line=_error_line(tpl, exc)) from None
    except RecursionError as exc:
        raise TemplateError(tpl.path, "render error: recursion too deep (a macro that calls itself?)",
                            line=_error_line(tpl, exc)) from None
    except Exception as exc:  # the template is the user's code: whatever it raises is its error, on one line
        message = str(exc).splitlines()[0][:300] if str(exc) else ""
        raise TemplateError(tpl.path, f"render error: {type(exc).__name__}: {message}".rstrip(": "),
                            line=_error_line(tpl, exc)) from None
    finally:
        _BUDGET.reset(token)


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1  # read_text names the problem


@lru_cache(maxsize=64)
def _read_schema_text(path: Path, mtime_ns: int) -> str:
    """A template's ``json_schema`` file, read once per version of the file (not once per example)."""
    return read_text(path)


def _read_schema(path: Path, mtime_ns: int) -> dict[str, Any]:
    """The schema parsed anew for each request (a caller may change its copy), from text read once."""
    text = _read_schema_text(path, mtime_ns)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(path, f"invalid JSON: {exc.msg}", line=exc.lineno) from None


def render(tpl: PromptTemplate, variables: dict[str, Any], *, suite_schema: dict[str, Any] | None = None,
           tools: list[dict[str, Any]] | None = None) -> RenderedPrompt:
    """Render a template with the given variables into a provider-ready prompt (with ``tools``, the
    suite's tools, sent along with it)."""
    h = tpl.header
    schema = None
    if h.json_output:
        if h.json_schema:
            schema_path = inside_project(tpl.path.parent / h.json_schema, tpl.path, field="json_schema")
            schema = _read_schema(schema_path, _mtime_ns(schema_path))
        else:
            schema = suite_schema
    context = tpl.template.new_context(dict(variables), shared=False)
    if tpl.mode == "completion":
        messages, prompt = None, _render_block(tpl, COMPLETION_BLOCK, context)
    else:
        parts = []
        if "system" in tpl.template.blocks:
            system = _render_block(tpl, "system", context)
            if system:
                parts.append({"role": "system", "content": system})
        parts.append({"role": "user", "content": _render_block(tpl, "user", context)})
        messages, prompt = tuple(parts), None
    return RenderedPrompt(
        messages=messages,
        prompt=prompt,
        max_tokens=h.max_tokens,
        temperature=h.temperature,
        top_p=h.top_p,
        stop=tuple(h.stop),
        seed=h.seed,
        json_schema=schema,
        json_output=h.json_output,
        tools=tuple(tools) if tools is not None else None,
    )
