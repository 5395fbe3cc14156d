"""Render a Document as Markdown."""

from __future__ import annotations

from reports.document import Document, Section, Table


def table(t: Table) -> str:
    body = t.frame.to_markdown(index=False, disable_numparse=True)
    return f"{body}\n\n*{t.caption}*" if t.caption else body


def section(s: Section) -> str:
    parts = [f"## {s.title}", *s.text, *map(table, s.tables)]
    parts += [f"![{f.caption}]({f.path.as_posix()})\n\n*{f.caption}*" for f in s.figures]
    return "\n\n".join(parts)


def render(doc: Document) -> str:
    head = [f"# {doc.title}", "\n".join(f"- {line}" for line in doc.headline)]
    return "\n\n".join(head + [section(s) for s in doc.sections]) + "\n"
