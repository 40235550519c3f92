"""NER: token-classification features, word-level decoding and scores.

The model is trained on every sub-word (each carries its word's label, as in
the paper).  For scoring, rows that are chunks of one long sentence are
re-joined through ``sentence`` and ``word_ids``, and the sentence's tag at
every sub-word goes to the project's ``evaluate`` module ``ner``
(:mod:`compactbio.metrics.modules`), which scores the word level (a word's
prediction is its first sub-word's; a word with no sub-word at all, from a
tokenizer that drops a character, is ``O``) and the paper's sub-word variant.
The bootstrap's per-sentence counts come from the same seqeval extraction
(:func:`compactbio.metrics.ner.sentence_counts`); each record also carries the
model's confidence in the sentence (:mod:`.confidence`), for the cascade study.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..metrics import modules
from ..metrics.ner import first_subword_tags, sentence_counts
from .confidence import first_subword_values, sentence_confidence, top_probability

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


def decode(inp, split: str, sub_tags_per_row: list[list[str]],
           sub_probs_per_row: list[np.ndarray] | None = None) -> Evaluation:
    """Scores, per-sentence counts and word predictions of a split, given a tag per sub-word per row.

    With ``sub_probs_per_row`` (the probability of each sub-word's tag), every record also gets the
    sentence's ``confidence`` and ``confidence_word_min`` (:func:`.confidence.sentence_confidence`).
    """
    examples, rows = inp.examples[split], inp.rows[split]
    gold = [ex["tags"] for ex in examples]
    sub_pred: list[list[str]] = [[] for _ in gold]
    sub_prob: list[list[float]] = [[] for _ in gold]
    word_ids: list[list[int]] = [[] for _ in gold]
    for r in sorted(range(len(rows["sentence"])), key=lambda r: (rows["sentence"][r], r)):
        s = rows["sentence"][r]
        wids = rows["word_ids"][r]
        word_ids[s] += wids.tolist() if hasattr(wids, "tolist") else list(wids)
        sub_pred[s] += sub_tags_per_row[r]
        if sub_probs_per_row is not None:
            sub_prob[s] += np.asarray(sub_probs_per_row[r], dtype=np.float64).tolist()
    scores = modules.load("ner").compute(predictions=sub_pred, references=gold, word_ids=word_ids)
    word_pred = [first_subword_tags(len(g), w, p) for g, w, p in zip(gold, word_ids, sub_pred)]
    records = []
    for ex, g, p, w, probs in zip(examples, gold, word_pred, word_ids, sub_prob):
        tp, fp, fn = sentence_counts(g, p)
        rec = {"id": ex["id"], "tp": tp, "fp": fp, "fn": fn}
        if sub_probs_per_row is not None:
            rec.update(sentence_confidence(p, first_subword_values(len(g), w, probs)))
        records.append(rec)
    return Evaluation(scores=dict(sorted(scores.items())), records=records, word_pred=word_pred)


def evaluate(inp, split: str, outputs: list[np.ndarray], hp: dict) -> Evaluation:
    labels = inp.labels
    tags = [[labels[i] for i in out.argmax(-1)] for out in outputs]
    return decode(inp, split, tags, [top_probability(out) for out in outputs])


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
