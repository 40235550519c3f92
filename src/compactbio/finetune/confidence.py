"""How sure a fine-tuned model is of each prediction: the numbers the cascade study routes by.

Written next to every prediction in ``per_example.jsonl`` (docs/architecture.md)
so that :mod:`compactbio.cascade` can send a compact model's least confident
examples to BioBERT.  All are probabilities in [0, 1] (higher: more confident),
computed from the same logits the predictions come from, in float64, so the
scores never change.

* NER, per sentence: ``confidence`` is the lowest probability the model gives
  any word it tags as part of an entity (a non-``O`` tag; a word's prediction
  and probability are its first sub-word's), because a sentence's entity F1
  is only as good as its weakest predicted entity token; a sentence with no
  predicted entity takes its ``confidence_word_min``, the lowest top
  probability of any of its words, which also catches a missed entity (a
  word the model was unsure was ``O``).  A word with no sub-word (a
  tokenizer that drops a character) has no probability and is skipped; a
  sentence left with none is 1.0 (the minimum over nothing: there was nothing
  to decide).
* RE: the probability of the predicted class.
* QA: the probability of the answer ranked first (the one strict accuracy
  reads), 0.0 when there is none: ``merged`` sums an answer's probability over
  the question's snippets, so it is divided by the number of snippets that
  gave candidates (each snippet's n-best probabilities sum to 1), i.e. the
  answer's share of all candidate mass; ``authors`` takes the first answer's
  first synonym's probability within its snippet.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

NO_DECISION = 1.0   # the minimum over an empty set of probabilities


def top_probability(logits: np.ndarray) -> np.ndarray:
    """Softmax probability of the arg-max class along the last axis (``1 / sum(exp(l - max))``), float64."""
    z = np.asarray(logits, dtype=np.float64)
    return 1.0 / np.exp(z - z.max(axis=-1, keepdims=True)).sum(axis=-1)


def first_subword_values(n_words: int, word_ids: Sequence[int], values: Sequence[float]) -> list[float | None]:
    """Each word's value at its first sub-word (None for a word with no sub-word), as
    :func:`compactbio.metrics.ner.first_subword_tags` picks its tag."""
    if len(word_ids) != len(values):
        raise ValueError(f"{len(word_ids)} word ids but {len(values)} sub-word values")
    out: list[float | None] = [None] * n_words
    for w, v in zip(word_ids, values):
        if w >= n_words:
            raise ValueError(f"word id {w} but the sentence has {n_words} words")
        if w >= 0 and out[w] is None:
            out[w] = float(v)
    return out


def sentence_confidence(word_tags: Sequence[str], word_probs: Sequence[float | None]) -> dict[str, float]:
    """``confidence`` and ``confidence_word_min`` of one sentence (see the module docstring)."""
    known = [p for p in word_probs if p is not None]
    word_min = min(known) if known else NO_DECISION
    entity = [p for t, p in zip(word_tags, word_probs) if t != "O" and p is not None]
    return {"confidence": min(entity) if entity else word_min, "confidence_word_min": word_min}
