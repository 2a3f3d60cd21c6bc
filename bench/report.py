"""The results as a markdown table and a PNG chart of the ratios."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .common import Row

__all__ = ["markdown_table", "write_chart"]


def _value(value: float | None, unit: str) -> str:
    return "failed" if value is None else f"{value:.4g} {unit}"


def _verdict(row: Row) -> str:
    met = row.met
    return "n/a" if met is None else ("met" if met else "**missed**")


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| measure | subject | baseline | ratio | target | result |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        ratio = "failed" if row.ratio is None else f"{row.ratio:.3f}×"
        subject = f"{row.subject}: {_value(row.subject_value, row.unit)}"
        baseline = f"{row.baseline}: {_value(row.baseline_value, row.unit)}"
        lines.append(f"| {row.measure} | {subject} | {baseline} | {ratio} "
                     f"| {row.target} | {_verdict(row)} |")
    return "\n".join(lines)


def write_chart(rows: Sequence[Row], path: Path, *, title: str) -> None:
    """Horizontal bars of the ratios with each target as a tick, so a
    missed target shows at a glance; log scale because the ratios span
    from hundredths to several times."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [row for row in rows if row.ratio is not None]
    labels = [f"{row.measure}\n{row.subject} / {row.baseline}"
              for row in shown]
    figure, axes = plt.subplots(figsize=(11, 0.75 * len(shown) + 1.8))
    positions = range(len(shown))
    colours = ["tab:green" if row.met else "tab:red" for row in shown]
    axes.barh(positions, [row.ratio for row in shown], color=colours)
    axes.scatter([row.target_ratio for row in shown], positions,
                 marker="|", s=400, color="black", label="target", zorder=3)
    for position, row in zip(positions, shown):
        axes.annotate(f" {row.ratio:.3g}×", (row.ratio, position),
                      va="center", fontsize=8)
    axes.set_yticks(list(positions), labels, fontsize=7)
    axes.invert_yaxis()
    axes.set_xscale("log")
    values = [row.ratio for row in shown] + [row.target_ratio for row in shown]
    axes.set_xlim(min(values) / 2, max(values) * 2)
    axes.axvline(1.0, color="grey", linewidth=0.8)
    axes.set_xlabel("ratio subject / baseline (green: target met, "
                    "red: missed)")
    axes.set_title(title, fontsize=9)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
