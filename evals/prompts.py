"""Prompt variants: resolution (model id -> family -> default) and sandboxed rendering.

A template is ``prompts/<prompt>/<variant>.j2``: an optional YAML header between ``---`` lines with
generation parameters (see :class:`evals.config.prompt.PromptHeader`), then a Jinja body that defines
either ``{% block system %}`` and ``{% block user %}`` (chat models) or ``{% block prompt %}``
(completion models such as a base model prompted few-shot).

Suite data is untrusted: it reaches a template only as variables, rendered by an immutable sandboxed
environment with ``StrictUndefined``; a variable holding ``{{ 7*7 }}`` renders as that literal text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from evals.config._yaml import parse_yaml, read_text, validate
from evals.config.prompt import PromptHeader
from evals.errors import ConfigError, TemplateError

CHAT_BLOCKS = ("system", "user")
COMPLETION_BLOCK = "prompt"


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are plain text, not HTML
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tojson"] = _tojson  # the default one HTML-escapes
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

    def canonical(self) -> dict[str, Any]:
        # `tools` only where there are tools: requests without them keep the keys they always had
        tools = {"tools": list(self.tools)} if self.tools is not None else {}
        return {**tools,
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

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()

    @property
    def text(self) -> str:
        """A readable rendering for reports and token estimates."""
        if self.prompt is not None:
            return self.prompt
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self.messages or ())


def resolve_variant(prompts_dir: Path, prompt: str, model_id: str, family: str) -> Path:
    """Find the template for a model: ``<model id>.j2``, then ``<family>.j2``, then ``default.j2``."""
    folder = prompts_dir / prompt
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


def _render_block(tpl: PromptTemplate, name: str, variables: dict[str, Any]) -> str:
    try:
        context = tpl.template.new_context(dict(variables), shared=False)
        text = "".join(tpl.template.blocks[name](context))
        # A completion prompt keeps its end as written ("Label:" vs "Label:\n" changes the answer).
        return text.lstrip() if name == COMPLETION_BLOCK else text.strip()
    except jinja2.UndefinedError as exc:
        raise TemplateError(tpl.path, f"undefined variable: {exc.message}", line=_error_line(tpl, exc)) from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(tpl.path, f"unsafe operation refused by the sandbox: {exc}", line=_error_line(tpl, exc)) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(tpl.path, f"render error: {exc}", line=_error_line(tpl, exc)) from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise TemplateError(tpl.path, f"render error: {type(exc).__name__}: {exc}", line=_error_line(tpl, exc)) from None


def render(tpl: PromptTemplate, variables: dict[str, Any], *, suite_schema: dict[str, Any] | None = None,
           tools: list[dict[str, Any]] | None = None) -> RenderedPrompt:
    """Render a template with the given variables into a provider-ready prompt (with ``tools``, the
    suite's tools, sent along with it)."""
    h = tpl.header
    schema = None
    if h.json_output:
        if h.json_schema:
            schema_path = tpl.path.parent / h.json_schema
            try:
                schema = json.loads(read_text(schema_path))
            except json.JSONDecodeError as exc:
                raise ConfigError(schema_path, f"invalid JSON: {exc.msg}", line=exc.lineno) from None
        else:
            schema = suite_schema
    if tpl.mode == "completion":
        messages, prompt = None, _render_block(tpl, COMPLETION_BLOCK, variables)
    else:
        parts = []
        if "system" in tpl.template.blocks:
            system = _render_block(tpl, "system", variables)
            if system:
                parts.append({"role": "system", "content": system})
        parts.append({"role": "user", "content": _render_block(tpl, "user", variables)})
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
