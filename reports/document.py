"""What a report says, independent of how it is written out (Markdown and HTML render the same Document).

Titles and table cells are plain text: each renderer escapes them for its format. Paragraphs, headline
lines and captions are Markdown inline syntax: a value read from a file goes into them only through
reports.markdown.literal, so that it can never become markup, a link or a heading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reports import units


@dataclass(frozen=True)
class Table:
    """A table to show, one header row. Cells hold numbers (reports.units.Quantity: a value and its unit,
    floats, ints) or text; each renderer writes the numbers with their units, so nothing is parsed back."""

    frame: pd.DataFrame
    caption: str = ""

    def numeric(self) -> tuple[bool, ...]:
        """Per column: does every cell that is not empty hold a number (right-aligned, sorted by value)?"""
        return tuple(units.numeric(list(column)) for _, column in self.frame.items())


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
