"""Entity-level NER scores, counted exactly as conlleval / seqeval's default mode.

Why our own code rather than calling seqeval: the stage must score the same
entities twice (word level and the paper's sub-word level), keep per-sentence
counts for the paired bootstrap, and stay importable without extra packages.
The tests cross-check these functions against seqeval.

Counting rules (conlleval, seqeval default, not ``mode="strict"``):

* tags are ``O`` or ``<prefix>[-<type>]`` with prefix ``B``, ``I``, ``E`` or
  ``S`` (so BIO with or without entity types, and BIOES, are accepted; an
  untyped ``B`` has the empty type);
* an ``I`` (or ``E``) after an ``O``, or after a tag of another type, starts a
  new entity; a ``B`` always starts one;
* an entity is ``(type, start, end)`` with ``end`` exclusive; a predicted
  entity is a true positive only if type, start and end all match.

Word level vs. sub-word level
-----------------------------
*Word level* (:func:`ner_scores` on word sequences) is what BioBERT and the
community report: one tag per word, the model's tag for a word being its
prediction on the word's first sub-word.

*Sub-word level* (the paper's variant, :func:`subword_sequences`) is what the
paper's Hugging Face script computed: every sub-word of a word carries the
word's gold label (``B`` is copied onto all sub-words of the first word, so a
word split into three pieces holds ``B B B``), the model's prediction is taken
at every sub-word, special tokens are dropped, and seqeval's counting is run on
these sub-word sequences.  Copied ``B`` tags turn one gold entity into several,
so these numbers are not comparable to word-level ones; we report both.
"""

from __future__ import annotations

from typing import Iterable, Sequence

Entity = tuple[str, int, int]
PREFIXES = ("B", "I", "E", "S")


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-Disease"`` -> ``("B", "Disease")``; ``"B"`` -> ``("B", "")``; ``"O"`` -> ``("O", "")``."""
    if tag == "O":
        return "O", ""
    prefix, sep, etype = tag.partition("-")
    if prefix not in PREFIXES or (sep and not etype):
        raise ValueError(f"not a BIO/BIOES tag: {tag!r} (expected O, B, I, E, S, optionally '-<type>')")
    return prefix, etype


def _ends(prev: str, prev_type: str, cur: str, cur_type: str) -> bool:
    """conlleval's endOfChunk: does the chunk holding the previous tag end before ``cur``?"""
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and cur in ("B", "S", "O"):
        return True
    return prev != "O" and prev_type != cur_type


def _starts(prev: str, prev_type: str, cur: str, cur_type: str) -> bool:
    """conlleval's startOfChunk: does ``cur`` open a new chunk?"""
    if cur in ("B", "S"):
        return True
    if prev in ("E", "S", "O") and cur in ("E", "I"):
        return True
    return cur != "O" and prev_type != cur_type


def entities(tags: Sequence[str]) -> list[Entity]:
    """Entities of one sentence as ``(type, start, end_exclusive)``, in order."""
    found: list[Entity] = []
    prev, prev_type, begin = "O", "", 0
    for i, tag in enumerate(list(tags) + ["O"]):
        cur, cur_type = split_tag(tag)
        if _ends(prev, prev_type, cur, cur_type) and prev != "O":
            found.append((prev_type, begin, i))
        if _starts(prev, prev_type, cur, cur_type):
            begin = i
        prev, prev_type = cur, cur_type
    return found


def sentence_counts(gold: Sequence[str], pred: Sequence[str]) -> tuple[int, int, int]:
    """``(tp, fp, fn)`` of one sentence; the per-example record of the bootstrap."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} tags but prediction has {len(pred)}")
    g, p = set(entities(gold)), set(entities(pred))
    tp = len(g & p)
    return tp, len(p) - tp, len(g) - tp


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Micro precision/recall/F1 from counts; 0 where a denominator is 0 (seqeval's choice)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def ner_scores(gold: Iterable[Sequence[str]], pred: Iterable[Sequence[str]]) -> dict[str, float]:
    """Micro-averaged entity precision, recall and F1 over sentences (seqeval's defaults)."""
    tp = fp = fn = 0
    gold, pred = list(gold), list(pred)
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted ones")
    for g, p in zip(gold, pred):
        a, b, c = sentence_counts(g, p)
        tp, fp, fn = tp + a, fp + b, fn + c
    return prf(tp, fp, fn)


def subword_sequences(word_tags: Sequence[str], word_ids: Sequence[int],
                      subword_pred: Sequence[str]) -> tuple[list[str], list[str]]:
    """Gold and predicted sub-word tag sequences for the paper's sub-word variant.

    ``word_ids[i]`` is the word of sub-word ``i`` (-1 for special tokens, which
    are dropped); ``subword_pred[i]`` the model's tag there.  Every sub-word's
    gold tag is its word's tag, copied unchanged (see the module docstring).
    """
    gold, pred = [], []
    for w, p in zip(word_ids, subword_pred):
        if w < 0:
            continue
        gold.append(word_tags[w])
        pred.append(p)
    return gold, pred


def sort_labels(tags: Iterable[str]) -> list[str]:
    """Deterministic label order used across the project: sorted, ``O`` last."""
    tags = set(tags)
    return sorted(t for t in tags if t != "O") + (["O"] if "O" in tags else [])
