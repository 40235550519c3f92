"""Relation extraction: sequence classification of the entity-masked sentence.

Scored through the project's ``evaluate`` module ``relation_extraction``
(:mod:`compactbio.metrics.modules`): GAD's binary F1, ChemProt's macro-F1, micro-F1.
Each per-example record carries the predicted class's probability as its
``confidence`` (:mod:`.confidence`), for the cascade study.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..metrics import modules
from .confidence import top_probability

SELECT = "f1"


@dataclass
class Evaluation:
    scores: dict
    records: list[dict]


def features(inp, split: str, train: bool) -> list[dict]:
    rows = inp.rows[split]
    feats = [{"input_ids": ids} for ids in rows["input_ids"]]
    if train:
        for f, lab in zip(feats, rows["label"]):
            f["labels"] = int(lab)
    return feats


def _evaluation(inp, split: str, pred: list[str], confidence: list[float] | None = None) -> Evaluation:
    examples = inp.examples[split]
    gold = [ex["label"] for ex in examples]
    records = [{"id": ex["id"], "gold": g, "pred": p} for ex, g, p in zip(examples, gold, pred)]
    if confidence is not None:
        for rec, c in zip(records, confidence):
            rec["confidence"] = float(c)
    scores = modules.load("relation_extraction").compute(predictions=pred, references=gold, labels=inp.labels)
    return Evaluation(scores=dict(sorted(scores.items())), records=records)


def evaluate(inp, split: str, outputs: list[np.ndarray], hp: dict) -> Evaluation:
    return _evaluation(inp, split, [inp.labels[int(np.argmax(o))] for o in outputs],
                       [float(top_probability(o)) for o in outputs])


def majority_label(inp) -> str:
    """The most frequent training label (ties: first in the dataset's label order)."""
    counts = Counter(ex["label"] for ex in inp.examples["train"])
    return max(inp.labels, key=lambda lab: (counts[lab], -inp.labels.index(lab)))


def baseline(inp, hp: dict) -> dict:
    """Majority class: every test example gets the most frequent training label."""
    return _evaluation(inp, "test", [majority_label(inp)] * len(inp.examples["test"])).scores


def write_predictions(folder: Path, inp, ev: Evaluation) -> None:
    with open(folder / "predictions.tsv", "w", encoding="utf-8") as f:
        f.write("id\tgold\tpredicted\n")
        for r in ev.records:
            f.write(f"{r['id']}\t{r['gold']}\t{r['pred']}\n")
