"""The teacher sanity gate: a teacher that cannot fill in masked tokens stops distillation.

A hub checkpoint without a trained MLM head (``dmis-lab/biobert-base-cased-v1.1``
is one; the head is initialised randomly, with only a log line) or a wrong
folder would otherwise be distilled for a day into a useless student.  Before
distilling, :func:`teacher_accuracy` masks a seeded sample of corpus tokens
(every chosen token becomes ``[MASK]``) and counts how often the teacher's
top prediction is the original token; :func:`check` stops below
``pretrain.distill_gate.min_teacher_accuracy``.

The sample is the corpus's *last* rows (a held-out slice as far as the
distillation order goes; the demo teacher did see them in its own MLM
training), read in order, so the value depends only on the seed, the
corpus and the teacher.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..models import heads

logger = logging.getLogger(__name__)


class TeacherGateError(RuntimeError):
    """The teacher's masked-token accuracy is below the gate."""


def teacher_accuracy(teacher, rows: list, mask_id: int, special_ids, masked_tokens: int = 400,
                     seed: int = 0, probability: float = 0.15, batch_size: int = 16) -> tuple[float, int]:
    """(accuracy, number of masked tokens) of ``teacher`` on the corpus ``rows`` (int arrays).

    Walks back from the last row, masking each real non-special token with
    ``probability`` (seeded), until ``masked_tokens`` are masked or the rows
    run out.
    """
    rng = np.random.default_rng(seed)
    special = np.asarray(sorted(set(int(i) for i in special_ids)), dtype=np.int64)
    chosen, n = [], 0
    for r in reversed(rows):
        if n >= masked_tokens:
            break
        r = np.asarray(r, dtype=np.int64)
        pick = (rng.random(r.size) < probability) & ~np.isin(r, special)
        if pick.sum() == 0:
            continue
        chosen.append((r, pick))
        n += int(pick.sum())
    if n == 0:
        raise TeacherGateError("teacher gate: the corpus has no maskable tokens")
    was_training = teacher.training
    teacher.eval()
    dev = next(teacher.parameters()).device
    right = 0
    try:
        for lo in range(0, len(chosen), batch_size):
            part = chosen[lo:lo + batch_size]
            width = max(r.size for r, _ in part)
            ids = torch.zeros(len(part), width, dtype=torch.long)
            am = torch.zeros(len(part), width, dtype=torch.long)
            sel = torch.zeros(len(part), width, dtype=torch.bool)
            for b, (r, pick) in enumerate(part):
                ids[b, : r.size] = torch.from_numpy(r)
                am[b, : r.size] = 1
                sel[b, : r.size] = torch.from_numpy(pick)
            gold = ids[sel]
            ids[sel] = int(mask_id)
            with torch.inference_mode():
                out = heads.encode(teacher, ids.to(dev), am.to(dev))
                logits = heads.mlm_head(teacher, out.last_hidden_state[sel.to(dev)])
            right += int((logits.argmax(-1).cpu() == gold).sum())
    finally:
        teacher.train(was_training)
    return right / n, n


def corpus_tail(corpus, n: int = 2000) -> list:
    """The last ``n`` rows of the tokenized corpus (memory-mapped: the rest is never read)."""
    from ..pretrain.data import open_corpus

    rows = open_corpus(corpus)
    return [rows[i] for i in range(max(0, len(rows) - int(n)), len(rows))]


def check(teacher, rows: list, tokenizer, gate: dict | None, where: str) -> dict | None:
    """Measure and enforce the gate; returns the facts for the model card (None: no gate)."""
    if not gate:
        logger.warning("pretrain.distill_gate is not set: the teacher %s is not checked", where)
        return None
    threshold = float(gate.get("min_teacher_accuracy", 0.0))
    acc, n = teacher_accuracy(teacher, rows, tokenizer.mask_token_id, tokenizer.all_special_ids,
                              int(gate.get("masked_tokens", 400)), int(gate.get("seed", 0)))
    chance = 1.0 / len(tokenizer)
    logger.info("teacher %s: masked-token accuracy %.4f on %d masked corpus tokens "
                "(gate %.4f, chance %.5f)", where, acc, n, threshold, chance)
    if acc < threshold:
        raise TeacherGateError(
            f"teacher {where}: masked-token accuracy {acc:.4f} on {n} masked corpus tokens is below "
            f"pretrain.distill_gate.min_teacher_accuracy {threshold} (chance {chance:.5f}). The checkpoint's "
            "MLM head is untrained or missing (transformers initialises a missing head randomly with only "
            "a log line; dmis-lab/biobert-base-cased-v1.1 has none, v1.2 has one), or the tokenizer does "
            "not match the model.")
    return {"accuracy": round(acc, 4), "masked tokens": n, "threshold": threshold}
