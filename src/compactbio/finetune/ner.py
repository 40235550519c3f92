"""NER: token-classification features, word-level decoding and scores.

The model is trained on every sub-word (each carries its word's label, as in
the paper).  For scoring, a word's prediction is its first sub-word's; rows
that are chunks of one long sentence are re-joined through ``sentence`` and
``word_ids``.  A word that got no sub-word at all (a tokenizer that drops a
character) is predicted ``O`` so the word sequence stays aligned with gold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..metrics.ner import ner_scores, prf, sentence_counts, subword_sequences

SELECT = "f1"


@dataclass
class Evaluation:
    scores: dict
    records: list[dict]
    word_pred: list[list[str]]


def features(inp, split: str, train: bool) -> list[dict]:
    rows = inp.rows[split]
    feats = [{"input_ids": ids} for ids in rows["input_ids"]]
    if train:
        for f, labs in zip(feats, rows["labels"]):
            f["labels"] = labs
    return feats


def _score(gold: list[list[str]], word_pred: list[list[str]],
           sub_gold: list[list[str]], sub_pred: list[list[str]], ids: list) -> Evaluation:
    records = []
    for ex_id, g, p in zip(ids, gold, word_pred):
        tp, fp, fn = sentence_counts(g, p)
        records.append({"id": ex_id, "tp": tp, "fp": fp, "fn": fn})
    word = prf(*(sum(r[k] for r in records) for k in ("tp", "fp", "fn")))
    sub = ner_scores(sub_gold, sub_pred)
    scores = {**word, **{f"{k}_subword": v for k, v in sub.items()}}
    return Evaluation(scores=dict(sorted(scores.items())), records=records, word_pred=word_pred)


def decode(inp, split: str, sub_tags_per_row: list[list[str]]) -> Evaluation:
    """Word-level and sub-word-level predictions of a split, given a tag per sub-word per row."""
    examples, rows = inp.examples[split], inp.rows[split]
    gold = [ex["tags"] for ex in examples]
    word_pred = [["O"] * len(g) for g in gold]
    seen = [set() for _ in gold]
    sub_gold: list[list[str]] = [[] for _ in gold]
    sub_pred: list[list[str]] = [[] for _ in gold]
    order = sorted(range(len(rows["sentence"])), key=lambda r: (rows["sentence"][r], r))
    for r in order:
        s, wids = rows["sentence"][r], rows["word_ids"][r]
        tags = sub_tags_per_row[r]
        for w, t in zip(wids, tags):
            if w >= 0 and w not in seen[s]:
                seen[s].add(w)
                word_pred[s][w] = t
        g, p = subword_sequences(gold[s], wids, tags)
        sub_gold[s] += g
        sub_pred[s] += p
    return _score(gold, word_pred, sub_gold, sub_pred, [ex["id"] for ex in examples])


def evaluate(inp, split: str, outputs: list[np.ndarray], hp: dict) -> Evaluation:
    labels = inp.labels
    tags = [[labels[i] for i in out.argmax(-1)] for out in outputs]
    return decode(inp, split, tags)


def baseline(inp, hp: dict) -> dict:
    """Majority class: every word (and sub-word) tagged ``O``; no entity is ever found."""
    rows = inp.rows["test"]
    return decode(inp, "test", [["O"] * len(ids) for ids in rows["input_ids"]]).scores


def write_predictions(folder: Path, inp, ev: Evaluation) -> None:
    """CoNLL style, ``token gold predicted`` per line, a blank line between sentences
    (the layout ``conlleval`` reads)."""
    with open(folder / "predictions.conll", "w", encoding="utf-8") as f:
        for ex, pred in zip(inp.examples["test"], ev.word_pred):
            for tok, g, p in zip(ex["tokens"], ex["tags"], pred):
                f.write(f"{tok} {g} {p}\n")
            f.write("\n")
