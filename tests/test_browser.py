"""The HTML pages in a real browser: headless Debian chromium driven by Playwright, pages opened from file:// URLs.

Installs nothing: .ci/run installs chromium and the test dependency group brings playwright; without either
the tests skip. Screenshots land next to each page (report.png, compare.png, index.png).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from reports.build import build
from tests.conftest import thin

pytestmark = [pytest.mark.browser, pytest.mark.e2e]  # headless Chromium over real reports

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags chromium's own connections are refused on CI machines and
# logged as errors; the page itself needs no network at all.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "benchmark.json"
RUN = "20260101T000000Z-fixture"
COMPARE = "compare-20260102T000000Z"
MAX_ROUNDS = 200  # keeps the comparison's bootstrap quick, as in test_compare

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium; .ci/run does)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (the test dependency group)")


@dataclass
class Visit:
    """What one page load showed: console errors, page errors, and every URL the page asked for."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def fixture_data(host: str, scale: float = 1.0) -> dict[str, Any]:
    data = json.loads(FIXTURE.read_text())
    data["machine_info"]["netbench"]["hostname"] = host
    data["benchmarks"] = [b for b in data["benchmarks"] if b["extra_info"]["device"] == "cpu"]
    for bench in data["benchmarks"]:
        thin(bench, MAX_ROUNDS)  # with each round's pass and time stamp, which the loader checks
        rounds = np.asarray(bench["stats"]["data"]) * scale
        bench["stats"]["data"] = rounds.tolist()
        bench["stats"]["median"] = float(np.median(rounds))
    return data


def make_comparison(root: Path) -> Path | None:
    """A comparison of two copies of the fixture (distinct hosts, one 0.8x the time), when reports.compare exists."""
    if importlib.util.find_spec("reports.compare") is None:
        return None
    from reports.__main__ import main

    runs = []
    for host, scale in (("laptop", 1.0), ("workstation", 0.8)):
        folder = root / "inputs" / host
        folder.mkdir(parents=True)
        (folder / "benchmark.json").write_text(json.dumps(fixture_data(host, scale)))
        runs.append(str(folder))
    assert main(["compare", *runs, "--out", str(root / COMPARE)]) == 0
    return root / COMPARE / "compare.html"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results root with the fixture's run (report built) and a comparison; the index lists both."""
    root = tmp_path_factory.mktemp("results")
    (root / RUN).mkdir()
    shutil.copy(FIXTURE, root / RUN / "benchmark.json")
    make_comparison(root)
    build(root / RUN)  # last: it writes the index, which then lists the comparison too
    return root


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    profile = tmp_path_factory.mktemp("chromium-profile")  # fresh: nothing from an earlier run
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=FLAGS,
            headless=True,
            viewport={"width": 1280, "height": 800},
        )
        yield context
        context.close()


def open_page(browser: Any, path: Path, visit: Visit) -> Any:
    page = browser.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda m: visit.errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: visit.errors.append(f"page: {e}"))
    page.on("request", lambda r: visit.requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    return page


def check_page(browser: Any, path: Path, screenshot: str) -> Any:
    """Open the page, check what every page must do, screenshot it; returns the open page."""
    visit = Visit()
    page = open_page(browser, path, visit)
    images = page.eval_on_selector_all(
        "img, svg",
        "els => els.map(e => [e.tagName, e.naturalWidth ?? e.getBoundingClientRect().width, "
        "e.naturalHeight ?? e.getBoundingClientRect().height, e.complete ?? true])",
    )
    for tag, width, height, complete in images:
        assert complete and width > 0 and height > 0, f"{path.name}: an {tag} did not render ({width}x{height})"
    for href in page.eval_on_selector_all("a[href]:not([href^='#'])", "els => els.map(e => e.href)"):
        url = urlparse(href)
        assert url.scheme == "file" and Path(unquote(url.path)).exists(), f"{path.name}: link {href} leads nowhere"
    page.screenshot(path=str(path.parent / screenshot), full_page=True)
    assert visit.errors == [], f"{path.name}: {visit.errors}"
    outside = [u for u in visit.requests if not u.startswith(("file:", "data:"))]
    assert outside == [], f"{path.name} asked the network for {outside}"
    return page


def table_after(page: Any, heading: str) -> dict[str, list[str]]:
    """Header cells and first-column cells of the first table in the section whose title starts with heading."""
    return page.evaluate(
        """heading => {
            const section = [...document.querySelectorAll("section")]
                .find(s => s.querySelector("h2")?.textContent.startsWith(heading));
            const table = section.querySelector("table");
            return {
                headers: [...table.tHead.rows[0].cells].map(c => c.textContent.trim()),
                rows: [...table.tBodies[0].rows].map(r => r.cells[0].textContent.trim()),
            };
        }""",
        heading,
    )


def test_run_report(browser: Any, results: Path) -> None:
    page = check_page(browser, results / RUN / "report.html", "report.png")
    assert page.locator("figure img").count() >= 4  # latency, breakdown, step cost, throughput
    latency = table_after(page, "Time per phase")
    data = json.loads(FIXTURE.read_text())
    batches = {b["extra_info"]["batch_size"] for b in data["benchmarks"] if b["extra_info"]["device"] == "cpu"}
    assert {f"batch {b}" for b in batches} <= set(latency["headers"])
    phases = {label.split(" (")[0] for label in latency["rows"]}
    assert {"forward", "loss", "backward", "zero_grad", "step", "train_step"} <= phases
    raw = page.eval_on_selector_all("ul.files a", "els => els.map(e => e.textContent)")
    assert {"benchmark.json", "results.csv", "report.md", "plots/"} <= set(raw)
    # The optional sort: a click orders the rows and marks the header, without errors.
    header = page.locator("table.data").nth(1).locator("thead th").nth(1)
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    # By the number each cell carries, not its text: bytes in KiB and MiB and B sort as bytes.
    memory = page.locator("section", has=page.locator("h2", has_text="Memory per phase")).locator("table.data").first
    memory.locator("thead th").nth(2).click()
    keys = memory.evaluate("t => [...t.tBodies[0].rows].map(r => r.cells[2].getAttribute('data-sort'))")
    numbers = [float(k) for k in keys if k is not None]
    assert len(numbers) > 2 and numbers == sorted(numbers)
    page.close()


def test_comparison_page(browser: Any, results: Path) -> None:
    path = results / COMPARE / "compare.html"
    if not path.exists():
        pytest.skip("reports.compare is not importable: no comparison page to check")
    page = check_page(browser, path, "compare.png")
    assert page.locator("figure img").count() >= 1
    cases = table_after(page, "Every shared case")
    assert len(cases["rows"]) == len(fixture_data("x")["benchmarks"])
    assert {"speedup", "verdict"} <= set(cases["headers"])
    raw = page.eval_on_selector_all("ul.files a", "els => els.map(e => e.textContent)")
    assert {"compare.md", "compare.csv"} <= set(raw)
    page.close()


def test_index(browser: Any, results: Path) -> None:
    page = check_page(browser, results / "index.html", "index.png")
    runs = table_after(page, "Runs")
    assert runs["rows"][0] == RUN
    assert page.locator(f"a[href='{RUN}/report.html']").count() == 1
    if (results / COMPARE).exists():
        assert page.locator(f"a[href='{COMPARE}/compare.html']").count() == 1
    page.close()
