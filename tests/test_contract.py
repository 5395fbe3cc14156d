"""core/contract.py: the names bench and reports share, and the reports running where torch cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from core import contract
from core.contract import (
    COUNTED,
    DISTRIBUTED_PHASES,
    PHASE,
    PHASES,
    PROCESS_PHASES,
    TRAIN_STEP_PARTS,
    USES_LOSS,
    USES_OPTIMIZER,
    Case,
    case_id,
)
from tests.conftest import REPO, thin

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "benchmark.json"
# Run before anything else in a fresh interpreter: every import of torch (or a torch submodule) fails, as on
# a machine without torch. The reports then run by runpy, as `python -m reports ...` does.
NO_TORCH = """
import runpy, sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
        return None
sys.meta_path.insert(0, NoTorch())
sys.argv = ["python -m reports", *sys.argv[1:]]
if sys.argv[1] == "import-all":
    import importlib, pkgutil, reports, core.contract, core.files, core.record, core.run
    for module in pkgutil.walk_packages(reports.__path__, "reports."):
        importlib.import_module(module.name)
    print("imported", "torch" in sys.modules)
else:
    runpy.run_module("reports", run_name="__main__")
"""


def without_torch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH, *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_every_reports_module_imports_without_torch() -> None:
    done = without_torch("import-all")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported False"


def test_the_block_really_blocks_torch() -> None:
    """The check above means something only if torch is refused in that interpreter."""
    done = subprocess.run([sys.executable, "-c", NO_TORCH.split("sys.argv")[0] + "import torch"], capture_output=True)
    assert done.returncode != 0 and b"blocked by the test" in done.stderr


def test_build_compare_and_index_run_without_torch(tmp_path: Path) -> None:
    data = json.loads(FIXTURE.read_text())
    data["benchmarks"] = [b for b in data["benchmarks"] if b["extra_info"]["device"] == "cpu"][:6]
    for bench in data["benchmarks"]:
        thin(bench, 100)  # a quick bootstrap
    runs: list[Path] = []
    for host in ("a", "b"):
        data["machine_info"]["netbench"]["hostname"] = host
        folder = tmp_path / f"2026010{len(runs) + 1}T000000Z-{host}"
        folder.mkdir()
        (folder / "benchmark.json").write_text(json.dumps(data))
        runs.append(folder)
    for args in (
        ("build", str(runs[0])),
        ("compare", *map(str, runs), "--out", str(tmp_path / "cmp")),
        ("index", str(tmp_path)),
    ):
        done = without_torch(*args)
        assert done.returncode == 0, f"{args[0]}: {done.stderr}"
    assert (runs[0] / "report.html").is_file() and (tmp_path / "cmp" / "compare.md").is_file()
    assert (tmp_path / "index.html").is_file()


def test_the_contract_imports_nothing_outside_the_standard_library() -> None:
    imported = {
        line.split()[1].split(".")[0]
        for line in Path(contract.__file__).read_text().splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


def test_one_registry_names_every_phase() -> None:
    assert tuple(PHASE) == PHASES
    assert set(TRAIN_STEP_PARTS) | {"train_step"} == set(PROCESS_PHASES)
    assert set(PHASES) - set(PROCESS_PHASES) == DISTRIBUTED_PHASES == {"backward_no_sync"}
    assert {"zero_grad", "step", "train_step"} == USES_OPTIMIZER
    assert {"loss", "backward", "train_step", "backward_no_sync"} == USES_LOSS
    assert set(COUNTED) == {"forward", "backward", "train_step", "backward_no_sync"}


def test_case_id_is_the_pytest_id_and_reads_every_dimension() -> None:
    case = Case("cpu", 16, "sgd", "train_step", "mse", 2)
    assert case.id == "cpu-b16-train_step-sgd-mse-t2" == case_id(case.as_dict())
    for dim in (f.name for f in fields(Case)):  # every dimension changes the id (a new one must be named in it too)
        changed = {**case.as_dict(), dim: "zz"}
        assert case_id(changed) != case.id, dim
    assert case_id({k: v for k, v in case.as_dict().items() if k != "threads"}) == "cpu-b16-train_step-sgd-mse"


def test_an_old_profile_label_reads_as_the_phase(tmp_path: Path) -> None:
    from reports import operators

    src = tmp_path / "phases.csv"
    src.write_text("phase,operator,calls,self_cpu_us,self_device_us\noptimizer_step,aten::add_,2,5.0,0\n")
    frame = operators.read_summary(src, contract.PHASE_FIELDS)
    assert list(frame["phase"]) == ["step"]


def test_reports_import_no_bench_module_that_needs_torch() -> None:
    """reports/ takes shared names from core.contract (and core.files / core.run, which import no torch)."""
    allowed = {"bench", "core.contract", "core.files", "core.run"}
    found = set()
    for path in (REPO / "reports").rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if (words[:1] == ["from"] and words[1].startswith("bench")) or (
                words[:1] == ["import"] and words[1].startswith("bench")
            ):
                found.add(words[1])
    assert found <= allowed, found - allowed
