"""What a report says, independent of how it is written out (Markdown and HTML render the same Document).

Titles and table cells are plain text: each renderer escapes them for its format. Paragraphs, headline
lines and captions are Markdown inline syntax: a value read from a file goes into them only through
reports.markdown.literal, so that it can never become markup, a link or a heading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Table:
    """A table ready to show: cells already formatted with units, one header row."""

    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A plot saved as a file; `path` is relative to the report's folder."""

    path: Path
    caption: str


@dataclass(frozen=True)
class Section:
    title: str  # plain text
    text: list[str] = field(default_factory=list)  # paragraphs; Markdown inline syntax allowed
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass(frozen=True)
class Document:
    title: str
    headline: list[str]  # the answer, first: one line each
    sections: list[Section]
