"""The ``cascade`` CLI stage: one (compact model, dataset, seed) pair from params.yaml's ``cascade`` section.

A thin layer over :func:`compactbio.cascade.stage.run_cascade`: it reads the
two fine-tuning run folders' per-example files (test and validation), the
dataset's task and labels from its prepared ``meta.json``, and the settings
(fallback, latency device and length, targets, bootstrap) from params.  It
checks that each run folder holds the run it is given as (model, dataset,
seed in ``metrics.json``), so a mis-wired path fails with a message instead
of routing between the wrong runs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..data.errors import DataError, read_text
from . import routing
from .stage import run_cascade

logger = logging.getLogger(__name__)

TEST_RECORDS = "per_example.jsonl"                 # compactbio.finetune.stage.RECORDS_FILE
VALIDATION_RECORDS = "per_example_validation.jsonl"   # ... VALIDATION_RECORDS_FILE
DEFAULTS = {"fallback": "biobert", "device": "cpu", "seq_length": 128, "targets": list(routing.TARGETS),
            "n_bootstrap": 1000, "bootstrap_seed": 0, "ner_confidence": routing.CONFIDENCE}


def settings(params: dict) -> dict:
    """The resolved ``cascade`` section with its defaults."""
    cfg = params.get("cascade")
    if not isinstance(cfg, dict):
        raise ValueError("params.yaml: no `cascade` section (the cascade study's settings)")
    return {**DEFAULTS, **{k: v for k, v in cfg.items() if k != "models"}}


def _json(path: Path) -> dict:
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON ({exc.msg})", exc.lineno) from None
    if not isinstance(data, dict):
        raise DataError(path, "expected a JSON object")
    return data


def dataset_task(prepared: Path) -> tuple[str, list[str]]:
    """(task, labels) of a prepared dataset folder (its ``meta.json``)."""
    meta = _json(Path(prepared) / "meta.json")
    task = meta.get("task")
    if task not in routing.RECORD_KEYS:
        raise DataError(Path(prepared) / "meta.json", f"task {task!r} has no cascade (expected one of "
                                                      f"{', '.join(routing.RECORD_KEYS)})")
    return task, list(meta.get("labels") or [])


def check_run(folder: Path, model: str, dataset: str, seed: int) -> None:
    """The run folder's ``metrics.json`` names this model, dataset and seed."""
    path = Path(folder) / "metrics.json"
    meta = _json(path)
    found = (meta.get("model"), meta.get("dataset"), meta.get("seed"))
    if found != (model, dataset, seed):
        raise DataError(path, f"this run is model {found[0]!r}, dataset {found[1]!r}, seed {found[2]!r}, "
                              f"not {model!r}, {dataset!r}, {seed!r}: check the --compact / --fallback folders")


def run(params: dict, model: str, dataset: str, seed: int, compact: Path, fallback: Path, prepared: Path,
        efficiency: Path, out: Path) -> dict:
    """Write ``out``/cascade.json and cascade.csv for ``model`` (run folder ``compact``) routing to the
    fallback (run folder ``fallback``) on ``dataset`` and ``seed``."""
    cfg = settings(params)
    compact, fallback = Path(compact), Path(fallback)
    task, labels = dataset_task(Path(prepared))
    check_run(compact, model, dataset, seed)
    check_run(fallback, cfg["fallback"], dataset, seed)
    return run_cascade(
        task=task, dataset=dataset, compact_model=model, fallback_model=cfg["fallback"], seed=seed,
        compact_test=compact / TEST_RECORDS, fallback_test=fallback / TEST_RECORDS,
        compact_validation=compact / VALIDATION_RECORDS, fallback_validation=fallback / VALIDATION_RECORDS,
        efficiency=Path(efficiency), out=Path(out), labels=labels if task == "re" else None,
        device=cfg["device"], seq_length=int(cfg["seq_length"]),
        confidence_field=cfg["ner_confidence"] if task == "ner" else routing.CONFIDENCE,
        targets=[float(t) for t in cfg["targets"]], n_bootstrap=int(cfg["n_bootstrap"]),
        bootstrap_seed=int(cfg["bootstrap_seed"]))
