"""Markdown for pull-request comments from text that comes from files (rule ids, names, messages, diff.md).

Nothing read from a file may become markup in the gate's comment: no heading, no HTML, no link, no
mention, no table cell break. :func:`md_text` makes one line of literal text; :func:`md_line` one line of the
harness's own Markdown holding such text (a curve table row), :func:`md_cell` a table cell of text that also holds the harness's own words (their code spans and brackets kept: it
neutralises what can reach beyond the cell: HTML, mentions, links, images, cell and line breaks);
:func:`md_embed` keeps a trusted document's tables and lists but turns its headings into bold lines and
its HTML into text (the entities :func:`md_text` and :func:`md_cell` wrote are kept, not escaped twice).
"""

from __future__ import annotations

import re

_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_INLINE_BREAKS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]+")
_MENTION = re.compile(r"(?<![\w.+-])@")
_PUNCT = re.compile(r"([\\`*_\[\]#|~>])")
_AMP = re.compile(r"&(?!#?\w+;)")  # an ampersand that does not start an entity


def one_line(value: object) -> str:
    r"""``value`` as text on one line: every run of control characters (line breaks, NEL, tabs) and Unicode
    line or paragraph separators made one space; what Markdown, YAML and JSON lines all read as the end of
    a line is among them.

    >>> one_line("a\r\n\x85b\u2028c")
    'a b c'
    """
    return _BREAKS.sub(" ", str(value))


def md_text(value: object) -> str:
    r"""``value`` as literal inline Markdown on one line (safe inside a table cell).

    >>> md_text("a|b\n## Policy gate: ✅ passed")
    'a\\|b \\#\\# Policy gate: ✅ passed'
    >>> md_text("<img src=x> @team ada@example.com")
    '&lt;img src=x&gt; &#64;team ada@example.com'
    """
    text = _PUNCT.sub(r"\\\1", one_line(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace("\\>", "&gt;")
    return _MENTION.sub("&#64;", text)


def md_line(value: object) -> str:
    r"""One line of the harness's own Markdown (a table row, a list item) that holds text from files: no HTML,
    mention, link, image or line break reaches beyond it; its tables, code spans and emphasis are kept.

    >>> md_line("| a <b> | [x](http://e) @team & `c` > d |")
    '| a &lt;b> | [x]\\(http://e) &#64;team &amp; `c` > d |'
    """
    text = _AMP.sub("&amp;", one_line(value)).replace("<", "&lt;").replace("](", "]\\(")
    return _MENTION.sub("&#64;", text)


def md_cell(value: object) -> str:
    r"""``value`` as one table cell: :func:`md_line`, and no cell break; the code spans, brackets and
    comparison signs of the harness's own messages are kept.

    >>> md_cell("excluded: p95 3000 ms > 1000 ms; add `rule: triage` [-0.1, +0.1]")
    'excluded: p95 3000 ms > 1000 ms; add `rule: triage` [-0.1, +0.1]'
    >>> md_cell("a|b\n<img src=x> @team [x](http://e) ![i](u) &")
    'a\\|b &lt;img src=x> &#64;team [x]\\(http://e) ![i]\\(u) &amp;'
    """
    return md_line(str(value).replace("|", "\\|"))


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*(.*)$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")


def md_embed(document: str) -> str:
    """A Markdown document (``diff.md``) to embed under the gate's own heading: headings become bold
    lines, setext underlines and HTML become text, line separators other than ``\\n`` become spaces."""
    out = []
    for line in _INLINE_BREAKS.sub(" ", document.replace("\r\n", "\n")).split("\n"):
        heading = _HEADING.match(line)
        if heading:
            out.append(f"**{md_text(heading.group(1))}**")
            continue
        if _SETEXT.match(line):
            out.append("\\" + line.strip())
            continue
        out.append(_MENTION.sub("&#64;", _AMP.sub("&amp;", line).replace("<", "&lt;").replace(">", "&gt;")))
    return "\n".join(out)


__all__ = ["md_cell", "md_embed", "md_line", "md_text"]
