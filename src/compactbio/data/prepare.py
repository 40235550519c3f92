"""The prepare stage: one dataset from its raw format to the canonical form.

The dataset's folder is ``raw / datasets.<id>.path`` and its reader is chosen
by ``datasets.<id>.format`` alone, so a new folder in a known format needs
only a params entry, no code.  Output (docs/architecture.md): ``meta.json``,
``train/validation/test.jsonl`` (or ``corpus.txt`` for a corpus) and, for QA,
the golden files; all written inside one atomic folder.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..io import atomic_dir, write_json, write_jsonl
from .errors import DataError
from .readers import reader_for
from .readers.common import SPLITS

logger = logging.getLogger(__name__)


def check_ner(prepared, folder: Path) -> None:
    """Every NER sentence has tokens and exactly one tag per token (what tokenize's alignment relies on)."""
    for split, rows in prepared.splits.items():
        for i, r in enumerate(rows):
            tokens, tags = r.get("tokens"), r.get("tags")
            if not tokens or not isinstance(tokens, list) or not isinstance(tags, list) or len(tokens) != len(tags):
                raise DataError(folder, f"{split} sentence {i + 1} ({r.get('id')!r}): "
                                        f"{len(tokens or [])} tokens but {len(tags or [])} tags (one tag per token)")


def run(params: dict, dataset: str, raw: Path, out: Path) -> None:
    datasets = params.get("datasets", {})
    if dataset not in datasets:
        raise ValueError(f"unknown dataset '{dataset}' (params.yaml datasets: {', '.join(sorted(datasets))})")
    ds = datasets[dataset]
    folder = Path(raw) / ds.get("path", ".")
    prepared = reader_for(ds["format"])(folder, ds, dataset)
    if prepared.task == "ner":
        check_ner(prepared, folder)
    meta = {"name": dataset, "task": prepared.task, "labels": prepared.labels,
            "splits": {s: len(prepared.splits.get(s, [])) for s in SPLITS},
            "description": ds.get("description", ""), "format": ds["format"], "source": ds.get("source")}
    with atomic_dir(out) as tmp:
        if prepared.task == "mlm":
            with open(tmp / "corpus.txt", "w", encoding="utf-8") as f:
                for doc in prepared.corpus:
                    f.write(doc + "\n")
            meta["splits"] = {"train": len(prepared.corpus)}
            meta["documents"] = len(prepared.corpus)
        else:
            for split in SPLITS:
                write_jsonl(tmp / f"{split}.jsonl", prepared.splits[split])
        for fname, obj in prepared.extra_files.items():
            write_json(tmp / fname, obj)
        meta.update(prepared.extra_meta)
        write_json(tmp / "meta.json", meta)
    logger.info("prepared %s (%s): %s", dataset, ds["format"], json.dumps(meta["splits"]))
