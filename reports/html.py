"""Render a Document as one self-contained HTML page: plots inlined as data URIs, no network, no script needed."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from urllib.parse import quote

import jinja2
import pandas as pd
from markupsafe import Markup, escape

from core import files
from reports import units
from reports.document import Document, Figure, Section, Table

# Markdown inline syntax the report code writes: `code`, **strong**, *em*, [text](href), and backslash
# escapes (reports.markdown.literal), which keep a value from a file literal. Matched on text that is
# already HTML-escaped, so nothing a name contains can become markup.
INLINE = re.compile(
    r"\\(?P<escaped>&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);|[!-/:-@\[-`{-~])"
    r"|`(?P<code>[^`]+)`"
    r"|\*\*(?P<strong>.+?)\*\*"
    r"|\[(?P<label>[^\]]+)\]\((?P<href>[^)\s]+)\)"
    r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*])"
)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
WEB = re.compile(r"^https?://[^/\\]", re.IGNORECASE)
LONG_TOKEN = 24  # characters; longer words (paths, ISO time stamps) may break anywhere
MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
RAW_SUFFIXES = {".json", ".csv", ".md", ".txt"}
FILES = "Files"  # the section reports.build ends with; the links join it


@dataclass(frozen=True)
class TableView:
    id: str
    html: Markup
    caption: Markup
    numeric: tuple[int, ...]  # 1-based column positions, for CSS nth-child
    breakable: tuple[int, ...]  # columns whose long words may break, so the table fits the page


@dataclass(frozen=True)
class FigureView:
    path: str
    caption: Markup
    src: str | None  # data URI; None when the file is missing


@dataclass(frozen=True)
class Link:
    href: str
    name: str
    size: str


@dataclass(frozen=True)
class SectionView:
    anchor: str
    title: str
    text: list[Markup]
    tables: list[TableView]
    figures: list[FigureView]
    links: list[Link] = field(default_factory=list)


def safe_href(href: str) -> bool:
    """A web address, or a relative link to a file in the page's own folder or below; not protocol-relative
    (//host), absolute (/etc), climbing (../), javascript: or any other scheme."""
    if WEB.match(href):
        return True
    path = href.split("#", 1)[0].split("?", 1)[0]
    segments = path.replace("\\", "/").split("/")
    return not (SCHEME.match(href) or href.startswith(("/", "\\")) or "%2e%2e" in path.lower() or ".." in segments)


def _replace(m: re.Match[str]) -> str:
    if m["escaped"] is not None:
        return m["escaped"]
    if m["code"] is not None:
        return f"<code>{m['code']}</code>"  # code is literal: no markup inside it
    if m["strong"] is not None:
        return f"<strong>{_convert(m['strong'])}</strong>"
    if m["em"] is not None:
        return f"<em>{_convert(m['em'])}</em>"
    href = m["href"]
    if not safe_href(href):
        return m[0]  # javascript:, //host and friends stay visible text
    return f'<a href="{href}">{_convert(m["label"])}</a>'


def _convert(escaped: str) -> str:
    return INLINE.sub(_replace, escaped)


def inline(text: str) -> Markup:
    """Markdown inline syntax -> safe HTML: escape everything first, then turn the syntax into tags."""
    return Markup(_convert(str(escape(text))))


def long_token_columns(frame: pd.DataFrame) -> tuple[int, ...]:
    """Positions (1-based) of the columns holding a word longer than LONG_TOKEN (paths, time stamps)."""
    return tuple(
        i
        for i, (_, column) in enumerate(frame.items(), start=1)
        if any(len(word) > LONG_TOKEN for cell in column for word in units.text(cell).split())
    )


def cell_html(cell: object) -> str:
    """One <td>: the text escaped; a number also as data-sort, the raw value the page's sort reads."""
    key = units.sort_key(cell)
    sort = "" if key is None else f' data-sort="{key!r}"'  # repr of a finite float: digits, '.', 'e', '-'
    return f"<td{sort}>{escape(units.text(cell))}</td>"


def table_html(frame: pd.DataFrame, ident: str) -> Markup:
    head = "".join(f"<th>{escape(units.text(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(map(cell_html, row)) + "</tr>\n" for row in frame.itertuples(index=False))
    return Markup(
        f'<table class="data" id="{ident}">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>'
    )


def table_view(t: Table, n: int) -> TableView:
    ident = f"t{n}"
    numeric = tuple(i for i, yes in enumerate(t.numeric(), start=1) if yes)
    return TableView(ident, table_html(t.frame, ident), inline(t.caption), numeric, long_token_columns(t.frame))


def data_uri(path: Path) -> str | None:
    """The file as a data: URI, or None when it cannot be read (the page says so instead)."""
    try:
        data = files.read_bounded(path, files.IMAGE_LIMIT)  # a plain file of the folder, never a link out
    except OSError:
        return None
    mime = MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def figure_view(f: Figure, folder: Path) -> FigureView:
    return FigureView(f.path.as_posix(), inline(f.caption), data_uri(folder / f.path))


def anchor(title: str, n: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f"s{n}-{slug}" if slug else f"s{n}"


def section_views(sections: list[Section], folder: Path) -> list[SectionView]:
    views, tables = [], 0
    for n, s in enumerate(sections, start=1):
        table_views = [table_view(t, tables + i) for i, t in enumerate(s.tables, start=1)]
        tables += len(s.tables)  # ids unique across the page: the CSS that aligns numbers targets them
        figures = [figure_view(f, folder) for f in s.figures]
        views.append(SectionView(anchor(s.title, n), s.title, [inline(p) for p in s.text], table_views, figures))
    return views


def size(n: int) -> str:
    for scale, unit in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def raw_links(folder: Path) -> list[Link]:
    """The data files and subfolders next to the page, linked relatively so the folder can move as a whole."""
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []
    raw = [p for p in entries if p.suffix in RAW_SUFFIXES and p.is_file()]
    files = [Link(quote(p.name), p.name, size(p.stat().st_size)) for p in raw]
    # An empty folder (plots/ of a run with no figure) holds nothing to follow: not listed.
    folders = [Link(f"{quote(p.name)}/", f"{p.name}/", "folder") for p in entries if p.is_dir() and any(p.iterdir())]
    return files + folders


@cache
def environment() -> jinja2.Environment:
    # autoescape for every template name: the .j2 suffix would otherwise turn it off.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["inline"] = inline
    return env


def page(template: str, **context: object) -> str:
    """Render one of reports/templates/ with the shared layout."""
    return environment().get_template(template).render(**context)


def with_links(views: list[SectionView], links: list[Link]) -> list[SectionView]:
    """The raw-file links go under the document's own Files section when it has one, else in a last section."""
    if views and views[-1].title == FILES:
        return [*views[:-1], replace(views[-1], links=links)]
    text = [inline("In this folder, next to this page:")]
    return [*views, SectionView("raw-files", "Raw files", text, [], [], links)]


def render(doc: Document, folder: Path) -> str:
    """The page for `doc`, whose figure paths are relative to `folder` (the run or comparison folder)."""
    return page(
        "report.html.j2",
        title=doc.title,
        headline=[inline(line) for line in doc.headline],
        sections=with_links(section_views(doc.sections, folder), raw_links(folder)),
    )


def write(doc: Document, folder: Path, name: str) -> Path:
    """Write folder/name (report.html, compare.html) from the same Document as the Markdown."""
    return files.write_text(folder / name, render(doc, folder))
