"""Figures of the study (matplotlib, Agg backend), as PNG and PDF of fixed size.

Sizes and dpi are fixed constants (no ``bbox_inches="tight"``) so a figure's
pixel size is known in advance and tests can check it; the PDF carries no
creation date so reruns give identical files.  Inputs are the plain row
dicts the bench stages write, so a figure can be redrawn from their CSV/JSON
without rerunning any measurement.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_path  # noqa: E402

DPI = 100
EFFICIENCY_PANEL = (12.0, 4.5)  # inches per device row: latency panel | memory panel
SCORE_COST_SIZE = (7.0, 5.5)
GROUP_COLORS = {"small": "#4c9a2a", "mobile": "#e08a1e", "distilled": "#3b6fb6", "base": "#8c2d2d"}
GROUP_ORDER = ("small", "mobile", "distilled", "base")
REF_STYLES = ("--", ":", "-.", (0, (5, 1)))


def efficiency_size(n_devices: int) -> tuple[int, int]:
    """Pixel size (width, height) of the efficiency figure for ``n_devices`` device rows."""
    return int(EFFICIENCY_PANEL[0] * DPI), int(EFFICIENCY_PANEL[1] * n_devices * DPI)


def score_cost_size() -> tuple[int, int]:
    return int(SCORE_COST_SIZE[0] * DPI), int(SCORE_COST_SIZE[1] * DPI)


def _save(fig, png: Path, pdf: Path) -> None:
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    with atomic_path(pdf) as tmp:
        fig.savefig(tmp, format="pdf", dpi=DPI, metadata={"CreationDate": None, "Creator": None, "Producer": None})
    plt.close(fig)


def _ordered(rows: list[dict]) -> list[dict]:
    """Fig. 2 order: small, mobile, distilled, base; grid order within a group."""
    rank = {g: i for i, g in enumerate(GROUP_ORDER)}
    return sorted(rows, key=lambda r: rank.get(r["group"], len(rank)))


def efficiency_figure(rows: list[dict], seq_lengths: list[int], png: Path, pdf: Path) -> None:
    """Latency (batch 1, one bar per sequence length) and peak memory per model, one row per device.

    The reference model's values are drawn as horizontal lines, as in the
    paper's Fig. 2, so every bar reads against BioBERT at a glance.
    """
    devices = list(dict.fromkeys(r["device"] for r in rows))
    if not devices:
        raise ValueError("efficiency figure: no rows to plot")
    width, height = EFFICIENCY_PANEL
    fig, axes = plt.subplots(len(devices), 2, figsize=(width, height * len(devices)), dpi=DPI, squeeze=False)
    for d, device in enumerate(devices):
        drows = _ordered([r for r in rows if r["device"] == device])
        ref = next((r for r in drows if r["reference"]), None)
        names = [r["display"] for r in drows]
        colors = [GROUP_COLORS.get(r["group"], "#777777") for r in drows]
        x = range(len(drows))
        ax = axes[d][0]
        bar_w = 0.8 / len(seq_lengths)
        for i, length in enumerate(seq_lengths):
            offs = [xi - 0.4 + bar_w * (i + 0.5) for xi in x]
            ax.bar(offs, [r[f"latency_{length}_median_ms"] for r in drows], bar_w, color=colors,
                   hatch=None if i == 0 else "//", edgecolor="black", linewidth=0.4)
            if ref is not None:
                ax.axhline(ref[f"latency_{length}_median_ms"], color="black", linewidth=0.9,
                           linestyle=REF_STYLES[i % len(REF_STYLES)], label=f"{ref['display']}, L={length}")
        ax.set_ylabel("latency, batch 1 (ms)")
        ax.set_title(f"Inference time ({device}; bars: L={', '.join(map(str, seq_lengths))}, hatched = longer)",
                     fontsize=9)
        ax = axes[d][1]
        ax.bar(list(x), [r["memory_mib"] for r in drows], 0.6, color=colors, edgecolor="black", linewidth=0.4)
        if ref is not None:
            ax.axhline(ref["memory_mib"], color="black", linestyle="--", linewidth=0.9, label=ref["display"])
        ax.set_ylabel("peak memory (MiB)")
        ax.set_title(f"Inference memory ({device})", fontsize=9)
        for ax in axes[d]:
            ax.set_xticks(list(x))
            ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=7, loc="upper left", title="reference", title_fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=GROUP_COLORS[g]) for g in GROUP_ORDER]
    fig.legend(handles, GROUP_ORDER, loc="upper center", ncol=len(GROUP_ORDER), fontsize=8, frameon=False)
    fig.subplots_adjust(left=0.07, right=0.99, top=1 - 0.55 / (height * len(devices)),
                        bottom=1.0 / (height * len(devices)), wspace=0.18, hspace=0.75)
    _save(fig, Path(png), Path(pdf))


# Label offsets tried around a point, in points: rings of growing radius, 8 directions each, the
# upper right first (where the old fixed offset put every label).
_LABEL_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
_LABEL_RADII = (6, 14, 24, 36, 50)


def _overlap(a, b) -> float:
    """Area two display-space boxes share (0 when apart)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def place_labels(ax, points: list[tuple[float, float]], texts: list[str], marker_pt: float = 5.0,
                 avoid: list | None = None) -> list:
    """Label each data point where the label overlaps no other label, no marker and stays inside the axes.

    Greedy and deterministic: points are labelled left to right; each label
    takes the first free spot of ``_LABEL_DIRECTIONS`` x ``_LABEL_RADII``
    (the least crowded one when none is free), joined to its point by a thin
    line when it had to move away.  Models of one architecture share a
    latency and often a score, so their points and labels fall on top of
    each other with one fixed offset.  ``avoid``: more display-space boxes
    to keep clear (a legend).  Returns the label ``Text`` artists.
    """
    from matplotlib.transforms import Bbox

    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    scale = fig.dpi / 72.0
    pix = [ax.transData.transform(pt) for pt in points]
    half = marker_pt * scale
    markers = [Bbox.from_extents(x - half, y - half, x + half, y + half) for x, y in pix]
    taken, labels = list(markers) + list(avoid or []), [None] * len(points)
    for i in sorted(range(len(points)), key=lambda k: (pix[k][0], -pix[k][1])):
        best = None
        for r in _LABEL_RADII:
            for dx, dy in _LABEL_DIRECTIONS:
                ha = "left" if dx > 0 else "right" if dx < 0 else "center"
                va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
                text = ax.annotate(texts[i], points[i], xytext=(dx * r, dy * r), textcoords="offset points",
                                   ha=ha, va=va, fontsize=8, zorder=5)
                box = text.get_window_extent(renderer)
                outside = (max(0.0, frame.x0 - box.x0) + max(0.0, box.x1 - frame.x1)
                           + max(0.0, frame.y0 - box.y0) + max(0.0, box.y1 - frame.y1))
                cost = sum(_overlap(box, other) for other in taken) + 1e3 * outside
                if best is None or cost < best[0]:
                    if best is not None:
                        best[1].remove()
                    best = (cost, text, box, r)
                else:
                    text.remove()
                if cost == 0:
                    break
            if best[0] == 0:
                break
        _, text, box, r = best
        taken.append(box)
        labels[i] = text
        if r > _LABEL_RADII[0]:
            ax.annotate("", points[i], xytext=text.get_position(), textcoords="offset points", zorder=4,
                        arrowprops={"arrowstyle": "-", "color": "0.45", "linewidth": 0.6, "shrinkA": 0,
                                    "shrinkB": marker_pt})
    return labels


def _score_cost_axes(rows: list[dict], reference: str):
    """The score-per-cost figure before saving: ``(fig, ax, label artists)`` (the tests read the labels)."""
    if not rows:
        raise ValueError("score-cost figure: no rows to plot")
    fig, ax = plt.subplots(figsize=SCORE_COST_SIZE, dpi=DPI)
    points = [(100 * r["latency_share"], 100 * r["score_share"]) for r in rows]
    for r, (x, y) in zip(rows, points):
        ax.scatter(x, y, s=45, color=GROUP_COLORS.get(r.get("group", ""), "#777777"),
                   edgecolor="black", linewidth=0.5, zorder=3)
    ax.scatter([100], [100], marker="*", s=160, color="black", zorder=4)
    ax.axhline(100, color="black", linestyle="--", linewidth=0.8)
    ax.axvline(100, color="black", linestyle="--", linewidth=0.8)
    xmax = max(110.0, max(x for x, _ in points) * 1.1)
    ys = [y for _, y in points] + [100.0]
    ax.set_xlim(0, xmax)
    ax.set_ylim(min(ys) - 5, max(ys) + 5)
    ax.set_xlabel(f"latency, share of {reference} (%)")
    ax.set_ylabel(f"average score, share of {reference} (%)")
    ax.set_title("Score per cost of the compact models", fontsize=10)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.11, right=0.97, top=0.93, bottom=0.1)
    avoid = []
    groups = [g for g in GROUP_ORDER if any(r.get("group") == g for r in rows)]
    if groups:
        handles = [plt.Line2D([], [], marker="o", linestyle="", markersize=6, markerfacecolor=GROUP_COLORS[g],
                              markeredgecolor="black", markeredgewidth=0.5) for g in groups]
        legend = ax.legend(handles, groups, fontsize=7, loc="lower right", framealpha=0.9)
        avoid.append(legend.get_window_extent(fig.canvas.get_renderer()))
    texts = [r["display"] + ("†" if r.get("timing_warning") else "") for r in rows]
    labels = place_labels(ax, points + [(100.0, 100.0)], texts + [reference], avoid=avoid)
    return fig, ax, labels


def score_cost_figure(rows: list[dict], png: Path, pdf: Path, *, reference: str = "BioBERT") -> None:
    """Each compact model's share of the reference's score (y) against its share of its latency (x).

    The reference sits at (100 %, 100 %); the further up and left a model
    lies, the more of the reference's score it keeps for less of its latency.
    Labels are placed so that none covers another or a point (``place_labels``);
    a dagger marks a model whose timings were too noisy to rank it.
    """
    fig, _, _ = _score_cost_axes(rows, reference)
    _save(fig, Path(png), Path(pdf))
