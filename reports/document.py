"""What a report says, independent of how it is written out (Markdown now; other formats render the same)."""

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
    title: str
    text: list[str] = field(default_factory=list)  # paragraphs; Markdown inline syntax allowed
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass(frozen=True)
class Document:
    title: str
    headline: list[str]  # the answer, first: one line each
    sections: list[Section]
