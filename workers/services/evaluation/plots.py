"""The two PNG results: a confusion matrix and precision-recall curves (matplotlib, no display)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["confusion_png", "pr_curve_png"]

#: Above this many classes the cells carry no numbers (they would not be legible).
ANNOTATED_CLASSES = 25
#: Above this many classes the tick labels are left out.
LABELLED_CLASSES = 60
#: Curves drawn one by one with a legend; more classes are drawn thin, without one.
LEGEND_CLASSES = 15


def _figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=100)
    return figure, figure.add_subplot()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def confusion_png(labels: list[str], matrix: list[list[int]], *, title: str) -> bytes:
    """Rows: the true class; columns: the predicted one; each row shaded by its share of the row."""
    counts = np.asarray(matrix, dtype=float)
    n = len(labels)
    side = min(4 + 0.45 * n, 30)
    figure, axes = _figure((side + 1.5, side))
    row_sums = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, label="share of the true class")
    if n <= LABELLED_CLASSES:
        axes.set_xticks(range(n), labels, rotation=90)
        axes.set_yticks(range(n), labels)
    if n <= ANNOTATED_CLASSES:
        for (row, col), value in np.ndenumerate(counts):
            colour = "white" if shares[row, col] > 0.5 else "black"
            axes.text(col, row, f"{int(value)}", ha="center", va="center", color=colour, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    return _png(figure)


def pr_curve_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, title: str) -> bytes:
    """One precision-recall curve per class (``curves[name] = (recall, precision)``)."""
    figure, axes = _figure((7, 6))
    many = len(curves) > LEGEND_CLASSES
    for name, (recall, precision) in curves.items():
        style = "-" if len(recall) > 1 else "o"
        axes.plot(recall, precision, style, label=None if many else name, linewidth=0.8 if many else 1.5)
    if not curves:
        axes.text(0.5, 0.5, "no class has both predictions and ground truth", ha="center", va="center")
    elif not many:
        axes.legend(loc="lower left", fontsize=8)
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    return _png(figure)
