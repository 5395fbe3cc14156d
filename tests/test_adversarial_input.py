"""Result files as untrusted input: every wrong shape or type is one ReportError naming the file and the
problem, every file that loads can be reported on, and no value from a file becomes markup, a link, a
table break or a path outside the output folder. Hypothesis generates the hostile values."""

from __future__ import annotations

import copy
import html as std_html
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.contract import OTHER_RUNS, SCHEMA_VERSION, noise_warnings
from core.files import inside, safe_name
from core.record import EXTRA_FIELDS, FACT_FIELDS, SECTION_FIELDS
from reports import html, markdown, tables, variants
from reports.build import headline
from reports.document import Document, Section, Table
from reports.frame import machine_label, rounds, tidy
from reports.load import ReportError, check_run, load_run
from reports.margin import Rounds
from tests.conftest import replaced

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "benchmark.json"
BASE: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
PATH = Path("downloads/run.json")
SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)

# Every place the reports read from; each may be replaced by any JSON value.
PLACES: list[tuple[str | int, ...]] = [
    ("benchmarks",),
    ("benchmarks", 0),
    ("benchmarks", 0, "name"),
    ("benchmarks", 0, "extra_info"),
    *[("benchmarks", 1, "extra_info", d) for d in ("device", "batch_size", "optimizer", "phase", "loss", "threads")],
    *[("benchmarks", 2, "extra_info", k) for k in ("flops", "samples", "peak_gflops", "memory_method", "timer")],
    ("benchmarks", 3, "stats"),
    ("benchmarks", 3, "stats", "data"),
    ("benchmarks", 3, "stats", "data", 0),
    ("benchmarks", 3, "stats", "median"),
    ("benchmarks", 3, "stats", "iqr"),
    ("benchmarks", 4, "extra_info", "passes"),
    ("benchmarks", 4, "extra_info", "passes", 0),
    ("benchmarks", 4, "extra_info", "stamps", 0),
    ("netbench", "passes"),
    ("netbench", "seed"),
    ("netbench", "canary"),
    ("netbench",),
    ("netbench", "schema"),
    ("netbench", "skipped"),
    ("netbench", "skipped", 0),
    ("netbench", "skipped", 0, "device"),
    ("netbench", "skipped", 0, "reason"),
    ("netbench", "failed"),
    ("machine_info",),
    ("machine_info", "node"),
    ("machine_info", "netbench"),
    *[("machine_info", "netbench", k) for k in ("hostname", "cpu_model", "gpus", "load_average_1m", "logical_cores")],
    ("machine_info", "netbench", OTHER_RUNS),
    ("datetime",),
    # and every field core.record defines (reports.load checks each; tests/test_record.py tries hostile values)
    *[("benchmarks", 5, "extra_info", f.name) for f in EXTRA_FIELDS],
    *[("netbench", f.name) for f in SECTION_FIELDS],
    *[("machine_info", "netbench", f.name) for f in FACT_FIELDS],
]


def report_parts(path: Path, data: Any) -> None:
    """What every report reads of a run: it must work on anything check_run lets through."""
    run = check_run(path, data)
    df = tidy(run)
    rounds(run)
    headline(df, run)
    machine_label(run)
    noise_warnings(run.facts)
    tables.machine(run.facts)
    tables.skipped(run.skipped)
    tables.failed(run.failed)
    list(tables.groups(df))
    variants.sections(df, Rounds(run))


# ---- shape and types --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["skipped", "failed"])
def test_a_null_list_of_skipped_or_failed_cases_is_none(key: str) -> None:
    # The record allows null for any optional field; CI's Hypothesis run found these two read as len(None).
    report_parts(PATH, replaced(BASE, ("netbench", key), None))


@SETTINGS
@given(place=st.sampled_from(PLACES), value=json_values)
def test_any_value_anywhere_loads_or_is_one_clear_line(place: tuple[str | int, ...], value: Any) -> None:
    try:
        report_parts(PATH, replaced(BASE, place, value))
    except ReportError as err:
        message = str(err)
        assert message.startswith(f"{PATH}: ") and "\n" not in message


# name -> (where, value, what the one line says)
WRONG: dict[str, tuple[tuple[str | int, ...], Any, str]] = {
    "benchmark that is a number": (("benchmarks", 0), 5, "benchmarks[0]: 5 (a number) found, expected an object"),
    "schema that is a string": (("netbench", "schema"), "1", 'netbench.schema: "1" (a string) found'),
    "schema that is a float": (("netbench", "schema"), 1.0, "a whole number from 1"),
    "machine_info that is a list": (("machine_info",), [1], "machine_info: [1] (a list) found, expected an object"),
    "NaN round": (("benchmarks", 3, "stats", "data", 2), math.nan, "stats.data: round 2 is NaN"),
    "infinite round": (("benchmarks", 3, "stats", "data", 0), math.inf, "round 0 is Infinity"),
    "negative round": (("benchmarks", 3, "stats", "data", 1), -1e-3, "round 1 is -0.001"),
    "no rounds": (("benchmarks", 3, "stats", "data"), [], "[] found, expected a non-empty list of seconds"),
    "NaN median": (("benchmarks", 3, "stats", "median"), math.nan, "stats.median: NaN (a number) found"),
    "batch size 0": (("benchmarks", 1, "extra_info", "batch_size"), 0, "batch_size: 0 (a number) found"),
    "batch size true": (("benchmarks", 1, "extra_info", "batch_size"), True, "batch_size: true (true) found"),
    "threads as text": (("benchmarks", 1, "extra_info", "threads"), "2", 'threads: "2" (a string) found'),
    "empty device": (("benchmarks", 1, "extra_info", "device"), "", 'device: "" (a string) found'),
    "device as a list": (("benchmarks", 1, "extra_info", "device"), ["cpu"], "expected a non-empty string"),
    "skipped as an object": (("netbench", "skipped"), {}, "netbench.skipped: an object found, expected a list"),
    "failed case as text": (("netbench", "failed"), ["oops"], 'netbench.failed[0]: "oops" (a string) found'),
    "skipped without reason": (("netbench", "skipped", 0, "reason"), None, "netbench.skipped[0].reason: null"),
    "datetime as a number": (("datetime",), 5, "datetime: 5 (a number) found, expected a string"),
    "facts as a list": (("machine_info", "netbench"), [], "machine_info.netbench: [] (a list) found"),
    "hostname as a number": (("machine_info", "netbench", "hostname"), 7, "hostname: 7 (a number) found"),
    "gpu without a name": (("machine_info", "netbench", "gpus"), [{}], "gpus[0].name: null (null) found"),
    "newer schema": (("netbench", "schema"), SCHEMA_VERSION + 1, "written by a newer netbench"),
    "unknown phase": (("benchmarks", 1, "extra_info", "phase"), "warp", "expected one of forward, loss, backward"),
    "batch size beyond int64": (("benchmarks", 1, "extra_info", "batch_size"), 10**20, "a whole number from 1"),
    "pass number beyond int64": (("benchmarks", 1, "extra_info", "passes", 0), 10**30, "item 0 is 1000000000000000"),
    "pass count as text": (("netbench", "passes"), "../x", 'netbench.passes: "../x" (a string) found'),
    "other runs as text": (("machine_info", "netbench", OTHER_RUNS), "2", f'{OTHER_RUNS}: "2" (a string) found'),
    "seed as a float": (("netbench", "seed"), 1.5, "netbench.seed: 1.5 (a number) found, expected null or a whole"),
    "compile time as text": (("benchmarks", 1, "extra_info", "compile_cold_seconds"), "3", 'compile_cold_seconds: "3"'),
    "graph breaks as a list": (
        ("benchmarks", 1, "extra_info", "graph_breaks"),
        [1],
        "graph_breaks: [1] (a list) found",
    ),
    "recompiles below 0": (
        ("benchmarks", 1, "extra_info", "recompiles_during_timing"),
        -1,
        "recompiles_during_timing: -1",
    ),
    "bf16 flag as text": (("benchmarks", 1, "extra_info", "cpu_bf16"), "no", 'cpu_bf16: "no" (a string) found'),
    "turbo as text": (("machine_info", "netbench", "turbo"), "off", 'turbo: "off" (a string) found'),
    "gpu without capability": (
        ("machine_info", "netbench", "gpus"),
        [{"name": "H100", "memory_bytes": 1}],
        "gpus[0].capability: null (null) found, expected a string",
    ),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_wrong_shapes_are_named(name: str) -> None:
    place, value, message = WRONG[name]
    with pytest.raises(ReportError) as err:
        check_run(PATH, replaced(BASE, place, value))
    assert str(err.value).startswith(f"{PATH}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_nan_round_names_its_benchmark(tmp_path: Path) -> None:
    """NaN is not JSON, but Python writes and reads it: the round is named, never dropped from a median."""
    file = tmp_path / "benchmark.json"
    file.write_text(json.dumps(replaced(BASE, ("benchmarks", 3, "stats", "data", 0), math.nan)), encoding="utf-8")
    with pytest.raises(ReportError, match=re.escape(f"benchmark {BASE['benchmarks'][3]['name']!r} stats.data")):
        load_run(file)


def test_the_same_case_twice_is_refused() -> None:
    data = copy.deepcopy(BASE)
    data["benchmarks"].append({**copy.deepcopy(data["benchmarks"][0]), "name": "again"})
    with pytest.raises(ReportError, match="benchmark 'again': the same case as"):
        check_run(PATH, data)


def test_unknown_fields_and_older_schemas_load() -> None:
    """Newer runs add fields (per-round passes and stamps, a canary series); older ones lack them."""
    data = copy.deepcopy(BASE)
    for bench in data["benchmarks"]:
        n = len(bench["stats"]["data"])
        bench["stats"]["passes"] = [i % 5 for i in range(n)]
        bench["extra_info"]["stamps"] = [float(i) for i in range(n)]
    data["netbench"]["canary"] = {"seconds": [0.01, 0.02], "stamps": [0, 1]}
    data["netbench"]["schema"] = 1
    data["machine_info"]["netbench"]["something_new"] = {"nested": [1, 2]}
    report_parts(PATH, data)


# ---- values become neither markup nor paths ------------------------------------------------------------

texts = st.text(max_size=40) | st.sampled_from(
    ["x|y\n# h", "[a](//evil.example)", "[j](javascript:alert(1))", "<script>x</script>", "**b** `c` _d_ ~~e~~", "\\"]
)


@SETTINGS
@given(text=texts)
def test_a_literal_value_renders_as_itself_in_html(text: str) -> None:
    out = str(html.inline(markdown.literal(text)))
    assert "<" not in out  # no tag at all: not <a>, <strong>, <code>, <script>
    assert std_html.unescape(out) == markdown.BREAKS.sub(" ", text)


@SETTINGS
@given(cell=texts, header=texts)
def test_a_value_never_breaks_a_markdown_table(cell: str, header: str) -> None:
    table = markdown.table(Table(pd.DataFrame({"fact": ["hostname", "cpu"], header or "h": [cell, "x"]})))
    lines = table.splitlines()
    assert len(lines) == 4  # header, rule, two rows: no newline got through
    unescaped_pipes = [len(re.findall(r"(?<!\\)\|", line)) for line in lines]
    assert set(unescaped_pipes) == {3}  # every row has exactly its three cell borders


@SETTINGS
@given(text=texts)
def test_a_value_never_becomes_a_heading_or_a_line(text: str) -> None:
    doc = Document(text, [f"**{markdown.literal(text)}**: x"], [Section(text, [markdown.literal(text)])])
    lines = markdown.render(doc).splitlines()
    assert len(lines) == 7  # title, blank, headline, blank, section title, blank, paragraph
    assert [i for i, line in enumerate(lines) if line.lstrip().startswith("#")] == [0, 4]
    assert lines[0][:2] == "# " and lines[4][:3] == "## " and "#" not in lines[0][2:3] + lines[4][3:4]


@SETTINGS
@given(text=st.text(max_size=80))
def test_safe_names_are_one_plain_segment(text: str) -> None:
    name = safe_name(text)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", name) and len(name) <= 80
    folder = Path("/out")
    assert inside(folder, name).parent == folder


def test_different_names_stay_different() -> None:
    names = ["a/b", "a b", "a:b", "a-b", "../a-b", "a\\b", "", ".", ".."]
    assert len({safe_name(n) for n in names}) == len(names)
    assert safe_name("cpu") == "cpu" and safe_name("cuda-t2") == "cuda-t2"


@pytest.mark.parametrize("name", ["../x.png", "/etc/x.png", "a/../../x.png", ""])
def test_paths_outside_the_folder_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a path inside"):
        inside(Path("/out"), name)


@pytest.mark.parametrize(
    ("href", "link"),
    [
        ("report.md", True),
        ("plots/a.png", True),
        ("traces/", True),
        ("https://example.org/x", True),
        ("HTTP://example.org", True),
        ("//evil.example/x", False),
        ("/etc/passwd", False),
        ("../other/report.html", False),
        ("a/../../x", False),
        ("%2e%2e/x", False),
        ("\\\\host\\share", False),
        ("javascript:alert(1)", False),
        ("mailto:a@b", False),
        ("https:/evil", False),
        ("https:///evil", False),
    ],
)
def test_only_web_and_inside_links_become_links(href: str, link: bool) -> None:
    out = str(html.inline(f"[x]({href})"))
    assert ("<a " in out) is link, out
