"""README.md and docs/: the README stays a few screens, every link leads somewhere, every `nox -s NAME` is a
session, the offline recipe is the one the noxfile derives from pyproject.toml, and the layout names every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytest.importorskip("nox", reason="needs nox (the test dependency group)")
import noxfile

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
README_MOST_LINES = 250  # a few screens, as pytest-benchmark's (190 lines) and pyperf's (147)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
NOX_SESSION = re.compile(r"\bnox(?: --?[\w-]+)* -s \"?([A-Za-z_]\w*)")


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code: where links and headings are."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for line in FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            name, n = base, 0
            while name in found:  # GitHub numbers repeated headings: name, name-1, name-2
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def links(page: Path) -> list[str]:
    return LINK.findall(prose(page.read_text(encoding="utf-8")))


def sessions() -> set[str]:
    """The functions noxfile.py decorates with @nox.session (with or without arguments)."""
    tree = ast.parse((REPO / "noxfile.py").read_text())
    named = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if ast.unparse(target) == "nox.session":
                    named.add(node.name)
    return named


def test_the_docs_show_the_offline_recipe_the_noxfile_derives_from_pyproject() -> None:
    recipe = noxfile.recipe_command()
    assert recipe.startswith("pip install --no-index --find-links ./wheels ")
    assert recipe in (DOCS / "environments.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(REPO)}")
    assert not broken, broken


def test_the_readme_fits_on_a_few_screens_and_starts_with_bench_and_tests() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MOST_LINES
    assert "nox -s bench" in text and "nox -s tests" in text


def test_the_readme_links_every_docs_page() -> None:
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in links(README)}
    assert {p.resolve() for p in DOCS.glob("*.md")} <= linked


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_nox_session_named_is_one_the_noxfile_has(page: Path) -> None:
    named = set(NOX_SESSION.findall(page.read_text(encoding="utf-8")))
    assert named - sessions() == set()


def test_the_session_pattern_reads_the_forms_the_docs_use() -> None:
    text = 'nox -s bench -- --quick; nox --no-venv -s gpucheck; nox -s "compat(lowest)"; `nox -s tests_all`'
    assert NOX_SESSION.findall(text) == ["bench", "gpucheck", "compat", "tests_all"]


def named_in(layout: str, module: Path) -> bool:
    """A module of a package is named by its file name; one in a subpackage (reports/commands/base.py) on the
    subpackage's entry: the line naming "commands/" and the lines indented further that continue it."""
    name = re.compile(rf"(?<![\w/]){re.escape(module.name)}\b")
    if module.parent.name in ("core", "bench", "reports"):
        return bool(name.search(layout))
    lines = layout.splitlines()
    for i, line in enumerate(lines):
        if f" {module.parent.name}/ " in f" {line} ":
            indent = len(line) - len(line.lstrip())
            entry = [line]
            for more in lines[i + 1 :]:
                if len(more) - len(more.lstrip()) <= indent + len(module.parent.name) + 1:
                    break
                entry.append(more)
            if name.search("\n".join(entry)):
                return True
    return False


def test_the_layout_names_every_module() -> None:
    """docs/development.md's layout lists each module of core/, bench/ and reports/."""
    layout = (DOCS / "development.md").read_text(encoding="utf-8")
    missing = [
        str(path.relative_to(REPO))
        for top in ("core", "bench", "reports")
        for path in sorted((REPO / top).rglob("*.py"))
        if path.name not in ("__init__.py", "__main__.py") and not named_in(layout, path)
    ]
    assert not missing, f"docs/development.md, Layout, does not name: {missing}"
