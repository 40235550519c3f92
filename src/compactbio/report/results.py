"""The ``results`` stage: the whole grid's scores as one tidy table, the efficiency figures, learning curves.

Written into ``out`` (``results/``), next to the tables:

* ``runs.csv`` and ``runs.parquet``: one row per model × dataset × seed ×
  split × metric of every fine-tuning run of the grid (:mod:`.runs_frame`;
  values are the fractions of metrics.json, unrounded), the table every
  score table is a pivot of: for example Table 4's cells are
  ``runs[(runs.split == "test") & (runs.metric == "f1")]`` pivoted to
  dataset × model, ×100, averaged over seeds.
* ``efficiency.csv`` (with ``--efficiency``): the efficiency study's numbers
  in long form, one row per model × device × measure.  A file of its own,
  not rows of runs.csv: its keys (device, measure) are not a run's.
* ``curves/<dataset>.csv`` and ``.png``: every run's train_log.csv in long
  form, and the grid's models' training loss against step, overlaid.

Every input is checked before anything is written (all missing files named
at once), and the files are written through temporary siblings renamed
together, so a failure leaves no partial output.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from compactbio.io import atomic_path

from . import curves
from .runs import run_dir
from .runs_frame import runs_frame

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

TASKS = ("ner", "re", "qa")
EFFICIENCY_JSON = "efficiency.json"
# efficiency.json row keys that say which measurement a row is (the rest are the measures)
EFFICIENCY_KEYS = ("model", "device", "dtype", "architecture", "group")
EFFICIENCY_COLUMNS = (*EFFICIENCY_KEYS, "measure", "value")


def grid_runs(params: dict) -> tuple[list[tuple[str, str, int]], dict[str, str]]:
    """Every (model, dataset, seed) fine-tuning run of the grid, and each dataset's task."""
    grid = params["grid"]
    tasks = {d: t for t in TASKS for d in grid.get(t, [])}
    runs = [(m, d, int(s)) for m in grid["models"] for d in tasks for s in grid["seeds"]]
    if not runs:
        raise ValueError("params.yaml: the grid has no fine-tuning runs (grid.models, grid.ner/re/qa, grid.seeds)")
    return runs, tasks


def output_names(params: dict, efficiency: bool) -> list[str]:
    """The files the stage writes, relative to ``out``."""
    _, tasks = grid_runs(params)
    names = ["runs.csv", "runs.parquet", *(["efficiency.csv"] if efficiency else [])]
    return names + [f"curves/{d}.{ext}" for d in tasks for ext in ("csv", "png")]


def efficiency_frame(path: Path) -> pd.DataFrame:
    """The rows of the efficiency stage's efficiency.json in long form (model, device, ..., measure, value)."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / EFFICIENCY_JSON
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{path}: no 'rows' list of measurements (rerun `compactbio efficiency`)")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("model", "device")):
            raise ValueError(f"{path}: rows[{i}] is not a measurement with a model and a device")
        keys = tuple(str(row.get(k, "")) for k in EFFICIENCY_KEYS)
        out += [(*keys, measure, float(value)) for measure, value in row.items()
                if measure not in EFFICIENCY_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool)]
    return pd.DataFrame.from_records(out, columns=list(EFFICIENCY_COLUMNS)).astype({"value": "float64"})


def _check(paths: list[Path]) -> None:
    missing = [p for p in paths if not p.exists()]
    if missing:
        shown = "\n  ".join(str(p) for p in missing[:20])
        more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise FileNotFoundError(f"{len(missing)} missing input(s) for the results stage "
                                f"(run the stages that produce them first):\n  {shown}{more}")


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def run(params: dict, runs: Path, out: Path, efficiency: Path | None = None) -> None:
    """Write runs.csv, runs.parquet, efficiency.csv (with ``efficiency``) and curves/ into ``out``."""
    runs, out = Path(runs), Path(out)
    triples, tasks = grid_runs(params)
    _check([run_dir(runs, m, d, s) / f for m, d, s in triples for f in ("metrics.json", curves.LOG_FILE)]
           + ([Path(efficiency)] if efficiency is not None else []))
    scores = runs_frame(runs, triples, tasks)
    logs = curves.curves_frame(runs, triples)
    eff = efficiency_frame(Path(efficiency)) if efficiency is not None else None
    models = list(params["grid"]["models"])
    names = {m: params.get("models", {}).get(m, {}).get("display", m) for m in models}
    kinds = {m: params.get("models", {}).get(m, {}).get("kind", "") for m in models}
    with contextlib.ExitStack() as stack:
        def tmp(name: str) -> Path:
            return stack.enter_context(atomic_path(out / name))

        tmp("runs.csv").write_text(_csv(scores), encoding="utf-8")
        scores.to_parquet(tmp("runs.parquet"), engine="pyarrow", index=False)
        if eff is not None:
            tmp("efficiency.csv").write_text(_csv(eff), encoding="utf-8")
        for dataset in tasks:
            part = logs[logs["dataset"] == dataset]
            tmp(f"curves/{dataset}.csv").write_text(_csv(part.drop(columns="dataset")), encoding="utf-8")
            curves.curve_figure(part, models, names, kinds, dataset, tmp(f"curves/{dataset}.png"))
    n_val = int((scores["split"] == "validation").sum())
    logger.info("wrote %s/runs.{csv,parquet}: %d rows (%d runs; %d test, %d validation)%s, and %d learning "
                "curves", out, len(scores), len(triples), len(scores) - n_val, n_val,
                f"; efficiency.csv: {len(eff)} rows" if eff is not None else "", len(tasks))
