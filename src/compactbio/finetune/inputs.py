"""Read and cross-check a fine-tuning job's inputs before any training starts.

A job reads two views of one dataset: the prepared split (gold words, tags,
labels, contexts, golden answers) and the tokenized rows made from it (a
``datasets`` folder, memory-mapped: :mod:`compactbio.data.tokenized`).
If they disagree (stale tokenized data, a different label set, a golden file
for other questions) the scores would be silently wrong, so every such
mismatch is a ``ValueError`` naming the file, raised before a single step
is trained and before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..io import read_jsonl

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
COLUMNS = {
    "ner": ("input_ids", "labels", "word_ids", "sentence"),
    "re": ("input_ids", "label"),
    "qa": ("input_ids", "token_type_ids", "example", "offset_start", "offset_end"),
}
QA_TRAIN_COLUMNS = ("start_position", "end_position")


@dataclass
class Inputs:
    """Everything a job needs, already validated."""

    task: str
    labels: list[str]
    data: Path
    prepared: Path
    rows: dict[str, dict[str, list]]          # split -> tokenized column -> values
    examples: dict[str, list[dict]]           # split -> prepared rows
    golden: dict[str, dict] = field(default_factory=dict)   # QA: split -> golden file
    golden_paths: dict[str, Path] = field(default_factory=dict)
    tokenizer_sha256: str = ""                 # of the tokenizer.json that made the rows ("" unknown)
    sources: dict[str, Path] = field(default_factory=dict)  # split -> folder (or file) its rows came from

    def source(self, split: str) -> Path:
        """Where ``split``'s tokenized rows are stored, for messages that name a bad row."""
        return self.sources.get(split, self.data / f"{split}.arrow")

    def n_rows(self, split: str) -> int:
        return len(self.rows[split]["input_ids"])


def _read_json(path: Path):
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None


def read_arrow(path: Path) -> dict[str, list]:
    """One Arrow IPC file (or stream) as ``column -> Python list`` (the earlier one-file-per-split form)."""
    from ..data.tokenized import read_ipc

    if not Path(path).is_file():
        raise ValueError(f"{path}: file not found")
    table = read_ipc(Path(path))
    return {name: table.column(name).to_pylist() for name in table.column_names}


def read_rows(data: Path, split: str) -> tuple[dict[str, list], Path]:
    """A split of a tokenized folder as ``column -> Python list``, and where it is stored."""
    from ..data.tokenized import read_split

    table, where = read_split(data, split)
    return {name: table.column(name).to_pylist() for name in table.column_names}, where


def check_model_dir(model_dir: Path) -> None:
    """A usable model folder has its config, weights and tokenizer."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ValueError(f"{model_dir}: model folder not found")
    if not (model_dir / "config.json").is_file():
        raise ValueError(f"{model_dir}: not a model folder (config.json missing)")
    if not (model_dir / "tokenizer.json").is_file():
        raise ValueError(f"{model_dir}: model folder has no tokenizer (tokenizer.json missing); "
                         "the tokenized data cannot be checked against it")


def check_same_tokenizer(model_dir: Path, inp: "Inputs") -> None:
    """The rows must come from the model's own tokenizer, or token ids mean other words."""
    if not inp.tokenizer_sha256:
        logger.warning("%s: no tokenizer_sha256; cannot check it was tokenized with %s", inp.data / "meta.json", model_dir)
        return
    ours = hashlib.sha256((Path(model_dir) / "tokenizer.json").read_bytes()).hexdigest()
    if ours != inp.tokenizer_sha256:
        raise ValueError(f"{inp.data / 'meta.json'}: tokenized with tokenizer sha256 {inp.tokenizer_sha256[:12]}..., "
                         f"but {Path(model_dir) / 'tokenizer.json'} has {ours[:12]}... (re-run tokenize with this model)")


def task_of_prepared(prepared: Path) -> str:
    """The task a prepared dataset is for (its ``meta.json``), checked to be fine-tunable."""
    path = Path(prepared) / "meta.json"
    task = _read_json(path).get("task")
    if task not in COLUMNS:
        raise ValueError(f"{path}: task {task!r} cannot be fine-tuned (expected ner, re or qa)")
    return task


def row_limits(hp: dict) -> dict[str, int | None]:
    """Per-split caps from a job's hyperparameters (``max_train_rows``, ``max_eval_rows``; null: all)."""
    ev = hp.get("max_eval_rows")
    return {"train": hp.get("max_train_rows"), "validation": ev, "test": ev}


def _keep_first(task: str, examples: list[dict], rows: dict[str, list], n: int) -> None:
    """Keep the first ``n`` examples of a split (QA: the first ``n`` questions) and the rows made from them.

    A prefix keeps every row's example index valid, so nothing is renumbered.
    """
    if task == "qa":
        seen: dict[str, None] = {}
        keep = len(examples)
        for i, ex in enumerate(examples):
            seen.setdefault(ex.get("question_id"), None)
            if len(seen) > n:
                keep = i
                break
    else:
        keep = min(n, len(examples))
    if keep >= len(examples):
        return
    del examples[keep:]
    column = {"ner": "sentence", "qa": "example"}.get(task)
    index = range(min(keep, len(rows["input_ids"]))) if column is None else \
        [r for r, e in enumerate(rows[column]) if e < keep]
    for name in rows:
        values = rows[name]
        rows[name] = [values[r] for r in index]


def load_inputs(data: Path, prepared: Path, limits: dict[str, int | None] | None = None) -> Inputs:
    """Read and check both views of a dataset; ``limits`` keeps the first N examples of a split."""
    data, prepared = Path(data), Path(prepared)
    pmeta = _read_json(prepared / "meta.json")
    tmeta = _read_json(data / "meta.json")
    task = pmeta.get("task")
    if task not in COLUMNS:
        raise ValueError(f"{prepared / 'meta.json'}: task {task!r} cannot be fine-tuned (expected ner, re or qa)")
    if tmeta.get("task") != task:
        raise ValueError(f"{data / 'meta.json'}: task {tmeta.get('task')!r} but {prepared / 'meta.json'} says {task!r}")
    labels = list(pmeta.get("labels") or [])
    if task != "qa":
        if not labels:
            raise ValueError(f"{prepared / 'meta.json'}: no labels")
        if list(tmeta.get("labels") or []) != labels:
            raise ValueError(f"{data / 'meta.json'}: labels {tmeta.get('labels')} do not match "
                             f"{prepared / 'meta.json'} labels {labels} (re-run tokenize)")
    inp = Inputs(task=task, labels=labels, data=data, prepared=prepared, rows={}, examples={},
                 tokenizer_sha256=str(tmeta.get("tokenizer_sha256") or ""))
    for split in SPLITS:
        inp.examples[split] = read_jsonl(prepared / f"{split}.jsonl")
        rows, inp.sources[split] = read_rows(data, split)
        need = COLUMNS[task] + (QA_TRAIN_COLUMNS if task == "qa" and split != "test" else ())
        missing = [c for c in need if c not in rows]
        if missing:
            raise ValueError(f"{inp.source(split)}: missing column(s) {missing}")
        if (limits or {}).get(split):
            _keep_first(task, inp.examples[split], rows, int(limits[split]))
        inp.rows[split] = rows
        if not rows["input_ids"] and (split != "validation" or inp.examples[split]):
            # An empty validation split is allowed (validation_fraction: 0, the authors' protocol).
            raise ValueError(f"{inp.source(split)}: no rows")
        {"ner": _check_ner, "re": _check_re, "qa": _check_qa}[task](inp, split)
    if task == "qa":
        for split in ("validation", "test"):
            path = prepared / f"golden_{split}.json"
            golden = _read_json(path)
            asked = sorted({ex["question_id"] for ex in inp.examples[split]})
            absent = [q for q in asked if q not in golden]
            if absent:
                raise ValueError(f"{path}: golden answers missing for {len(absent)} of {len(asked)} "
                                 f"{split} questions, e.g. {absent[:3]}")
            for qid, entry in golden.items():
                ans = entry.get("answers") if isinstance(entry, dict) else None
                if not isinstance(ans, list) or not all(isinstance(a, list) for a in ans):
                    raise ValueError(f"{path}: question {qid}: 'answers' must be a list of synonym lists")
            if (limits or {}).get(split):
                golden = {q: golden[q] for q in asked}   # score the questions kept, not the whole file
            inp.golden[split], inp.golden_paths[split] = golden, path
    return inp


def _where(inp: Inputs, split: str, row: int) -> str:
    return f"{inp.source(split)} row {row}"


def _check_ner(inp: Inputs, split: str) -> None:
    """Every sub-word's label must be its word's prepared tag: catches stale tokenized data."""
    label_id = {lab: i for i, lab in enumerate(inp.labels)}
    examples, rows = inp.examples[split], inp.rows[split]
    for lineno, ex in enumerate(examples, 1):
        bad = [t for t in ex.get("tags", []) if t not in label_id]
        if bad or len(ex.get("tags", [])) != len(ex.get("tokens", [])):
            raise ValueError(f"{inp.prepared / f'{split}.jsonl'}:{lineno}: tags {bad[:3] or ''} "
                             f"not in labels {inp.labels} or not one per token")
    for r, (labs, wids, sent) in enumerate(zip(rows["labels"], rows["word_ids"], rows["sentence"])):
        if not 0 <= sent < len(examples):
            raise ValueError(f"{_where(inp, split, r)}: sentence {sent} not in {inp.prepared / f'{split}.jsonl'}")
        tags = examples[sent]["tags"]
        for lab, w in zip(labs, wids):
            if w < 0:
                continue
            if w >= len(tags) or lab != label_id[tags[w]]:
                raise ValueError(f"{_where(inp, split, r)}: label {lab} of word {w} does not match "
                                 f"{inp.prepared / f'{split}.jsonl'}:{sent + 1} (re-run tokenize)")


def _check_re(inp: Inputs, split: str) -> None:
    label_id = {lab: i for i, lab in enumerate(inp.labels)}
    examples, rows = inp.examples[split], inp.rows[split]
    if len(examples) != len(rows["label"]):
        raise ValueError(f"{inp.source(split)}: {len(rows['label'])} rows but "
                         f"{inp.prepared / f'{split}.jsonl'} has {len(examples)} (re-run tokenize)")
    for r, (ex, lab) in enumerate(zip(examples, rows["label"])):
        if ex.get("label") not in label_id:
            raise ValueError(f"{inp.prepared / f'{split}.jsonl'}:{r + 1}: label {ex.get('label')!r} "
                             f"not in labels {inp.labels}")
        if lab != label_id[ex["label"]]:
            raise ValueError(f"{_where(inp, split, r)}: label id {lab} does not match "
                             f"{inp.prepared / f'{split}.jsonl'}:{r + 1} label {ex['label']!r}")


def _check_qa(inp: Inputs, split: str) -> None:
    examples, rows = inp.examples[split], inp.rows[split]
    for lineno, ex in enumerate(examples, 1):
        if not all(k in ex for k in ("question_id", "context")):
            raise ValueError(f"{inp.prepared / f'{split}.jsonl'}:{lineno}: needs 'question_id' and 'context'")
    for r, e in enumerate(rows["example"]):
        if not 0 <= e < len(examples):
            raise ValueError(f"{_where(inp, split, r)}: example {e} not in {inp.prepared / f'{split}.jsonl'}")
