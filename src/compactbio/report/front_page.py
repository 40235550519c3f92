"""What the front page of ``snakemake --report`` says: a short summary of the run, then the parameters.

Snakemake hands its report templates only ``config``; the Snakefile puts this
summary there (``config["compactbio"]``) instead of the whole resolved
params, which Snakemake would otherwise render as an 18,000-pixel dump the
title scrolls out of.  Everything here is cheap (no torch import): the
Snakefile builds it on every parse.
"""

from __future__ import annotations

import datetime
import importlib.metadata
from pathlib import Path

import yaml

from ..params import resolve
from .common import dataset_name, model_name
from .stage import scale_label

TITLE = '"On the Effectiveness of Compact Biomedical Transformers", rebuilt'
PACKAGES = (("compactbio", "compactbio"), ("Snakemake", "snakemake"), ("PyTorch", "torch"),
            ("Transformers", "transformers"), ("Datasets", "datasets"))


def versions() -> str:
    found = []
    for shown, dist in PACKAGES:
        try:
            found.append(f"{shown} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def _when(path: Path) -> str | None:
    """Local time of the newest file in ``path`` (when the tables were last built), if any."""
    stamps = [p.stat().st_mtime for p in Path(path).glob("*") if p.is_file()]
    if not stamps:
        return None
    return datetime.datetime.fromtimestamp(max(stamps)).astimezone().strftime("%Y-%m-%d %H:%M %Z")


def summary(raw: dict, tables_dir: Path = Path("results/tables")) -> dict:
    """The front page's facts, from the validated (unresolved) params."""
    params = resolve(raw)
    grid = params["grid"]
    label = scale_label(params)
    tasks = {"ner": "NER", "re": "RE", "qa": "QA"}
    return {
        "title": TITLE,
        "scale": params["scale"],
        "label": label.banner if label else "",
        "models": [model_name(params, m) for m in grid["models"]],
        "datasets": {name: [dataset_name(params, d) for d in grid[task]] for task, name in tasks.items()},
        "n_datasets": sum(len(grid[t]) for t in tasks),
        "seeds": ", ".join(str(s) for s in grid["seeds"]),
        "tables": {t: v["title"] for t, v in params["tables"].items() if t != "style"},
        "tables_built": _when(tables_dir) or "not yet",
        "report_made": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "versions": versions(),
        "params_yaml": yaml.safe_dump(params, sort_keys=False, allow_unicode=True, width=100),
    }
