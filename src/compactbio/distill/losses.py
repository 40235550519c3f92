"""Distillation losses of the paper (Equations 1-9) as small pure functions.

Every function returns a *mean* over the elements it averages (masked
positions, real tokens, real attention rows ...).  The training loop needs the
same mean over a whole global batch that may be split over gradient
accumulation steps and DDP ranks; for that each function accepts
``normalizer``: the sum is divided by it instead of by the local element count
(so the pieces add up to exactly the global mean).  :func:`count` says what a
loss averages over, so the loop can compute the global normalizer up front.

Conventions (documented in params.yaml too):

* logits ``[..., V]`` with a boolean ``mask`` of the same leading shape
  selecting the positions that count (the MLM-masked tokens);
* hidden states ``[B, L, D]`` and ``attention_mask`` ``[B, L]`` (1 = real token);
* attention maps ``[B, H, L, L]`` (softmax probabilities, rows = queries).

KL direction: the paper writes ``D_KL(f_s || f_t)`` (Eq. 2 and Eq. 8); the
authors' scripts (``nn.KLDivLoss(log_softmax(student), softmax(teacher))``,
the teacher as ``target``), like Hinton and the DistilBERT distiller, compute
``KL(teacher || student)``.  Both are offered through ``direction``:
``"teacher_student"`` (the default, the authors' code) and ``"student_teacher"``
(the paper's text).  Output KL is multiplied by ``T**2`` (Hinton et al.; the
authors' scripts do too) so that its gradient scale does not shrink as the
temperature grows.

Attention KL normalisation (``normalize``): ``"elements"`` (the default, the
authors' ``nn.KLDivLoss(reduction="mean")`` in CompactBioBERT-Distillation.py)
divides the summed pointwise KL by heads x real query rows x real key columns;
``"rows"`` (Eq. 8 read literally: a KL per attention row) by heads x real rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DIRECTIONS = ("teacher_student", "student_teacher")
ATTENTION_NORMS = ("elements", "rows")
_EPS = 1e-12


def _finish(total: torch.Tensor, count: int, normalizer) -> torch.Tensor:
    denom = float(normalizer) if normalizer is not None else float(count)
    return total / max(denom, 1.0)


def _kl_from_log(log_p_s: torch.Tensor, log_p_t: torch.Tensor, direction: str) -> torch.Tensor:
    """KL summed over the last axis, for the chosen direction."""
    if direction == "student_teacher":
        return (log_p_s.exp() * (log_p_s - log_p_t)).sum(-1)
    if direction == "teacher_student":
        return (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)
    raise ValueError(f"unknown KL direction {direction!r}; expected one of {DIRECTIONS}")


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor, normalizer=None) -> torch.Tensor:
    """Eq. 1: cross entropy of the student at positions whose label is not -100."""
    keep = labels != -100
    lp = F.log_softmax(logits[keep].float(), dim=-1)
    nll = -lp.gather(-1, labels[keep].unsqueeze(-1)).squeeze(-1)
    return _finish(nll.sum(), int(keep.sum()), normalizer)


def output_kl(student_logits, teacher_logits, mask, temperature: float = 1.0,
              direction: str = "teacher_student", normalizer=None) -> torch.Tensor:
    """Eq. 2: KL between output distributions at masked positions only (W_n), times T^2."""
    t = float(temperature)
    s = F.log_softmax(student_logits[mask].float() / t, dim=-1)
    te = F.log_softmax(teacher_logits[mask].float() / t, dim=-1)
    return _finish(_kl_from_log(s, te, direction).sum(), int(mask.sum()), normalizer) * (t * t)


def output_soft_ce(student_logits, teacher_logits, mask, temperature: float = 1.0,
                   normalizer=None) -> torch.Tensor:
    """TinyBERT's prediction-layer loss L*_output: cross entropy with the teacher's soft targets.

    Mean over masked positions of ``-sum_v softmax(t/T) log softmax(s/T)``; no T^2
    factor (TinyBERT uses T=1).
    """
    t = float(temperature)
    s = F.log_softmax(student_logits[mask].float() / t, dim=-1)
    p_t = F.softmax(teacher_logits[mask].float() / t, dim=-1)
    return _finish(-(p_t * s).sum(), int(mask.sum()), normalizer)


def hidden_cosine(student_h, teacher_h, attention_mask, normalizer=None) -> torch.Tensor:
    """Eq. 3 (and the hidden part of Eq. 8): mean over real tokens of 1 - cos(h_s, h_t)."""
    keep = attention_mask.bool()
    cos = F.cosine_similarity(student_h[keep].float(), teacher_h[keep].float(), dim=-1, eps=1e-8)
    return _finish((1.0 - cos).sum(), int(keep.sum()), normalizer)


def hidden_mse(student_h, teacher_h, attention_mask, normalizer=None) -> torch.Tensor:
    """Eq. 5 hidden part: MSE over real tokens and all features (project the student first)."""
    if student_h.shape != teacher_h.shape:
        raise ValueError(f"hidden_mse: student {tuple(student_h.shape)} vs teacher {tuple(teacher_h.shape)}; "
                         "set projection: true when the hidden sizes differ")
    keep = attention_mask.bool()
    diff = student_h[keep].float() - teacher_h[keep].float()
    return _finish((diff * diff).sum(), diff.numel(), normalizer)


def embedding_mse(student_e, teacher_e, attention_mask, normalizer=None) -> torch.Tensor:
    """Eq. 6: MSE of the (projected) embedding outputs, same averaging as :func:`hidden_mse`."""
    return hidden_mse(student_e, teacher_e, attention_mask, normalizer)


def _check_maps(student_a, teacher_a, name):
    if student_a is None or teacher_a is None:
        raise ValueError(f"{name}: attention maps are missing (use attn_implementation='eager')")
    if student_a.shape != teacher_a.shape:
        raise ValueError(f"{name}: student maps {tuple(student_a.shape)} vs teacher {tuple(teacher_a.shape)}; "
                         "heads and lengths must match")


def attention_mse(student_a, teacher_a, attention_mask, normalizer=None) -> torch.Tensor:
    """Eq. 5 attention part: MSE of attention probabilities over real query rows x real key columns x heads."""
    _check_maps(student_a, teacher_a, "attention_mse")
    m = attention_mask.bool()
    pair = (m[:, :, None] & m[:, None, :])[:, None, :, :].expand_as(student_a)
    diff = (student_a.float() - teacher_a.float())[pair]
    return _finish((diff * diff).sum(), diff.numel(), normalizer)


def attention_kl(student_a, teacher_a, attention_mask, direction: str = "teacher_student",
                 normalize: str = "elements", normalizer=None) -> torch.Tensor:
    """Eq. 8 attention part: per-head KL between attention rows over real query rows.

    ``normalize="elements"`` (the authors' ``KLDivLoss(reduction="mean")``): the
    mean of the pointwise KL ``p * log(p / q)`` over heads x real query rows x
    real key columns.  ``normalize="rows"``: the mean over heads x real query
    rows of each row's KL (Eq. 8 as written).  Pad key columns carry
    (numerically) zero probability in both maps and are excluded from the sum;
    logs are clamped so exact zeros cannot give NaN.
    """
    _check_maps(student_a, teacher_a, "attention_kl")
    if normalize not in ATTENTION_NORMS:
        raise ValueError(f"unknown attention_kl normalize {normalize!r}; expected one of {ATTENTION_NORMS}")
    m = attention_mask.bool()
    h = student_a.shape[1]
    rows = m[:, None, :].expand(-1, h, -1)                          # [B,H,L] real query rows
    s = student_a.float()[rows]                                     # [R, L]
    t = teacher_a.float()[rows]
    cols = m[:, None, None, :].expand(-1, h, m.shape[1], -1)[rows]  # [R, L] real key columns
    ls = torch.log(s.clamp(min=_EPS))
    lt = torch.log(t.clamp(min=_EPS))
    if direction == "student_teacher":
        kl = s * (ls - lt)
    elif direction == "teacher_student":
        kl = t * (lt - ls)
    else:
        raise ValueError(f"unknown KL direction {direction!r}; expected one of {DIRECTIONS}")
    kl = torch.where(cols, kl, torch.zeros_like(kl))
    n = int(cols.sum()) if normalize == "elements" else int(rows.sum())
    return _finish(kl.sum(), n, normalizer)


def count(loss: str, n_masked: int, lengths, heads: int, teacher_hidden: int,
          normalize: str = "elements") -> int:
    """Number of elements ``loss`` averages over for a batch with these real lengths.

    Used to normalise a global batch that is split across accumulation steps and ranks.
    """
    lengths = [int(x) for x in lengths]
    if loss in ("mlm", "output_kl", "output_soft_ce"):
        return n_masked
    if loss == "hidden_cosine":
        return sum(lengths)
    if loss in ("hidden_mse", "embedding_mse"):
        return sum(lengths) * teacher_hidden
    if loss == "attention_mse":
        return heads * sum(n * n for n in lengths)
    if loss == "attention_kl":
        if normalize not in ATTENTION_NORMS:
            raise ValueError(f"unknown attention_kl normalize {normalize!r}; expected one of {ATTENTION_NORMS}")
        return heads * sum(n * n for n in lengths) if normalize == "elements" else heads * sum(lengths)
    raise ValueError(f"unknown loss {loss!r}")
