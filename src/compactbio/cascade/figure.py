"""The cascade figure: score against relative cost, one panel per dataset (matplotlib, Agg).

Each compact model draws its confidence-routing curve (solid) from the
compact model alone (a circle, at its cost relative to BioBERT) to 100 %
routed (both models run, so it ends right of 1.0), and the random-routing
line (dashed, same colour) between the same end points; BioBERT alone is the
black star at (1.0, its score).  Fixed size and dpi, no timestamps in the
files, as the report's figures (a rerun gives identical bytes).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_path  # noqa: E402
from .table import METRIC_NAMES  # noqa: E402

DPI = 100
PANEL = (5.0, 4.0)     # inches per dataset panel
MAX_COLUMNS = 3


def figure_size(n_datasets: int) -> tuple[int, int]:
    """Pixel size (width, height) of the figure for ``n_datasets`` panels."""
    cols = min(MAX_COLUMNS, n_datasets)
    rows = math.ceil(n_datasets / cols)
    return int(PANEL[0] * cols * DPI), int(PANEL[1] * rows * DPI)


def cascade_figure(curves: list[dict], png: Path, pdf: Path, *, displays: dict | None = None,
                   dataset_names: dict | None = None, title_prefix: str = "") -> None:
    """Draw :func:`compactbio.cascade.table.mean_curves` output into ``png`` and ``pdf``."""
    displays, dataset_names = displays or {}, dataset_names or {}
    if not curves:
        raise ValueError("cascade figure: no curves to draw")
    datasets = list(dict.fromkeys(c["dataset"] for c in curves))
    models = list(dict.fromkeys(c["model"] for c in curves))
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(models)}
    cols = min(MAX_COLUMNS, len(datasets))
    nrows = math.ceil(len(datasets) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(PANEL[0] * cols, PANEL[1] * nrows), dpi=DPI, squeeze=False)
    fallback = displays.get(curves[0]["fallback"], curves[0]["fallback"])
    for ax, dataset in zip(axes.flat, datasets):
        panel = [c for c in curves if c["dataset"] == dataset]
        for c in panel:
            colour, name = colours[c["model"]], displays.get(c["model"], c["model"])
            ax.plot(c["relative_cost"], 100 * c["score"], color=colour, lw=1.6, label=f"{name}: by confidence")
            ax.plot(c["relative_cost"], 100 * c["random_score"], color=colour, lw=1.0, ls="--",
                    label=f"{name}: random routing")
            ax.plot(c["compact"][0], 100 * c["compact"][1], marker="o", color=colour, ms=6, ls="none")
        fb_score = panel[0]["fallback_alone"][1]
        ax.plot(1.0, 100 * fb_score, marker="*", color="black", ms=12, ls="none", label=f"{fallback} alone")
        ax.axvline(1.0, color="grey", lw=0.6, ls=":")
        ax.set_title(dataset_names.get(dataset, dataset), fontsize=10)
        ax.set_xlabel(f"expected cost per example (× {fallback} alone)")
        ax.set_ylabel(f"test {METRIC_NAMES.get(panel[0]['metric'], panel[0]['metric'])} (×100)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(datasets):]:
        ax.set_visible(False)
    if title_prefix:   # the scale label (demo, rehearsal), so a copied figure is never taken for results
        fig.suptitle(title_prefix.strip().rstrip(":"), fontsize=10, color="firebrick")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    with atomic_path(pdf) as tmp:
        fig.savefig(tmp, format="pdf", dpi=DPI, metadata={"CreationDate": None, "Creator": None, "Producer": None})
    plt.close(fig)
