"""BioASQ factoid QA: extractive spans per snippet window, pooled per question.

Decoding follows BioBERT's SQuAD post-processing: in every window of a
snippet take the ``n_best`` start and end positions inside the context, keep
pairs with ``start <= end`` no longer than ``max_answer_tokens``, keep the
snippet's ``n_best`` spans by ``start + end`` logit and turn them into
probabilities with a softmax over that list.  The question's answers are then
merged across its snippets by :func:`compactbio.metrics.bioasq.rank_answers`.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..metrics.bioasq import bioasq_scores, normalise_answer, rank_answers, submission

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


def answers_per_question(inp, split: str, outputs: list[np.ndarray], hp: dict) -> dict[str, list[str]]:
    rows, examples = inp.rows[split], inp.examples[split]
    n_best, max_tok = int(hp["n_best"]), int(hp["max_answer_tokens"])
    spans = defaultdict(list)
    for r, ex_idx in enumerate(rows["example"]):
        spans[ex_idx] += window_spans(outputs[r], rows["offset_start"][r], rows["offset_end"][r], n_best, max_tok)
    cands = defaultdict(list)
    for ex_idx, sp in sorted(spans.items()):
        ex = examples[ex_idx]
        cands[ex["question_id"]] += snippet_answers(sp, ex["context"], n_best)
    return {q: [a for a, _ in rank_answers(c, int(hp["top_k"]), max_tok)] for q, c in cands.items()}


def _evaluation(inp, split: str, answers: dict[str, list[str]], hp: dict) -> Evaluation:
    scores, records = bioasq_scores(answers, inp.golden[split], int(hp["top_k"]))
    return Evaluation(scores=scores, records=records, answers=answers)


def evaluate(inp, split: str, outputs: list[np.ndarray], hp: dict) -> Evaluation:
    return _evaluation(inp, split, answers_per_question(inp, split, outputs, hp), hp)


def baseline(inp, hp: dict) -> dict:
    """Majority class for factoid QA: the ``top_k`` answers most often asked for in
    training (counted once per question, case-insensitively), given to every test question."""
    per_q: dict[str, set] = defaultdict(set)
    spelling: dict[str, str] = {}
    for ex in inp.examples["train"]:
        for a in ex.get("answers") or []:
            text = normalise_answer(a.get("text", ""))
            if text:
                per_q[ex["question_id"]].add(text.lower())
                spelling.setdefault(text.lower(), text)
    counts = Counter(k for keys in per_q.values() for k in keys)
    top = [spelling[k] for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:int(hp["top_k"])]]
    asked = {ex["question_id"] for ex in inp.examples["test"]}
    return _evaluation(inp, "test", {q: top for q in asked}, hp).scores


def write_predictions(folder: Path, inp, ev: Evaluation) -> None:
    """BioASQ submission JSON, so the official evaluator can re-score it."""
    sub = submission(ev.answers, inp.golden["test"].keys())
    (folder / "predictions.json").write_text(json.dumps(sub, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
