"""Paired bootstrap test over test examples (Koehn 2004; Berg-Kirkpatrick et al. 2012).

The paper reports single runs; a compact model 0.5 F1 below BioBERT may or may
not differ.  Both systems are scored on the same test examples, so we resample
example indices with replacement, recompute the task metric of both systems
on each resample, and look at the distribution of the difference.

p-value (two-sided): the bootstrap distribution of ``delta = m(A) - m(B)`` is
centred on the observed ``delta``; under the null it would be centred on 0, so
we count resamples whose deviation from the observed delta is at least as
large as the observed delta itself:
``p = (1 + #{|delta_s - delta| >= |delta|}) / (1 + n)``.

Records are the ``per_example.jsonl`` rows of the fine-tuning stage:
NER ``{"id", "tp", "fp", "fn"}``, RE ``{"id", "gold", "pred"}``,
QA ``{"id", "strict", "lenient", "rr"}``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .ner import prf
from .re import is_binary

METRICS = {"ner": ("f1", "precision", "recall"), "re": ("f1", "f1_binary", "f1_macro", "f1_micro"),
           "qa": ("strict", "lenient", "mrr")}


def _align(a: Sequence[dict], b: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    ia, ib = {r["id"]: r for r in a}, {r["id"]: r for r in b}
    if len(ia) != len(a) or len(ib) != len(b):
        raise ValueError("per-example records contain duplicate ids")
    if set(ia) != set(ib):
        diff = sorted(set(ia) ^ set(ib))
        raise ValueError(f"the two systems were scored on different examples, e.g. {diff[:3]}")
    ids = sorted(ia)
    return [ia[i] for i in ids], [ib[i] for i in ids]


class _Scorer:
    """Vectorised metric over many index resamples at once (rows of ``idx``)."""

    def __init__(self, task: str, metric: str, records: list[dict], labels: Sequence[str] | None):
        self.task, self.metric = task, metric
        if task == "ner":
            self.cols = np.array([[r["tp"], r["fp"], r["fn"]] for r in records], dtype=np.int64)
        elif task == "qa":
            key = {"strict": "strict", "lenient": "lenient", "mrr": "rr"}[metric]
            self.vals = np.array([float(r[key]) for r in records])
        elif task == "re":
            self.labels = list(labels)
            pos = {lab: i for i, lab in enumerate(self.labels)}
            self.gold = np.array([pos[r["gold"]] for r in records])
            self.pred = np.array([pos[r["pred"]] for r in records])
        else:
            raise ValueError(f"unknown task {task!r}")

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        if self.task == "ner":
            s = self.cols[idx].sum(axis=1)  # (samples, 3)
            return np.array([prf(*row)[self.metric] for row in s])
        if self.task == "qa":
            return self.vals[idx].mean(axis=1)
        g, p = self.gold[idx], self.pred[idx]
        n_lab = len(self.labels)
        f1s, present = [], []
        for lab in range(n_lab):
            tp = ((g == lab) & (p == lab)).sum(axis=1)
            fp = ((g != lab) & (p == lab)).sum(axis=1)
            fn = ((g == lab) & (p != lab)).sum(axis=1)
            denom = 2 * tp + fp + fn
            f1s.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
            present.append(denom > 0)
        f1s, present = np.array(f1s), np.array(present)
        if self.metric == "f1_binary":
            return f1s[self.labels.index("1")]
        if self.metric == "f1_macro":
            return (f1s * present).sum(axis=0) / np.maximum(present.sum(axis=0), 1)
        if self.metric == "f1_micro":
            return (g == p).mean(axis=1)
        raise ValueError(f"unknown RE metric {self.metric!r}")


def paired_bootstrap(records_a: Sequence[dict], records_b: Sequence[dict], task: str,
                     metric: str | None = None, labels: Sequence[str] | None = None,
                     n_samples: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict:
    """Is system A's score on the task metric different from system B's?

    ``metric`` defaults to the table's score: NER ``f1``; RE ``f1_binary`` for a
    ``"0"/"1"`` label set (pass ``labels``) and ``f1_macro`` otherwise; QA ``mrr``.
    Returns ``{"metric", "a", "b", "delta", "p_value", "significant",
    "ci_low", "ci_high", "n_samples", "n_examples"}`` (95% percentile interval of
    the difference).  The same ``seed`` gives the same answer.
    """
    a, b = _align(records_a, records_b)
    if not a:
        raise ValueError("no per-example records to compare")
    if metric is None or metric == "f1" and task == "re":
        metric = {"ner": "f1", "qa": "mrr"}.get(task) or (
            "f1_binary" if is_binary(labels or sorted({r["gold"] for r in a})) else "f1_macro")
    if task not in METRICS or metric not in METRICS[task]:
        raise ValueError(f"metric {metric!r} is not defined for task {task!r}")
    if task == "re":  # both systems must index one label list
        labels = sorted(set(labels or []) | {r[k] for r in a + b for k in ("gold", "pred")})
        if metric == "f1_binary" and "1" not in labels:
            raise ValueError("f1_binary needs the positive label '1'")
    sa, sb = _Scorer(task, metric, a, labels), _Scorer(task, metric, b, labels)
    n = len(a)
    full = np.arange(n)[None, :]
    score_a, score_b = float(sa(full)[0]), float(sb(full)[0])
    delta = score_a - score_b
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_samples)
    chunk = 200
    for start in range(0, n_samples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_samples - start), n))
        deltas[start:start + len(idx)] = sa(idx) - sb(idx)
    extreme = int(np.sum(np.abs(deltas - delta) >= abs(delta) - 1e-12))
    p_value = (1 + extreme) / (1 + n_samples)
    lo, hi = np.percentile(deltas, [2.5, 97.5])
    return {"metric": metric, "a": score_a, "b": score_b, "delta": delta, "p_value": p_value,
            "significant": bool(p_value < alpha), "ci_low": float(lo), "ci_high": float(hi),
            "n_samples": n_samples, "n_examples": n}
