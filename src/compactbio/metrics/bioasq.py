"""BioASQ factoid answers: from per-snippet n-best spans to strict / lenient / MRR.

A BioASQ question comes with several snippets; the reader model answers each
snippet separately.  Following BioBERT's post-processing (``transform_n2b_factoid``)
we pool the n-best spans of all snippets of a question, clean them, merge
case-insensitive duplicates by **summing** their probabilities (an answer that
several snippets agree on should rank higher), and keep the top ``k`` (5).

Scoring follows the official BioASQ evaluator for factoid questions:

* each golden answer is a list of synonyms; a predicted answer is correct if,
  lower-cased and stripped, it equals any synonym of any golden answer list;
* strict accuracy: the first predicted answer is correct;
* lenient accuracy: any of the (at most ``k``) predicted answers is correct;
* MRR: mean of ``1 / rank`` of the first correct answer (0 when none).

The denominator is every question of the golden file: a question for which no
snippet produced an answer counts as wrong, it is not dropped.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

# Trimmed from both ends: whitespace and sentence punctuation.  Characters that
# carry meaning in biomedical names (+, -, %, /, digits) are kept.
_TRIM = " \t\n\r.,;:!?\"'`\u2018\u2019\u201c\u201d"
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}


def normalise_answer(text: str) -> str:
    """Trim whitespace, punctuation and stray brackets from both ends of a span.

    A bracket is removed only where it is unbalanced inside the answer
    (``"(IL-6"`` -> ``"IL-6"``, ``"IL-6)"`` -> ``"IL-6"``) or encloses the whole
    answer (``"(IL-6)"`` -> ``"IL-6"``); ``"interleukin 6 (IL-6)"`` is kept.
    """
    prev = None
    while prev != text:
        prev = text
        text = text.strip(_TRIM)
        if not text:
            break
        first, last = text[0], text[-1]
        if first in _PAIRS and (last == _PAIRS[first] and _balanced(text[1:-1])):
            text = text[1:-1]
        elif first in _PAIRS and text.count(first) > text.count(_PAIRS[first]):
            text = text[1:]
        elif first in _CLOSERS:
            text = text[1:]
        elif last in _CLOSERS and text.count(last) > text.count(_CLOSERS[last]):
            text = text[:-1]
        elif last in _PAIRS:
            text = text[:-1]
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch in _PAIRS:
            depth += 1
        elif ch in _CLOSERS:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def rank_answers(candidates: Iterable[tuple[str, float]], top_k: int,
                 max_words: int | None = None) -> list[tuple[str, float]]:
    """Merge one question's candidate spans into its ranked answer list.

    ``candidates``: ``(text, probability)`` from the n-best lists of all its
    snippets.  Answers are normalised; empty ones and ones longer than
    ``max_words`` whitespace-separated words are dropped; case-insensitive
    duplicates are merged (probabilities summed, the spelling of the most
    probable variant kept).  Ties in probability are broken by the text, so
    the order is deterministic.
    """
    merged: dict[str, list] = {}
    for text, prob in sorted(candidates, key=lambda c: (-c[1], c[0])):
        ans = normalise_answer(text)
        if not ans or (max_words is not None and len(ans.split()) > max_words):
            continue
        key = ans.lower()
        if key in merged:
            merged[key][1] += prob
        else:
            merged[key] = [ans, prob]
    ranked = sorted(merged.values(), key=lambda a: (-a[1], a[0].lower()))
    return [(a, p) for a, p in ranked[:top_k]]


def _canon(text: str) -> str:
    return text.strip().lower()


def question_scores(predicted: Sequence[str], golden_answers: Sequence[Sequence[str]],
                    top_k: int = 5) -> dict[str, float]:
    """``{"strict", "lenient", "rr"}`` of one question (each 0/1, ``rr`` in [0, 1])."""
    synonyms = {_canon(s) for answer in golden_answers for s in answer if _canon(s)}
    rank = next((i + 1 for i, p in enumerate(predicted[:top_k]) if _canon(p) in synonyms), None)
    return {"strict": float(rank == 1), "lenient": float(rank is not None),
            "rr": 1.0 / rank if rank else 0.0}


def bioasq_scores(predictions: Mapping[str, Sequence[str]], golden: Mapping[str, Mapping],
                  top_k: int = 5) -> tuple[dict[str, float], list[dict]]:
    """Score ranked answers against a golden file.

    ``predictions``: question id -> ranked answer strings (missing or empty:
    unanswered).  ``golden``: question id -> ``{"answers": [[synonym, ...], ...]}``.
    Returns the aggregate ``{"strict", "lenient", "mrr"}`` and one
    ``{"id", "strict", "lenient", "rr"}`` record per golden question (sorted by id).
    """
    unknown = sorted(set(predictions) - set(golden))
    if unknown:
        raise ValueError(f"predictions for {len(unknown)} question(s) not in the golden file, e.g. {unknown[:3]}")
    records = []
    for qid in sorted(golden):
        rec = question_scores(list(predictions.get(qid, [])), golden[qid]["answers"], top_k)
        records.append({"id": qid, **rec})
    n = len(records)
    agg = {
        "strict": sum(r["strict"] for r in records) / n if n else 0.0,
        "lenient": sum(r["lenient"] for r in records) / n if n else 0.0,
        "mrr": sum(r["rr"] for r in records) / n if n else 0.0,
    }
    return agg, records


def submission(predictions: Mapping[str, Sequence[str]], question_ids: Iterable[str]) -> dict:
    """The BioASQ submission JSON for factoid questions (each answer a one-synonym list)."""
    return {"questions": [{"id": qid, "exact_answer": [[a] for a in predictions.get(qid, [])],
                           "ideal_answer": ""} for qid in sorted(question_ids)]}
