"""BioBERT NER TSV: ``token<TAB>label``, one blank line between sentences.

Quirks tolerated on purpose, because they occur in copies found in the wild:
several blank lines in a row, whitespace around the token or the label,
Windows line ends, ``-DOCSTART-`` lines, a file without a final newline, and a
space instead of the tab.  Labels may be plain BIO (the BioBERT release),
BIOES, or typed (``B-Disease``); the label set is ``labels.txt`` when the
folder has one, otherwise any tag of that shape.  ``datasets.<id>.files``
may rename any of ``train`` (train.tsv), ``validation`` (devel.tsv) and
``test`` (test.tsv).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataError, read_text
from . import Prepared
from .common import require_nonempty, split_files

DEFAULT_FILES = {"train": "train.tsv", "validation": "devel.tsv", "test": "test.tsv"}
TAG_SHAPE = re.compile(r"^(O|[BIES](-\S+)?)$")


def read_labels_file(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    labels = [ln.strip() for ln in read_text(path).splitlines() if ln.strip()]
    return labels or None


def read_tsv(path: Path, allowed: set[str] | None, split: str) -> list[dict]:
    """Sentences of one file; ``allowed`` None means any well-formed tag."""
    sentences: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []

    def flush():
        if tokens:
            sentences.append({"id": f"{split}-{len(sentences)}", "tokens": list(tokens), "tags": list(tags)})
            tokens.clear()
            tags.clear()

    for lineno, raw in enumerate(read_text(path).split("\n"), start=1):
        line = raw.strip()
        if not line:
            flush()
            continue
        if line.startswith("-DOCSTART-"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) == 1:
            fields = line.split()
        fields = [f for f in fields if f] if len(fields) > 2 and all(not f for f in fields[2:]) else fields
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise DataError(path, f"wrong column count: expected 'token<TAB>label', got {len(fields)} field(s) in {raw!r}", lineno)
        token, tag = fields
        if allowed is not None and tag not in allowed:
            raise DataError(path, f"label {tag!r} is outside the label set {sorted(allowed)}", lineno)
        if allowed is None and not TAG_SHAPE.match(tag):
            raise DataError(path, f"label {tag!r} is not a BIO/BIOES tag (O, B, I, E, S, optionally -Type)", lineno)
        tokens.append(token)
        tags.append(tag)
    flush()
    return sentences


def order_labels(labels) -> list[str]:
    """Sorted tags with ``O`` last: BIO gives ``["B", "I", "O"]``."""
    rest = sorted(t for t in set(labels) if t != "O")
    return rest + ["O"]


def read(folder: Path, ds: dict, name: str) -> Prepared:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "dataset folder not found")
    given = read_labels_file(folder / "labels.txt")
    if given is not None:
        bad = [t for t in given if not TAG_SHAPE.match(t)]
        if bad:
            raise DataError(folder / "labels.txt", f"not BIO/BIOES tags: {bad}")
    allowed = set(given) if given else None
    splits = {}
    files = split_files(ds, DEFAULT_FILES)
    unknown = sorted(set(files) - set(DEFAULT_FILES))
    if unknown:
        raise ValueError(f"datasets.{name}.files: {', '.join(unknown)} not used by the biobert_ner format "
                         f"(train, validation, test)")
    for split, fname in files.items():
        path = folder / fname
        rows = read_tsv(path, allowed, split)
        require_nonempty(path, rows, "sentences")
        splits[split] = rows
    seen = {t for rows in splits.values() for r in rows for t in r["tags"]}
    labels = order_labels((allowed or set()) | seen)
    mentions = {s: sum(t.startswith(("B", "S")) for r in rows for t in r["tags"]) for s, rows in splits.items()}
    return Prepared(task="ner", labels=labels, splits=splits, extra_meta={"mentions": mentions})
