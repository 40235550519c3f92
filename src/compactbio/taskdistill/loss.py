"""The task-distillation objective: soft teacher targets mixed with the hard labels.

    loss = alpha * T^2 * KL(p_teacher(T) || p_student(T)) + (1 - alpha) * CE(student, gold)
           [+ hidden_weight * MSE(hidden) + attention_weight * MSE(attention)]   (TinyBERT only)

averaged over the real sub-words of the batch (label != -100: no padding, no
[CLS]/[SEP]).  The KL and the intermediate terms are the pre-training
engine's own functions (:mod:`compactbio.distill.losses`), so both studies
compute them the same way; the KL runs in the usual teacher-to-student
direction (Hinton et al.).  Without a teacher the loss is the cross entropy alone.

Intermediate layers follow TinyBERT's uniform mapping: student layer ``m``
(1-based) learns teacher layer ``m * Lt / Ls``; hidden state 0 (the
embeddings) learns the teacher's embeddings.  A learned linear projection
lifts student hidden states to the teacher's width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..distill import losses


def layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """Teacher layer (1-based) for each student layer 1..Ls (uniform strategy)."""
    if teacher_layers % student_layers:
        raise ValueError(f"teacher layers ({teacher_layers}) must be a multiple of student layers "
                         f"({student_layers}) for the uniform layer mapping")
    k = teacher_layers // student_layers
    return [m * k for m in range(1, student_layers + 1)]


def hard_loss(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    keep = labels != -100
    return F.cross_entropy(student_logits[keep].float(), labels[keep])


def soft_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
              temperature: float) -> torch.Tensor:
    return losses.output_kl(student_logits, teacher_logits, labels != -100, temperature,
                            direction="teacher_student")


def intermediate(student_hidden, teacher_hidden, student_att, teacher_att, attention_mask: torch.Tensor,
                 projection: nn.Module | None, hidden_weight: float, attention_weight: float) -> dict:
    """Hidden-state and attention MSE over the mapped layers (means over layers)."""
    ls = len(student_hidden) - 1
    lt = len(teacher_hidden) - 1
    mapping = layer_map(ls, lt)
    out: dict[str, torch.Tensor] = {}
    if hidden_weight:
        proj = projection if projection is not None else (lambda h: h)
        pairs = [(0, 0)] + list(zip(range(1, ls + 1), mapping))
        terms = [losses.hidden_mse(proj(student_hidden[s]), teacher_hidden[t], attention_mask) for s, t in pairs]
        out["hidden"] = torch.stack(terms).mean()
    if attention_weight:
        if student_att is None or teacher_att is None:
            raise ValueError("attention term: attention maps are missing (the models need eager attention)")
        terms = [losses.attention_mse(student_att[s - 1], teacher_att[t - 1], attention_mask)
                 for s, t in zip(range(1, ls + 1), mapping)]
        out["attention"] = torch.stack(terms).mean()
    return out


def combine(student_logits, labels, teacher_logits=None, *, alpha: float, temperature: float,
            extra: dict | None = None, hidden_weight: float = 0.0, attention_weight: float = 0.0) -> dict:
    """The total loss and its parts (``loss``, ``hard``, and ``soft`` / ``hidden`` / ``attention`` when used)."""
    parts = {"hard": hard_loss(student_logits, labels)}
    if teacher_logits is None:
        parts["loss"] = parts["hard"]
        return parts
    parts["soft"] = soft_loss(student_logits, teacher_logits, labels, temperature)
    total = alpha * parts["soft"] + (1.0 - alpha) * parts["hard"]
    extra = extra or {}
    if "hidden" in extra:
        parts["hidden"] = extra["hidden"]
        total = total + hidden_weight * extra["hidden"]
    if "attention" in extra:
        parts["attention"] = extra["attention"]
        total = total + attention_weight * extra["attention"]
    parts["loss"] = total
    return parts
