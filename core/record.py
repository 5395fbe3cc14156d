"""The result record, defined once: every field netbench writes into a result file, with its kind, whether it
is required, and the values it may hold. The bench side builds what it writes through `extra_info`,
`section` and `facts` below; reports.load checks every file it reads against the same fields (`fault`), so a
field cannot be written without being checked on load, and the reports read the fields by the names here.

As pyperf's `_bench.py` and asv's `results.py` own their formats, this module owns ours beside its version
(core.contract.SCHEMA_VERSION). The parts of a file:

    benchmarks[i].extra_info   EXTRA_INFO: the case's dimensions, then what was recorded with it
    benchmarks[i].stats        STATS: pytest-benchmark's statistics, as the reports read them
    netbench                   SECTION: the run (schema, selection, passes, seed, canary, ...)
    machine_info.netbench      FACTS: the machine (bench.machine's collectors, the peak, the noise)

Like core.contract, this imports nothing outside the standard library: `python -m reports` runs without torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

from core.contract import COUNT_DIMENSIONS, DIMENSIONS, OTHER_RUNS, PHASES, SCHEMA_VERSION

# ---- kinds of value -----------------------------------------------------------------------------------


class Kind(NamedTuple):
    """What a value may be: a test, and the words a message uses for what it allows."""

    test: Callable[[Any], bool]
    allowed: str


# The largest count or pass number a file may hold: far above any real one, and within what numpy's int64 and
# float64 hold exactly (a batch size of 10**20 from a file would otherwise end in a numpy TypeError).
LARGEST = 2**31 - 1
# The longest compile a file may record: a cold compile takes 25-60 s on the 2-core box and its process is
# stopped after 900 s (bench.compile_cost.TIMEOUT); more than a day is a broken file, not a slow compiler.
LONGEST_COMPILE = 86_400


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    return is_integer(value) and 0 <= value <= LARGEST


def is_count(value: Any) -> bool:
    return is_whole(value) and value > 0


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_amount(value: Any) -> bool:
    return is_number(value) and value >= 0


def is_seconds(value: Any) -> bool:
    return is_number(value) and value > 0


def is_rank_rounds(value: Any) -> bool:
    """[[0.012, 0.011, ...], [...]]: each rank's seconds per round, in rank order (bench.distributed)."""
    return isinstance(value, list) and all(isinstance(r, list) and all(is_amount(v) for v in r) for r in value)


def is_peaks(value: Any) -> bool:
    """{"cpu/t2": {"matmul": 215.0, "conv2d": 180.0, "peak": 215.0}, ...}: bench.peak's probes."""
    return isinstance(value, dict) and all(
        isinstance(probes, dict) and all(is_amount(v) for v in probes.values()) for probes in value.values()
    )


TEXT = Kind(lambda v: isinstance(v, str), "a string")
NAME = Kind(lambda v: isinstance(v, str) and v != "", "a non-empty string")
FLAG = Kind(lambda v: isinstance(v, bool), "true or false")
AMOUNT = Kind(is_amount, "a finite number of 0 or more")
COUNT = Kind(is_count, f"a whole number from 1 to {LARGEST}")
WHOLE = Kind(is_whole, f"a whole number from 0 to {LARGEST}")
PASS = Kind(is_whole, f"a pass number from 0 to {LARGEST}")
SEED = Kind(lambda v: is_integer(v) and v >= 0, "a whole number of 0 or more")
SECONDS = Kind(is_seconds, "a finite number of seconds above 0")
COMPILE_SECONDS = Kind(lambda v: is_amount(v) and v <= LONGEST_COMPILE, f"seconds from 0 to {LONGEST_COMPILE}")
# Every table and plot orders phases as a train step runs them; a phase no netbench times has no place there.
PHASE = Kind(lambda v: v in PHASES, f"one of {', '.join(PHASES)}")
SCHEMA = Kind(is_count, f"a whole number from 1 to {SCHEMA_VERSION}")  # a newer one is refused apart, by name
PEAKS = Kind(is_peaks, "an object of probes per device and thread count, each a finite number of 0 or more")
SELECTION = Kind(lambda v: isinstance(v, dict) and all(isinstance(x, list) for x in v.values()), "an object of lists")
# reports.drift reads cpu_groups only where it is two or more groups of CPU numbers and ignores anything else
# (tests/test_drift.py holds it to that), so any value loads.
ANY = Kind(lambda v: True, "any value")
RANK_ROUNDS = Kind(is_rank_rounds, "a list per rank of seconds per round, each a finite number of 0 or more")


# ---- fields -------------------------------------------------------------------------------------------

# one: a value of the kind; list: a list of such values; per_round: a list with one per timed round;
# object / objects: an object (a list of objects) whose keys are the field's own fields.
Shape = Literal["one", "list", "per_round", "object", "objects"]


@dataclass(frozen=True)
class Field:
    """One field of the record: its name, its kind, whether every record has it, and its shape."""

    name: str
    kind: Kind = ANY
    required: bool = False
    shape: Shape = "one"
    fields: tuple[Field, ...] = ()  # an object's (or each object's) own fields
    column: bool = False  # a column of the reports' tidy frame (reports.frame), under the same name


def text(name: str, column: bool = True) -> Field:
    return Field(name, TEXT, column=column)


def amount(name: str, column: bool = True) -> Field:
    return Field(name, AMOUNT, column=column)


# ---- benchmarks[i].extra_info -----------------------------------------------------------------------

# The case's dimensions (core.contract.Case): every benchmark has them (files from before a dimension existed
# read as its default, core.contract.DIMENSION_DEFAULTS).
DIMENSION_FIELDS = tuple(
    Field(d, COUNT if d in COUNT_DIMENSIONS else PHASE if d == "phase" else NAME, required=True) for d in DIMENSIONS
)

# The fields the reports read by name (reports.variants, reports.frame).
PEAK_MEMORY = amount("peak_memory_bytes")
SAMPLES = amount("samples")
COMPILE_COLD = Field("compile_cold_seconds", COMPILE_SECONDS, column=True)
COMPILE_WARM = Field("compile_warm_seconds", COMPILE_SECONDS, column=True)
COMPILE_GRAPHS = Field("compile_graphs", WHOLE, column=True)
GRAPH_BREAKS = Field("graph_breaks", WHOLE, column=True)
COMPILE_RECOMPILES = Field("compile_recompiles", WHOLE, column=True)
RECOMPILES_TIMED = Field("recompiles_during_timing", WHOLE, column=True)  # graphs compiled inside timed rounds
CPU_BF16 = Field("cpu_bf16", FLAG, column=True)  # bf16 variants on CPU: whether the CPU has bf16 instructions
# Schema 2: each round's pass, and its end in seconds since the run began (schema 1 files have neither).
PASSES = Field("passes", PASS, shape="per_round")
STAMPS = Field("stamps", AMOUNT, shape="per_round")

# What bench.compile_cost measures of a compiled shape, written together: a row with one of them has all.
COMPILE_COST = (COMPILE_COLD, COMPILE_WARM, COMPILE_GRAPHS, GRAPH_BREAKS, COMPILE_RECOMPILES)

# In the order of the tidy frame's columns (and results.csv's).
EXTRA_FIELDS: tuple[Field, ...] = (
    text("implementation"),  # the optimizer's: for-loop, foreach, fused
    Field("parameters", WHOLE, column=True),  # the model's parameter count (bench.model)
    amount("flops"),  # per call, FlopCounterMode's count
    SAMPLES,
    text("timer"),
    amount("reference_median"),  # --crosscheck: seconds of the reference block
    amount("reference_ratio"),
    amount("peak_gflops"),  # the device's measured peak at the case's thread count
    PEAK_MEMORY,
    text("memory_method"),
    amount("optimizer_state_bytes"),
    *COMPILE_COST,
    RECOMPILES_TIMED,
    CPU_BF16,
    # Not columns: the frame derives its figure and precision from the rounds and their passes.
    PASSES,
    STAMPS,
    amount("precision", column=False),  # --precision: the interval's half-width after the base passes
    Field("cpu_groups", ANY),  # the CPUs each pass was pinned to in turn (bench.affinity)
    # World size above 1: each rank's own seconds per round; the rounds themselves are the slowest rank's.
    Field("rank_seconds", RANK_ROUNDS),
)
EXTRA_INFO = DIMENSION_FIELDS + EXTRA_FIELDS
COLUMNS = tuple(f.name for f in EXTRA_FIELDS if f.column)

# ---- benchmarks[i].stats (pytest-benchmark's; the reports read these) ----------------------------------

STATS_FIELDS = (
    Field("median", SECONDS, required=True),
    *(amount(k) for k in ("iqr", "q1", "q3", "mean", "stddev", "min", "max", "rounds", "iterations")),
)
STATS = tuple(f.name for f in STATS_FIELDS)

# ---- netbench: the run ------------------------------------------------------------------------------

# A case that was skipped or failed, with why. The comparison joins skipped cases on every dimension, so
# reports.load requires them all of a skipped case; a failed one is only listed.
NOTE_FIELDS = (*(replace(f, required=False) for f in DIMENSION_FIELDS), Field("reason", TEXT, required=True))
CANARY_FIELDS = (
    Field("probe", TEXT),
    Field("stamps", AMOUNT, shape="list"),  # seconds since the run began
    Field("seconds", SECONDS, shape="list"),  # the probe's time at each stamp
)
# Each model of the run (bench.model.Model.facts): the report names it, its size and its input.
MODEL_FIELDS = (
    Field("name", NAME, required=True),  # the model dimension's value
    Field("description", TEXT),  # what it is, in a few words ("decoder-only language model, 4 layers, ...")
    Field("parameters", WHOLE),
    Field("inputs", TEXT),  # one sample's input shapes and dtypes, e.g. "1x32x32 float32"
    Field("loss", TEXT),  # the loss dimension's value for it
)
# A distributed run (--nproc-per-node): every rank's place, and the all-reduce probe at each world size.
RANK_FIELDS = (
    Field("rank", WHOLE, required=True),
    Field("local_rank", WHOLE),
    Field("node", WHOLE),  # the node's rank
    Field("hostname", TEXT),
    Field("cpus", WHOLE, shape="list"),  # the CPUs the rank keeps to
    Field("device", TEXT),
    # The rank's machine, so that one run folder holds every node's (bench.machine's facts of the same names).
    *(Field(k, TEXT) for k in ("os", "python", "cpu_model", "torch_version", "cuda_version", "gpu")),
    Field("logical_cores", AMOUNT),
)
ALLREDUCE_FIELDS = (
    Field("world_size", COUNT, required=True),
    Field("device", TEXT, required=True),
    Field("bytes", WHOLE, required=True),  # the gradients' size: what one DDP step all-reduces
    Field("seconds", SECONDS, required=True),  # median of the probe's calls
    Field("algbw", AMOUNT),  # bytes / seconds, in GB/s
    Field("busbw", AMOUNT),  # algbw x 2(n-1)/n (nccl-tests' bus bandwidth), in GB/s
)
DISTRIBUTED_FIELDS = (
    Field("nodes", COUNT),
    Field("nproc_per_node", COUNT),  # ranks launched on each node: the largest of --nproc-per-node
    Field("backend", TEXT),
    Field("ranks", shape="objects", fields=RANK_FIELDS),
    Field("allreduce", shape="objects", fields=ALLREDUCE_FIELDS),
)
SECTION_FIELDS = (
    Field("schema", SCHEMA, required=True),
    Field("models", shape="objects", fields=MODEL_FIELDS),
    Field("distributed", shape="object", fields=DISTRIBUTED_FIELDS),
    Field("selection", SELECTION),
    Field("skipped", shape="objects", fields=NOTE_FIELDS),
    Field("failed", shape="objects", fields=NOTE_FIELDS),
    Field("passes", COUNT),
    Field("seed", SEED),
    amount("precision_target"),
    amount("seconds_per_case"),
    amount("started"),  # time.time() when the run began
    amount("wall_seconds"),  # pytest's session, up to the JSON
    Field("canary", shape="object", fields=CANARY_FIELDS),
    Field("interrupted", TEXT),  # why the run stopped early
)

# ---- machine_info: pytest-benchmark's, as the reports read it, and netbench's facts in it ---------------

MACHINE_FIELDS = (Field("node", TEXT), Field("processor", TEXT))

# ---- machine_info.netbench: the machine ----------------------------------------------------------------

# The report's machine table shows each GPU as "name (sm capability, memory GiB)".
GPU_FIELDS = (Field("name", TEXT, True), Field("capability", TEXT, True), Field("memory_bytes", AMOUNT, True))
FACT_FIELDS = (
    *(Field(k, TEXT) for k in ("hostname", "os", "python", "cpu_model", "torch_version", "blas", "lapack")),
    *(Field(k, TEXT) for k in ("omp_num_threads_env", "mkl_num_threads_env", "onednn_version", "parallel_backend")),
    *(Field(k, TEXT) for k in ("cuda_version", "cpu_governor", "allocator")),
    *(Field(k, AMOUNT) for k in ("logical_cores", "torch_threads", "torch_interop_threads", "cudnn_version")),
    *(Field(k, FLAG) for k in ("mkl", "onednn", "cuda_available", "cudnn_benchmark", "turbo")),
    Field("gpus", shape="objects", fields=GPU_FIELDS),
    Field("load_average_1m", AMOUNT),
    Field(OTHER_RUNS, AMOUNT),  # other netbench runs that timed alongside (bench.neighbours)
    Field("peak_gflops", PEAKS),  # at the start, per device and thread count
    Field("peak_gflops_end", PEAKS),  # probed again at the end
)


# ---- checking a record: the writers and reports.load call the same function ----------------------------


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def shown(value: Any) -> str:
    """A value as a message shows it: on one line, cut short."""
    found = json.dumps(value, default=str)
    return found if len(found) <= 40 else found[:37] + "..."


Fault = tuple[str, str]  # (where in the file, what is wrong there)


def fault(fields: tuple[Field, ...], record: Mapping[str, Any], where: str, rounds: int | None = None) -> Fault | None:
    """The first field of `record` (at `where`) that is not as `fields` define it, or None. Keys no field
    defines are allowed: newer runs with more fields still load. `rounds`: how many per-round items to expect."""
    return next(faults(fields, record, where, rounds), None)


def faults(fields: tuple[Field, ...], record: Mapping[str, Any], where: str, rounds: int | None) -> Iterator[Fault]:
    for f in fields:
        yield from field_faults(f, record.get(f.name), f"{where}.{f.name}", rounds)


def field_faults(f: Field, value: Any, where: str, rounds: int | None) -> Iterator[Fault]:
    if value is None and not f.required:
        return
    if f.shape == "one":
        if not f.kind.test(value):
            allowed = f.kind.allowed if f.required else f"null or {f.kind.allowed}"
            yield where, f"{shown(value)} ({json_type(value)}) found, expected {allowed}"
    elif f.shape in ("list", "per_round"):
        yield from list_faults(f, value, where, rounds if f.shape == "per_round" else None)
    elif f.shape == "object":
        if not isinstance(value, dict):
            yield where, f"{shown(value)} ({json_type(value)}) found, expected an object"
        else:
            yield from faults(f.fields, value, where, rounds)
    elif not isinstance(value, list):
        yield where, f"{json_type(value)} found, expected a list"
    else:
        yield from object_faults(f.fields, value, where)


def list_faults(f: Field, values: Any, where: str, rounds: int | None) -> Iterator[Fault]:
    if rounds is not None and (not isinstance(values, list) or len(values) != rounds):
        yield where, f"{shown(values)} found, expected a list of {rounds}, one per round"
    elif not isinstance(values, list):
        yield where, f"{json_type(values)} found, expected a list"
    else:
        bad = next((i for i, v in enumerate(values) if not f.kind.test(v)), None)
        if bad is not None:
            yield where, f"item {bad} is {shown(values[bad])}; expected {f.kind.allowed}"


def object_faults(fields: tuple[Field, ...], items: list[Any], where: str) -> Iterator[Fault]:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            yield f"{where}[{i}]", f"{shown(item)} ({json_type(item)}) found, expected an object"
        else:
            yield from faults(fields, item, f"{where}[{i}]", None)


def unknown(fields: tuple[Field, ...], record: Mapping[str, Any]) -> list[str]:
    """Keys of `record` that no field defines."""
    names = {f.name for f in fields}
    return [key for key in record if key not in names]


def incomplete(record: Mapping[str, Any]) -> str | None:
    """A compile-cost field without the others: the report's compile table shows them side by side."""
    present = [f.name for f in COMPILE_COST if record.get(f.name) is not None]
    missing = [f.name for f in COMPILE_COST if f.name not in present]
    return f"incomplete ({present[0]} without {', '.join(missing)})" if present and missing else None


# ---- writing: what the bench side puts in a file ------------------------------------------------------


class RecordError(ValueError):
    """A writer put in a field the record does not define, or a value the loader would refuse: a netbench bug."""


def written(fields: tuple[Field, ...], values: Mapping[str, Any], where: str, partial: bool = False) -> dict[str, Any]:
    """`values` as a dict, once every key is a defined field and every value one the loader accepts.
    partial: fields added to a record already written (its required fields are there)."""
    extra = unknown(fields, values)
    if extra:
        raise RecordError(f"{where}: {', '.join(extra)} not defined in core.record")
    checked = tuple(f for f in fields if f.name in values) if partial else fields
    found = fault(checked, values, where)
    if found is not None:
        raise RecordError(f"{found[0]}: {found[1]}")
    return dict(values)


def extra_info(values: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    """A benchmark's extra_info (partial: the fields a later pass adds to it)."""
    info = written(EXTRA_INFO, values, "extra_info", partial)
    problem = incomplete(info)
    if problem is not None:
        raise RecordError(f"extra_info: {problem}")
    return info


def section(values: Mapping[str, Any]) -> dict[str, Any]:
    """The file's netbench section (schema is core.contract.SCHEMA_VERSION unless given)."""
    return written(SECTION_FIELDS, {"schema": SCHEMA_VERSION, **values}, "netbench")


def facts(values: Mapping[str, Any]) -> dict[str, Any]:
    """machine_info.netbench: the machine facts."""
    return written(FACT_FIELDS, values, "machine_info.netbench")
