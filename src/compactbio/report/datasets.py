"""Table 1: the datasets, their task, size and description, computed from the prepared data.

Sizes come from ``prepared/<dataset>/meta.json`` (``splits``: NER sentences,
RE rows, QA question–snippet entries), so the table describes the data the
pipeline actually used — the synthetic copies at demo scale, the real
corpora at paper scale.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import common
from .table import Cell, Row, Table

SPLITS = ("train", "validation", "test")


def inputs(spec: dict, prepared: Path) -> list[Path]:
    return [Path(prepared) / d / "meta.json" for d in spec["datasets"]]


def load_meta(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"missing input {path}: run `compactbio prepare` for this dataset first")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict) or meta.get("task") not in common.TASK_NAMES:
        raise ValueError(f"{path}: 'task' must be one of {', '.join(common.TASK_NAMES)}, got "
                         f"{meta.get('task') if isinstance(meta, dict) else meta!r}")
    sizes = meta.get("splits") if meta["task"] != "mlm" else meta.get("splits", {"train": meta.get("documents")})
    if not isinstance(sizes, dict) or not sizes or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in sizes.values()):
        raise ValueError(f"{path}: 'splits' must map split names to non-negative example counts, got {sizes!r}")
    return {**meta, "splits": sizes}


def build(params: dict, name: str, prepared: Path) -> tuple[Table, list[dict]]:
    spec = params["tables"][name]
    table = Table(name=name, caption=spec["title"],
                  columns=["Dataset", "Task", "Size", "Train", "Validation", "Test", "Description"],
                  align=["l", "l", "r", "r", "r", "r", r"p{0.38\linewidth}"])
    rows = []
    for d, path in zip(spec["datasets"], inputs(spec, prepared)):
        meta = load_meta(path)
        splits = meta["splits"]
        extra = sorted(set(splits) - set(SPLITS))
        size = sum(splits.values())
        description = common.dataset_spec(params, d).get("description") or meta.get("description", "")
        counts = [splits.get(s) for s in SPLITS]
        table.rows.append(Row([Cell(common.dataset_name(params, d)), Cell(common.TASK_NAMES[meta["task"]]),
                               Cell(str(size))] + [Cell("–" if c is None else str(c)) for c in counts]
                              + [Cell(description)]))
        rows.append({"table": name, "dataset": d, "dataset_name": common.dataset_name(params, d),
                     "task": meta["task"], "size": size,
                     **{s: "" if c is None else c for s, c in zip(SPLITS, counts)},
                     "other_splits": ";".join(f"{s}={splits[s]}" for s in extra),
                     "description": description})
    table.notes.append("Size: examples over all splits (NER sentences, RE sentence pairs, "
                       "QA question–snippet entries) of the prepared data.")
    return table, rows
