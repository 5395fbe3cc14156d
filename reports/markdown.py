"""Render a Document as Markdown.

Titles and table cells are plain text and are escaped here; paragraphs, headline lines and captions are
Markdown inline syntax, so whoever puts a value read from a file into them passes it through `literal`.
"""

from __future__ import annotations

import re

import pandas as pd

from reports import units
from reports.document import Document, Section, Table

# Characters that start inline markup, a table cell or a heading anywhere in a line. '_' only matters
# at the edge of a word (zero_grad stays as it is); '.', '-' and '+' only at the start of a line, where
# no value from a file is placed.
SYNTAX = re.compile(r"[\\`*\[\]<>|~#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
BREAKS = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")  # every line boundary str.splitlines knows
ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def literal(text: object) -> str:
    """A value (a host name, a label, a path) as Markdown that shows it as it is, on one line:
    no table it lands in splits, no heading or link can come out of it."""
    return SYNTAX.sub(lambda m: "\\" + m[0], BREAKS.sub(" ", str(text)))


def unescape(text: str) -> str:
    """The text `literal` escaped (the index reads a comparison's title back from compare.md)."""
    return ESCAPED.sub(r"\1", text)


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as text: numbers written here, with their units, then escaped like any value."""
    frame = frame.rename(columns=lambda c: literal(c) if isinstance(c, str) else c)
    return frame.map(lambda c: literal(units.text(c)))


def table(t: Table) -> str:
    align = ["right" if numeric else "left" for numeric in t.numeric()]
    body = cells(t.frame).to_markdown(index=False, disable_numparse=True, colalign=align or None)
    return f"{body}\n\n*{t.caption}*" if t.caption else body


def section(s: Section) -> str:
    parts = [f"## {literal(s.title)}", *s.text, *map(table, s.tables)]
    parts += [f"![{f.caption}]({f.path.as_posix()})\n\n*{f.caption}*" for f in s.figures]
    return "\n\n".join(parts)


def render(doc: Document) -> str:
    head = [f"# {literal(doc.title)}", "\n".join(f"- {line}" for line in doc.headline)]
    return "\n\n".join(head + [section(s) for s in doc.sections]) + "\n"
