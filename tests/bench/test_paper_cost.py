"""The pure parts of benchmarks/paper_cost.py: projection arithmetic by hand, FLOP formulas against
FlopCounterMode on tiny models.  Tiny shapes only: the whole file runs in a few seconds."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertForTokenClassification

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pc():
    spec = importlib.util.spec_from_file_location("paper_cost", ROOT / "benchmarks" / "paper_cost.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tiny_bert(attn="eager", head=BertForMaskedLM, **extra):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, attn_implementation=attn, **extra)
    return head(cfg)


def test_gpu_hours_by_hand(pc):
    # 989e12 * 0.4 = 395.6e12 FLOP/s; 1.4241600e18 FLOPs / 395.6e12 = 3600 s = 1 h
    assert pc.gpu_hours(1.42416e18, 989e12, 0.4) == pytest.approx(1.0)
    assert pc.gpu_hours(1.42416e18, 989e12, 0.2) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        pc.gpu_hours(1.0, 989e12, 0.0)


def test_pretrain_job_scales_micro_batch_to_global_batch(pc):
    # 4 rows cost 1e12 FLOPs -> a 192-row step costs 48e12; 100k steps: 4.8e18
    assert pc.pretrain_job(1e12, 4, 192, 100_000) == pytest.approx(4.8e18)


def test_batches_match_the_finetune_loop_and_hand_sums(pc):
    lengths = [5, 3, 8, 2, 7]
    # the loop's order: one generator seeded once, one randperm per epoch
    gen = torch.Generator().manual_seed(42)
    perm = torch.randperm(5, generator=gen).tolist()
    want = [(2, max(lengths[i] for i in perm[0:2])), (2, max(lengths[i] for i in perm[2:4])), (1, lengths[perm[4]])]
    got = pc.train_batches(lengths, 2, 42, 2)
    assert got[:3] == want and len(got) == 6
    assert pc.eval_batches(lengths, 2) == [(2, 3), (2, 7), (1, 8)]
    step = pc.StepFlops(a=10.0, b=1.0, c=100.0)          # F = B (10 W + W^2 + 100)
    assert step(2, 3) == 2 * (30 + 9 + 100)
    assert pc.batches_flops([(2, 3), (1, 8)], step) == 278 + (80 + 64 + 100)
    assert pc.pad_to([(2, 3), (1, 8)], 10) == [(2, 10), (1, 10)]


def test_finetune_job_by_hand(pc):
    """One epoch, train rows [4, 2] in one batch of 2, validation [3], test [1]; max length 5."""
    hp = {"epochs": 1, "batch_size": 2, "eval_batch_size": 8}
    train = pc.StepFlops(1.0, 0.0, 0.0)   # F = B * W
    fwd = pc.StepFlops(0.0, 1.0, 0.0)     # F = B * W^2
    job = pc.finetune_job({"train": [4, 2], "validation": [3], "test": [1]}, hp, 0, 5, train, fwd)
    assert job["ours"] == 2 * 4 + 9 + 1          # batch padded to 4; val 3^2; test 1^2
    assert job["naive"] == 2 * 5 + 25 + 25        # everything at 5
    assert job["train_steps"] == 1


def test_padding_stats_by_hand(pc):
    ps = pc.padding_stats([4, 4, 2, 2], 4, 0, 8)   # one batch of 4 rows, width 4
    assert ps["real_tokens"] == 12 and ps["ours_padded"] == 16 and ps["naive_padded"] == 32
    assert ps["ours_factor"] == pytest.approx(16 / 12) and ps["naive_factor"] == pytest.approx(32 / 12)


def test_step_fit_is_exact_on_a_held_out_shape(pc):
    net = tiny_bert("sdpa", BertForTokenClassification, num_labels=3)

    def count(b, w):
        ids = torch.randint(5, 300, (b, w))
        _, f = pc.count_flops(lambda: net(input_ids=ids, labels=torch.zeros(b, w, dtype=torch.long)).loss.backward())
        return f

    fit = pc.StepFlops.fit([(1, w, count(1, w)) for w in (8, 16, 32)])
    assert fit(3, 20) == pytest.approx(count(3, 20), rel=1e-9)


def test_cpu_sdpa_kernel_is_counted(pc):
    """Plain FlopCounterMode counts the CPU flash kernel as 0; ours counts QK^T and AV (2 L^2 d each)."""
    b, h, n, d = 2, 4, 16, 8
    q = torch.randn(b, h, n, d, requires_grad=True)
    with torch.utils.flop_counter.FlopCounterMode(display=False) as plain:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert plain.get_total_flops() == 0  # the gap this mode closes (if torch fixes it, drop the mapping)
    with torch.inference_mode():
        _, fwd = pc.count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    assert fwd == 4 * b * h * n * n * d
    _, both = pc.count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q).sum().backward())
    assert both == fwd * 3.5  # torch's backward formula counts 2.5x the forward


def test_cpu_sdpa_is_counted_like_eager(pc):
    """torch's FlopCounterMode knows no CPU SDPA kernel; ours must count it as the eager matmuls."""
    ids = torch.randint(5, 300, (2, 16))
    counts = {}
    for attn in ("eager", "sdpa"):
        net = tiny_bert(attn)
        _, counts[attn] = pc.count_flops(lambda: net(input_ids=ids).logits.sum().backward())
    assert counts["sdpa"] == counts["eager"] > 0


def test_analytic_forward_against_flop_counter(pc):
    """2 N tokens + 4 L d W^2 B, plus the MLM head on every position, vs the counted forward.

    N (non-embedding parameters) includes biases, LayerNorms and the pooler, which do no matmul on
    every position, so the estimate may be a few per cent high -- never far off."""
    net = tiny_bert("eager")
    shape = pc.encoder_shape(net)
    assert shape["layers"] == 2 and shape["attn"] == 32 and shape["hidden"] == 32 and shape["vocab"] == 300
    b, w = 2, 16
    ids = torch.randint(5, 300, (b, w))
    with torch.no_grad():
        _, counted = pc.count_flops(lambda: net(input_ids=ids))
    analytic = pc.analytic_forward(shape, b, w) + pc.analytic_mlm_head(shape, b * w)
    assert 1.0 <= analytic / counted < 1.10
    # the attention term exactly: QK^T and AV are 2 W^2 d each per layer and row
    net_enc = net.bert
    with torch.no_grad():
        _, c16 = pc.count_flops(lambda: net_enc(input_ids=ids))
        _, c32 = pc.count_flops(lambda: net_enc(input_ids=torch.randint(5, 300, (b, 2 * w))))
    # doubling W doubles the linear part and quadruples the attention part
    attention = (c32 - 2 * c16) / 2
    assert attention == 4 * shape["layers"] * shape["attn"] * b * w * w


def test_teacher_no_grad_and_inference_mode_cost_the_same(pc):
    """Why the naive projection does not count the teacher's mode: no FLOPs differ."""
    net = tiny_bert("eager").eval()
    ids = torch.randint(5, 300, (2, 16))
    with torch.no_grad():
        _, a = pc.count_flops(lambda: net(input_ids=ids))
    with torch.inference_mode():
        _, b = pc.count_flops(lambda: net(input_ids=ids))
    assert a == b


def test_masked_head_is_what_the_naive_step_adds(pc):
    """Full-vocabulary logits at every position cost exactly the head on the unmasked positions."""
    from compactbio.pretrain.mlm import MLMTask

    net = tiny_bert("eager")
    batch = pc.pretrain_batch(2, 16, 300, 0.15)
    n_masked = int((batch["labels"] != -100).sum())
    assert n_masked == 2 * round(0.15 * 14)
    task = MLMTask(net)
    _, ours = pc.count_flops(lambda: task(batch, task.norms(n_masked, [16, 16]))[0].backward())
    _, naive = pc.count_flops(lambda: net(**batch).loss.backward())
    shape = pc.encoder_shape(net)
    assert naive - ours == pytest.approx(3 * pc.analytic_mlm_head(shape, 2 * 16 - n_masked), rel=1e-9)
    assert not math.isnan(ours / naive)
