"""Confidence routing between a compact model and a fallback (BioBERT): pure functions over per-example records.

Inputs are the ``per_example.jsonl`` records of the fine-tuning stage of both
systems on the same split (docs/architecture.md): NER ``{"id", "tp", "fp",
"fn"}`` per sentence, RE ``{"id", "gold", "pred"}``, QA ``{"id", "strict",
"lenient", "rr"}`` per question.  The compact model's records also carry its
confidence (higher = more confident), written by the fine-tuning stage:

* ``confidence`` (every task; the one routing uses by default):
  NER: the lowest probability the model gives any of its predicted entity
  tokens in the sentence (a sentence without a predicted entity uses the
  ``confidence_word_min`` value); RE: the top class probability; QA: the top
  answer's probability.
* ``confidence_word_min`` (NER only): the lowest max-probability of any word
  of the sentence, entities or not, so a missed entity (a word the model
  was unsure was ``O``) also lowers it.  Route by it with
  ``confidence_field="confidence_word_min"``.

The fine-tuning stage owns how these are computed from its logits
(:mod:`compactbio.finetune.confidence`); this module only needs a finite
number per example, and never reads the fallback's confidence.

Routing share ``s``: the ``k = round(s * n)`` least confident examples
(half up: ``k = (pct * n + 50) // 100`` for ``pct`` = 0..100 %) are answered by
the fallback, the rest by the compact model; ties in confidence are broken
by id in natural order (``test-2`` before ``test-10``), so the curve is
deterministic.  The threshold that gives a share is the confidence of its
last routed example: the deployable rule is "route when ``confidence <=
threshold``" (``None``: route nothing), which, where confidences tie at the
threshold, routes the whole tie (``threshold_share``).

Scores of the combined predictions are computed from count vectors: every
example contributes a vector of counts and every metric is a function of their
sum.  NER: per-sentence ``(tp, fp, fn)``.  Entity-level micro F1 (seqeval's
corpus F1) is a function of the corpus totals, and the corpus totals are the
sums of the per-sentence counts (an ``O`` between sentences closes every
entity; :mod:`compactbio.metrics.ner`), so summing the chosen system's counts
sentence by sentence *is* recomputing entity F1 over the combined
predictions, not averaging two F1s (tests compare it with seqeval on the
combined tag sequences).  RE: per label ``(tp, fp, fn)`` of the example's one
prediction, so binary F1 (GAD), macro-F1 over labels present in gold or
predictions (ChemProt: :mod:`compactbio.metrics.re`'s rules) and micro-F1
follow from the sums.  QA: ``(strict, lenient, rr)``; scores are means.

Random routing (the baseline): routing a uniformly random ``k`` of ``n``
examples gives expected counts ``C + (k / n) (B - C)`` (``C``, ``B``: the
compact's and the fallback's totals): exact for the means of QA and RE
micro-F1, which are linear in the counts.  For F1 we report F1 *of the
expected counts*, an approximation of the expected F1 (a ratio of sums;
its error is O(1/n); a test checks it against a Monte-Carlo estimate).

The area between the curves is the integral over the routing share (0..1)
of confidence-routing score minus random-routing score (trapezoids over the
realised shares ``k / n``).  Cost is affine in the share (``cost``), so this is
also the area over relative cost.  Its interval is a paired bootstrap over
examples: each resample (with replacement) is re-sorted by confidence and
both curves are recomputed on it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..data.errors import DataError
from ..metrics.bootstrap import METRICS
from ..metrics.re import POSITIVE, is_binary

CONFIDENCE = "confidence"
CONFIDENCE_WORD_MIN = "confidence_word_min"
CONFIDENCE_FIELDS = {"ner": (CONFIDENCE, CONFIDENCE_WORD_MIN), "re": (CONFIDENCE,), "qa": (CONFIDENCE,)}
RECORD_KEYS = {"ner": ("id", "tp", "fp", "fn"), "re": ("id", "gold", "pred"), "qa": ("id", "strict", "lenient", "rr")}
PRIMARY = {"ner": "f1", "re": "f1", "qa": "mrr"}
SHARES_PCT = np.arange(101)            # routing shares 0 % .. 100 %
TARGETS = (0.99, 0.995)                # shares of the fallback's score to keep
TOLERANCE = 1e-12                      # a score this far below a target still reaches it (float sums)
BOOTSTRAP_CHUNK = 20                   # resamples drawn per generator: the draws do not depend on memory
MAX_ELEMENTS = 4_000_000               # per block of the bootstrap's (resamples, n, counts) array


def _natural(value) -> tuple:
    """Natural sort key of an id: ``test-2`` before ``test-10`` (digit runs compared as numbers)."""
    parts = re.split(r"(\d+)", str(value))
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def _number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def record_problem(rec, task: str, confidence_field: str | None) -> str | None:
    """What is wrong with one per-example record, or None; ``confidence_field`` None: none is needed."""
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    need = RECORD_KEYS[task] + ((confidence_field,) if confidence_field else ())
    missing = [k for k in need if k not in rec]
    if missing:
        hint = (f" (the compact model's per-example file must carry its `{confidence_field}`: rerun its "
                "fine-tuning with a version that writes it)" if confidence_field in missing else "")
        return f"missing field(s) {', '.join(missing)} for a {task} record{hint}"
    if isinstance(rec["id"], bool) or not isinstance(rec["id"], (str, int)):
        return f"id must be a string or an integer, got {rec['id']!r}"
    if confidence_field and not _number(rec[confidence_field]):
        return f"{confidence_field} must be a finite number, got {rec[confidence_field]!r}"
    if task == "ner":
        for k in ("tp", "fp", "fn"):
            if isinstance(rec[k], bool) or not isinstance(rec[k], int) or rec[k] < 0:
                return f"{k} must be a count (integer >= 0), got {rec[k]!r}"
    elif task == "qa":
        for k in ("strict", "lenient", "rr"):
            if not _number(rec[k]) or not 0.0 <= rec[k] <= 1.0:
                return f"{k} must be a number in [0, 1], got {rec[k]!r}"
    else:
        for k in ("gold", "pred"):
            if not isinstance(rec[k], str):
                return f"{k} must be a label string, got {rec[k]!r}"
    return None


def _prf(tp, fp, fn):
    """:func:`compactbio.metrics.ner.prf` on arrays, with its formulas (so full-sample values agree to the bit)."""
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    p = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
    r = np.where(tp + fn > 0, tp / np.where(tp + fn > 0, tp + fn, 1), 0.0)
    f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
    return p, r, f


class Scorer:
    """A task's scores as functions of summed per-example count vectors (the last axis of ``totals``)."""

    def __init__(self, task: str, labels: Sequence[str] = (), binary: bool = False):
        if task not in RECORD_KEYS:
            raise ValueError(f"unknown task {task!r} (expected one of {', '.join(RECORD_KEYS)})")
        self.task = task
        self.labels = list(labels)
        self.binary = binary
        if task == "re" and binary and POSITIVE not in self.labels:
            raise ValueError(f"binary RE scoring needs the positive label {POSITIVE!r}")
        self.dim = 3 * len(self.labels) if task == "re" else 3
        self.metrics = tuple(m for m in METRICS[task] if task != "re" or m != "f1_binary" or binary)

    def counts(self, records: Sequence[dict]) -> np.ndarray:
        """``(n, dim)`` count vectors of checked records."""
        n = len(records)
        if self.task == "ner":
            return np.array([[r["tp"], r["fp"], r["fn"]] for r in records], dtype=np.int64).reshape(n, 3)
        if self.task == "qa":
            return np.array([[r["strict"], r["lenient"], r["rr"]] for r in records], dtype=np.float64).reshape(n, 3)
        pos = {lab: i for i, lab in enumerate(self.labels)}
        gold = np.array([pos[r["gold"]] for r in records], dtype=np.int64)
        pred = np.array([pos[r["pred"]] for r in records], dtype=np.int64)
        out = np.zeros((n, len(self.labels), 3), dtype=np.int64)
        rows = np.arange(n)
        right = gold == pred
        np.add.at(out, (rows[right], gold[right], 0), 1)
        np.add.at(out, (rows[~right], pred[~right], 1), 1)
        np.add.at(out, (rows[~right], gold[~right], 2), 1)
        return out.reshape(n, self.dim)

    def scores(self, totals: np.ndarray, n: int) -> dict[str, np.ndarray]:
        """Every metric of the task (fractions) from ``totals`` (``(..., dim)``) over ``n`` examples."""
        totals = np.asarray(totals)
        if self.task == "ner":
            p, r, f = _prf(totals[..., 0], totals[..., 1], totals[..., 2])
            return {"f1": f, "precision": p, "recall": r}
        if self.task == "qa":
            return {"strict": totals[..., 0] / n, "lenient": totals[..., 1] / n, "mrr": totals[..., 2] / n}
        per = totals.reshape(totals.shape[:-1] + (len(self.labels), 3))
        tp, fp, fn = per[..., 0], per[..., 1], per[..., 2]
        f1 = _prf(tp, fp, fn)[2]
        present = (tp + fp + fn) > 0              # labels in gold or predictions (scikit-learn's default)
        macro = (f1 * present).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1)
        micro = _prf(tp.sum(axis=-1), fp.sum(axis=-1), fn.sum(axis=-1))[2]
        out = {"f1_macro": macro, "f1_micro": micro}
        if self.binary:
            out["f1_binary"] = f1[..., self.labels.index(POSITIVE)]
        out["f1"] = out["f1_binary"] if self.binary else macro
        return out

    def score(self, totals: np.ndarray, n: int, metric: str) -> np.ndarray:
        check_metric(self.task, metric, self.binary)
        return self.scores(totals, n)[metric]


def check_metric(task: str, metric: str, binary: bool = True) -> str:
    allowed = [m for m in METRICS.get(task, ()) if task != "re" or m != "f1_binary" or binary]
    if metric not in allowed:
        raise ValueError(f"metric {metric!r} is not defined for task {task!r} (expected one of {', '.join(allowed)})")
    return metric


@dataclass
class Split:
    """Both systems' records of one split, aligned by id (natural order), as count vectors."""

    task: str
    ids: list
    confidence: np.ndarray      # compact model's, (n,)
    compact: np.ndarray         # (n, dim)
    fallback: np.ndarray        # (n, dim)
    scorer: Scorer
    order: np.ndarray = field(init=False)   # routing order: least confident first, ties by id

    def __post_init__(self) -> None:
        keys = [(float(c), _natural(i)) for c, i in zip(self.confidence, self.ids)]
        self.order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)

    @property
    def n(self) -> int:
        return len(self.ids)


def observed_labels(*record_lists: Sequence[dict]) -> list[str]:
    return sorted({r[k] for recs in record_lists for r in recs for k in ("gold", "pred")})


def re_scorer(labels: Sequence[str] | None, *record_lists: Sequence[dict]) -> Scorer:
    """RE scorer indexing every label; binary (GAD) exactly when the dataset's label set is ``"0"/"1"``.

    ``labels`` is the dataset's label set (``meta.json``); without it, the labels seen in the
    records stand in for it (as the paired bootstrap does); a record with another label is an error
    (:func:`align`)."""
    declared = sorted(set(labels)) if labels else observed_labels(*record_lists)
    return Scorer("re", declared, binary=is_binary(declared))


def align(compact: Sequence[dict], fallback: Sequence[dict], task: str, *, scorer: Scorer | None = None,
          labels: Sequence[str] | None = None, confidence_field: str = CONFIDENCE,
          compact_name: str = "compact", fallback_name: str = "fallback") -> Split:
    """Check and align both systems' records of one split; errors are :class:`DataError` naming the file.

    ``compact_name`` / ``fallback_name`` are what the messages call the two inputs (their file paths).
    """
    if task not in RECORD_KEYS:
        raise ValueError(f"unknown task {task!r} (expected one of {', '.join(RECORD_KEYS)})")
    if confidence_field not in CONFIDENCE_FIELDS[task]:
        raise ValueError(f"confidence field {confidence_field!r} is not defined for {task} "
                         f"(expected one of {', '.join(CONFIDENCE_FIELDS[task])})")
    by_id = []
    for recs, name, conf in ((compact, compact_name, confidence_field), (fallback, fallback_name, None)):
        if not recs:
            raise DataError(name, "no per-example records")
        seen: dict = {}
        for i, rec in enumerate(recs, 1):
            problem = record_problem(rec, task, conf)
            if problem:
                raise DataError(name, f"record {i}: {problem}")
            if rec["id"] in seen:
                raise DataError(name, f"record {i}: duplicate id {rec['id']!r} (also record {seen[rec['id']]})")
            seen[rec["id"]] = i
        by_id.append({r["id"]: r for r in recs})
    a, b = by_id
    if a.keys() != b.keys():
        only_a = sorted(set(a) - set(b), key=_natural)
        only_b = sorted(set(b) - set(a), key=_natural)
        raise DataError(compact_name, f"its example ids differ from those of {fallback_name}: {len(only_a)} only "
                                      f"here (e.g. {only_a[:3]}), {len(only_b)} only there (e.g. {only_b[:3]}); "
                                      f"both systems must be scored on the same split")
    ids = sorted(a, key=_natural)
    ca, cb = [a[i] for i in ids], [b[i] for i in ids]
    if scorer is None:
        scorer = re_scorer(labels, ca, cb) if task == "re" else Scorer(task)
    if task == "re":
        for recs, name in ((ca, compact_name), (cb, fallback_name)):
            unknown = sorted(set(observed_labels(recs)) - set(scorer.labels))
            if unknown:
                raise DataError(name, f"labels {unknown} are not among the dataset's labels {scorer.labels}")
    conf = np.array([float(r[confidence_field]) for r in ca], dtype=np.float64)
    return Split(task, ids, conf, scorer.counts(ca), scorer.counts(cb), scorer)


def share_ks(n: int) -> np.ndarray:
    """Examples routed at each share 0..100 %: ``round(pct * n / 100)``, half up, in exact integer arithmetic."""
    return (SHARES_PCT * n + 50) // 100


@dataclass(frozen=True)
class Curve:
    """Scores at every routing share, by confidence and (expected) at random."""

    n: int
    k: np.ndarray                       # routed examples per share (101,)
    threshold: list                     # confidence of the last routed example; None at k = 0
    threshold_share: np.ndarray         # share the rule "confidence <= threshold" routes (ties included)
    scores: dict[str, np.ndarray]       # every metric, confidence routing
    random: dict[str, np.ndarray]       # every metric, expected under random routing

    @property
    def share(self) -> np.ndarray:
        return self.k / self.n


def _totals_at(compact_total: np.ndarray, fallback_total: np.ndarray, cum_at_k: np.ndarray, k: np.ndarray,
               n: int) -> tuple[np.ndarray, np.ndarray]:
    """Totals of confidence routing (``compact_total`` plus the first k differences) and of random routing."""
    conf = compact_total + cum_at_k
    rand = compact_total + (k / n)[:, None] * (fallback_total - compact_total)
    return conf, rand


def curve(split: Split) -> Curve:
    """Every metric at shares 0..100 % for confidence routing and for random routing."""
    n, k = split.n, share_ks(split.n)
    diff = (split.fallback - split.compact)[split.order]
    cum = np.concatenate([np.zeros((1, diff.shape[1]), dtype=diff.dtype), np.cumsum(diff, axis=0)])
    c_tot, b_tot = split.compact.sum(axis=0), split.fallback.sum(axis=0)
    conf_tot, rand_tot = _totals_at(c_tot, b_tot, cum[k], k, n)
    # the end points are the systems alone, exactly (no float drift from the running sum)
    conf_tot[k == 0], conf_tot[k == n] = c_tot, b_tot
    rand_tot = rand_tot.astype(np.float64)
    rand_tot[k == 0], rand_tot[k == n] = c_tot, b_tot
    sorted_conf = split.confidence[split.order]
    thresholds = [None if kk == 0 else float(sorted_conf[kk - 1]) for kk in k]
    ascending = np.sort(split.confidence)
    tshare = np.array([0 if t is None else np.searchsorted(ascending, t, side="right") for t in thresholds]) / n
    return Curve(n, k, thresholds, tshare, split.scorer.scores(conf_tot, n), split.scorer.scores(rand_tot, n))


def area(c: Curve, metric: str) -> float:
    """Area between the confidence and the random curve over the routing share (score units x share)."""
    return float(np.trapezoid(c.scores[metric] - c.random[metric], c.share))


def bootstrap_area(split: Split, metric: str, n_samples: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict:
    """Paired bootstrap of :func:`area` over examples: ``value``, ``ci_low``/``ci_high`` (percentile interval),
    ``fraction_not_positive`` (share of resamples with area <= 0) and the resampled areas (``samples``).

    Resamples are drawn in blocks of :data:`BOOTSTRAP_CHUNK`, block ``j`` from the generator seeded with
    ``[seed, j]``: the same seed and ``n`` give the same resampled example indices whatever the
    memory split, so runs of several fine-tuning seeds on one test set share their resamples (the
    summary averages the areas resample by resample).
    """
    check_metric(split.task, metric, split.scorer.binary)
    if n_samples < 1:
        raise ValueError("n_samples must be at least 1")
    n, k = split.n, share_ks(split.n)
    x = k / n
    rank = np.empty(n, dtype=np.int64)
    rank[split.order] = np.arange(n)
    diff = split.fallback - split.compact
    dim = diff.shape[1]
    block = max(1, min(BOOTSTRAP_CHUNK, MAX_ELEMENTS // max(1, n * dim)))
    samples = np.empty(n_samples)
    for j, start in enumerate(range(0, n_samples, BOOTSTRAP_CHUNK)):
        rng = np.random.default_rng([seed, j])
        draws = rng.integers(0, n, size=(min(BOOTSTRAP_CHUNK, n_samples - start), n))
        for s in range(0, len(draws), block):
            idx = draws[s:s + block]
            m = len(idx)
            ex = split.order[np.sort(rank[idx], axis=1)]        # the resample, least confident first
            cum = np.cumsum(diff[ex], axis=1)                   # (m, n, dim)
            cum_k = np.where((k > 0)[None, :, None], cum[:, np.maximum(k - 1, 0), :], 0)
            c_tot = split.compact[idx].sum(axis=1)              # (m, dim)
            conf_tot = c_tot[:, None, :] + cum_k
            rand_tot = c_tot[:, None, :] + x[None, :, None] * cum[:, -1, :][:, None, :]
            gap = split.scorer.score(conf_tot, n, metric) - split.scorer.score(rand_tot, n, metric)
            samples[start + s:start + s + m] = np.trapezoid(gap, x, axis=1)
    lo, hi = np.percentile(samples, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return {"value": area(curve(split), metric), "ci_low": float(lo), "ci_high": float(hi), "alpha": alpha,
            "n_samples": n_samples, "seed": seed, "fraction_not_positive": float(np.mean(samples <= 0)),
            "samples": samples}


def target_key(target: float) -> str:
    """``0.99`` -> ``"99"``, ``0.995`` -> ``"99.5"``: the percentage, as JSON keys and CSV column suffixes."""
    return f"{round(100 * target, 6):g}"


def smallest_share(c: Curve, metric: str, target: float) -> int:
    """Index (= share in %) of the smallest share whose score keeps ``target`` of the fallback's (share 100 %)."""
    scores = c.scores[metric]
    ok = scores >= target * scores[-1] - TOLERANCE
    return int(np.argmax(ok))     # share 100 % is the fallback itself, so some share always qualifies


def _retained(score: float, reference: float) -> float | None:
    return score / reference if reference else None


def curve_point(c: Curve, metric: str, index: int) -> dict:
    score, ref = float(c.scores[metric][index]), float(c.scores[metric][-1])
    return {"share_pct": int(SHARES_PCT[index]), "k": int(c.k[index]), "share": float(c.share[index]),
            "threshold": c.threshold[index], "threshold_share": float(c.threshold_share[index]),
            "score": score, "reference": ref, "retained": _retained(score, ref)}


def apply_threshold(split: Split, threshold: float | None) -> dict:
    """Route the examples with ``confidence <= threshold`` (None: none): ``k``, ``share`` and every score."""
    routed = np.zeros(split.n, dtype=bool) if threshold is None else split.confidence <= threshold
    totals = split.compact.sum(axis=0) + (split.fallback - split.compact)[routed].sum(axis=0)
    scores = {m: float(v) for m, v in split.scorer.scores(totals, split.n).items()}
    return {"threshold": threshold, "k": int(routed.sum()), "share": float(routed.mean()), "scores": scores}


def targets_on_curve(c: Curve, metric: str, targets: Sequence[float] = TARGETS) -> dict[str, dict]:
    """For each target, the smallest share of this curve keeping it (descriptive when the curve is the test's)."""
    return {target_key(t): {"target": t, **curve_point(c, metric, smallest_share(c, metric, t))} for t in targets}


def validation_thresholds(validation: Split, test: Split, metric: str, targets: Sequence[float] = TARGETS,
                          val_curve: Curve | None = None, test_curve: Curve | None = None) -> dict[str, dict]:
    """Thresholds chosen on validation, applied to test.

    Per target: on the validation curve, the smallest share keeping ``target`` of the fallback's
    validation score and its confidence threshold (``validation``); on test, what the rule
    "route when confidence <= threshold" routes and scores (``test``: ``threshold``, ``k``, ``share``,
    ``score``, ``reference`` = the fallback's test score, ``retained``, ``scores``).
    """
    val_curve = val_curve or curve(validation)
    ref = float((test_curve or curve(test)).scores[metric][-1])
    out = {}
    for t in targets:
        chosen = curve_point(val_curve, metric, smallest_share(val_curve, metric, t))
        applied = apply_threshold(test, chosen["threshold"])
        score = applied["scores"][metric]
        out[target_key(t)] = {"target": t, "validation": chosen,
                              "test": {**applied, "score": score, "reference": ref, "retained": _retained(score, ref)}}
    return out
