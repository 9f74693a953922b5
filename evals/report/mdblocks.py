"""A small Markdown reader for the policy compiler's ``diff.md``: headings, pipe tables, lists, paragraphs.

It returns plain blocks (never HTML) that the autoescaped template lays out, so text from the file
can never become markup. Inline marks (``**bold**``, backticks) are dropped; anything else is text.
"""

from __future__ import annotations

import re
from typing import Any

_INLINE = re.compile(r"\*\*|`")
_SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def _inline(text: str) -> str:
    return _INLINE.sub("", text).strip()


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [_inline(c.replace("\\|", "|")) for c in re.split(r"(?<!\\)\|", line)]


def parse_blocks(text: str) -> list[dict[str, Any]]:
    """Blocks of ``{"kind": "heading"|"table"|"list"|"para", ...}``.

    >>> [b["kind"] for b in parse_blocks("# T\\n\\nsome **text**\\n\\n| a | b |\\n| --- | --- |\\n| 1 | 2 |\\n- x")]
    ['heading', 'para', 'table', 'list']
    >>> parse_blocks("| a \\\\| b | c |\\n| --- | --- |")[0]["header"]
    ['a | b', 'c']
    """
    blocks: list[dict[str, Any]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        heading = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if heading:
            blocks.append({"kind": "heading", "level": len(heading.group(1)), "text": _inline(heading.group(2))})
            i += 1
        elif stripped.startswith("|") and i + 1 < len(lines) and _SEPARATOR.match(lines[i + 1].strip()):
            header = _cells(stripped)
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            blocks.append({"kind": "table", "header": header, "rows": rows})
        elif re.match(r"^[-*]\s+", stripped):
            items = []
            while i < len(lines) and re.match(r"^[-*]\s+", lines[i].strip()):
                items.append(_inline(re.sub(r"^[-*]\s+", "", lines[i].strip())))
                i += 1
            blocks.append({"kind": "list", "entries": items})
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"^(#{1,6}\s|\||[-*]\s)", lines[i].strip()):
                para.append(lines[i].strip())
                i += 1
            if not para:  # a line that looks like a block start but is not one: keep it as text
                para, i = [stripped], i + 1
            blocks.append({"kind": "para", "text": _inline(" ".join(para))})
    return blocks
