"""BioASQ factoid QA: extractive spans per snippet window, pooled per question.

Decoding follows BioBERT's SQuAD post-processing: in every window of a
snippet take the ``n_best`` start and end positions inside the context, keep
pairs with ``start <= end`` no longer than ``max_answer_tokens``, keep the
snippet's ``n_best`` spans by ``start + end`` logit and turn them into
probabilities with a softmax over that list.  The question's answers are then
built by ``finetune.qa.scoring``: ``merged`` pools them across its snippets
(:func:`compactbio.metrics.bioasq.rank_answers`, BioBERT's n-best merging),
``authors`` gives one synonym list per snippet, in snippet order
(:func:`compactbio.metrics.bioasq.per_snippet_answers`, the paper's code).
Both protocols are scored on every evaluation; see :func:`evaluate`.  Each
question's record also carries the probability of its first answer under the
configured protocol (``confidence``, :func:`top_confidence`), for the cascade study.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..metrics import modules
from ..metrics.bioasq import (SCORINGS, aligned, clean_answer, per_snippet_answers, question_scores, rank_answers,
                              submission)

SELECT = "mrr"


@dataclass
class Evaluation:
    scores: dict
    records: list[dict]
    answers: dict[str, list[str]]


def features(inp, split: str, train: bool) -> list[dict]:
    rows = inp.rows[split]
    feats = [{"input_ids": ids, "token_type_ids": tt} for ids, tt in zip(rows["input_ids"], rows["token_type_ids"])]
    if train:
        for f, s, e in zip(feats, rows["start_position"], rows["end_position"]):
            f["start_positions"], f["end_positions"] = int(s), int(e)
    return feats


def window_spans(logits: np.ndarray, off_start: list[int], off_end: list[int],
                 n_best: int, max_tokens: int) -> list[tuple[float, int, int]]:
    """``(score, char_start, char_end)`` candidates of one window."""
    ctx = np.array([i for i, (a, b) in enumerate(zip(off_start, off_end)) if a >= 0 and b >= 0], dtype=np.int64)
    if ctx.size == 0:
        return []
    starts = ctx[np.argsort(-logits[ctx, 0], kind="stable")[:n_best]]
    ends = ctx[np.argsort(-logits[ctx, 1], kind="stable")[:n_best]]
    out = []
    for s in starts:
        for e in ends:
            if s <= e < s + max_tokens and off_end[e] > off_start[s]:
                out.append((float(logits[s, 0] + logits[e, 1]), off_start[s], off_end[e]))
    return out


def snippet_answers(spans: list[tuple[float, int, int]], context: str, n_best: int) -> list[tuple[str, float]]:
    """A snippet's n-best ``(text, probability)``; the same character span from two windows counts once."""
    best: dict[tuple[int, int], float] = {}
    for score, a, b in spans:
        if best.get((a, b), -np.inf) < score:
            best[(a, b)] = score
    top = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:n_best]
    if not top:
        return []
    scores = np.array([s for _, s in top])
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    return [(context[a:b], float(p)) for ((a, b), _), p in zip(top, probs)]


def snippet_candidates(inp, split: str, outputs: list[np.ndarray], hp: dict) -> dict[str, list[list[tuple[str, float]]]]:
    """Question id -> each of its snippets' n-best ``(text, probability)``, in snippet (file) order."""
    rows, examples = inp.rows[split], inp.examples[split]
    n_best, max_tok = int(hp["n_best"]), int(hp["max_answer_tokens"])
    spans = defaultdict(list)
    for r, ex_idx in enumerate(rows["example"]):
        spans[ex_idx] += window_spans(outputs[r], rows["offset_start"][r], rows["offset_end"][r], n_best, max_tok)
    cands: dict[str, list] = defaultdict(list)
    for ex_idx, sp in sorted(spans.items()):
        ex = examples[ex_idx]
        cands[ex["question_id"]].append(snippet_answers(sp, ex["context"], n_best))
    return dict(cands)


def scoring_of(hp: dict) -> str:
    scoring = hp.get("scoring") or "merged"
    if scoring not in SCORINGS:
        raise ValueError(f"params: finetune.qa.scoring must be one of {', '.join(SCORINGS)}, got {scoring!r}")
    return scoring


def answers_by(cands: dict[str, list], hp: dict, scoring: str) -> dict[str, list]:
    """Each question's submitted answers under one protocol (``merged``: strings; ``authors``: synonym lists)."""
    cleanup, max_tok = hp.get("answer_cleanup") or "biobert", int(hp["max_answer_tokens"])
    if scoring == "merged":
        return {q: [a for a, _ in rank_answers([c for snip in c_ for c in snip], int(hp["top_k"]), max_tok, cleanup)]
                for q, c_ in cands.items()}
    return {q: per_snippet_answers(c_, int(hp.get("per_snippet") or 5), max_tok, cleanup) for q, c_ in cands.items()}


def top_confidence(cands: dict[str, list], hp: dict, scoring: str) -> dict[str, float]:
    """Each question's probability of the answer it ranks first under ``scoring``; 0.0 when it has none.

    ``merged``: the answer's summed probability (:func:`compactbio.metrics.bioasq.rank_answers`) over
    the number of the question's snippets that gave candidates, each of whose n-best lists sums to 1,
    so a share of all candidate mass in [0, 1].  ``authors``: the probability of the first answer's
    first synonym within its snippet (the most probable span of the first snippet with a span left
    after clean-up, as :func:`compactbio.metrics.bioasq.per_snippet_answers` picks it).
    """
    cleanup, max_tok = hp.get("answer_cleanup") or "biobert", int(hp["max_answer_tokens"])
    out: dict[str, float] = {}
    for q, snippets in cands.items():
        out[q] = 0.0
        if scoring == "merged":
            ranked = rank_answers([c for snip in snippets for c in snip], int(hp["top_k"]), max_tok, cleanup)
            given = sum(1 for snip in snippets if snip)
            if ranked:
                out[q] = min(1.0, ranked[0][1] / given)
            continue
        for spans in snippets:
            top = sorted(spans, key=lambda c: (-c[1], c[0]))[:int(hp.get("per_snippet") or 5)]
            first = next((prob for text, prob in top if clean_answer(text, cleanup, max_tok) is not None), None)
            if first is not None:
                out[q] = float(first)
                break
    return out


def answers_per_question(inp, split: str, outputs: list[np.ndarray], hp: dict) -> dict[str, list]:
    return answers_by(snippet_candidates(inp, split, outputs, hp), hp, scoring_of(hp))


def factoid_scores(answers: dict[str, list], golden: dict) -> tuple[dict, list[dict]]:
    """Strict, lenient and MRR through the project's ``evaluate`` module ``bioasq_factoid``
    over every golden question (sorted by id), and the per-question records of the bootstrap."""
    ids, preds, refs = aligned(answers, golden)
    scores = modules.load("bioasq_factoid").compute(predictions=preds, references=refs)
    records = [{"id": q, **question_scores(p, r)} for q, p, r in zip(ids, preds, refs)]
    return scores, records


def _evaluation(inp, split: str, answers: dict[str, list], hp: dict, extra: dict | None = None,
                confidence: dict[str, float] | None = None) -> Evaluation:
    scores, records = factoid_scores(answers, inp.golden[split])
    if confidence is not None:   # a golden question without candidates has no answer: 0.0
        for rec in records:
            rec["confidence"] = float(confidence.get(rec["id"], 0.0))
    return Evaluation(scores={**scores, **(extra or {})}, records=records, answers=answers)


def evaluate(inp, split: str, outputs: list[np.ndarray], hp: dict) -> Evaluation:
    """Scores under the configured protocol (``strict``, ``lenient``, ``mrr``) and under
    each protocol by name (``strict_merged``, ..., ``mrr_authors``): the tables show the
    first, ``reported`` compares the paper with the authors' one."""
    cands = snippet_candidates(inp, split, outputs, hp)
    extra = {}
    for scoring in SCORINGS:
        agg, _ = factoid_scores(answers_by(cands, hp, scoring), inp.golden[split])
        extra.update({f"{k}_{scoring}": v for k, v in agg.items()})
    scoring = scoring_of(hp)
    return _evaluation(inp, split, answers_by(cands, hp, scoring), hp, extra, top_confidence(cands, hp, scoring))


def baseline(inp, hp: dict) -> dict:
    """Majority class for factoid QA: the ``top_k`` answers most often asked for in
    training (counted once per question, case-insensitively), given to every test question."""
    per_q: dict[str, set] = defaultdict(set)
    spelling: dict[str, str] = {}
    for ex in inp.examples["train"]:
        for a in ex.get("answers") or []:
            text = clean_answer(a.get("text", ""), hp.get("answer_cleanup") or "biobert", int(hp["max_answer_tokens"]))
            if text:
                per_q[ex["question_id"]].add(text.lower())
                spelling.setdefault(text.lower(), text)
    counts = Counter(k for keys in per_q.values() for k in keys)
    top = [spelling[k] for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:int(hp["top_k"])]]
    asked = {ex["question_id"] for ex in inp.examples["test"]}
    return _evaluation(inp, "test", {q: top for q in asked}, hp).scores


QUESTIONS_FILE = "golden_questions.json"   # prepare: (id, type) of every question of the golden file


def write_predictions(folder: Path, inp, ev: Evaluation) -> None:
    """BioASQ submission JSON the official evaluator accepts as is: every question of the
    golden file (prepared ``golden_questions.json``), non-factoid ones with empty answers;
    a prepared folder without that file gives the factoid questions only."""
    listing = Path(inp.prepared) / QUESTIONS_FILE
    if listing.is_file():
        questions = [(q["id"], q["type"]) for q in json.loads(listing.read_text(encoding="utf-8"))["questions"]]
    else:
        questions = list(inp.golden["test"].keys())
    sub = submission(ev.answers, questions)
    (folder / "predictions.json").write_text(json.dumps(sub, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
