"""BioASQ factoid answers: from per-snippet n-best spans to strict / lenient / MRR.

A BioASQ question comes with several snippets; the reader model answers each
snippet separately.  Two ways of turning those answers into the submitted
ranked list (``finetune.qa.scoring``):

* ``merged`` (BioBERT's ``biocodes/transform_nbset2bioasqform.py``): pool the
  n-best spans of all snippets of a question, clean them, merge
  case-insensitive duplicates by **summing** their probabilities and keep the
  top ``k`` (5), each a one-synonym answer (:func:`rank_answers`);
* ``authors`` (the paper's code, ``qa.py`` ``evaluate``): one answer per
  snippet, in snippet order, each the snippet's top-5 spans as one synonym
  list (:func:`per_snippet_answers`).

Answer clean-up (``finetune.qa.answer_cleanup``): ``biobert`` (the default, as
BioBERT's script: drop empty answers and answers over 100 characters, nothing
else) or ``trim`` (also strip whitespace, trailing full stops and stray
brackets, :func:`normalise_answer`, and drop answers over ``max_words`` words).

Scoring is the official BioASQ evaluator's for factoid questions
(``EvaluatorTask1b -phaseB -e 5``; ``data/Task1bData.java``,
``data/ExactAnswer.java``, ``evaluation/QuestionAnswerEvaluator.java``):

* every golden and submitted string is lower-cased (``toLowerCase``) and
  otherwise compared as is: no trimming, no other normalisation;
* of a submitted answer (a synonym list) only the **first** synonym is read
  (``readExactAnswerListOfArraysv3``, submissions since BioASQ 5);
* a submitted answer is correct if that string equals any synonym of any
  golden answer list (``containsAnswerSynonym``);
* strict: the first submitted answer is correct; lenient: **any** submitted
  answer is correct, at whatever rank the file holds it; reciprocal rank:
  ``1 / rank`` of the first correct one (0 when none).

The denominator is every factoid question of the golden file: the submission
we write holds each of them (an unanswered one with an empty answer list), so
it counts as wrong for us and for the official tool alike.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

CLEANUPS = ("biobert", "trim")
SCORINGS = ("merged", "authors")
MAX_CHARS = 100   # BioBERT's transform_nbset2bioasqform.py: `elif len(text) > 100: pass`

# Trimmed from both ends by the `trim` clean-up: whitespace and sentence punctuation.
# Characters that carry meaning in biomedical names (+, -, %, /, digits) are kept.
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


def clean_answer(text: str, cleanup: str = "biobert", max_words: int | None = None) -> str | None:
    """One span after clean-up, or None when it is dropped.

    ``biobert``: kept exactly as extracted unless empty or over 100 characters.
    ``trim``: :func:`normalise_answer`, then dropped when empty or over ``max_words`` words.
    """
    if cleanup == "biobert":
        return None if text == "" or len(text) > MAX_CHARS else text
    if cleanup == "trim":
        ans = normalise_answer(text)
        if not ans or (max_words is not None and len(ans.split()) > max_words):
            return None
        return ans
    raise ValueError(f"answer clean-up must be one of {', '.join(CLEANUPS)}, got {cleanup!r}")


def rank_answers(candidates: Iterable[tuple[str, float]], top_k: int, max_words: int | None = None,
                 cleanup: str = "biobert") -> list[tuple[str, float]]:
    """Merge one question's candidate spans into its ranked answer list (``merged``).

    ``candidates``: ``(text, probability)`` from the n-best lists of all its
    snippets.  Answers are cleaned (:func:`clean_answer`); case-insensitive
    duplicates are merged (probabilities summed, the spelling of the most
    probable variant kept), as BioBERT's script does.  Ties in probability are
    broken by the text, so the order is deterministic.
    """
    merged: dict[str, list] = {}
    for text, prob in sorted(candidates, key=lambda c: (-c[1], c[0])):
        ans = clean_answer(text, cleanup, max_words)
        if ans is None:
            continue
        key = ans.lower()
        if key in merged:
            merged[key][1] += prob
        else:
            merged[key] = [ans, prob]
    ranked = sorted(merged.values(), key=lambda a: (-a[1], a[0].lower()))
    return [(a, p) for a, p in ranked[:top_k]]


def per_snippet_answers(snippets: Iterable[Sequence[tuple[str, float]]], per_snippet: int = 5,
                        max_words: int | None = None, cleanup: str = "biobert") -> list[list[str]]:
    """The authors' answer list (``authors``): one answer per snippet, in the order given.

    Each snippet's answer is its ``per_snippet`` most probable spans, cleaned,
    as one synonym list (most probable first; a case-insensitive repeat within
    the list is dropped).  A snippet left with no span gives no answer.
    """
    out = []
    for spans in snippets:
        seen: set[str] = set()
        syn = []
        for text, _ in sorted(spans, key=lambda c: (-c[1], c[0]))[:per_snippet]:
            ans = clean_answer(text, cleanup, max_words)
            if ans is not None and ans.lower() not in seen:
                seen.add(ans.lower())
                syn.append(ans)
        if syn:
            out.append(syn)
    return out


def _first_synonym(answer) -> str | None:
    """What the evaluator reads of one submitted answer: its first synonym, lower-cased."""
    if isinstance(answer, str):
        return answer.lower()
    return answer[0].lower() if len(answer) else None


def question_scores(predicted: Sequence, golden_answers: Sequence[Sequence[str]]) -> dict[str, float]:
    """``{"strict", "lenient", "rr"}`` of one question (each 0/1, ``rr`` in [0, 1]).

    ``predicted``: the ranked answers, each a string or a synonym list (of
    which only the first synonym counts); every rank counts.
    """
    synonyms = {s.lower() for answer in golden_answers for s in answer}
    rank = next((i + 1 for i, p in enumerate(predicted)
                 if (first := _first_synonym(p)) is not None and first in synonyms), None)
    return {"strict": float(rank == 1), "lenient": float(rank is not None),
            "rr": 1.0 / rank if rank else 0.0}


def aggregate(records: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """``{"strict", "lenient", "mrr"}``: means of the per-question scores, in the order given."""
    n = len(records)
    return {
        "strict": sum(r["strict"] for r in records) / n if n else 0.0,
        "lenient": sum(r["lenient"] for r in records) / n if n else 0.0,
        "mrr": sum(r["rr"] for r in records) / n if n else 0.0,
    }


def factoid_scores(predicted: Sequence[Sequence], golden_answers: Sequence[Sequence[Sequence[str]]]
                   ) -> tuple[dict[str, float], list[dict]]:
    """Score aligned lists: ``predicted[i]`` the ranked answers of question ``i``,
    ``golden_answers[i]`` its golden synonym lists.  Returns the aggregate and one
    ``{"strict", "lenient", "rr"}`` per question (what the ``evaluate`` module computes)."""
    if len(predicted) != len(golden_answers):
        raise ValueError(f"{len(predicted)} predicted answer lists but {len(golden_answers)} golden ones")
    records = [question_scores(list(p), g) for p, g in zip(predicted, golden_answers)]
    return aggregate(records), records


def aligned(predictions: Mapping[str, Sequence], golden: Mapping[str, Mapping]
            ) -> tuple[list[str], list[list[list[str]]], list[list[list[str]]]]:
    """Question ids (sorted), submitted answers (synonym lists; unanswered: empty) and
    golden answers, aligned over every golden question; a prediction for a question
    the golden file lacks is an error."""
    unknown = sorted(set(predictions) - set(golden))
    if unknown:
        raise ValueError(f"predictions for {len(unknown)} question(s) not in the golden file, e.g. {unknown[:3]}")
    ids = sorted(golden)
    preds = [_as_synonym_lists(predictions.get(q, [])) for q in ids]
    return ids, preds, [[list(a) for a in golden[q]["answers"]] for q in ids]


def bioasq_scores(predictions: Mapping[str, Sequence], golden: Mapping[str, Mapping]
                  ) -> tuple[dict[str, float], list[dict]]:
    """Score ranked answers against a golden file.

    ``predictions``: question id -> ranked answers, each a string or a synonym
    list (missing or empty: unanswered).  ``golden``: factoid question id ->
    ``{"answers": [[synonym, ...], ...]}``.  Returns the aggregate
    ``{"strict", "lenient", "mrr"}`` and one ``{"id", "strict", "lenient", "rr"}``
    record per golden question (sorted by id).
    """
    ids, preds, refs = aligned(predictions, golden)
    agg, scores = factoid_scores(preds, refs)
    return agg, [{"id": q, **rec} for q, rec in zip(ids, scores)]


# The empty answer of each question type, in the shape the evaluator parses
# (Task1bData.readData): yesno a string (an empty one reads as "none", never
# correct; an array would leave the answer null and fail), list and factoid
# an array of arrays, summary no exact answer at all.
_EMPTY = {"yesno": "", "list": [], "factoid": []}


def _as_synonym_lists(answers: Sequence) -> list[list[str]]:
    return [[a] if isinstance(a, str) else list(a) for a in answers]


def submission(predictions: Mapping[str, Sequence], questions: Iterable) -> dict:
    """The BioASQ Phase B submission JSON.

    ``questions``: question ids (all factoid), or ``(id, type)`` pairs of every
    question of the golden file, in its order, so the official tool gets each
    question it knows.  Factoid questions carry ``predictions[id]`` (a string
    becomes a one-synonym answer); the others the empty answer of their type.
    """
    questions = list(questions)
    ids_only = all(isinstance(q, str) for q in questions)
    if ids_only:
        questions = sorted(questions)
    out = []
    for q in questions:
        qid, qtype = (q, "factoid") if isinstance(q, str) else (q[0], q[1])
        entry = {"id": qid, "type": qtype}
        if qtype == "factoid":
            entry["exact_answer"] = _as_synonym_lists(predictions.get(qid, []))
        elif qtype in _EMPTY:
            entry["exact_answer"] = _EMPTY[qtype]
        entry["ideal_answer"] = ""
        out.append(entry)
    return {"questions": out}
