"""How reports/ is wired: no import cycle, and command lines parsed only by reports/commands/ and __main__.

Read from the source (ast), not by importing: an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "reports"
COMMAND_LINE = ("reports.commands", "reports.__main__")  # where argparse belongs


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str) -> set[str]:
    """Every module `name` imports, anywhere in its source. `from X import Y` is X.Y when that is a module
    (a package's __init__ importing its children is no cycle), else X."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            children = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= (children & MODULES.keys()) or {node.module}
            if children - MODULES.keys():
                found.add(node.module)
    return found


def graph() -> dict[str, set[str]]:
    return {name: imported(name) & MODULES.keys() for name in MODULES}


def cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle, as the modules along it; [] when there is none."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = "open"
        path.append(name)
        for other in sorted(edges[name]):
            if state.get(other) == "open":
                return [*path[path.index(other) :], other]
            if other not in state and (found := visit(other)):
                return found
        path.pop()
        state[name] = "done"
        return []

    for name in sorted(edges):
        if name not in state and (found := visit(name)):
            return found
    return []


def test_the_walk_sees_every_module_and_its_imports() -> None:
    assert {"reports.build", "reports.commands.build", "reports.sections.phases"} <= MODULES.keys()
    assert "reports.build" in graph()["reports.commands.build"]


def test_a_cycle_is_found() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_reports() -> None:
    assert cycle(graph()) == []


def test_only_the_commands_parse_a_command_line() -> None:
    parsing = sorted(name for name in MODULES if "argparse" in imported(name))
    assert parsing, "the commands parse their options with argparse"
    assert [name for name in parsing if not name.startswith(COMMAND_LINE)] == []


def test_the_library_never_imports_the_commands() -> None:
    library = [name for name in MODULES if not name.startswith(COMMAND_LINE)]
    assert [name for name in library if any(m.startswith(COMMAND_LINE) for m in imported(name))] == []


# ---- between the packages: data flows one way -----------------------------------------------------------------

# What each package may import of the others: core is shared by both sides and imports neither; the measuring side
# never imports the rendering side (it runs `python -m reports` as a process); the reports never import bench.
MAY_IMPORT = {"core": set(), "bench": {"core"}, "reports": {"core"}}


def imports_of_package(package: str) -> dict[str, set[str]]:
    """Each module of `package` (its test files included: bench/test_phases.py runs in a benchmark) with the
    top-level netbench packages it imports, anywhere in its source."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(REPO))] = names & MAY_IMPORT.keys() - {package}
    return found


def test_data_flows_one_way_between_core_bench_and_reports() -> None:
    wrong = {
        module: sorted(names - MAY_IMPORT[package])
        for package in MAY_IMPORT
        for module, names in imports_of_package(package).items()
        if names - MAY_IMPORT[package]
    }
    assert wrong == {}


def test_core_imports_no_torch() -> None:
    """core/ is what the reports share with bench: it must import where torch is not installed."""
    heavy = {
        module
        for module in imports_of_package("core")
        for node in ast.walk(ast.parse((REPO / module).read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(
            name.split(".")[0] == "torch"
            for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
        )
    }
    assert heavy == set()
