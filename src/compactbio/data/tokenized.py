"""The tokenized-folder contract: a ``datasets`` folder plus ``meta.json``, read memory-mapped.

``data/tokenized/<family>/<dataset>/`` is what ``save_to_disk`` writes, so a
user opens any of them with one call, ``datasets.load_from_disk(folder)``:

* a fine-tuning set is a ``DatasetDict`` (``dataset_dict.json``, one folder per
  split holding ``state.json``, ``dataset_info.json``, ``data-*.arrow``);
* the MLM corpus is one ``Dataset`` (those three kinds of files at the top);

``meta.json`` beside them holds what the stages check (task, labels, max
length, tokenizer sha256, rows per split).

The stages read the same Arrow files here with pyarrow alone, memory-mapped
the way ``load_from_disk`` maps them (``state.json`` lists the shards, each an
Arrow IPC stream).  Opening a split then costs milliseconds and no resident
memory, and a job that only reads does not pay ``import datasets`` (1-2 s,
and the demo runs more than a hundred such jobs); a test checks that both
readers see the same table.  A folder of the earlier contract (one Arrow IPC
file ``<split>.arrow`` per split, still written by hand in some tests) is read
as well.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

DICT_FILE = "dataset_dict.json"    # a DatasetDict's marker (save_to_disk)
STATE_FILE = "state.json"          # a Dataset's shard list (save_to_disk)


def split_source(folder: str | Path, split: str) -> Path:
    """Where ``split``'s rows live: the split's folder, the corpus folder, or a legacy ``<split>.arrow``.

    Error messages name this path, so a bad row is found where it is stored.
    """
    folder = Path(folder)
    if (folder / DICT_FILE).is_file():
        return folder / split
    if (folder / STATE_FILE).is_file():
        return folder
    return folder / f"{split}.arrow"


def _dict_splits(folder: Path) -> list[str]:
    try:
        splits = json.loads((folder / DICT_FILE).read_text(encoding="utf-8"))["splits"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{folder / DICT_FILE}: not a datasets DatasetDict index ({exc})") from None
    return [str(s) for s in splits]


def read_ipc(path: Path) -> pa.Table:
    """One Arrow IPC file: ``datasets`` writes streams, the earlier contract files; zero-copy either way."""
    try:
        source = pa.memory_map(str(path))
    except OSError as exc:
        raise ValueError(f"{path}: cannot open: {exc}") from None
    try:
        return pa.ipc.open_stream(source).read_all()
    except pa.ArrowInvalid:
        pass
    try:
        source.seek(0)
        return pa.ipc.open_file(source).read_all()
    except pa.ArrowInvalid as exc:
        raise ValueError(f"{path}: not an Arrow IPC file: {exc}") from None


def _read_dataset(folder: Path) -> pa.Table:
    """The shards of one saved ``Dataset``, concatenated without copying."""
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        files = [folder / f["filename"] for f in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{folder / STATE_FILE}: not a datasets save_to_disk state ({exc})") from None
    if state.get("_indices_data_files"):
        raise ValueError(f"{folder / STATE_FILE}: holds an indices mapping; save the dataset again with "
                         "save_to_disk (which flattens it)")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ValueError(f"{folder}: shard(s) missing: {', '.join(missing)}")
    tables = [read_ipc(f) for f in files]
    if not tables:
        raise ValueError(f"{folder / STATE_FILE}: lists no data files")
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def read_split(folder: str | Path, split: str) -> tuple[pa.Table, Path]:
    """``split`` of a tokenized folder as a memory-mapped ``pa.Table`` and the path it came from.

    The MLM corpus is a single ``Dataset``: it is its own ``train`` split.
    """
    folder = Path(folder)
    where = split_source(folder, split)
    if (folder / DICT_FILE).is_file():
        splits = _dict_splits(folder)
        if split not in splits:
            raise ValueError(f"{folder}: no split {split!r} (splits: {', '.join(splits)}); re-run tokenize")
        return _read_dataset(where), where
    if (folder / STATE_FILE).is_file():
        if split != "train":
            raise ValueError(f"{folder}: a single dataset (the corpus) has no split {split!r}")
        return _read_dataset(folder), where
    if where.is_file():
        return read_ipc(where), where
    raise ValueError(f"{folder}: no tokenized data (neither {DICT_FILE}, {STATE_FILE} nor {where.name}); "
                     "run the tokenize stage")
