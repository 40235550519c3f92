"""Relation-extraction scores: binary F1 (GAD), macro- and micro-F1 (ChemProt).

Definitions (chosen to match what the paper's scikit-learn based scripts
computed, so our numbers are comparable):

* ``f1_binary``: F1 of the positive class ``"1"`` (``f1_score(average="binary")``).
* ``f1_macro``: unweighted mean of per-label F1 over the labels present in gold
  **or** predictions, sorted (``f1_score(average="macro")`` with scikit-learn's
  default ``labels``).  A label that is predicted but never gold, or gold but
  never predicted, counts with F1 0; a label absent from both does not count.
  This matters for ChemProt, where some labels never occur in dev/test.
* ``f1_micro``: F1 from counts summed over the same labels; for single-label
  classification this equals accuracy.

``f1`` is the score the paper's tables show: binary for a dataset whose label
set is exactly ``{"0", "1"}`` (GAD), macro otherwise (ChemProt).
"""

from __future__ import annotations

from typing import Sequence

from .ner import prf

BINARY_LABELS = ("0", "1")
POSITIVE = "1"


def is_binary(labels: Sequence[str]) -> bool:
    """GAD-style dataset: labels are exactly ``"0"``/``"1"``, scored on the positive class."""
    return tuple(sorted(labels)) == BINARY_LABELS


def per_label_counts(gold: Sequence[str], pred: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """``label -> (tp, fp, fn)`` for every label present in gold or predictions."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    counts = {lab: [0, 0, 0] for lab in sorted(set(gold) | set(pred))}
    for g, p in zip(gold, pred):
        if g == p:
            counts[g][0] += 1
        else:
            counts[p][1] += 1
            counts[g][2] += 1
    return {k: tuple(v) for k, v in counts.items()}


def re_scores(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """All RE scores for one split; ``labels`` is the dataset's label set (decides binary mode)."""
    counts = per_label_counts(gold, pred)
    out: dict[str, float] = {}
    if counts:
        out["f1_macro"] = sum(prf(*c)["f1"] for c in counts.values()) / len(counts)
        out["f1_micro"] = prf(*(sum(c[i] for c in counts.values()) for i in range(3)))["f1"]
    else:
        out["f1_macro"] = out["f1_micro"] = 0.0
    if is_binary(labels):
        out["f1_binary"] = prf(*counts.get(POSITIVE, (0, 0, 0)))["f1"]
        out["f1"] = out["f1_binary"]
    else:
        out["f1"] = out["f1_macro"]
    return dict(sorted(out.items()))
