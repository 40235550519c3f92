"""Fine-tuning scores as one tidy table: a row per model × dataset × seed × split × metric.

Every reader of fine-tuning scores goes through :func:`runs_frame` (the table
stage for each table's own runs, the results stage for the whole grid), so a
run's metrics.json is validated in one place (:func:`.runs.load_scores`) and a
table can be rebuilt from ``results/runs.csv`` with a pandas pivot.

pandas is imported inside the functions: it costs about half a second, which
only the stages that tabulate scores should pay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .runs import load_scores, run_dir

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("model", "dataset", "task", "seed", "split", "metric", "value")
SPLITS = ("test", "validation")


def runs_frame(runs: Path, triples: Iterable[tuple[str, str, int]], tasks: Mapping[str, str]) -> pd.DataFrame:
    """The tidy scores of the (model, dataset, seed) runs under ``runs``, in the order given.

    ``tasks`` maps each dataset to its task (``ner``, ``re``, ``qa``), which says what the
    file must hold.  Values are fractions in [0, 1] exactly as in metrics.json; within a run,
    rows follow the split (test, then validation) and the file's metric order, so the frame
    of the same runs is always the same frame.
    """
    import pandas as pd

    rows = []
    for model, dataset, seed in dict.fromkeys(triples):   # a run listed twice is read once
        task = tasks[dataset]
        path = run_dir(runs, model, dataset, seed) / "metrics.json"
        scores = load_scores(path, task, model=model, dataset=dataset, seed=int(seed))
        rows += [(model, dataset, task, int(seed), split, metric, value)
                 for split in SPLITS for metric, value in scores[split].items()]
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    return frame.astype({"seed": "int64", "value": "float64"})


def over_seeds(frame: pd.DataFrame, seeds: list[int], split: str = "test") -> pd.DataFrame:
    """One row per (model, dataset, metric) of ``split``: its score ×100 on each seed, the mean and the std.

    A pivot puts the seeds side by side, in the grid's order (columns ``seeds``, NaN where a
    run lacks the metric); ``mean`` and ``std`` (sample, ddof=1; NaN for one seed) are then
    taken with numpy over each contiguous row.  That is the computation the tables always
    used, bit for bit: pandas' own groupby mean (Kahan summation) and std (Welford's
    algorithm) differ from it in the last binary digit, which can flip a rounded cell.
    """
    import pandas as pd

    seeds = [int(s) for s in seeds]
    part = frame[frame["split"] == split]
    wide = part.pivot(index=["model", "dataset", "metric"], columns="seed", values="value").reindex(columns=seeds)
    values = np.ascontiguousarray(wide.to_numpy(dtype=float)) * 100.0
    out = pd.DataFrame(values, index=wide.index, columns=seeds)
    out["mean"] = values.mean(axis=1)
    out["std"] = values.std(axis=1, ddof=1) if len(seeds) > 1 else np.nan
    return out
