"""Figures for every report: drawn without pyplot (no global state), saved as PNG under a folder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from core import files

DPI = 110
Draw = Callable[[Axes], Axes]


def single(draw: Draw, size: tuple[float, float], title: str = "", grid: bool = False) -> Figure:
    """A figure with one Axes that `draw` fills (the plot functions' signature)."""
    fig = Figure(figsize=size, layout="constrained")
    ax = draw(fig.add_subplot())
    if title:
        ax.set_title(title)
    if grid:
        ax.grid(True, which="major", alpha=0.3)
    return fig


def panels(draws: Sequence[tuple[str, Draw]], title: str) -> Figure:
    """One row of Axes, one per (subtitle, draw)."""
    fig = Figure(figsize=(4.2 * len(draws), 4.2), layout="constrained")
    for ax, (subtitle, draw) in zip(fig.subplots(1, len(draws), squeeze=False)[0], draws, strict=True):
        draw(ax).set_title(subtitle)
    fig.suptitle(title)
    return fig


def save(fig: Figure, out: Path, name: str) -> Path:
    """Write out/name atomically (folders made as needed); returns name, the path a report in `out` links to.

    `name` must stay inside `out` (ValueError otherwise): callers build it from values read from files."""
    path = files.inside(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_png(fig, path)
    except ValueError:
        # A '$' in a name from a file made mathtext fail to parse a label: draw every text as it is.
        for text in fig.findobj(Text):
            text.set_parse_math(False)
        write_png(fig, path)
    return Path(name)


def write_png(fig: Figure, path: Path) -> None:
    with files.atomic(path, binary=True) as f:
        fig.savefig(f, format="png", dpi=DPI)
