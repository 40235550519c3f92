"""The ``cascade-table`` CLI stage: every pair's ``cascade.json`` into one table and figure.

The pairs are params.yaml's (:func:`compactbio.cascade.plan.pairs`), read from
``<runs>/<model>/<dataset>/seed<seed>/cascade.json``; display names come from
``models.<id>.display`` and ``tables.style.dataset_names``, and below paper
scale the caption, the figure and every CSV row say so, as the report's
tables do (:func:`compactbio.report.stage.scale_label`).
"""

from __future__ import annotations

from pathlib import Path

from . import plan
from .stage import run_summary


def run(params: dict, runs: Path, out: Path) -> list[dict]:
    """Write ``out``/cascade.{tex,md,csv,png,pdf}; returns the table rows."""
    from ..report.stage import scale_label

    pairs = plan.pairs(params)
    if not pairs:
        raise ValueError("params.yaml: the cascade section gives no (compact model, dataset, seed) pair")
    files = [Path(runs) / m / d / f"seed{s}" / "cascade.json" for m, d, s in pairs]
    models = params.get("models") or {}
    displays = {m: (models.get(m) or {}).get("display", m) for m in {*(m for m, _, _ in pairs), plan.fallback(params)}}
    names = ((params.get("tables") or {}).get("style") or {}).get("dataset_names") or {}
    label = scale_label(params)
    return run_summary(files, out, name=plan.NAME, displays=displays, dataset_names=dict(names),
                       caption_prefix=label.prefix if label else "", scale=label.csv if label else None)
