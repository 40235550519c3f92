"""GAD as released with BioBERT: ten folds, ``<fold>/train.tsv`` and ``test.tsv``.

``train.tsv`` is ``sentence<TAB>label`` without a header; ``test.tsv`` has the
header ``index<TAB>sentence<TAB>label``.  The header is detected, not assumed,
so either file may come in either layout.

``split.mode: pooled`` (the paper) pools one fold's train and test (5330 rows
for fold 1), draws a seeded ``test_fraction`` test split, then a seeded
``validation_fraction`` of the rest as validation.  ``split.mode: kfold`` keeps
the fold's own test set and carves validation out of its train set.
``validation_fraction: 0`` (the authors' protocol: train on all of the 90%)
leaves the validation split empty; fine-tuning then needs ``select: last``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError, read_text
from . import Prepared
from .common import require_nonempty, seeded_pick

DEFAULT_LABELS = ["0", "1"]


def read_tsv(path: Path, labels: set[str], origin: str) -> list[dict]:
    lines = read_text(path).split("\n")
    first = lines[0].strip().split("\t") if lines else []
    headed = bool(first) and first[-1].strip().lower() == "label" and first[0].strip().lower() in ("index", "sentence")
    ncols = len(first) if headed else None
    rows = []
    for lineno, raw in enumerate(lines, start=1):
        if headed and lineno == 1:
            continue
        line = raw.strip("\r\n")
        if not line.strip():
            continue
        fields = line.split("\t")
        want = ncols or (3 if len(fields) == 3 and fields[0].strip().isdigit() else 2)
        if len(fields) != want:
            layout = "index<TAB>sentence<TAB>label" if want == 3 else "sentence<TAB>label"
            raise DataError(path, f"wrong column count: expected {want} ({layout}), got {len(fields)}", lineno)
        text, label = fields[-2].strip(), fields[-1].strip()
        if label not in labels:
            raise DataError(path, f"label {label!r} is outside the label set {sorted(labels)}", lineno)
        if not text:
            raise DataError(path, "empty sentence", lineno)
        rows.append({"id": f"{origin}-{len(rows)}", "text": text, "label": label})
    require_nonempty(path, rows, "rows")
    return rows


def _take(rows: list[dict], chosen: set) -> tuple[list[dict], list[dict]]:
    picked = [r for i, r in enumerate(rows) if i in chosen]
    rest = [r for i, r in enumerate(rows) if i not in chosen]
    return picked, rest


def read(folder: Path, ds: dict, name: str) -> Prepared:
    cfg = {"mode": "pooled", "fold": 1, "test_fraction": 0.1, "validation_fraction": 0.1, "seed": 13}
    cfg.update(ds.get("split") or {})
    labels = [str(x) for x in ds.get("labels") or DEFAULT_LABELS]
    fold_dir = Path(folder) / str(cfg["fold"])
    if not fold_dir.is_dir():
        raise DataError(fold_dir, f"GAD fold folder {cfg['fold']} not found")
    train = read_tsv(fold_dir / "train.tsv", set(labels), "train")
    test = read_tsv(fold_dir / "test.tsv", set(labels), "test")
    if cfg["mode"] == "pooled":
        pool = train + test
        test_idx = seeded_pick(list(range(len(pool))), cfg["test_fraction"], cfg["seed"])
        test, rest = _take(pool, test_idx)
        val_idx = seeded_pick(list(range(len(rest))), cfg["validation_fraction"], cfg["seed"] + 1)
        validation, train = _take(rest, val_idx)
    elif cfg["mode"] == "kfold":
        val_idx = seeded_pick(list(range(len(train))), cfg["validation_fraction"], cfg["seed"])
        validation, train = _take(train, val_idx)
    else:
        raise ValueError(f"datasets.{name}.split.mode: unknown mode {cfg['mode']!r} (pooled or kfold)")
    splits = {"train": train, "validation": validation, "test": test}
    for s, rows in splits.items():
        if not rows and not (s == "validation" and not cfg["validation_fraction"]):
            raise DataError(fold_dir, f"empty split: {s} has no rows after splitting")
    return Prepared(task="re", labels=sorted(labels), splits=splits,
                    extra_meta={"split": cfg})
