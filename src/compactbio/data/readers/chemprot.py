"""ChemProt in the SciBERT / HF ``zapsdcn/chemprot`` form: JSON lines
``{"text", "label", "metadata"}`` with ``train.txt``, ``dev.txt``, ``test.txt``.

The label set is ``datasets.<id>.labels`` when given (the 13 fine-grained
relations), else the union over the splits.  Some labels never occur in dev or
test; that is expected and must not shrink the label list, which is why the
list is the union (or the pinned set), never a per-split one.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DataError, read_text
from . import Prepared
from .common import require_nonempty, split_files

DEFAULT_FILES = {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}


def read_jsonl(path: Path, allowed: set[str] | None, split: str) -> list[dict]:
    rows = []
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid or truncated JSON: {exc.msg} at column {exc.colno}", lineno) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str) or "label" not in obj:
            raise DataError(path, "expected an object with string 'text' and 'label'", lineno)
        label = str(obj["label"])
        if allowed is not None and label not in allowed:
            raise DataError(path, f"label {label!r} is outside the label set {sorted(allowed)}", lineno)
        rows.append({"id": f"{split}-{len(rows)}", "text": obj["text"].strip(), "label": label})
    require_nonempty(path, rows, "rows")
    return rows


def read(folder: Path, ds: dict, name: str) -> Prepared:
    folder = Path(folder)
    allowed = set(map(str, ds["labels"])) if ds.get("labels") else None
    splits = {s: read_jsonl(folder / f, allowed, s) for s, f in split_files(ds, DEFAULT_FILES).items()}
    labels = sorted(allowed or {r["label"] for rows in splits.values() for r in rows})
    return Prepared(task="re", labels=labels, splits=splits)
