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


def score_cost_figure(rows: list[dict], png: Path, pdf: Path, *, reference: str = "BioBERT") -> None:
    """Each compact model's share of the reference's score (y) against its share of its latency (x).

    The reference sits at (100 %, 100 %); the further up and left a model
    lies, the more of the reference's score it keeps for less of its latency.
    """
    if not rows:
        raise ValueError("score-cost figure: no rows to plot")
    fig, ax = plt.subplots(figsize=SCORE_COST_SIZE, dpi=DPI)
    for r in rows:
        color = GROUP_COLORS.get(r.get("group", ""), "#777777")
        ax.scatter(100 * r["latency_share"], 100 * r["score_share"], s=45, color=color,
                   edgecolor="black", linewidth=0.5, zorder=3)
        ax.annotate(r["display"], (100 * r["latency_share"], 100 * r["score_share"]),
                    textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.scatter([100], [100], marker="*", s=160, color="black", zorder=4)
    ax.annotate(reference, (100, 100), textcoords="offset points", xytext=(-8, -12), ha="right", fontsize=8)
    ax.axhline(100, color="black", linestyle="--", linewidth=0.8)
    ax.axvline(100, color="black", linestyle="--", linewidth=0.8)
    xmax = max(110.0, max(100 * r["latency_share"] for r in rows) * 1.1)
    ys = [100 * r["score_share"] for r in rows] + [100.0]
    ax.set_xlim(0, xmax)
    ax.set_ylim(min(ys) - 5, max(ys) + 5)
    ax.set_xlabel(f"latency, share of {reference} (%)")
    ax.set_ylabel(f"average score, share of {reference} (%)")
    ax.set_title("Score per cost of the compact models", fontsize=10)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.11, right=0.97, top=0.93, bottom=0.1)
    _save(fig, Path(png), Path(pdf))
