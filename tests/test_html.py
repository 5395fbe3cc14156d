"""reports.html and reports.index: escaping, embedded plots, missing files, tables, the results index."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reports import html, index, units
from reports.__main__ import main
from reports.build import build
from reports.document import Document, Figure, Section, Table
from reports.units import Quantity

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "benchmark.json"
# A 1x1 PNG: enough for the page to embed, no plotting needed.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
EVIL = "<script>alert('x')</script> & <b>co</b>"


def fixture_data(host: str = "vm") -> dict[str, Any]:
    data = json.loads(FIXTURE.read_text())
    data["machine_info"]["netbench"]["hostname"] = host
    return data


def write_run(folder: Path, data: dict[str, Any] | str) -> Path:
    folder.mkdir(parents=True)
    text = data if isinstance(data, str) else json.dumps(data)
    (folder / "benchmark.json").write_text(text)
    return folder


def one_section_doc(**section: Any) -> Document:
    return Document("title", ["headline"], [Section("Section", **section)])


# ---- inline Markdown ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**cpu, 2 threads**: fast", "<strong>cpu, 2 threads</strong>: fast"),
        ("run `--threads 1` now", "run <code>--threads 1</code> now"),
        ("[docs](https://example.org/a?b=1&c=2)", '<a href="https://example.org/a?b=1&amp;c=2">docs</a>'),
        ("listed under *Cases not in every run*", "listed under <em>Cases not in every run</em>"),
        ("`f.grad.data * lr` and **`x`**", "<code>f.grad.data * lr</code> and <strong><code>x</code></strong>"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("`**not bold**`", "<code>**not bold**</code>"),
    ],
)
def test_inline_markdown(text: str, expected: str) -> None:
    assert html.inline(text) == expected


def test_inline_escapes_before_it_converts() -> None:
    out = html.inline(f"**{EVIL}** `<i>`")
    assert "<script>" not in out and "<b>" not in out and "<i>" not in out
    assert "&lt;script&gt;" in out and "&amp;" in out
    assert out.startswith("<strong>") and "<code>&lt;i&gt;</code>" in out


@pytest.mark.parametrize("href", ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,x"])
def test_links_with_unsafe_schemes_stay_text(href: str) -> None:
    assert "<a" not in html.inline(f"[click]({href})")


# ---- the report page --------------------------------------------------------------------------------


def test_names_with_html_characters_are_escaped(tmp_path: Path) -> None:
    frame = pd.DataFrame({"fact": ["hostname"], "value": [EVIL]})
    doc = Document(EVIL, [f"**{EVIL}**"], [Section(EVIL, [EVIL], [Table(frame, EVIL)], [Figure(Path("x.png"), EVIL)])])
    page = html.render(doc, tmp_path)
    assert "<script>alert" not in page and "<b>co" not in page
    assert page.count("&lt;script&gt;") >= 6  # title, h1, headline, section, paragraph, cell, caption...


def test_plots_are_embedded_as_data_uris(tmp_path: Path) -> None:
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "a.png").write_bytes(PNG)
    page = html.render(one_section_doc(figures=[Figure(Path("plots/a.png"), "a plot")]), tmp_path)
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in page
    assert 'src="plots/' not in page  # nothing the page needs lives outside it


def test_a_missing_plot_is_noted_not_fatal(tmp_path: Path) -> None:
    page = html.render(one_section_doc(figures=[Figure(Path("plots/gone.png"), "gone")]), tmp_path)
    assert "plot missing: <code>plots/gone.png</code>" in page
    assert "<img" not in page


def test_tables_keep_their_cells_and_align_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "": ["forward", "train_step (sgd)"],
            "batch 16": [Quantity(2.75e-3, "s", Quantity(0.021, "±%")), Quantity(6.3e-3, "s")],
            "file": ["/a/very/long/path/to/benchmark.json", float("nan")],
        }
    )
    page = html.render(one_section_doc(tables=[Table(frame, "latency")]), tmp_path)
    for cell in ("forward", "train_step (sgd)", "batch 16", "2.75 ms (±2.1%)", "6.30 ms", "latency"):
        assert cell in page
    # The number itself travels with its text: the sort reads it, nothing parses "2.75 ms" back.
    assert '<td data-sort="0.00275">2.75 ms (±2.1%)</td>' in page and "<td></td>" in page
    assert "#t1 td:nth-child(2), #t1 th:nth-child(2) { text-align: right;" in page
    assert "#t1 td:nth-child(1)" not in page and "#t1 td:nth-child(3), " not in page
    assert "#t1 td:nth-child(3) { overflow-wrap: anywhere; }" in page  # long paths break, short words do not


def test_pivot_tables_get_no_stray_header_cell(tmp_path: Path) -> None:
    frame = pd.DataFrame({"phase": ["forward"], "b": ["1.25x"]}).rename_axis(columns="machine")
    page = html.render(one_section_doc(tables=[Table(frame)]), tmp_path)
    assert "<th></th>" not in page and "<th>machine</th>" not in page


def test_raw_files_are_linked_relatively(tmp_path: Path) -> None:
    for name in ("benchmark.json", "results.csv", "report.md"):
        (tmp_path / name).write_text("x")
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "a.pt.trace.json").write_text("{}")
    (tmp_path / "plots").mkdir()  # empty: nothing to follow, not listed
    page = html.render(one_section_doc(), tmp_path)
    for href in ("benchmark.json", "results.csv", "report.md", "traces/"):
        assert f'href="{href}"' in page
    assert "plots/" not in page


def test_numbers_sort_by_value_not_by_their_text(tmp_path: Path) -> None:
    """'2.00 KiB' is more than '900 B': the cells carry 2048 and 900, whatever their units read."""
    frame = pd.DataFrame({"phase": ["a", "b", "c"], "memory": units.column([2048, 900, 3 * 2**20], "B")})
    page = html.render(one_section_doc(tables=[Table(frame)]), tmp_path)
    keys = [float(k) for k in re.findall(r'data-sort="([^"]+)"', page)]
    assert keys == [2048, 900, 3 * 2**20]
    assert ">2.00 KiB<" in page and ">900 B<" in page and ">3.00 MiB<" in page
    assert "#t1 td:nth-child(2), #t1 th:nth-child(2) { text-align: right;" in page


def test_build_writes_report_html_and_the_index(tmp_path: Path) -> None:
    data = fixture_data(host=EVIL)
    run = write_run(tmp_path / "20260101T000000Z-evil", data)
    build(run)
    page = (run / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert page.count('src="data:image/png;base64,') == len(list((run / "plots").glob("*.png"))) > 0
    batches = {f"batch {b['extra_info']['batch_size']}" for b in data["benchmarks"]}
    for cell in ("forward", "backward", "train_step (sgd)", *batches):
        assert f">{cell}<" in page
    assert 'href="report.md"' in page and 'href="results.csv"' in page
    listing = (tmp_path / "index.html").read_text()
    assert 'href="20260101T000000Z-evil/report.html"' in listing and "<script>alert" not in listing


def test_build_of_a_partial_json_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path / "run", FIXTURE.read_text()[:5000])
    assert main(["build", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "not valid JSON" in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["benchmark.json", "run"]


# ---- the index --------------------------------------------------------------------------------------


def test_index_lists_runs_newest_first_with_the_reason_a_run_is_broken(tmp_path: Path) -> None:
    write_run(tmp_path / "20260101T000000Z-old", fixture_data(host="old<host>"))
    write_run(tmp_path / "20260301T000000Z-new", fixture_data(host="newhost"))
    write_run(tmp_path / "20260201T000000Z-broken", FIXTURE.read_text()[:5000])
    (tmp_path / "20260102T000000Z-interrupted").mkdir()
    (tmp_path / "latest").symlink_to("20260301T000000Z-new")
    (tmp_path / "notes").mkdir()  # not netbench output: not listed
    page = index.render(tmp_path)
    names = ["20260301T000000Z-new", "20260201T000000Z-broken", "20260102T000000Z-interrupted", "20260101T000000Z-old"]
    positions = [page.index(f">{name}<") for name in names]
    assert positions == sorted(positions)
    assert "cannot be read:" in page and "not valid JSON" in page and "benchmark.json: no such file" in page
    assert "old&lt;host&gt;" in page
    assert re.search(r"<td>cpu: [\d,.]+ samples/s \(\w+, batch \d+, \d+ threads\)</td>", page)
    assert ">latest<" not in page and ">notes<" not in page


def test_index_lists_comparisons_and_profiles(tmp_path: Path) -> None:
    (tmp_path / "compare-20260105T000000Z").mkdir()
    (tmp_path / "compare-20260105T000000Z" / "compare.md").write_text("# Comparison: a vs <b>\n")
    (tmp_path / "compare-20260105T000000Z" / "compare.html").write_text("")
    (tmp_path / "20260104T000000Z-vm").mkdir()
    (tmp_path / "20260104T000000Z-vm" / "profile.json").write_text("{}")
    page = index.render(tmp_path)
    assert 'href="compare-20260105T000000Z/compare.html"' in page and ">a vs &lt;b&gt;<" in page
    assert "<h2>Profiles</h2>" in page and "cannot be read" not in page
    assert 'href="20260104T000000Z-vm/report.html"' not in page  # not built yet: no link to it
    (tmp_path / "20260104T000000Z-vm" / "report.html").write_text("")
    assert 'href="20260104T000000Z-vm/report.html"' in index.render(tmp_path)


def test_index_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_run(tmp_path / "20260101T000000Z-vm", fixture_data())
    assert main(["index", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "index.html")
    assert main(["index", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
