"""Learning curves: every run's ``train_log.csv`` in long form, and one overlaid plot per dataset.

A fine-tuning run logs one row per epoch (``step,epoch,loss,validation_score``:
the optimizer step at the epoch's end, the mean training loss over its
batches, the validation score it was selected on, empty without a
validation split).  Models on one dataset share the axes, so a plot shows at
a glance which ones train slower or diverge; seeds are averaged (a shaded
band spans their minimum to maximum), since a per-seed line for each of ten
models would be unreadable.

Figures follow :mod:`.figures`' conventions: Agg backend, fixed size and dpi,
no software stamp in the PNG, so reruns give identical files.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .runs import run_dir

if TYPE_CHECKING:
    import pandas as pd

LOG_FILE = "train_log.csv"
COLUMNS = ("model", "dataset", "seed", "step", "epoch", "loss", "validation_score")
DPI = 100
SIZE = (8.0, 5.0)                   # inches
KIND_STYLES = {"base": "-", "distilled": "--", "continual": ":"}


def curve_size() -> tuple[int, int]:
    """Pixel size (width, height) of a learning-curve figure."""
    return int(SIZE[0] * DPI), int(SIZE[1] * DPI)


def _number(path: Path, line: int, column: str, text: str, *, integer: bool = False,
            empty_ok: bool = False) -> float:
    if text.strip() == "" and empty_ok:
        return math.nan
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise ValueError(f"{path}: line {line}: {column} must be {'an integer' if integer else 'a number'}, "
                         f"got {text!r}") from None
    if integer and value < 0:
        raise ValueError(f"{path}: line {line}: {column} must not be negative, got {value}")
    return value


def read_log(path: Path) -> list[tuple[int, int, float, float]]:
    """``(step, epoch, loss, validation_score)`` rows of one train_log.csv, checked line by line.

    A NaN loss (an epoch without batches) is kept, a missing validation score is NaN; steps
    must increase, so a log appended to by two runs is caught.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing input {path}: the fine-tuning run has not produced it "
                                f"(run `compactbio finetune` for this model/dataset/seed first)")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("step", "epoch", "loss") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: line 1: header lacks column(s) {', '.join(missing)} "
                             f"(expected step,epoch,loss,validation_score)")
        rows, last = [], -1
        for line, rec in enumerate(reader, 2):
            if any(rec.get(c) is None for c in ("step", "epoch", "loss")):
                raise ValueError(f"{path}: line {line}: too few fields")
            step = int(_number(path, line, "step", rec["step"], integer=True))
            if step <= last:
                raise ValueError(f"{path}: line {line}: step {step} does not follow step {last}")
            last = step
            rows.append((step, int(_number(path, line, "epoch", rec["epoch"], integer=True)),
                         _number(path, line, "loss", rec["loss"]),
                         _number(path, line, "validation_score", rec.get("validation_score") or "", empty_ok=True)))
    if not rows:
        raise ValueError(f"{path}: no logged steps")
    return rows


def curves_frame(runs: Path, triples: Iterable[tuple[str, str, int]]) -> pd.DataFrame:
    """The train logs of the (model, dataset, seed) runs under ``runs``, one row per logged step."""
    import pandas as pd

    rows = [(model, dataset, int(seed), *r) for model, dataset, seed in dict.fromkeys(triples)
            for r in read_log(run_dir(runs, model, dataset, seed) / LOG_FILE)]
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    return frame.astype({"seed": "int64", "step": "int64", "epoch": "int64", "loss": "float64",
                         "validation_score": "float64"})


def curve_figure(frame: pd.DataFrame, models: list[str], names: dict[str, str], kinds: dict[str, str],
                 title: str, png: Path) -> None:
    """Training loss against step of ``models`` on one dataset (``frame``: its rows of :func:`curves_frame`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=SIZE, dpi=DPI)
    try:
        n_seeds = frame["seed"].nunique()
        for i, model in enumerate(models):
            part = frame[frame["model"] == model]
            if part.empty:
                continue
            by_step = part.groupby("step", sort=True)["loss"].agg(["mean", "min", "max"])
            color = colors(i % 10)
            ax.plot(by_step.index, by_step["mean"], linestyle=KIND_STYLES.get(kinds.get(model, ""), "-"),
                    marker="o", markersize=3, linewidth=1.3, color=color, label=names.get(model, model))
            if n_seeds > 1:
                ax.fill_between(by_step.index, by_step["min"], by_step["max"], color=color, alpha=0.15,
                                linewidth=0)
        over = f"mean over {n_seeds} seeds (band: min–max)" if n_seeds > 1 else "one seed"
        ax.set_title(f"{title}: training loss, {over}", fontsize=10)
        ax.set_xlabel("optimizer step (end of epoch)")
        ax.set_ylabel("training loss (mean over the epoch's batches)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2, loc="best",
                  title="line: base — / distilled -- / continual ··", title_fontsize=7)
        fig.subplots_adjust(left=0.1, right=0.97, top=0.92, bottom=0.11)
        fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        plt.close(fig)
