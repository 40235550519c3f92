"""Entity-level NER scores, counted by seqeval in its default (conlleval-compatible) mode.

seqeval is what the paper's script and most of the community call, so our
scores are seqeval's own: corpus precision, recall and F1 from
``seqeval.metrics.sequence_labeling.precision_recall_fscore_support`` (micro
average), and the per-sentence ``(tp, fp, fn)`` the paired bootstrap needs from
seqeval's own entity extraction (``get_entities``).  seqeval builds the corpus
counts from the same extraction over the sentences joined with an ``O``
between them, and an ``O`` closes every entity, so the per-sentence counts sum
exactly to the corpus counts (the tests check it).

Counting rules (conlleval, seqeval's default, not ``mode="strict"``):

* tags are ``O`` or ``<prefix>[-<type>]`` with prefix ``B``, ``I``, ``E`` or
  ``S`` (so BIO with or without entity types, and BIOES, are accepted; an
  untyped ``B`` has the empty type);
* an ``I`` (or ``E``) after an ``O``, or after a tag of another type, starts a
  new entity; a ``B`` always starts one;
* an entity is ``(type, start, end)`` with ``end`` exclusive; a predicted
  entity is a true positive only if type, start and end all match.

seqeval only warns about a tag it cannot parse and then counts it somehow, so
every tag is checked here first (:func:`split_tag`): a bad tag is an error.

Word level vs. sub-word level
-----------------------------
*Word level* (:func:`ner_scores` on word sequences) is what BioBERT and the
community report: one tag per word, the model's tag for a word being its
prediction on the word's first sub-word (:func:`first_subword_tags`).

*Sub-word level* (the paper's variant, :func:`subword_sequences`) is what the
paper's Hugging Face script computed: every sub-word of a word carries the
word's gold label (``B`` is copied onto all sub-words of the first word, so a
word split into three pieces holds ``B B B``), the model's prediction is taken
at every sub-word, special tokens are dropped, and seqeval's counting is run on
these sub-word sequences.  Copied ``B`` tags turn one gold entity into several,
so these numbers are not comparable to word-level ones; we report both
(:func:`word_and_subword_scores`).

seqeval is imported when first needed: it pulls in scikit-learn (about two
seconds), and :func:`entities` / :func:`split_tag` serve code that never scores.
"""

from __future__ import annotations

from typing import Iterable, Sequence

Entity = tuple[str, int, int]
PREFIXES = ("B", "I", "E", "S")


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-Disease"`` -> ``("B", "Disease")``; ``"B"`` -> ``("B", "")``; ``"O"`` -> ``("O", "")``."""
    if tag == "O":
        return "O", ""
    if not isinstance(tag, str):
        raise ValueError(f"not a BIO/BIOES tag: {tag!r} (expected a string)")
    prefix, sep, etype = tag.partition("-")
    if prefix not in PREFIXES or (sep and not etype):
        raise ValueError(f"not a BIO/BIOES tag: {tag!r} (expected O, B, I, E, S, optionally '-<type>')")
    return prefix, etype


def _checked(tags: Sequence[str]) -> list[str]:
    """The tags as a list (what seqeval indexes), each one checked."""
    tags = list(tags)
    try:
        distinct = set(tags)
    except TypeError:   # a list where a tag belongs: sentences nested one level too deep
        raise ValueError(f"tags must be strings, got {tags[:3]!r}") from None
    for tag in distinct:
        split_tag(tag)
    return tags


def _checked_corpus(gold: Iterable[Sequence[str]], pred: Iterable[Sequence[str]]
                    ) -> tuple[list[list[str]], list[list[str]]]:
    gold, pred = [_checked(s) for s in gold], [_checked(s) for s in pred]
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted ones")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: gold has {len(g)} tags but prediction has {len(p)}")
    return gold, pred


def _seqeval_entities(tags: list[str]) -> list[Entity]:
    from seqeval.metrics.sequence_labeling import get_entities

    # seqeval: (type or "_" when untyped, start, end inclusive)
    return [("" if t == "_" else t, s, e + 1) for t, s, e in get_entities(tags)]


def entities(tags: Sequence[str]) -> list[Entity]:
    """Entities of one sentence as ``(type, start, end_exclusive)``, in order (seqeval's extraction)."""
    return _seqeval_entities(_checked(tags))


def sentence_counts(gold: Sequence[str], pred: Sequence[str]) -> tuple[int, int, int]:
    """``(tp, fp, fn)`` of one sentence; the per-example record of the bootstrap."""
    gold, pred = _checked(gold), _checked(pred)
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} tags but prediction has {len(pred)}")
    g, p = set(_seqeval_entities(gold)), set(_seqeval_entities(pred))
    tp = len(g & p)
    return tp, len(p) - tp, len(g) - tp


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Micro precision/recall/F1 from counts, with seqeval's formulas (0 where a denominator is 0).

    For the bootstrap, which rescores resampled per-sentence counts; on the full
    sample it gives seqeval's corpus scores to the last digit (tested).
    """
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def ner_scores(gold: Iterable[Sequence[str]], pred: Iterable[Sequence[str]]) -> dict[str, float]:
    """Micro-averaged entity precision, recall and F1 over sentences, as seqeval computes them."""
    from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

    gold, pred = _checked_corpus(gold, pred)
    if not gold:   # seqeval refuses an empty corpus; no entity, no score (its zero_division=0)
        return prf(0, 0, 0)
    p, r, f, _ = precision_recall_fscore_support(gold, pred, average="micro", zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def first_subword_tags(n_words: int, word_ids: Sequence[int], subword_pred: Sequence[str]) -> list[str]:
    """Word-level prediction of one sentence: each word's tag at its first sub-word.

    ``word_ids[i]`` is the word of sub-word ``i`` (-1 for special tokens).  A word
    that got no sub-word (a tokenizer that drops a character) is predicted ``O``,
    so the word sequence stays aligned with gold.
    """
    if len(word_ids) != len(subword_pred):
        raise ValueError(f"{len(word_ids)} word ids but {len(subword_pred)} sub-word predictions")
    out: list[str | None] = [None] * n_words
    for w, tag in zip(word_ids, subword_pred):
        if w >= n_words:
            raise ValueError(f"word id {w} but the sentence has {n_words} words")
        if w >= 0 and out[w] is None:
            out[w] = tag
    return ["O" if t is None else t for t in out]


def subword_sequences(word_tags: Sequence[str], word_ids: Sequence[int],
                      subword_pred: Sequence[str]) -> tuple[list[str], list[str]]:
    """Gold and predicted sub-word tag sequences for the paper's sub-word variant.

    ``word_ids[i]`` is the word of sub-word ``i`` (-1 for special tokens, which
    are dropped); ``subword_pred[i]`` the model's tag there.  Every sub-word's
    gold tag is its word's tag, copied unchanged (see the module docstring).
    """
    if len(word_ids) != len(subword_pred):
        raise ValueError(f"{len(word_ids)} word ids but {len(subword_pred)} sub-word predictions")
    gold, pred = [], []
    for w, p in zip(word_ids, subword_pred):
        if w < 0:
            continue
        gold.append(word_tags[w])
        pred.append(p)
    return gold, pred


def word_and_subword_scores(word_tags: Sequence[Sequence[str]], subword_pred: Sequence[Sequence[str]],
                            word_ids: Sequence[Sequence[int]]) -> dict[str, float]:
    """Both NER scores of a corpus from the model's tag at every sub-word.

    Per sentence: its gold word tags, its predicted tag per sub-word and each
    sub-word's word index (-1 for specials; a sentence split into several
    model inputs is passed joined, in order).  Returns ``f1``, ``precision``,
    ``recall`` (word level, first sub-word) and the same with ``_subword``.
    """
    if not len(word_tags) == len(subword_pred) == len(word_ids):
        raise ValueError(f"{len(word_tags)} gold sentences, {len(subword_pred)} predicted ones and "
                         f"{len(word_ids)} word-id lists")
    word_pred = [first_subword_tags(len(g), w, p) for g, w, p in zip(word_tags, word_ids, subword_pred)]
    sub = [subword_sequences(g, w, p) for g, w, p in zip(word_tags, word_ids, subword_pred)]
    scores = {**ner_scores(word_tags, word_pred),
              **{f"{k}_subword": v for k, v in ner_scores([g for g, _ in sub], [p for _, p in sub]).items()}}
    return dict(sorted(scores.items()))


def sort_labels(tags: Iterable[str]) -> list[str]:
    """Deterministic label order used across the project: sorted, ``O`` last."""
    tags = set(tags)
    return sorted(t for t in tags if t != "O") + (["O"] if "O" in tags else [])
