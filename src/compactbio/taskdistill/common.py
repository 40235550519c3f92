"""Settings, names and inputs shared by the task-distillation stages.

The study's settings live under ``task_distill`` in params.yaml; these
helpers read and check them (a missing or bad key is a ``ValueError`` naming
it) so the stages themselves stay short.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..finetune.inputs import Inputs, load_inputs, row_limits

logger = logging.getLogger(__name__)

TRAINING_KEYS = ("epochs", "batch_size", "learning_rate", "warmup_fraction", "weight_decay",
                 "max_grad_norm", "eval_batch_size", "num_threads")
STUDENT_KEYS = {"bilstm": ("embedding_size", "hidden_size", "num_layers", "classifier_size"),
                "tinybert": ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")}


def section(params: dict) -> dict:
    td = params.get("task_distill")
    if not isinstance(td, dict):
        raise ValueError("params.yaml: no `task_distill` section")
    return td


def _require(cfg: dict, keys, where: str) -> None:
    missing = [k for k in keys if cfg.get(k) is None]
    if missing:
        raise ValueError(f"params.yaml: {where} lacks {', '.join(missing)}")


def training_hp(cfg: dict, where: str) -> dict:
    _require(cfg, TRAINING_KEYS, where)
    hp = dict(cfg)
    for key in ("epochs", "batch_size", "eval_batch_size"):
        if int(hp[key]) < 1:
            raise ValueError(f"params.yaml: {where}.{key} must be >= 1, got {hp[key]}")
    return hp


def teacher_hp(params: dict) -> dict:
    return training_hp(section(params).get("teacher_training") or {}, "task_distill.teacher_training")


def student_cfg(params: dict, student: str) -> dict:
    models = section(params).get("models") or {}
    if student not in STUDENT_KEYS:
        raise ValueError(f"unknown student {student!r}; expected one of {tuple(STUDENT_KEYS)}")
    if student not in models:
        raise ValueError(f"params.yaml: task_distill.models has no entry {student!r}")
    cfg = models[student]
    _require(cfg, STUDENT_KEYS[student], f"task_distill.models.{student}")
    return cfg


def student_hp(params: dict, student: str) -> dict:
    cfg = student_cfg(params, student)
    return training_hp(cfg.get("training") or {}, f"task_distill.models.{student}.training")


def run_name(student: str, distill: bool, n: int) -> str:
    """``bilstm-kd-n3``: the student, with (kd) or without (base) the teacher, augmentation size."""
    return f"{student}-{'kd' if distill else 'base'}-n{int(n)}"


def setup_torch(seed: int, threads: int) -> None:
    from ..finetune.stage import _setup_torch

    _setup_torch(int(seed), int(threads or 0))


def tokenizer_sha256(folder: Path) -> str:
    import hashlib

    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise ValueError(f"{path}: not found (the teacher's tokenizer is needed)")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_checked(data: Path, prepared: Path, vocab_dir: Path, hp: dict | None = None) -> Inputs:
    """The tokenized splits, checked to come from ``vocab_dir``'s tokenizer (else positions would not align).

    ``hp``'s ``max_train_rows`` / ``max_eval_rows`` keep the first N sentences of each split.
    """
    inp = load_inputs(Path(data), Path(prepared), row_limits(hp or {}))
    if inp.task != "ner":
        raise ValueError(f"{Path(prepared) / 'meta.json'}: task {inp.task!r}; task distillation needs an NER set")
    from ..io import read_json

    meta = read_json(Path(data) / "meta.json")
    theirs = meta.get("tokenizer_sha256")
    ours = tokenizer_sha256(vocab_dir)
    if theirs and theirs != ours:
        raise ValueError(f"{Path(data) / 'meta.json'}: tokenized with another tokenizer than "
                         f"{Path(vocab_dir) / 'tokenizer.json'} (sha256 {theirs[:12]} vs {ours[:12]})")
    return inp


def train_features(params: dict, prepared: Path, vocab_dir: Path, labels: list[str], n: int,
                   max_rows: int | None = None) -> tuple[list[dict], dict]:
    """The training split (its first ``max_rows`` sentences) augmented ``n``-fold and tokenized with the teacher's tokenizer.

    Returns the features (``input_ids``, ``labels`` per row) and counts for the
    metrics (sentences and mentions before and after augmentation).
    """
    from ..data.tokenize import load_tokenizer, ner_rows
    from . import augment as A

    td = section(params)
    acfg = td.get("augment") or {}
    path = Path(prepared) / "train.jsonl"
    rows = A.read_rows(path)
    if max_rows:
        rows = rows[:int(max_rows)]
    bad = sorted({t for r in rows for t in r["tags"]} - set(labels))
    if bad:
        raise ValueError(f"{path}: tags {bad} are not in the dataset labels {labels}")
    aug = A.augment(rows, int(n), list(acfg.get("methods") or []), dict(acfg.get("p") or {}), int(td["seed"]))
    tok, _ = load_tokenizer(Path(vocab_dir))
    max_length = int((params.get("tokenize") or {}).get("max_length", 256))
    cols = ner_rows(tok, aug, {lab: i for i, lab in enumerate(labels)}, max_length, 1000, str(path))
    ids, labs = cols["input_ids"].to_pylist(), cols["labels"].to_pylist()
    feats = [{"input_ids": i, "labels": lab} for i, lab in zip(ids, labs)]
    counts = {"train_sentences": len(rows), "train_mentions": A.mention_count(rows),
              "augmented_sentences": len(aug), "augmented_mentions": A.mention_count(aug), "train_rows": len(feats)}
    return feats, counts


def copy_tokenizer(src: Path, dest: Path) -> None:
    """``src``'s tokenizer files, byte for byte (the students compare tokenizer.json's sha256), and vocab.txt."""
    from ..models.folder import copy_tokenizer as copy

    copy(Path(src), Path(dest))


def write_log(path: Path, log: list[dict]) -> None:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["step", "epoch", "loss", "validation_score"], lineterminator="\n")
        w.writeheader()
        w.writerows(log)
