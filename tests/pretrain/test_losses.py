"""Each loss against a deliberately naive loop over batch, positions and heads."""

from __future__ import annotations

import math

import pytest
import torch

from compactbio.distill import losses

torch.manual_seed(0)
B, L, V, D, H = 3, 7, 11, 5, 2
LENGTHS = [7, 4, 2]


def mask_of(lengths=LENGTHS, width=L):
    return torch.tensor([[1 if j < n else 0 for j in range(width)] for n in lengths])


def softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    s = sum(e)
    return [x / s for x in e]


def rand_maps(am):
    """Attention-like maps: softmax over real keys, exact zeros at pad keys."""
    scores = torch.randn(B, H, L, L)
    scores = scores.masked_fill(am[:, None, None, :] == 0, float("-inf"))
    return scores.softmax(-1)


def test_mlm_loss_matches_loop():
    logits = torch.randn(B, L, V)
    labels = torch.randint(V, (B, L))
    labels[torch.rand(B, L) < 0.6] = -100
    labels[0, 0] = 3
    total, n = 0.0, 0
    for b in range(B):
        for i in range(L):
            if labels[b, i] != -100:
                p = softmax(logits[b, i].tolist())
                total -= math.log(p[labels[b, i]])
                n += 1
    assert losses.mlm_loss(logits, labels).item() == pytest.approx(total / n, rel=1e-5)
    assert losses.mlm_loss(logits, labels, normalizer=2 * n).item() == pytest.approx(total / (2 * n), rel=1e-5)


@pytest.mark.parametrize("direction", ["student_teacher", "teacher_student"])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_output_kl_masked_only(direction, temperature):
    s, t = torch.randn(B, L, V) * 3, torch.randn(B, L, V) * 3
    mask = torch.rand(B, L) < 0.4
    mask[1, 2] = True
    total, n = 0.0, 0
    for b in range(B):
        for i in range(L):
            if not mask[b, i]:
                continue
            ps = softmax([x / temperature for x in s[b, i].tolist()])
            pt = softmax([x / temperature for x in t[b, i].tolist()])
            p, q = (ps, pt) if direction == "student_teacher" else (pt, ps)
            total += sum(a * math.log(a / c) for a, c in zip(p, q))
            n += 1
    want = temperature ** 2 * total / n
    got = losses.output_kl(s, t, mask, temperature, direction)
    assert got.item() == pytest.approx(want, rel=1e-5)
    # unmasked positions must not matter
    s2 = s.clone()
    s2[~mask] = 100.0
    assert losses.output_kl(s2, t, mask, temperature, direction).item() == pytest.approx(want, rel=1e-5)


def test_output_soft_ce():
    s, t = torch.randn(B, L, V), torch.randn(B, L, V)
    mask = torch.rand(B, L) < 0.5
    mask[0, 0] = True
    total, n = 0.0, 0
    for b in range(B):
        for i in range(L):
            if mask[b, i]:
                ps, pt = softmax(s[b, i].tolist()), softmax(t[b, i].tolist())
                total -= sum(q * math.log(p) for p, q in zip(ps, pt))
                n += 1
    assert losses.output_soft_ce(s, t, mask).item() == pytest.approx(total / n, rel=1e-5)


def test_hidden_cosine_real_tokens_only():
    hs, ht, am = torch.randn(B, L, D), torch.randn(B, L, D), mask_of()
    total, n = 0.0, 0
    for b in range(B):
        for i in range(LENGTHS[b]):
            x, y = hs[b, i].tolist(), ht[b, i].tolist()
            dot = sum(a * c for a, c in zip(x, y))
            cos = dot / (math.sqrt(sum(a * a for a in x)) * math.sqrt(sum(c * c for c in y)))
            total += 1 - cos
            n += 1
    assert losses.hidden_cosine(hs, ht, am).item() == pytest.approx(total / n, rel=1e-5)
    hs[am == 0] = 1e3  # pads ignored
    assert losses.hidden_cosine(hs, ht, am).item() == pytest.approx(total / n, rel=1e-5)


@pytest.mark.parametrize("fn", [losses.hidden_mse, losses.embedding_mse])
def test_hidden_and_embedding_mse(fn):
    hs, ht, am = torch.randn(B, L, D), torch.randn(B, L, D), mask_of()
    total, n = 0.0, 0
    for b in range(B):
        for i in range(LENGTHS[b]):
            for d in range(D):
                total += (hs[b, i, d].item() - ht[b, i, d].item()) ** 2
                n += 1
    assert fn(hs, ht, am).item() == pytest.approx(total / n, rel=1e-5)
    with pytest.raises(ValueError, match="projection"):
        fn(torch.randn(B, L, D + 1), ht, am)


def test_attention_mse_real_rows_and_columns():
    am = mask_of()
    sa, ta = rand_maps(am), rand_maps(am)
    total, n = 0.0, 0
    for b in range(B):
        for h in range(H):
            for q in range(LENGTHS[b]):
                for k in range(LENGTHS[b]):
                    total += (sa[b, h, q, k].item() - ta[b, h, q, k].item()) ** 2
                    n += 1
    assert losses.attention_mse(sa, ta, am).item() == pytest.approx(total / n, rel=1e-5)
    sa2 = sa.clone()
    sa2[1, :, 4:, :] = 5.0  # pad query rows of sequence 1 (length 4) must not count
    sa2[2, :, :, 2:] = 5.0  # nor pad key columns of sequence 2 (length 2)
    assert losses.attention_mse(sa2, ta, am).item() == pytest.approx(total / n, rel=1e-5)


@pytest.mark.parametrize("normalize", ["rows", "elements"])
@pytest.mark.parametrize("direction", ["student_teacher", "teacher_student"])
def test_attention_kl_per_head_real_rows(direction, normalize):
    am = mask_of()
    sa, ta = rand_maps(am), rand_maps(am)
    total, n = 0.0, 0
    for b in range(B):
        for h in range(H):
            for q in range(LENGTHS[b]):
                row = 0.0
                for k in range(LENGTHS[b]):
                    p, c = sa[b, h, q, k].item(), ta[b, h, q, k].item()
                    if direction == "teacher_student":
                        p, c = c, p
                    row += p * math.log(p / c)
                total += row
                n += 1
    assert n == H * sum(LENGTHS)
    if normalize == "elements":   # the authors' KLDivLoss(reduction="mean"): per real (row, column) pair
        n = H * sum(x * x for x in LENGTHS)
    assert losses.count("attention_kl", 0, LENGTHS, H, D, normalize) == n
    got = losses.attention_kl(sa, ta, am, direction, normalize)
    assert got.item() == pytest.approx(total / n, rel=1e-5)
    assert torch.isfinite(got)


def test_attention_terms_refuse_missing_maps():
    am = mask_of()
    with pytest.raises(ValueError, match="missing"):
        losses.attention_kl(None, rand_maps(am), am)
    with pytest.raises(ValueError, match="heads"):
        losses.attention_mse(rand_maps(am), rand_maps(am)[:, :1], am)


def test_normalizer_makes_split_batches_add_up():
    """Two halves divided by the global count sum to the whole batch's mean (the DDP/accumulation rule)."""
    hs, ht, am = torch.randn(B, L, D), torch.randn(B, L, D), mask_of()
    whole = losses.hidden_cosine(hs, ht, am)
    n = losses.count("hidden_cosine", 0, LENGTHS, H, D)
    parts = losses.hidden_cosine(hs[:1], ht[:1], am[:1], normalizer=n) + \
        losses.hidden_cosine(hs[1:], ht[1:], am[1:], normalizer=n)
    assert parts.item() == pytest.approx(whole.item(), rel=1e-6)
    sa, ta = rand_maps(am), rand_maps(am)
    n = losses.count("attention_mse", 0, LENGTHS, H, D)
    parts = losses.attention_mse(sa[:2], ta[:2], am[:2], normalizer=n) + \
        losses.attention_mse(sa[2:], ta[2:], am[2:], normalizer=n)
    assert parts.item() == pytest.approx(losses.attention_mse(sa, ta, am).item(), rel=1e-6)
