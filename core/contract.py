"""What the bench side writes and the reports side reads, named once: the case's dimensions and how a case is
named, the phases, the file names, the profiler's labels, the schema version and the noise rules.

This module imports no torch (nor anything else outside the standard library), so that `python -m reports`
(compare, index, build) runs where torch is not installed: a CI job that only compares JSON files, a laptop
reading a GPU box's results. reports/ imports names from here and never from bench's torch modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

SCHEMA_VERSION = 2  # 2: rounds carry their pass and time stamp; the run its canary and passes

# ---- files ----------------------------------------------------------------------------------------
RESULT_FILE = "benchmark.json"  # a bench run's record (pytest-benchmark's JSON plus the netbench section)
PROFILE_FILE = "profile.json"  # a profile run's record
RECORDS = (RESULT_FILE, PROFILE_FILE)
TRACE_SUFFIX = ".pt.trace.json"  # what torch-tb-profiler looks for in each run folder

# ---- phases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """One timed phase and what it depends on; the registry below is the only list of them."""

    name: str
    uses_optimizer: bool = False
    uses_loss: bool = False
    counted: bool = False  # FlopCounterMode counts its work (convolutions, matmuls): a GFLOP/s figure applies
    part: bool = True  # one of the train step's parts (the profiler labels it, the breakdown plots it)
    distributed: bool = False  # exists only at a world size above 1 (under DistributedDataParallel)


# In the order the report lists them.
PHASE = {
    p.name: p
    for p in (
        Phase("forward", counted=True),
        Phase("loss", uses_loss=True),
        Phase("backward", uses_loss=True, counted=True),
        Phase("zero_grad", uses_optimizer=True),
        Phase("step", uses_optimizer=True),
        Phase("train_step", uses_optimizer=True, uses_loss=True, counted=True, part=False),
        # backward under DDP's no_sync(): the same backward without the gradients' all-reduce. backward minus
        # this is the communication that overlap does not hide (bench.distributed).
        Phase("backward_no_sync", uses_loss=True, counted=True, part=False, distributed=True),
    )
}
PHASES = tuple(PHASE)
# The order a train step runs its parts in (bench.workload.Workload.train_step); each is also the label of its
# record_function range in a profile, and a bar of the report's breakdown.
TRAIN_STEP_PARTS = ("zero_grad", "forward", "loss", "backward", "step")
assert set(TRAIN_STEP_PARTS) == {p.name for p in PHASE.values() if p.part}
USES_OPTIMIZER = frozenset(p.name for p in PHASE.values() if p.uses_optimizer)
USES_LOSS = frozenset(p.name for p in PHASE.values() if p.uses_loss)
COUNTED = tuple(p.name for p in PHASE.values() if p.counted)
DISTRIBUTED_PHASES = frozenset(p.name for p in PHASE.values() if p.distributed)
PROCESS_PHASES = tuple(p for p in PHASES if p not in DISTRIBUTED_PHASES)  # what one process (world size 1) times

# ---- profiles -------------------------------------------------------------------------------------
NO_PHASE = "(between phases)"  # operators no phase label encloses
# A record_function range's self time is the time inside it that no operator accounts for:
# the Python of nn.Module and the optimizer, autograd's glue, the profiler's own bookkeeping.
NO_OPERATOR = "(Python and framework)"
STEP_FIELDS = ("operator", "calls", "self_cpu_us", "total_cpu_us", "self_device_us")
PHASE_FIELDS = ("phase", "operator", "calls", "self_cpu_us", "self_device_us")
# Profiles written before the labels were the phase names called the step "optimizer_step".
OLD_PHASE_LABELS = {"optimizer_step": "step"}

# ---- the case's dimensions ------------------------------------------------------------------------
DEVICES = ("cpu", "cuda")
LOSSES = ("mse", "cross_entropy")
# name -> implementation; "default" is whatever torch picks for the device.
OPTIMIZERS = {
    "sgd": "default",
    "sgd-forloop": "for-loop",
    "sgd-foreach": "foreach",
    "sgd-fused": "fused",
    "adam": "default",
    "adam-forloop": "for-loop",
    "adam-foreach": "foreach",
    "adam-fused": "fused",
    "manual": "for-loop",
    "manual-foreach": "foreach",
}
EAGER = "eager"
# How the step is run (bench.variant applies them); `--variants all` asks for every one, and a device keeps those
# it supports. Parts join with "+"; the combinations named here are the ones the matrix offers.
VARIANTS = (
    EAGER,
    "compile",
    "channels_last",
    "compile+channels_last",
    "bf16",
    "fp16",
    "cudagraphs",
    "compile-max-autotune",
    "compile-reduce-overhead",
)
# The model the step trains: a built-in's name, or a user's spec `module:callable` (bench.model). The Net is the
# default and the reference workload: files written before the dimension existed read as it.
DEFAULT_MODEL = "net"
MODEL_LOSS = "custom"  # the loss dimension of a model that brings its own loss function
# A phase that does not depend on a dimension records NONE for it, so the
# matrix never times the same work twice under different names.
NONE = "none"


@dataclass(frozen=True)
class Case:
    """One cell of the matrix. The field names are the `benchmark.extra_info` keys and the report's columns."""

    device: str
    batch_size: int
    optimizer: str
    phase: str
    loss: str
    threads: int
    variant: str = EAGER
    model: str = DEFAULT_MODEL
    world_size: int = 1  # ranks training together under DDP; 1 is the plain model in one process

    @property
    def id(self) -> str:
        """The case's name: the pytest id part, the report's "case" column, the profile's folder name."""
        return case_id(asdict(self))

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


DIMENSIONS = tuple(f.name for f in fields(Case))
COUNT_DIMENSIONS = tuple(f.name for f in fields(Case) if f.type in ("int", int))
TEXT_DIMENSIONS = tuple(d for d in DIMENSIONS if d not in COUNT_DIMENSIONS)
# Result files written before a dimension existed read as this value of it.
DIMENSION_DEFAULTS = {f.name: f.default for f in fields(Case) if isinstance(f.default, (str, int))}


def case_id(values: Mapping[Any, Any]) -> str:
    """The one way to name a case from its dimensions (a dict, a DataFrame row): cpu-b16-train_step-sgd-mse-t2,
    with -<variant> appended when it is not eager, -w<world size> when above 1, and <model>- in front when it is
    not the Net (so the Net's ids are those of files from before models). A comparison across thread counts
    leaves out threads."""
    model = values.get("model", DEFAULT_MODEL)
    parts = [] if model == DEFAULT_MODEL else [model]
    parts += [values["device"], f"b{values['batch_size']}", values["phase"], values["optimizer"], values["loss"]]
    if "threads" in values:
        parts.append(f"t{values['threads']}")
    if values.get("variant", EAGER) != EAGER:
        parts.append(values["variant"])
    if str(values.get("world_size", 1)) != "1":
        parts.append(f"w{values['world_size']}")
    return "-".join(str(p) for p in parts)


# ---- noise rules ----------------------------------------------------------------------------------


# Machine fact: how many other netbench runs timed on the machine while this one did (bench.neighbours).
OTHER_RUNS = "other_netbench_runs"


def neighbour_warnings(facts: Mapping[str, Any]) -> list[str]:
    """The warning for other netbench runs that timed alongside this one (the report's headline says it too)."""
    others = facts.get(OTHER_RUNS)
    if not others:
        return []
    runs = "another netbench run" if others == 1 else f"{others:g} other netbench runs"
    return [
        f"{runs} timed on this machine alongside this one: they competed for the CPUs, and their pinned passes "
        "could share one; time one run at a time"
    ]


def noise_warnings(facts: Mapping[str, Any]) -> list[str]:
    """Plain-language warnings about the conditions a run was taken under (facts: bench.machine's)."""
    warnings = neighbour_warnings(facts)
    load, cores = facts.get("load_average_1m"), facts.get("logical_cores") or 1
    if load is not None and load > 0.5 * cores:
        warnings.append(f"load average {load} on {cores} cores: other work competes with the benchmark")
    governor = facts.get("cpu_governor")
    if governor not in (None, "performance"):
        warnings.append(f"CPU governor is {governor!r}, not 'performance': clock speed may vary")
    if facts.get("turbo"):
        warnings.append("turbo boost is on: clock speed depends on temperature and load")
    return warnings
