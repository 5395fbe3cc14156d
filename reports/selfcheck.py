"""How far this machine can be trusted: two runs of the same cases (A/A) compared with each other.

Run by `python -m reports selfcheck RUN_A RUN_B` (`nox -s selfcheck` takes both runs first). Every verdict of
an A/A pair that is not "no significant difference" is a false one; B's rounds scaled by 1.10 and 1.5
(a known slowdown on this machine's real noise) show what `compare` can still see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.run import is_run, run_order
from core.stats import FASTER, MIN_EFFECT, QUANTILE, SAME, SLOWER, Comparison, compare_rounds, estimate, verdict
from reports.compare.sources import same_run
from reports.drift import canary, cpu_line, interrupted, timed_share, variation
from reports.frame import passes_of
from reports.load import ReportError, Run, load_run

SLOWDOWNS = (1.10, 1.5)
CALLED = 0.5  # "could call" = called slower in at least half the cases


def pick(paths: Sequence[Path]) -> tuple[Path, Path]:
    """The two runs to compare: named, or the two newest run folders of one results folder."""
    if len(paths) == 2:
        return paths[0], paths[1]
    if len(paths) == 1 and paths[0].is_dir():
        runs = sorted((p for p in paths[0].iterdir() if is_run(p)), key=run_order)
        if len(runs) >= 2:
            return runs[-2], runs[-1]
        raise ReportError(f"{paths[0]}: holds {len(runs)} run folder(s); a self-check needs two runs of the same cases")
    if len(paths) == 1:
        raise ReportError(f"{paths[0]}: not a folder; name two runs, or one folder holding two")
    raise ReportError(f"selfcheck: {len(paths)} paths given; name two runs, or one folder holding two")


def paired(a: Run, b: Run) -> list[tuple[str, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]]:
    """(case, A's rounds and passes, B's rounds and passes) for every case both runs timed."""
    mine = {x["name"]: x for x in b.benchmarks}
    pairs = []
    for x in a.benchmarks:
        y = mine.get(x["name"])
        if y is not None:
            pairs.append((x["name"], sample(x), sample(y)))
    if not pairs:
        raise ReportError(f"{a.path} and {b.path} have no case in common: run the same cases twice")
    return pairs


def sample(bench: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(bench["stats"]["data"], dtype=float), np.asarray(passes_of(bench))


def intervals(pairs: Sequence, quantile: float = QUANTILE) -> list[Comparison]:
    """Each case of B against A. Scaling B's rounds by f scales the ratio and its whole interval by f,
    so these serve every slowdown below."""
    return [compare_rounds(a[0], b[0], a[1], b[1], quantile=quantile) for _, a, b in pairs]


def verdicts(found: Sequence[Comparison], factor: float, min_effect: float = MIN_EFFECT) -> list[str]:
    """The verdict on every case with B's rounds multiplied by `factor`."""
    return [verdict(c.ci_low * factor, c.ci_high * factor, min_effect) for c in found]


def smallest_callable(found: Sequence[Comparison], min_effect: float = MIN_EFFECT) -> float:
    """The smallest slowdown called "slower" in at least half the cases, on this pair's real noise."""
    return float(np.quantile([(1 + min_effect) / c.ci_low for c in found], CALLED))


# Whether the machine as a whole moved between A and B, from the drift canary: its fast level (this quantile of
# its samples) follows what the cases see, its median does not. Over 42 A/A pairs of the default matrix on the
# 2-core box, the B/A of the canary's 10% quantile correlated 0.88 with the cases' median B/A (its median: 0.57),
# and moved about twice as far. Beyond twice compare's band it named 11 of the 12 pairs whose cases moved beyond
# the band, and 4 of the other 30 (the median, beyond the band itself: 6 of the 12, and 13 of the 30).
CANARY_LEVEL = 0.10
CANARY_CHANGED = 2 * MIN_EFFECT


def whole_run_line(ratios: np.ndarray, false: int) -> list[str]:
    """When most cases moved the same way, the machine as a whole ran faster or slower in B: no interval
    taken within one run can include that, and compare's band absorbs only a few percent of it."""
    shift = float(np.median(ratios))
    if abs(shift - 1) <= MIN_EFFECT / 2:
        return []
    way = "slower" if shift > 1 else "faster"
    blame = "; most false verdicts here are that" if false else ""
    # The scaled Bs carry the same shift: B x 1.10 on a B that ran 5% faster is a 4.5% slowdown, which the band
    # rightly leaves uncalled; said here, so a low count is not read as compare missing a 10% slowdown.
    scaled = " and ".join(f"B x {factor:.2f} {change(shift * factor)}" for factor in SLOWDOWNS)
    return [
        f"B/A at the median case is {shift:.3f}: the whole of B ran {abs(shift - 1):.0%} {way}, which no interval "
        f"within one run includes (compare's band is ±{MIN_EFFECT:.0%}){blame}",
        f"so at the median case, against A, {scaled}",
    ]


def change(ratio: float) -> str:
    """A ratio to A's figure in words: 'was 4.5% slower'."""
    return f"was {abs(ratio - 1):.1%} {'slower' if ratio >= 1 else 'faster'}"


def findings(pairs: Sequence) -> list[str]:
    ratios = np.array([estimate(b[0]) / estimate(a[0]) for _, a, b in pairs])
    deviations = np.abs(ratios - 1)
    found = intervals(pairs)
    same = verdicts(found, 1.0)
    false = len(same) - same.count(SAME)
    lines = [
        f"A/A: {false} of {len(pairs)} cases called different ({same.count(FASTER)} faster, "
        f"{same.count(SLOWER)} slower)" + ("; every one of them is a false verdict" if false else ""),
        f"A/A: |B/A - 1| median {np.median(deviations):.1%}, worst {deviations.max():.1%} "
        f"({int((deviations <= 0.05).sum())} of {len(pairs)} within 5%)",
    ]
    for factor in SLOWDOWNS:
        scaled = verdicts(found, factor)
        lines.append(
            f"B x {factor:.2f}: {scaled.count(SLOWER)} of {len(pairs)} called slower, {scaled.count(FASTER)} faster"
        )
    lines.append(f"smallest slowdown compare calls in half the cases here: {smallest_callable(found) - 1:.0%}")
    return lines + whole_run_line(ratios, false)


def differences(a: Run, b: Run) -> list[str]:
    """What makes A and B more than the same run twice: then the verdicts are not false ones."""
    lines = []
    for fact in ("hostname", "cpu_model", "torch_version"):
        if a.facts.get(fact) != b.facts.get(fact):
            lines.append(f"note: A and B differ in {fact} ({a.facts.get(fact)} / {b.facts.get(fact)}): not an A/A pair")
    for dim, what in (("threads", "thread counts"), ("world_size", "world sizes")):
        found = [sorted({x["extra_info"][dim] for x in run.benchmarks}) for run in (a, b)]
        if found[0] != found[1]:
            lines.append(f"note: A and B ran at different {what} ({found[0]} / {found[1]}): not an A/A pair")
    return lines


def machine_lines(a: Run, b: Run) -> list[str]:
    """What the drift canary saw: the machine's own movement within each run, and between them."""
    series = {"A": canary(a), "B": canary(b)}
    lines = [
        f"machine speed varied {moved:.0%} during {name} (drift canary)"
        for name, frame in series.items()
        if (moved := variation(frame)) is not None
    ]
    if all(len(frame) for frame in series.values()):
        fast = [float(np.quantile(series[name]["seconds"], CANARY_LEVEL)) for name in ("A", "B")]
        shift = fast[1] / fast[0]
        changed = ": the machine itself changed between runs" if abs(shift - 1) > CANARY_CHANGED else ""
        level = f"the canary's fast level ({CANARY_LEVEL:.0%} quantile)"
        lines.append(f"{level} took {shift:.2f}x as long in B as in A{changed}")
    # The CPUs of one machine need not run at one speed: passes take turns on them (bench.affinity).
    lines += [f"{name}: {line}" for name, run in (("A", a), ("B", b)) for line in cpu_line(run)]
    return lines


def time_lines(a: Run, b: Run) -> list[str]:
    lines = []
    for name, run in (("A", a), ("B", b)):
        share = timed_share(run)
        if share is not None:
            lines.append(
                f"{name}: {share[0]:.1f} s of timed rounds in {share[1]:.1f} s of pytest ({share[0] / share[1]:.0%})"
            )
    return lines


@dataclass(frozen=True)
class Pair:
    """A and B loaded once, with the cases both timed: what every part of the self-check reads."""

    a: Run
    b: Run
    cases: list[tuple[str, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]]


def load_pair(paths: Sequence[Path]) -> Pair:
    """The two runs named (or the two newest of one folder), checked; ReportError when they share no case, or
    are one run twice (a perfect A/A pair that says nothing of the machine)."""
    a, b = (load_run(p) for p in pick(paths))
    same = same_run(a, b)
    if same:
        raise ReportError(
            f"{same}: one run twice, not an A/A pair; a self-check needs two separate runs of the same cases"
        )
    return Pair(a, b, paired(a, b))


def title(pair: Pair) -> str:
    return f"self-check: {pair.a.path} (A) against {pair.b.path} (B), {len(pair.cases)} cases"


def incomplete_lines(a: Run, b: Run) -> list[str]:
    """A run that stopped early (its record says why): its figures rest on fewer passes than asked, so the pair
    tells less about the machine than two complete runs would."""
    return [
        f"warning: {name} ({run.path}) is an incomplete run: {why}; its figures rest on fewer passes than asked, "
        "so this self-check says less than two complete runs would"
        for name, run in (("A", a), ("B", b))
        if (why := interrupted(run))
    ]


def lines(pair: Pair) -> list[str]:
    """The self-check, in order: a run that stopped early, what makes the pair more than A/A, the verdicts, the
    machine, the time."""
    a, b = pair.a, pair.b
    found = [*differences(a, b), *findings(pair.cases), *machine_lines(a, b), *time_lines(a, b)]
    return [*incomplete_lines(a, b), *found]
