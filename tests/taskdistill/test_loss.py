"""The distillation objective against naive per-token loops."""

from __future__ import annotations

import math

import pytest
import torch

from compactbio.taskdistill import loss as L


def naive_kd(s, t, labels, T, alpha):
    kl_sum = ce_sum = 0.0
    n = 0
    for b in range(s.shape[0]):
        for i in range(s.shape[1]):
            y = int(labels[b, i])
            if y == -100:
                continue
            n += 1
            zs = [float(v) for v in s[b, i]]
            zt = [float(v) for v in t[b, i]]
            es = [math.exp(v / T) for v in zs]
            et = [math.exp(v / T) for v in zt]
            ps = [v / sum(es) for v in es]
            pt = [v / sum(et) for v in et]
            kl_sum += sum(p * (math.log(p) - math.log(q)) for p, q in zip(pt, ps))
            e1 = [math.exp(v) for v in zs]
            ce_sum += -math.log(e1[y] / sum(e1))
    kl, ce = kl_sum / n * T * T, ce_sum / n
    return alpha * kl + (1 - alpha) * ce, kl, ce


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (2.0, 0.7), (4.0, 1.0), (3.0, 0.0)])
def test_kd_loss_matches_naive_loop(T, alpha):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    t = torch.randn(3, 5, 4, generator=g, dtype=torch.float64) * 3
    labels = torch.tensor([[-100, 0, 1, 2, -100], [-100, 3, 3, -100, -100], [-100, 1, -100, -100, -100]])
    parts = L.combine(s, labels, t, alpha=alpha, temperature=T)
    total, kl, ce = naive_kd(s, t, labels, T, alpha)
    assert parts["soft"].item() == pytest.approx(kl, rel=1e-5)
    assert parts["hard"].item() == pytest.approx(ce, rel=1e-5)
    assert parts["loss"].item() == pytest.approx(total, rel=1e-5)


def test_masked_positions_do_not_matter_and_no_teacher_is_cross_entropy():
    g = torch.Generator().manual_seed(1)
    s = torch.randn(2, 4, 3, generator=g)
    t = torch.randn(2, 4, 3, generator=g)
    labels = torch.tensor([[-100, 0, 2, -100], [-100, 1, -100, -100]])
    a = L.combine(s, labels, t, alpha=0.5, temperature=2.0)["loss"]
    s2, t2 = s.clone(), t.clone()
    s2[labels == -100] = 100.0
    t2[labels == -100] = -50.0
    assert L.combine(s2, labels, t2, alpha=0.5, temperature=2.0)["loss"].item() == pytest.approx(a.item(), rel=1e-6)
    plain = L.combine(s, labels, alpha=0.5, temperature=2.0)
    assert set(plain) == {"loss", "hard"}
    assert plain["loss"].item() == pytest.approx(naive_kd(s, s, labels, 1.0, 0.0)[0], rel=1e-5)
    # the student that copies the teacher has zero KL
    assert L.combine(t, labels, t, alpha=1.0, temperature=3.0)["loss"].item() == pytest.approx(0.0, abs=1e-6)


def test_intermediate_terms_match_naive_loops():
    g = torch.Generator().manual_seed(2)
    B, Lq, ds, dt, H = 2, 4, 3, 5, 2
    am = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    sh = [torch.randn(B, Lq, ds, generator=g) for _ in range(3)]    # embeddings + 2 student layers
    th = [torch.randn(B, Lq, dt, generator=g) for _ in range(5)]    # embeddings + 4 teacher layers
    sa = [torch.softmax(torch.randn(B, H, Lq, Lq, generator=g), -1) for _ in range(2)]
    ta = [torch.softmax(torch.randn(B, H, Lq, Lq, generator=g), -1) for _ in range(4)]
    proj = torch.nn.Linear(ds, dt)
    out = L.intermediate(sh, th, sa, ta, am, proj, 1.0, 1.0)

    def hid(s_, t_):
        tot = n = 0.0
        for b in range(B):
            for i in range(Lq):
                if am[b, i]:
                    with torch.no_grad():
                        d = proj(s_[b, i]) - t_[b, i]
                    tot += float((d * d).sum())
                    n += dt
        return tot / n

    def att(s_, t_):
        tot = n = 0.0
        for b in range(B):
            for h in range(H):
                for i in range(Lq):
                    for j in range(Lq):
                        if am[b, i] and am[b, j]:
                            tot += float((s_[b, h, i, j] - t_[b, h, i, j]) ** 2)
                            n += 1
        return tot / n

    # uniform map: student 1 -> teacher 2, student 2 -> teacher 4, embeddings -> embeddings
    want_h = (hid(sh[0], th[0]) + hid(sh[1], th[2]) + hid(sh[2], th[4])) / 3
    want_a = (att(sa[0], ta[1]) + att(sa[1], ta[3])) / 2
    assert out["hidden"].item() == pytest.approx(want_h, rel=1e-5)
    assert out["attention"].item() == pytest.approx(want_a, rel=1e-5)
    assert out["attention"].item() > 0
    with pytest.raises(ValueError, match="multiple"):
        L.layer_map(3, 4)
    with pytest.raises(ValueError, match="attention maps are missing"):
        L.intermediate(sh, th, None, None, am, proj, 0.0, 1.0)


def test_length_grouped_batches_cover_every_row_once_and_are_seeded():
    from compactbio.taskdistill.train import batches

    lengths = [(i * 7) % 23 + 1 for i in range(101)]
    got = batches(lengths, 4, torch.Generator().manual_seed(0), pool=5)
    assert sorted(i for b in got for i in b) == list(range(101))
    assert all(1 <= len(b) <= 4 for b in got)
    again = batches(lengths, 4, torch.Generator().manual_seed(0), pool=5)
    assert got == again
    # inside a batch the lengths are sorted (grouped), which a plain shuffle would rarely give
    assert all([lengths[i] for i in b] == sorted(lengths[i] for i in b) for b in got)
